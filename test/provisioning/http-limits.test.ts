/**
 * The HTTP items of issue 14 item 6, over real HTTP (raw sockets where a client misbehaves):
 * - authentication applies to every route by the route the router picked, before the body is read:
 *   `/%761/tenants` (routes to `/v1/tenants`) without a token is 401, and a body announced but
 *   never sent is not waited for;
 * - a connection that stalls mid-headers or mid-body, or idles after a response, is closed within
 *   the configured timeouts (short ones, set here; the test waits for the close, it does not time it);
 * - connections beyond `PROVISIONING_MAX_CONNECTIONS` are closed at once.
 */
import { Socket } from "node:net";
import { KEYCLOAK_WAIT_MS } from "../support/keycloak.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROVISIONING_ROUTES } from "../../services/identity/names.js";
import { PROVISIONING_ENV, PROVISIONING_HTTP_PATHS } from "../../services/provisioning/contract.js";
import { startHarness, type Harness } from "./harness.js";

const TIMEOUTS = { headersTimeoutMs: 400, requestTimeoutMs: 800, idleTimeoutMs: 600 };
/** A test that waits for a close fails at this bound (far above the timeouts configured here) instead of hanging. */
const HANG_GUARD_MS = 20_000;
const SOME_TENANT = "t000000000000000000000000";

/** A raw connection that records what the server sent and when it closed the connection. */
class RawClient {
  received = "";
  readonly closed: Promise<string>;
  private constructor(readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.received += d.toString("latin1");
    });
    socket.on("error", () => undefined); // a reset is a close too
    this.closed = new Promise((resolve) => socket.once("close", () => resolve(this.received)));
  }
  static async connect(port: number): Promise<RawClient> {
    const socket = new Socket();
    const client = new RawClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.connect(port, "127.0.0.1", () => resolve());
    });
    return client;
  }
  write(text: string): void {
    this.socket.write(text);
  }
  /** Resolves with everything received once `pattern` has arrived (or the connection closed). */
  async until(pattern: RegExp): Promise<string> {
    while (!pattern.test(this.received)) {
      const more = await Promise.race([new Promise<boolean>((r) => this.socket.once("data", () => r(true))), this.closed.then(() => false)]);
      if (!more) break;
    }
    return this.received;
  }
}

/** Every (method, path) the app serves, from fastify's own route listing (`printRoutes`). */
function routesOf(h: Harness): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = [];
  const stack: string[] = [];
  for (const line of h.svc.app.printRoutes({ commonPrefix: false }).split("\n")) {
    const m = /^(.*?)[├└]── (\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (!m) continue;
    const depth = (m[1] as string).length / 4;
    stack.length = depth;
    const path = (stack[depth - 1] ?? "") + (m[2] as string);
    stack.push(path);
    for (const method of (m[3] as string).split(", ")) out.push({ method, path });
  }
  return out;
}

describe("HTTP: authentication by route, timeouts (short ones configured here)", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      keycloak: false,
      env: {
        [PROVISIONING_ENV.headersTimeoutMs]: String(TIMEOUTS.headersTimeoutMs),
        [PROVISIONING_ENV.requestTimeoutMs]: String(TIMEOUTS.requestTimeoutMs),
        [PROVISIONING_ENV.idleTimeoutMs]: String(TIMEOUTS.idleTimeoutMs),
      },
    });
  }, KEYCLOAK_WAIT_MS);
  afterAll(async () => {
    await h?.stop();
  });

  it("authenticates every route but the probes, by the routed path, percent-encoded or not", async () => {
    const routes = routesOf(h);
    const probes = new Set<string>(Object.values(PROVISIONING_HTTP_PATHS));
    expect(routes.length).toBeGreaterThan(10);
    expect(routes.filter((r) => r.path.startsWith("/v1/")).length).toBeGreaterThan(8);
    for (const r of routes) {
      const path = r.path.replace(":tenantId", SOME_TENANT);
      // The same route through a percent-encoded first letter of each segment.
      const encoded = path.replace(/\/([a-z])/g, (_m, c: string) => `/%${c.charCodeAt(0).toString(16)}`);
      for (const p of [path, encoded]) {
        // A body that cannot be parsed: a 400 would mean it was read and parsed before the token check.
        const res = await h.request(r.method, p, r.method === "GET" || r.method === "HEAD" ? {} : { rawBody: "{not json" });
        const auth = PROVISIONING_ROUTES.find((x) => (x.method === r.method || (r.method === "HEAD" && x.method === "GET")) && x.url === r.path)?.auth;
        if (probes.has(r.path) || auth === "public") expect(res.status, `${r.method} ${p}`).toBe(200);
        // The webhook takes no bearer token: its own signature check (or the unparseable body) refuses it.
        else if (auth === "webhook") expect([400, 401], `${r.method} ${p}`).toContain(res.status);
        else expect(res.status, `${r.method} ${p} without a token`).toBe(401);
      }
    }
    // An unmatched path is not a way around it either.
    expect((await h.request("POST", "/v2/tenants", { rawBody: "{not json" })).status).toBe(401);
    // The probes stay open (they are what kubelet calls).
    expect((await h.request("GET", "/%68ealthz")).status).toBe(200);
  });

  it("answers /%761/tenants without a token with 401 before reading the body it announces", async () => {
    const c = await RawClient.connect(h.svc.port);
    // 1,000 body bytes announced, none sent: a server that reads (or parses) the body before the
    // token check would wait for them and answer 408 at the request timeout instead.
    c.write(`POST /%761/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`);
    const answer = await c.until(/\r\n\r\n[\s\S]*\}/);
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer).toContain('"code":"unauthorized"');
    c.socket.destroy();
    // With a token the same route is the create route (the body is read and checked there).
    const token = await h.token(await h.addUser());
    const ok = await h.request("POST", "/%761/tenants", { token, body: { name: "Encoded", slug: "encoded-path" } });
    expect(ok.status).toBe(201);
  }, HANG_GUARD_MS);

  it("closes a connection that stalls mid-headers (408)", async () => {
    const c = await RawClient.connect(h.svc.port);
    c.write(`POST /v1/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty`);
    const received = await c.closed;
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
  }, HANG_GUARD_MS);

  it("closes a connection that sends nothing at all", async () => {
    const c = await RawClient.connect(h.svc.port);
    await c.closed;
    expect(c.socket.destroyed).toBe(true);
  }, HANG_GUARD_MS);

  it("closes a connection that stalls mid-body, also with a valid token", async () => {
    const token = await h.token(await h.addUser());
    const c = await RawClient.connect(h.svc.port);
    c.write(`POST /v1/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":"Slow`);
    const received = await c.closed;
    // Whatever was answered, it is not a created tenant.
    expect(received).not.toMatch(/^HTTP\/1\.1 201 /);
  }, HANG_GUARD_MS);

  it("closes a keep-alive connection that idles after its response", async () => {
    const c = await RawClient.connect(h.svc.port);
    c.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
    expect(await c.until(/"status":"ok"/)).toMatch(/^HTTP\/1\.1 200 /);
    await c.closed;
    expect(c.socket.destroyed).toBe(true);
  }, HANG_GUARD_MS);
});

describe("HTTP: the connection cap", () => {
  const CAP = 5;
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ keycloak: false, env: { [PROVISIONING_ENV.maxConnections]: String(CAP) } });
  }, KEYCLOAK_WAIT_MS);
  afterAll(async () => {
    await h?.stop();
  });

  it(`closes connections beyond PROVISIONING_MAX_CONNECTIONS (${CAP}) at once and serves the others`, async () => {
    const held: RawClient[] = [];
    for (let i = 0; i < CAP; i++) {
      const c = await RawClient.connect(h.svc.port);
      c.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
      expect(await c.until(/"status":"ok"/)).toMatch(/^HTTP\/1\.1 200 /); // accepted and served: it counts
      held.push(c);
    }
    const extra = await RawClient.connect(h.svc.port);
    extra.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    expect(await extra.closed).toBe(""); // closed without an answer
    // The held ones still work.
    held[0]!.received = "";
    held[0]!.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
    expect(await held[0]!.until(/"status":"ok"/)).toMatch(/^HTTP\/1\.1 200 /);
    for (const c of held) c.socket.destroy();
  }, HANG_GUARD_MS);
});

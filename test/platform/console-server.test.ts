/**
 * The console's local server (platform/console-server.ts) over real HTTP: a tiny built console in
 * a temporary folder, and the two upstreams as real node:http servers that echo what reached them.
 *
 * - assets with their content types, the content security policy and the security headers on
 *   every asset answer, the SPA fallback for the app's own routes, 404 for a missing file,
 *   no way out of the assets folder;
 * - /config.json: the runtime configuration the console reads;
 * - the gateway's routing: the events API's paths to the events API, every other /v1/ path and
 *   the key set to the provisioning service, bodies streamed both ways, status and headers passed,
 *   hop-by-hop headers dropped; an upstream that is down is a 502 naming it;
 * - nothing built: 503 with how to build it, while the API still answers.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONSOLE_RUNTIME_CONFIG_PATH, CONSOLE_SECURITY_HEADERS, consoleContentSecurityPolicy, parseConsoleRuntimeConfig, type ConsoleRuntimeConfig } from "../../console/contract.js";
import { EVENTS_API_ROUTES, PROVISIONING_ROUTES } from "../../services/identity/names.js";
import { CONSOLE_BUILD_COMMAND, startConsoleServer, upstreamOf, type RunningConsoleServer } from "../../platform/console-server.js";
import { freePort } from "../../services/nats-auth/nats-server-process.js";

const ISSUER = "http://127.0.0.1:18080/realms/enchanted";
const RUNTIME: ConsoleRuntimeConfig = { issuer: ISSUER, clientId: "enchanted-web", environment: "local", natsServers: ["nats://127.0.0.1:4222"] };
const INDEX = '<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head><body><div id="root"></div></body></html>';
const SCRIPT = 'console.log("the console");';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A real HTTP server that answers what reached it (method, path, headers, body) as JSON, with a status and a header of its own. */
async function echoServer(name: string): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const entry = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      seen.push(entry);
      const status = req.url?.includes("missing") ? 404 : 200;
      res.writeHead(status, { "content-type": "application/json", "x-upstream": name, connection: "keep-alive", "set-cookie": ["a=1", "b=2"] });
      res.end(JSON.stringify({ upstream: name, ...entry }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

let dist: string;
let empty: string;
let provisioning: Awaited<ReturnType<typeof echoServer>>;
let eventsApi: Awaited<ReturnType<typeof echoServer>>;
let consoleServer: RunningConsoleServer;
let unbuilt: RunningConsoleServer;

beforeAll(async () => {
  dist = mkdtempSync(join(tmpdir(), "console-dist-"));
  mkdirSync(join(dist, "assets"));
  writeFileSync(join(dist, "index.html"), INDEX);
  writeFileSync(join(dist, "assets", "index-abc123.js"), SCRIPT);
  writeFileSync(join(dist, "assets", "index-abc123.css"), "body { margin: 0 }");
  writeFileSync(join(dist, "favicon.svg"), "<svg xmlns='http://www.w3.org/2000/svg'/>");
  writeFileSync(join(dist, "logo.woff2"), Buffer.from([0x77, 0x4f, 0x46, 0x32]));
  empty = mkdtempSync(join(tmpdir(), "console-unbuilt-"));
  provisioning = await echoServer("provisioning");
  eventsApi = await echoServer("events-api");
  consoleServer = await startConsoleServer({ distDir: dist, runtimeConfig: RUNTIME, upstreams: { provisioning: provisioning.url, eventsApi: eventsApi.url } });
  unbuilt = await startConsoleServer({ distDir: empty, runtimeConfig: RUNTIME, upstreams: { provisioning: provisioning.url, eventsApi: eventsApi.url } });
});

afterAll(async () => {
  await consoleServer?.stop();
  await unbuilt?.stop();
  if (provisioning) await close(provisioning.server);
  if (eventsApi) await close(eventsApi.server);
  rmSync(dist, { recursive: true, force: true });
  rmSync(empty, { recursive: true, force: true });
});

/** Every header an asset answer must carry. */
function expectAssetHeaders(res: Response): void {
  expect(res.headers.get("content-security-policy")).toBe(consoleContentSecurityPolicy(ISSUER));
  for (const [name, value] of Object.entries(CONSOLE_SECURITY_HEADERS)) expect(res.headers.get(name), name).toBe(value);
}

describe("the console's assets", () => {
  it("answers index.html, scripts, styles, images and fonts with their content types and the security headers", async () => {
    const cases: [string, string, string | undefined][] = [
      ["/", "text/html; charset=utf-8", INDEX],
      ["/index.html", "text/html; charset=utf-8", INDEX],
      ["/assets/index-abc123.js", "text/javascript; charset=utf-8", SCRIPT],
      ["/assets/index-abc123.css", "text/css; charset=utf-8", undefined],
      ["/favicon.svg", "image/svg+xml", undefined],
      ["/logo.woff2", "font/woff2", undefined],
    ];
    for (const [path, type, body] of cases) {
      const res = await fetch(`${consoleServer.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type"), path).toBe(type);
      expectAssetHeaders(res);
      const text = await res.text();
      if (body !== undefined) expect(text).toBe(body);
    }
    // Hashed assets are cached for good; the page is revalidated.
    expect((await fetch(`${consoleServer.url}/assets/index-abc123.js`)).headers.get("cache-control")).toContain("immutable");
    expect((await fetch(`${consoleServer.url}/`)).headers.get("cache-control")).toBe("no-cache");
  });

  it("answers index.html for the app's own routes (no file extension), 404 for a missing file", async () => {
    for (const path of ["/invitations/accept", "/auth/callback?code=x&state=y", "/tenants/t-1/members"]) {
      const res = await fetch(`${consoleServer.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expectAssetHeaders(res);
      expect(await res.text()).toBe(INDEX);
    }
    const missing = await fetch(`${consoleServer.url}/assets/gone-123.js`);
    expect(missing.status).toBe(404);
    expectAssetHeaders(missing);
  });

  it("never answers a file outside the assets folder", async () => {
    writeFileSync(join(dist, "..", "outside-console-secret.txt"), "TOP-SECRET-CONTENT");
    try {
      for (const path of ["/../outside-console-secret.txt", "/%2e%2e/outside-console-secret.txt", "/assets/..%2f..%2foutside-console-secret.txt"]) {
        const res = await rawGet(consoleServer.port, path);
        expect(res.body, path).not.toContain("TOP-SECRET-CONTENT");
        expect([400, 404, 200]).toContain(res.status);
      }
    } finally {
      rmSync(join(dist, "..", "outside-console-secret.txt"), { force: true });
    }
  });

  it("refuses other methods than GET and HEAD on assets, and HEAD answers headers only", async () => {
    const post = await fetch(`${consoleServer.url}/index.html`, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    const head = await fetch(`${consoleServer.url}/assets/index-abc123.js`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(Buffer.byteLength(SCRIPT)));
    expect(await head.text()).toBe("");
  });

  it("answers /config.json with the runtime configuration the console parses", async () => {
    const res = await fetch(`${consoleServer.url}${CONSOLE_RUNTIME_CONFIG_PATH}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expectAssetHeaders(res);
    expect(parseConsoleRuntimeConfig(await res.json())).toEqual(RUNTIME);
  });

  it("answers 503 naming the build command when nothing is built, while /config.json and the API still answer", async () => {
    for (const path of ["/", "/invitations/accept", "/assets/index-abc123.js"]) {
      const res = await fetch(`${unbuilt.url}${path}`);
      expect(res.status, path).toBe(503);
      expectAssetHeaders(res);
      expect(await res.text()).toContain(`console not built: run ${CONSOLE_BUILD_COMMAND}`);
    }
    expect((await fetch(`${unbuilt.url}${CONSOLE_RUNTIME_CONFIG_PATH}`)).status).toBe(200);
    expect((await fetch(`${unbuilt.url}/.well-known/jwks.json`)).status).toBe(200);
  });

  it("refuses a runtime configuration the console could not use, naming the field", async () => {
    await expect(startConsoleServer({ distDir: dist, runtimeConfig: { ...RUNTIME, issuer: "http://auth.example.com/realms/enchanted" }, upstreams: { provisioning: provisioning.url, eventsApi: eventsApi.url } })).rejects.toThrow(/issuer .* is not https/);
    await expect(startConsoleServer({ distDir: dist, runtimeConfig: RUNTIME, upstreams: { provisioning: `${provisioning.url}/v1`, eventsApi: eventsApi.url } })).rejects.toThrow(/upstreams\.provisioning/);
  });
});

describe("the API behind the console's origin, routed as the gateway routes it", () => {
  it("sends every events-API route to the events API and every other API route and the key set to the provisioning service", () => {
    const concrete = (url: string) => url.replace(/:[A-Za-z]+/g, "x-1");
    for (const route of EVENTS_API_ROUTES) expect(upstreamOf(concrete(route.url)), route.url).toBe("eventsApi");
    for (const route of PROVISIONING_ROUTES) expect(upstreamOf(concrete(route.url)), route.url).toBe("provisioning");
    for (const path of ["/", "/config.json", "/assets/x.js", "/invitations/accept", "/v1"]) expect(upstreamOf(path), path).toBeUndefined();
  });

  it("streams a request body to the upstream and its answer back: method, path and query, status, headers", async () => {
    const body = JSON.stringify({ name: "Acme", slug: "acme", padding: "x".repeat(200_000) });
    const res = await fetch(`${consoleServer.url}/v1/tenants?dryRun=1`, { method: "POST", headers: { authorization: "Bearer user-token", "content-type": "application/json" }, body });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-upstream")).toBe("provisioning");
    expect(res.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    // No security headers of the console's on API answers: they are the service's.
    expect(res.headers.get("content-security-policy")).toBeNull();
    const echoed = (await res.json()) as Seen & { upstream: string };
    expect(echoed).toMatchObject({ upstream: "provisioning", method: "POST", url: "/v1/tenants?dryRun=1", body });
    expect(echoed.headers.authorization).toBe("Bearer user-token");
    expect(echoed.headers["x-forwarded-proto"]).toBe("http");
    expect(echoed.headers["x-forwarded-host"]).toBe(`127.0.0.1:${consoleServer.port}`);
    expect(echoed.headers["x-forwarded-for"]).toBe("127.0.0.1");
  });

  it("passes the upstream's status (a 404 stays a 404) and reaches the events API for its paths", async () => {
    const loops = await fetch(`${consoleServer.url}/v1/loops?window=1h`, { headers: { authorization: "Bearer tenant-token" } });
    expect(loops.status).toBe(200);
    expect(((await loops.json()) as { upstream: string; url: string })).toMatchObject({ upstream: "events-api", url: "/v1/loops?window=1h" });
    const missing = await fetch(`${consoleServer.url}/v1/events/missing`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get("x-upstream")).toBe("events-api");
    const jwks = await fetch(`${consoleServer.url}/.well-known/jwks.json`);
    expect(((await jwks.json()) as { upstream: string }).upstream).toBe("provisioning");
  });

  it("drops hop-by-hop headers in both directions", async () => {
    const res = await rawGet(consoleServer.port, "/v1/tenants", { connection: "keep-alive, x-hop", "x-hop": "secret-hop", "proxy-authorization": "Basic abc", te: "trailers" });
    const echoed = JSON.parse(res.body) as Seen;
    expect(echoed.headers["x-hop"]).toBeUndefined();
    expect(echoed.headers["proxy-authorization"]).toBeUndefined();
    expect(echoed.headers.te).toBeUndefined();
  });

  it("answers 502 naming the upstream when it is down", async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const server = await startConsoleServer({ distDir: dist, runtimeConfig: RUNTIME, upstreams: { provisioning: down, eventsApi: down } });
    try {
      const tenants = await fetch(`${server.url}/v1/tenants`);
      expect(tenants.status).toBe(502);
      const answer = (await tenants.json()) as { error: { code: string; message: string; upstream: string } };
      expect(answer.error).toMatchObject({ code: "bad_gateway", upstream: "provisioning" });
      expect(answer.error.message).toContain(`the provisioning service (${down}) did not answer`);
      const usage = (await (await fetch(`${server.url}/v1/usage`)).json()) as { error: { upstream: string; message: string } };
      expect(usage.error.upstream).toBe("eventsApi");
      expect(usage.error.message).toContain("the events API");
    } finally {
      await server.stop();
    }
  });
});

/** A GET with exactly these headers and path (fetch normalizes paths and forbids some headers). */
function rawGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: "GET", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end();
  });
}

/**
 * A real HTTP server on a loopback port standing in for the platform's API in the console's tests:
 * the console's own fetch code runs unchanged against it, and every request is recorded (method,
 * path, query, headers, body) for the test to check. Routes answer like the services do.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Recorded {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
}

export interface Reply {
  readonly status?: number;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

export type Handler = (req: Recorded, params: Record<string, string>) => Reply | Promise<Reply>;

export interface TestApi {
  readonly origin: string;
  readonly requests: Recorded[];
  /** `route("GET", "/v1/tenants/:tenantId/members", handler)`; a later route for the same pattern wins. */
  route(method: string, pattern: string, handler: Handler): void;
  close(): Promise<void>;
}

function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split("/");
  const got = path.split("/");
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as string;
    const g = got[i] as string;
    if (w.startsWith(":")) params[w.slice(1)] = decodeURIComponent(g);
    else if (w !== g) return null;
  }
  return params;
}

export async function startTestApi(): Promise<TestApi> {
  const routes: { method: string; pattern: string; handler: Handler }[] = [];
  const requests: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const url = new URL(req.url ?? "/", "http://127.0.0.1");
        const text = Buffer.concat(chunks).toString("utf8");
        const rec: Recorded = { method: req.method ?? "GET", path: url.pathname, query: url.searchParams, headers: req.headers, body: text ? JSON.parse(text) : undefined };
        requests.push(rec);
        const found = [...routes].reverse().find((r) => r.method === rec.method && match(r.pattern, rec.path));
        const reply: Reply = found ? await found.handler(rec, match(found.pattern, rec.path) ?? {}) : { status: 404, body: { error: { code: "not_found", message: "not found" } } };
        const status = reply.status ?? 200;
        res.writeHead(status, { "content-type": "application/json", ...reply.headers });
        res.end(reply.body === undefined || status === 204 ? undefined : typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body));
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    route: (method, pattern, handler) => routes.push({ method, pattern, handler }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers `POST /v1/tenants/:tenantId/token` like the provisioning service: `tenant-token-<tenant>-<n>`, valid `lifetimeSeconds`. */
export function tenantTokens(api: TestApi, roles: Record<string, string>, lifetimeSeconds = 300): void {
  let n = 0;
  api.route("POST", "/v1/tenants/:tenantId/token", (_req, p) => {
    const tenantId = p["tenantId"] as string;
    const role = roles[tenantId];
    if (!role) return { status: 404, body: { error: { code: "not_found", message: "tenant not found" } } };
    const now = Math.floor(Date.now() / 1000);
    n += 1;
    return { body: { access_token: `tenant-token-${tenantId}-${n}`, token_type: "Bearer", expires_in: lifetimeSeconds, expires_at: now + lifetimeSeconds, tenant_id: tenantId, plan_tier: "free", role } };
  });
}

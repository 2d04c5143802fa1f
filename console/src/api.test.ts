import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ApiClient, ApiError, fixOf, TENANT_TOKEN_MARGIN_SECONDS } from "./api.js";
import { startTestApi, tenantTokens, type TestApi } from "./test/api-server.js";

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
  tenantTokens(api, { acme: "owner", globex: "viewer" });
  api.route("GET", "/v1/tenants", () => ({ body: { tenants: [] } }));
  api.route("GET", "/v1/tenants/:tenantId/members", (_r, p) => ({ body: { tenantId: p["tenantId"], members: [] } }));
  api.route("GET", "/v1/events", () => ({ body: { events: [], nextCursor: null } }));
  api.route("POST", "/v1/tenants", () => ({
    status: 400,
    body: { error: { code: "invalid_request", field: "body.slug", message: "body.slug must match pattern \"^[a-z0-9-]{3,63}$\": use 3-63 lower-case letters, digits and hyphens" } },
  }));
  api.route("GET", "/v1/usage", () => ({ status: 502, body: "<html>bad gateway</html>", headers: { "content-type": "text/html" } }));
});
afterAll(() => api.close());
beforeEach(() => {
  api.requests.length = 0;
});

const client = (o: { user?: string | null; now?: () => number } = {}) => new ApiClient({ origin: api.origin, userToken: async () => (o.user === undefined ? "user-token-alice" : o.user), ...(o.now ? { now: o.now } : {}) });
const authz = (i: number) => api.requests[i]?.headers.authorization;

describe("ApiClient tokens", () => {
  it("sends exactly the user's token on the user routes", async () => {
    await client().listTenants();
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0]?.path).toBe("/v1/tenants");
    expect(authz(0)).toBe("Bearer user-token-alice");
  });

  it("gets a tenant token with the user's token, then sends only the tenant token on tenant and events routes", async () => {
    const c = client();
    await c.members("acme");
    await c.events("acme", { projectId: "p1" });
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /v1/tenants/acme/token", "GET /v1/tenants/acme/members", "GET /v1/events"]);
    expect(authz(0)).toBe("Bearer user-token-alice");
    expect(api.requests[0]?.body).toEqual({});
    expect(authz(1)).toBe("Bearer tenant-token-acme-1");
    expect(authz(2)).toBe("Bearer tenant-token-acme-1");
  });

  it("keeps one token per tenant: switching tenant switches token, concurrent calls share one token request", async () => {
    const c = client();
    await Promise.all([c.members("acme"), c.members("acme"), c.members("globex")]);
    const tokenRequests = api.requests.filter((r) => r.path.endsWith("/token"));
    expect(tokenRequests.map((r) => r.path).sort()).toEqual(["/v1/tenants/acme/token", "/v1/tenants/globex/token"]);
    const acme = api.requests.filter((r) => r.path === "/v1/tenants/acme/members").map((r) => r.headers.authorization);
    const globex = api.requests.filter((r) => r.path === "/v1/tenants/globex/members").map((r) => r.headers.authorization);
    expect(new Set(acme).size).toBe(1);
    expect(acme[0]).toMatch(/^Bearer tenant-token-acme-\d+$/);
    expect(globex[0]).toMatch(/^Bearer tenant-token-globex-\d+$/);
  });

  it("renews the tenant token shortly before it expires", async () => {
    let now = Date.now();
    const c = client({ now: () => now });
    await c.members("acme");
    now += (300 - TENANT_TOKEN_MARGIN_SECONDS - 5) * 1000;
    await c.members("acme");
    expect(api.requests.filter((r) => r.path.endsWith("/token"))).toHaveLength(1);
    now += 10_000;
    await c.members("acme");
    expect(api.requests.filter((r) => r.path.endsWith("/token"))).toHaveLength(2);
  });

  it("never reuses a tenant token obtained with another user's token", async () => {
    let user = "user-token-alice";
    const c = new ApiClient({ origin: api.origin, userToken: async () => user });
    await c.members("acme");
    user = "user-token-bob";
    await c.members("acme");
    const tokenCalls = api.requests.filter((r) => r.path.endsWith("/token"));
    expect(tokenCalls.map((r) => r.headers.authorization)).toEqual(["Bearer user-token-alice", "Bearer user-token-bob"]);
  });

  it("asks for a fresh tenant token once when a tenant route answers 401", async () => {
    let refused = 1;
    api.route("GET", "/v1/tenants/:tenantId/limits", () => (refused-- > 0 ? { status: 401, body: { error: { code: "unauthorized", message: "a valid bearer access token is required" } } } : { body: { tenantId: "acme", planTier: "free", limits: {} } }));
    const answer = await client().limits("acme");
    expect(answer.planTier).toBe("free");
    const limits = api.requests.filter((r) => r.path.endsWith("/limits"));
    expect(limits).toHaveLength(2);
    expect(limits[0]?.headers.authorization).not.toBe(limits[1]?.headers.authorization);
  });

  it("makes no request at all when signed out", async () => {
    await expect(client({ user: null }).listTenants()).rejects.toMatchObject({ name: "ApiError", code: "signed_out" });
    expect(api.requests).toHaveLength(0);
  });

  it("never sends a token in a query string, and sends nothing but the bearer header as a credential", async () => {
    const c = client();
    await c.events("acme", { projectId: "p1", agentId: "coder-1", eventType: "decision" }, { cursor: "abc", limit: 50 });
    for (const r of api.requests) {
      expect(r.query.toString()).not.toMatch(/token|Bearer|user-token/);
      expect(r.headers.cookie).toBeUndefined();
      expect(Object.keys(r.headers).filter((h) => /api-key|secret|x-auth/i.test(h))).toEqual([]);
    }
    expect(Object.fromEntries(api.requests[1]?.query ?? [])).toEqual({ projectId: "p1", agentId: "coder-1", eventType: "decision", cursor: "abc", limit: "50" });
  });
});

describe("ApiClient origin", () => {
  it("refuses a path that leaves the console's origin, before any request", async () => {
    const c = client();
    expect(() => c.url("//evil.example/v1/tenants")).toThrow(ApiError);
    expect(() => c.url("/v1/../../x")).toThrow(ApiError);
    expect(() => c.url("https://evil.example/v1/tenants")).toThrow(ApiError);
    expect(c.url("/v1/tenants").origin).toBe(api.origin);
    expect(api.requests).toHaveLength(0);
  });

  it("escapes path segments: a crafted id cannot reach another route or origin", async () => {
    await client().members("acme").catch(() => undefined);
    api.requests.length = 0;
    await client()
      .crashContext("acme", "../../tenants")
      .catch(() => undefined);
    const paths = api.requests.map((r) => r.path);
    expect(paths).toContain("/v1/agents/..%2F..%2Ftenants/crash-context");
  });
});

describe("ApiError", () => {
  it("carries the status, code, field and fix of the service's error answer", async () => {
    const error = await client()
      .createTenant({ name: "Acme", slug: "A" }, "key-1")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 400, code: "invalid_request", field: "body.slug", fix: "use 3-63 lower-case letters, digits and hyphens" });
    expect(api.requests[0]?.headers["idempotency-key"]).toBe("key-1");
  });

  it("keeps the HTTP status of an answer that is not the services' error shape", async () => {
    const error = await client()
      .eventUsage("acme")
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "ApiError", status: 502, code: "http_502", field: undefined });
  });

  it("reports a network failure as status 0, code network", async () => {
    const c = new ApiClient({ origin: "http://127.0.0.1:9", userToken: async () => "user-token-alice" });
    await expect(c.listTenants()).rejects.toMatchObject({ status: 0, code: "network" });
  });

  it("reads the fix from `Fix:` or after the first colon", () => {
    expect(fixOf("/config.json: issuer is missing. Fix: set it")).toBe("set it");
    expect(fixOf("body.email is required: use the invitee's e-mail address")).toBe("use the invitee's e-mail address");
    expect(fixOf("not found")).toBeUndefined();
  });
});

/**
 * Bad input: 10,000 generated requests (fast-check) through the whole HTTP pipeline (fastify's
 * inject: routing, auth hook, body parser, schemas, handlers, error handler) on every route of
 * PROVISIONING_ROUTES with a valid token of the route's kind (a user token, or a tenant token):
 * zero 5xx, every 400 names the field it is about; slugs outside ^[a-z0-9-]{3,63}$ and tenant ids
 * with '.', '*', '>' or whitespace are refused; `__proto__` / `constructor.prototype` payloads
 * leave Object.prototype untouched; oversize bodies get 413 (also over real HTTP).
 */
import fc from "fast-check";
import { KEYCLOAK_WAIT_MS } from "../support/keycloak.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TENANT_ID_PATTERN } from "../../config/tenancy.js";
import { PROVISIONING_ROUTES } from "../../services/identity/names.js";
import { signingKeysEnv, startHarness, type Harness } from "./harness.js";

let h: Harness;
const keysEnv = signingKeysEnv();
let token: string;
let tenantToken: string;
let ownTenant: string;

beforeAll(async () => {
  // The webhook answers unsigned deliveries with 401 (without a secret it would be 503).
  h = await startHarness({ keycloak: false, env: keysEnv.env, billingSecrets: ["whsec_fuzz"] });
  const user = await h.addUser();
  token = await h.token(user);
  ownTenant = await h.createTenant(user, { name: "Fuzz Target", slug: "fuzz-target" });
  tenantToken = await h.tenantToken(user, ownTenant);
}, KEYCLOAK_WAIT_MS);
afterAll(async () => {
  await h?.stop();
  keysEnv.cleanup();
});

interface Sent {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  payload?: string;
  headers: Record<string, string>;
}

const SLUG = /^[a-z0-9-]{3,63}$/;
const nastyStrings = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.constantFrom("a.b", "*", ">", "a b", "ab\t", "t.>", "__proto__", "constructor", "", " ", "A".repeat(300), "tenant-a.*", "\u0000abc", "ok-slug", "x--y", "../etc", "%2e"),
);
const jsonValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant({ polluted: true }));
const bodyObject = fc.record(
  {
    name: fc.oneof(nastyStrings, jsonValue),
    slug: fc.oneof(nastyStrings, fc.stringMatching(SLUG), jsonValue),
    planTier: fc.oneof(fc.constantFrom("free", "pro", "enterprise", "platinum", "FREE", ""), jsonValue),
    role: fc.oneof(fc.constantFrom("owner", "admin", "member", "viewer", "root", ""), jsonValue),
    email: fc.oneof(nastyStrings, fc.emailAddress(), jsonValue),
    token: fc.oneof(nastyStrings, fc.stringMatching(/^[A-Za-z0-9_-]{43}$/), jsonValue),
    invitationId: fc.oneof(nastyStrings, fc.stringMatching(/^inv[0-9a-f]{24}$/), jsonValue),
    ttlSeconds: fc.oneof(fc.integer(), fc.double(), nastyStrings),
    extra: jsonValue,
  },
  { requiredKeys: [] },
);
const poisoned = fc.constantFrom(
  '{"__proto__":{"polluted":"yes"}}',
  '{"name":"x","slug":"abc","planTier":"free","__proto__":{"polluted":"yes"}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"planTier":"free","nested":{"__proto__":{"polluted":"yes"}}}',
  '{"a":1,',
  "not json",
  "[]",
  "null",
  '"string"',
  "123",
);
const payload = fc.oneof(
  bodyObject.map((o) => JSON.stringify(o)),
  poisoned,
  fc.string({ maxLength: 200 }),
  fc.constant(undefined),
);
const tenantIdArb = fc.oneof(fc.constant(ownTenantRef()), nastyStrings, fc.stringMatching(TENANT_ID_PATTERN));
function ownTenantRef(): string {
  return "__OWN__";
}
const request: fc.Arbitrary<Sent> = fc
  .record({
    route: fc.constantFrom(...PROVISIONING_ROUTES),
    id: tenantIdArb,
    other: fc.oneof(nastyStrings, fc.constantFrom(`U${"A".repeat(55)}`, `inv${"0".repeat(24)}`, "some-user-id")),
    payload,
    idem: fc.option(nastyStrings, { nil: undefined }),
    contentType: fc.constantFrom("application/json", "application/json", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-8"),
    query: fc.option(fc.constantFrom("?x=1", "?__proto__=1", "?limit=5"), { nil: undefined }),
  })
  .map(({ route, id, other, payload, idem, contentType, query }) => {
    let tid = encodeURIComponent(id === "__OWN__" ? ownTenant : id);
    // Never offboard the target, nor remove its last owner (both are answered, and would end the run's own tenant).
    if (route.method === "DELETE" && (route.url === "/v1/tenants/:tenantId" || route.url.endsWith(":userId")) && tid === ownTenant) tid = "t111111111111111111111111";
    const method = route.method;
    const path = route.url.replace(":tenantId", tid).replace(/:userId|:publicKey|:invitationId/, encodeURIComponent(other));
    const headers: Record<string, string> = route.auth === "tenant" ? { authorization: `Bearer ${tenantToken}` } : route.auth === "user" || route.auth === "operator" ? { authorization: `Bearer ${token}` } : {};
    if (idem !== undefined) headers["idempotency-key"] = idem.replace(/[\r\n\u0000-\u001f\u007f-\uffff]/g, "?");
    const withBody = method !== "GET" && payload !== undefined;
    if (withBody) headers["content-type"] = contentType;
    return { method, url: `${path}${query ?? ""}`, headers, ...(withBody ? { payload } : {}) };
  });

describe("bad input", () => {
  it("answers 10,000 generated requests without a 5xx, naming the field of every 400", async () => {
    const statuses = new Map<number, number>();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        n++;
        const res = await h.svc.app.inject({ method: r.method, url: r.url, headers: r.headers, ...(r.payload !== undefined ? { payload: r.payload } : {}) });
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode >= 500) throw new Error(`${res.statusCode} for ${JSON.stringify(r)}: ${res.body}`);
        const body = JSON.parse(res.body) as { error?: { code: string; message: string; field?: string } };
        if (res.statusCode === 400) {
          const field = body.error?.field;
          if (!field || !body.error?.message.includes(field)) throw new Error(`400 without a named field for ${JSON.stringify(r)}: ${res.body}`);
          if (/stack|at \/|node_modules|lmdb|Error:/i.test(res.body)) throw new Error(`leak: ${res.body}`);
        }
        if (res.statusCode >= 400) expect(Object.keys(body)).toEqual(["error"]);
        if (Object.prototype.hasOwnProperty.call(Object.prototype, "polluted") || ({} as Record<string, unknown>).polluted !== undefined) {
          throw new Error(`Object.prototype polluted by ${JSON.stringify(r)}`);
        }
      }),
      { numRuns: 10_000 },
    );
    expect(n).toBeGreaterThanOrEqual(10_000);
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
    expect(statuses.get(400)).toBeGreaterThan(1_000);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("refuses slugs outside ^[a-z0-9-]{3,63}$ naming body.slug", async () => {
    await fc.assert(
      fc.asyncProperty(
        nastyStrings.filter((s) => !SLUG.test(s)),
        async (slug) => {
          const res = await h.svc.app.inject({ method: "POST", url: "/v1/tenants", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, payload: JSON.stringify({ name: "N", slug }) });
          expect(res.statusCode).toBe(400);
          expect(JSON.parse(res.body)).toMatchObject({ error: { code: "invalid_request", field: "body.slug" } });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses tenant ids with '.', '*', '>' or whitespace naming params.tenantId", async () => {
    for (const id of ["a.b", "abc*", "ab>c", "a b", "ab\tc", " abc", "abc ", ">", "*", "t.>", "abc\n"]) {
      for (const suffix of ["", "/members", "/limits", "/usage"]) {
        const res = await h.request("GET", `/v1/tenants/${encodeURIComponent(id)}${suffix}`, { token: tenantToken });
        expect(res.status, `${JSON.stringify(id)}${suffix}`).toBe(400);
        expect(res.body).toMatchObject({ error: { field: "params.tenantId" } });
      }
    }
  });

  it("refuses unknown fields instead of dropping them", async () => {
    const res = await h.request("POST", "/v1/tenants", { token, body: { name: "N", slug: "unknown-field", admin: true } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { field: "body.admin" } });
  });

  it("answers 413 to an oversize body over real HTTP", async () => {
    const big = JSON.stringify({ name: "x".repeat(h.config.bodyLimitBytes), slug: "big-body" });
    const res = await h.request("POST", "/v1/tenants", { token, rawBody: big });
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ error: { code: "payload_too_large", message: `the request body exceeds ${h.config.bodyLimitBytes} bytes` } });
    // The prototype stayed clean through everything.
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain("polluted");
  });
});

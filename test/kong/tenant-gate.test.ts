/**
 * The tenant-gate plugin's Lua, RUN with luajit against stubs of the Kong PDK and a counter store,
 * with exactly the config the gateway construct ships (tenantGateConfig from the tier catalog).
 */
import { describe, expect, it } from "vitest";
import { loadEnvironment, loadTierCatalog, PLAN_TIER_NAMES, TENANT_ID_PATTERN } from "../../config/index.js";
import {
  PLAN_TIER_HEADER,
  STRIPPED_CLIENT_HEADERS,
  TENANT_HEADER,
  tenantGateConfig,
  tierLimitsTable,
  type TenantGateConfigProps,
} from "../../services/kong-plugins/tenant-gate.js";
import { burst, runTenantGate, single, token, type HarnessStep } from "./lua.js";
import { API_AUDIENCE, issuerUrl } from "../../services/keycloak-realm/names.js";

const tiers = loadTierCatalog();
const ISSUER = issuerUrl(loadEnvironment("dev").domains.auth);
const AUDIENCE = API_AUDIENCE;
/** A clock at the start of an hour, so that every window starts with the first request. */
const T0 = 1_900_000_800;

const localConfig = (overrides: Partial<TenantGateConfigProps> = {}) =>
  tenantGateConfig({ tiers, issuer: ISSUER, audience: AUDIENCE, counters: { policy: "local" }, ...overrides });
const redisConfig = () =>
  tenantGateConfig({ tiers, issuer: ISSUER, audience: AUDIENCE, counters: { policy: "redis", host: "master.kong-redis.example.cache.amazonaws.com", password: "s3cret-from-configPatches" } });

function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: ISSUER, aud: AUDIENCE, typ: "Bearer", exp: T0 + 300, iat: T0 - 10, sub: "user-1", tenant_id: "acme", plan_tier: "free", ...over };
}

function one(request: HarnessStep["request"], config = localConfig()) {
  const out = runTenantGate({ config, steps: [{ now: T0, request }] });
  expect(out.schema_errors).toEqual([]);
  return single(out, 0);
}

describe("tenant-gate: the config the gateway ships", () => {
  it("fits the plugin's schema.lua, local and redis", () => {
    for (const config of [localConfig(), redisConfig()]) {
      expect(runTenantGate({ config, steps: [] }).schema_errors).toEqual([]);
    }
  });

  it("has exactly the catalog's gateway limits per tier, one entry per tier", () => {
    const table = tierLimitsTable(tiers);
    expect(Object.keys(table).sort()).toEqual([...PLAN_TIER_NAMES].sort());
    for (const name of PLAN_TIER_NAMES) {
      const g = tiers[name].gateway;
      expect(table[name]).toEqual({ second: g.requestsPerSecond, minute: g.requestsPerMinute, hour: g.requestsPerHour, max_body_kib: g.maxRequestBodyKiB });
    }
  });

  it("a schema violation is caught (the check can fail)", () => {
    const bad = { ...localConfig(), policy: "cluster", tiers: { free: { second: 0, minute: 1, hour: 1, max_body_kib: 1 } } };
    expect(runTenantGate({ config: bad, steps: [] }).schema_errors).toEqual(expect.arrayContaining([expect.stringContaining("config.policy"), expect.stringContaining("config.tiers.free.second")]));
  });
});

describe("tenant-gate: the tenant comes from the verified token", () => {
  it("passes a valid token and keys every counter by its tenant_id claim", () => {
    const r = one({ token: token(claims()) });
    expect(r.status).toBe(200);
    expect(r.keys).toEqual([`local:ratelimit:tenant:acme:second:${T0}`, `local:ratelimit:tenant:acme:minute:${T0}`, `local:ratelimit:tenant:acme:hour:${T0}`]);
    expect(r.upstream[TENANT_HEADER.toLowerCase()]).toBe("acme");
    expect(r.upstream[PLAN_TIER_HEADER.toLowerCase()]).toBe("free");
  });

  it("a forged X-Tenant-Id (or any client header) neither moves the bucket nor reaches the upstream", () => {
    const forged = Object.fromEntries(STRIPPED_CLIENT_HEADERS.map((h) => [h, "victim-corp"]));
    const r = one({ token: token(claims()), headers: { ...forged, "x-tenant-id": "victim-corp", "X-Plan-Tier": "enterprise" } });
    expect(r.status).toBe(200);
    expect(r.keys.every((k) => k.includes(":acme:"))).toBe(true);
    expect(r.keys.some((k) => k.includes("victim"))).toBe(false);
    expect(r.upstream[TENANT_HEADER.toLowerCase()]).toBe("acme");
    expect(r.upstream[PLAN_TIER_HEADER.toLowerCase()]).toBe("free");
    expect(Object.values(r.upstream)).not.toContain("victim-corp");
  });

  it("a forged tenant header cannot spend another tenant's allowance: victim keeps its full budget", () => {
    const perSecond = tiers.free.gateway.requestsPerSecond;
    const out = runTenantGate({
      config: localConfig(),
      steps: [
        // The attacker (tenant evil) exhausts its own second, claiming to be victim in every header.
        { now: T0, count: perSecond + 3, request: { token: token(claims({ tenant_id: "evil" })), headers: { "X-Tenant-Id": "victim", "X-RateLimit-Key": "victim" } } },
        // The victim, in the same second, still has its whole allowance.
        { now: T0, count: perSecond, request: { token: token(claims({ tenant_id: "victim" })) } },
      ],
    });
    expect(burst(out, 0).first_refused).toBe(perSecond + 1);
    expect(burst(out, 1).counts).toEqual({ "200": perSecond });
  });

  it("refuses a request the jwt plugin did not verify (no token, or no credential) with 401", () => {
    expect(one({ token: null }).status).toBe(401);
    expect(one({ token: token(claims()), credential: false }).status).toBe(401);
    expect(one({ token: "not.a-jwt" }).status).toBe(401);
  });

  it.each([
    ["alg=none", { alg: "none", typ: "JWT" }],
    ["HS256 (HMAC with the public key as secret)", { alg: "HS256", typ: "JWT" }],
    ["HS512", { alg: "HS512" }],
    ["a missing alg", { typ: "JWT" }],
  ])("refuses %s with 401", (_name, header) => {
    const r = one({ token: token(claims(), header) });
    expect(r.status).toBe(401);
    expect(r.keys).toEqual([]);
  });

  it.each([
    ["a wrong aud", { aud: "account" }],
    ["an aud list without the API", { aud: ["account", "broker"] }],
    ["a missing aud", { aud: undefined }],
    ["another issuer", { iss: "https://evil.example/realms/enchanted" }],
    ["an ID token (typ ID)", { typ: "ID" }],
    ["an expired token", { exp: T0 - 1 }],
    ["a missing tenant_id", { tenant_id: undefined }],
    ["a tenant_id with a wildcard", { tenant_id: "acme.*" }],
    ["an upper-case tenant_id", { tenant_id: "Acme" }],
    ["a too-short tenant_id", { tenant_id: "ab" }],
    ["a tenant_id ending in a hyphen", { tenant_id: "acme-" }],
    ["a numeric tenant_id", { tenant_id: 12345 }],
  ])("refuses %s with 401", (_name, over) => {
    const r = one({ token: token(claims(over)) });
    expect(r.status).toBe(401);
    expect(r.keys).toEqual([]);
  });

  it("accepts an aud list that contains the API", () => {
    expect(one({ token: token(claims({ aud: ["account", AUDIENCE] })) }).status).toBe(200);
  });

  it("refuses an unknown or missing plan tier with 403", () => {
    expect(one({ token: token(claims({ plan_tier: "platinum" })) }).status).toBe(403);
    expect(one({ token: token(claims({ plan_tier: undefined })) }).status).toBe(403);
    expect(one({ token: token(claims({ plan_tier: "__index" })) }).status).toBe(403);
  });

  it("validates tenant ids exactly like TENANT_ID_PATTERN", () => {
    const samples = ["abc", "a-b", "acme-corp", "0ab", "a".repeat(63), "a".repeat(64), "ab", "-ab", "ab-", "a_b", "a.b", "ABC", "ab c", "a>b", "tenant-1", "ü-tenant", "a\nb"];
    const out = runTenantGate({ config: localConfig(), steps: samples.map((tenant_id) => ({ now: T0 + 7200, request: { token: token(claims({ tenant_id, exp: T0 + 9000 })) } })) });
    samples.forEach((tenant, i) => {
      expect(single(out, i).status === 200, `tenant id ${JSON.stringify(tenant)}`).toBe(TENANT_ID_PATTERN.test(tenant));
    });
  });
});

describe("tenant-gate: request size", () => {
  it.each(PLAN_TIER_NAMES)("%s: allows exactly maxRequestBodyKiB and refuses one byte more with 413", (tier) => {
    const max = tiers[tier].gateway.maxRequestBodyKiB * 1024;
    const t = token(claims({ plan_tier: tier }));
    expect(one({ token: t, headers: { "Content-Length": String(max) } }).status).toBe(200);
    expect(one({ token: t, headers: { "Content-Length": String(max + 1) } }).status).toBe(413);
  });

  it("refuses a body without Content-Length (chunked) with 411, and a bad Content-Length with 400", () => {
    const t = token(claims());
    expect(one({ token: t, headers: { "Transfer-Encoding": "chunked" } }).status).toBe(411);
    expect(one({ token: t, headers: { "Content-Length": "12abc" } }).status).toBe(400);
  });
});

describe.each(PLAN_TIER_NAMES)("tenant-gate: %s rate limits from the catalog", (tier) => {
  const g = tiers[tier].gateway;
  const t = token(claims({ plan_tier: tier, exp: T0 + 7200 }));

  it(`lets ${g.requestsPerSecond} requests through in one second and refuses the next with 429`, () => {
    const out = runTenantGate({ config: localConfig(), steps: [{ now: T0, count: g.requestsPerSecond + 1, request: { token: t } }, { now: T0 + 1, request: { token: t } }] });
    expect(burst(out, 0).first_refused).toBe(g.requestsPerSecond + 1);
    expect(burst(out, 0).last_status).toBe(429);
    expect(single(out, 1).status).toBe(200); // a new second
  });

  it(`lets ${g.requestsPerMinute} requests through in one minute and refuses the next with 429`, () => {
    // Spread over the minute at the per-second limit so only the minute window can refuse.
    const out = runTenantGate({ config: localConfig(), steps: [{ now: T0, count: g.requestsPerMinute + 1, spread: [g.requestsPerSecond, 1], request: { token: t } }] });
    expect(burst(out, 0).first_refused).toBe(g.requestsPerMinute + 1);
  });

  it(`lets ${g.requestsPerHour} requests through in one hour and refuses the next with 429`, () => {
    const out = runTenantGate({ config: localConfig(), steps: [{ now: T0, count: g.requestsPerHour + 1, spread: [g.requestsPerMinute, 60], request: { token: t } }] });
    expect(burst(out, 0).first_refused).toBe(g.requestsPerHour + 1);
  });
});

describe("tenant-gate: shared counters in Redis", () => {
  it("counts in Redis over TLS with the configured password, keyed by the verified tenant", () => {
    const config = redisConfig();
    const out = runTenantGate({ config, redis: { password: "s3cret-from-configPatches" }, steps: [{ now: T0, request: { token: token(claims()), headers: { "X-Tenant-Id": "victim" } } }] });
    expect(out.schema_errors).toEqual([]);
    const r = single(out, 0);
    expect(r.status).toBe(200);
    expect(r.keys).toEqual([`redis:ratelimit:tenant:acme:second:${T0}`, `redis:ratelimit:tenant:acme:minute:${T0}`, `redis:ratelimit:tenant:acme:hour:${T0}`]);
    expect(out.redis_connections[0]).toMatchObject({ ssl: true, ssl_verify: true, server_name: "master.kong-redis.example.cache.amazonaws.com", port: 6379 });
  });

  it("refuses the N+1th request of a second through Redis with 429", () => {
    const n = tiers.pro.gateway.requestsPerSecond;
    const out = runTenantGate({ config: redisConfig(), redis: { password: "s3cret-from-configPatches" }, steps: [{ now: T0, count: n + 1, request: { token: token(claims({ plan_tier: "pro" })) } }] });
    expect(burst(out, 0).first_refused).toBe(n + 1);
  });

  it("falls back to local counters when Redis is down or refuses the password, and still limits", () => {
    const n = tiers.free.gateway.requestsPerSecond;
    for (const redis of [{ down: true }, { password: "another-password" }]) {
      const out = runTenantGate({ config: redisConfig(), redis, steps: [{ now: T0, request: { token: token(claims()) } }, { now: T0, count: n, request: { token: token(claims()) } }] });
      expect(single(out, 0).keys[0]).toMatch(/^local:ratelimit:tenant:acme:/);
      expect(burst(out, 1).first_refused).toBe(n);
    }
  });
});

/**
 * The tenant-gate plugin's Lua, RUN with luajit against stubs of the Kong PDK and a counter store,
 * with exactly the config the gateway construct ships (tenantGateConfig), verifying real tokens:
 * ES256 and RS256 keys made here with jose, key sets served over loopback HTTP by a node:http
 * server, signatures checked by the plugin's own FFI code against the system's libcrypto.
 */
import { exportJWK, generateKeyPair, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnvironment, loadTierCatalog, loadUserLimits, PLAN_TIER_NAMES, TENANT_ID_PATTERN } from "../../config/index.js";
import { OPERATOR_AUDIENCE, TENANT_ROLES, TENANT_TOKEN, tenantTokenIssuer, USER_TOKEN_AUDIENCE } from "../../services/identity/names.js";
import { issuerUrl, REALM_ROLES } from "../../services/keycloak-realm/names.js";
import {
  DEFAULT_CLOCK_SKEW_SECONDS,
  JWKS_CACHE_DEFAULTS,
  MODE_TOKENS,
  PLAN_TIER_HEADER,
  STRIPPED_CLIENT_HEADERS,
  TENANT_GATE_MODES,
  TENANT_HEADER,
  TENANT_ROLE_HEADER,
  tenantGateConfig,
  tierLimitsTable,
  USER_HEADER,
  type TenantGateConfigProps,
  type TenantGateMode,
} from "../../services/kong-plugins/tenant-gate.js";
import { hmac, KeySetServer, sign, signingKey, unsigned, withSignatureOf, type SigningKey } from "./keys.js";
import { burst, refusal, runTenantGate, single, type HarnessStep } from "./lua.js";

const tiers = loadTierCatalog();
const userLimits = loadUserLimits();
const env = loadEnvironment("dev");
const REALM_ISSUER = issuerUrl(env.domains.auth);
const TENANT_ISSUER = tenantTokenIssuer(env.domains.api);
/** A clock at the start of an hour, so that every window starts with the first request. */
const T0 = 1_900_000_800;
const SKEW = DEFAULT_CLOCK_SKEW_SECONDS;
const REFETCH = JWKS_CACHE_DEFAULTS.refetchIntervalSeconds;
const TTL = JWKS_CACHE_DEFAULTS.cacheTtlSeconds;
const h = (name: string) => name.toLowerCase();

let server: KeySetServer;
let tenantKey: SigningKey;
/** An RSA key published in the tenant key set (a kid whose key is not ES256). */
let tenantRsaKey: SigningKey;
/** Not published anywhere, with the published tenant key's kid. */
let impostor: SigningKey;
let realmKey: SigningKey;
/** Keycloak also publishes an encryption key (use: enc): never a verification key. */
let realmEncryptionKey: JWK;

beforeAll(async () => {
  [tenantKey, tenantRsaKey, impostor, realmKey] = await Promise.all([
    signingKey("tenant-2026-01", "ES256"),
    signingKey("tenant-rsa", "RS256"),
    signingKey("tenant-2026-01", "ES256"),
    signingKey("realm-rs256", "RS256"),
  ]);
  const enc = await generateKeyPair("RSA-OAEP", { extractable: true });
  realmEncryptionKey = { ...(await exportJWK(enc.publicKey)), kid: "realm-enc", alg: "RSA-OAEP", use: "enc" };
  server = await KeySetServer.start({ tenant: [tenantKey.jwk, tenantRsaKey.jwk], realm: [realmKey.jwk, realmEncryptionKey] });
});
afterAll(() => server.stop());

function config(mode: TenantGateMode, over: Partial<TenantGateConfigProps> = {}, keySets: KeySetServer = server) {
  return tenantGateConfig({
    mode,
    tiers,
    userLimits,
    issuer: mode === "tenant" ? TENANT_ISSUER : REALM_ISSUER,
    jwksUrl: keySets.url(mode === "tenant" ? "tenant" : "realm"),
    counters: { policy: "local" },
    ...over,
  });
}
const REDIS_HOST = "master.kong-redis.example.cache.amazonaws.com";
const REDIS_PASSWORD = "s3cret-from-configPatches";
const redisConfig = () => config("tenant", { counters: { policy: "redis", host: REDIS_HOST, password: REDIS_PASSWORD } });

function tenantClaims(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: TENANT_ISSUER, aud: TENANT_TOKEN.audience, sub: "user-1", tenant_id: "acme", plan_tier: "free", role: "member", iat: T0 - 10, exp: T0 + 290, ...over };
}
/** A Keycloak access token's claims (a user with no tenant). */
function userClaims(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: REALM_ISSUER, aud: [USER_TOKEN_AUDIENCE, "account"], typ: "Bearer", azp: "enchanted-web", sub: "0b6f6a52-4c1e-4d5e-9f1a-2f0c3b1d9e77", iat: T0 - 10, exp: T0 + 290, ...over };
}
const tenantToken = (over: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key = tenantKey) => sign(key, tenantClaims(over), { typ: TENANT_TOKEN.type, ...header });
const userToken = (over: Record<string, unknown> = {}, header: Record<string, unknown> = {}) => sign(realmKey, userClaims(over), { typ: "JWT", ...header });

async function one(mode: TenantGateMode, request: HarnessStep["request"], cfg = config(mode)) {
  const out = await runTenantGate({ config: cfg, steps: [{ now: T0, request }] });
  expect(out.schema_errors).toEqual([]);
  return single(out, 0);
}

describe("tenant-gate: the config the gateway ships", () => {
  it("fits the plugin's schema.lua in every mode, local and redis", async () => {
    for (const cfg of [...TENANT_GATE_MODES.map((m) => config(m)), redisConfig()]) {
      expect((await runTenantGate({ config: cfg, steps: [] })).schema_errors).toEqual([]);
    }
  });

  it("has exactly the catalog's gateway limits per tier in tenant mode, and USER_LIMITS in user and operator modes", () => {
    const table = tierLimitsTable(tiers);
    expect(Object.keys(table).sort()).toEqual([...PLAN_TIER_NAMES].sort());
    for (const name of PLAN_TIER_NAMES) {
      const g = tiers[name].gateway;
      expect(table[name]).toEqual({ second: g.requestsPerSecond, minute: g.requestsPerMinute, hour: g.requestsPerHour, max_body_kib: g.maxRequestBodyKiB });
    }
    expect(config("tenant")["tiers"]).toEqual(table);
    const u = userLimits.gateway;
    for (const mode of ["user", "operator"] as const) {
      expect(config(mode)["user_limits"]).toEqual({ second: u.requestsPerSecond, minute: u.requestsPerMinute, hour: u.requestsPerHour, max_body_kib: u.maxRequestBodyKiB });
      expect(config(mode)["tiers"]).toBeUndefined();
    }
  });

  it("takes each mode's token from the identity contract", () => {
    expect(config("tenant")).toMatchObject({ issuer: TENANT_ISSUER, audience: TENANT_TOKEN.audience, algorithms: ["ES256"], token_type: "at+jwt", token_type_in: "header", max_lifetime_seconds: TENANT_TOKEN.lifetimeBounds.max, roles: [...TENANT_ROLES] });
    expect(config("user")).toMatchObject({ issuer: REALM_ISSUER, audience: USER_TOKEN_AUDIENCE, algorithms: ["RS256"], token_type: "Bearer", token_type_in: "claim" });
    expect(config("operator")).toMatchObject({ issuer: REALM_ISSUER, audience: OPERATOR_AUDIENCE, algorithms: ["RS256"], required_realm_roles: [REALM_ROLES.platformAdmin] });
  });

  it("a schema violation is caught (the check can fail), also a mode's missing limits", async () => {
    const bad = { ...config("tenant"), policy: "cluster", algorithms: ["HS256"], tiers: { free: { second: 0, minute: 1, hour: 1, max_body_kib: 1 } } };
    expect((await runTenantGate({ config: bad, steps: [] })).schema_errors).toEqual(
      expect.arrayContaining([expect.stringContaining("config.policy"), expect.stringContaining("config.tiers.free.second"), expect.stringContaining("config.algorithms[1]")]),
    );
    const { tiers: _t, ...noTiers } = config("tenant");
    expect((await runTenantGate({ config: noTiers, steps: [] })).schema_errors).toEqual([expect.stringContaining("config.tiers: required when config.mode is tenant")]);
    const { user_limits: _u, ...noUserLimits } = config("user");
    expect((await runTenantGate({ config: noUserLimits, steps: [] })).schema_errors).toEqual([expect.stringContaining("config.user_limits: required")]);
  });
});

describe("tenant-gate tenant mode: the tenant comes from a verified tenant token", () => {
  it("passes a valid ES256 tenant token, keys every counter by its tenant and tells the upstream who calls", async () => {
    const out = await runTenantGate({ config: config("tenant"), steps: [{ now: T0, request: { token: await tenantToken({ role: "admin" }) } }] });
    const r = single(out, 0);
    expect(r.status).toBe(200);
    expect(r.keys).toEqual([`local:ratelimit:tenant:acme:second:${T0}`, `local:ratelimit:tenant:acme:minute:${T0}`, `local:ratelimit:tenant:acme:hour:${T0}`]);
    expect(r.upstream[h(TENANT_HEADER)]).toBe("acme");
    expect(r.upstream[h(PLAN_TIER_HEADER)]).toBe("free");
    expect(r.upstream[h(TENANT_ROLE_HEADER)]).toBe("admin");
    expect(r.upstream[h(USER_HEADER)]).toBe("user-1");
    expect(out.jwks_fetches).toEqual([{ url: server.url("tenant"), at: T0, status: 200, error: null }]);
  });

  it("accepts the media type spelled out (typ application/at+jwt) and an aud list with tenant-api", async () => {
    expect((await one("tenant", { token: await tenantToken({}, { typ: "application/at+jwt" }) })).status).toBe(200);
    expect((await one("tenant", { token: await tenantToken({ aud: ["other", TENANT_TOKEN.audience] }) })).status).toBe(200);
  });

  it("a forged X-Tenant-Id (or any client header) neither moves the bucket nor reaches the upstream", async () => {
    const forged = Object.fromEntries(STRIPPED_CLIENT_HEADERS.map((x) => [x, "victim-corp"]));
    const r = await one("tenant", { token: await tenantToken(), headers: { ...forged, "x-tenant-id": "victim-corp", "X-Plan-Tier": "enterprise", "X-Tenant-Role": "owner" } });
    expect(r.status).toBe(200);
    expect(r.keys.every((k) => k.includes(":acme:"))).toBe(true);
    expect(r.upstream[h(TENANT_HEADER)]).toBe("acme");
    expect(r.upstream[h(PLAN_TIER_HEADER)]).toBe("free");
    expect(r.upstream[h(TENANT_ROLE_HEADER)]).toBe("member");
    expect(Object.values(r.upstream)).not.toContain("victim-corp");
  });

  it("a forged tenant header cannot spend another tenant's allowance: victim keeps its full budget", async () => {
    const perSecond = tiers.free.gateway.requestsPerSecond;
    const out = await runTenantGate({
      config: config("tenant"),
      steps: [
        // The attacker (tenant evil) exhausts its own second, claiming to be victim in every header.
        { now: T0, count: perSecond + 3, request: { token: await tenantToken({ tenant_id: "evil" }), headers: { "X-Tenant-Id": "victim", "X-RateLimit-Key": "victim" } } },
        // The victim, in the same second, still has its whole allowance.
        { now: T0, count: perSecond, request: { token: await tenantToken({ tenant_id: "victim" }) } },
      ],
    });
    expect(burst(out, 0).first_refused).toBe(perSecond + 1);
    expect(burst(out, 1).counts).toEqual({ "200": perSecond });
  });

  it("refuses a request without a bearer token in the Authorization header with 401 and a plain Bearer challenge", async () => {
    const none = await one("tenant", {});
    expect(none.status).toBe(401);
    expect(none.response_headers["WWW-Authenticate"]).toBe("Bearer");
    const token = await tenantToken();
    for (const authorization of [`Basic ${Buffer.from("a:b").toString("base64")}`, token, `Bearer`, `Bearer ${token} extra`]) {
      expect((await one("tenant", { headers: { Authorization: authorization } })).status).toBe(401);
    }
    expect((await one("tenant", { headers: { Authorization: `bearer ${token}` } })).status).toBe(200);
  });

  const refusals: [string, () => Promise<string>, RegExp][] = [
    ["a malformed token", async () => "not.a-jwt", /not a compact JWS/],
    ["a bad signature (another key under the published kid)", () => tenantToken({}, {}, impostor), /bad signature/],
    ["a signature of other claims", async () => withSignatureOf(await tenantToken({ tenant_id: "victim" }), await tenantToken()), /bad signature/],
    ["alg none (no signature)", async () => unsigned(tenantClaims(), { alg: "none", typ: "at+jwt", kid: tenantKey.kid }), /not a compact JWS/],
    ["alg none with a signature", async () => withSignatureOf(unsigned(tenantClaims(), { alg: "none", typ: "at+jwt", kid: tenantKey.kid }), await tenantToken()), /algorithm none/],
    ["HS256 keyed with the tenant key's public key", () => hmac(tenantKey.spkiPem, tenantClaims(), { typ: "at+jwt", kid: tenantKey.kid }), /algorithm HS256/],
    ["HS256 keyed with the JWK's x coordinate", () => hmac(String(tenantKey.jwk.x), tenantClaims(), { typ: "at+jwt", kid: tenantKey.kid }), /algorithm HS256/],
    ["a missing kid", () => tenantToken({}, { kid: undefined }), /no kid/],
    ["the kid of an RSA key with alg ES256", () => sign(tenantKey, tenantClaims(), { typ: "at+jwt", kid: tenantRsaKey.kid }), /is not an ES256 key/],
    ["an RS256 token under the RSA key's kid", () => sign(tenantRsaKey, tenantClaims(), { typ: "at+jwt" }), /algorithm RS256/],
    ["a Keycloak user token", () => userToken(), /algorithm RS256/],
    ["another issuer", () => tenantToken({ iss: "https://api.evil.example" }), /issuer/],
    ["the realm's issuer", () => tenantToken({ iss: REALM_ISSUER }), /issuer/],
    ["a wrong aud", () => tenantToken({ aud: USER_TOKEN_AUDIENCE }), /audience/],
    ["a missing aud", () => tenantToken({ aud: undefined }), /audience/],
    ["a JOSE typ JWT", () => tenantToken({}, { typ: "JWT" }), /token type/],
    ["no JOSE typ", () => tenantToken({}, { typ: undefined }), /token type/],
    ["no JOSE typ but a typ claim at+jwt", () => tenantToken({ typ: "at+jwt" }, { typ: undefined }), /token type nil/],
    ["an expired token (beyond the clock skew)", () => tenantToken({ iat: T0 - 300 - SKEW, exp: T0 - SKEW }), /expired/],
    ["nbf in the future (beyond the clock skew)", () => tenantToken({ nbf: T0 + SKEW + 1 }), /nbf/],
    ["iat in the future", () => tenantToken({ iat: T0 + SKEW + 1, exp: T0 + SKEW + 300 }), /issued in the future/],
    ["a lifetime too long (exp - iat over the bound)", () => tenantToken({ iat: T0 - 10, exp: T0 - 10 + TENANT_TOKEN.lifetimeBounds.max + 1 }), /lifetime/],
    ["a missing exp", () => tenantToken({ exp: undefined }), /no exp/],
    ["a missing iat", () => tenantToken({ iat: undefined }), /no iat/],
    ["a missing sub", () => tenantToken({ sub: undefined }), /sub/],
    ["an unknown role", () => tenantToken({ role: "superuser" }), /role superuser/],
    ["a missing role", () => tenantToken({ role: undefined }), /role nil/],
    ["a missing tenant_id", () => tenantToken({ tenant_id: undefined }), /tenant claim/],
    ["a tenant_id with a wildcard", () => tenantToken({ tenant_id: "acme.*" }), /tenant claim/],
    ["an upper-case tenant_id", () => tenantToken({ tenant_id: "Acme" }), /tenant claim/],
    ["a numeric tenant_id", () => tenantToken({ tenant_id: 12345 }), /tenant claim/],
  ];
  it.each(refusals)("refuses %s with 401, before counting", async (_name, make, reason) => {
    const r = await one("tenant", { token: await make() });
    expect(r.status).toBe(401);
    expect(refusal(r)).toMatch(reason);
    expect(r.keys).toEqual([]);
    expect(r.upstream[h(TENANT_HEADER)]).toBeUndefined();
  });

  it("accepts exp, nbf and iat within the clock skew, and exactly the longest lifetime", async () => {
    expect((await one("tenant", { token: await tenantToken({ iat: T0 - 300, exp: T0 - SKEW + 1 }) })).status).toBe(200);
    expect((await one("tenant", { token: await tenantToken({ nbf: T0 + SKEW }) })).status).toBe(200);
    expect((await one("tenant", { token: await tenantToken({ iat: T0 + SKEW, exp: T0 + SKEW + 60 }) })).status).toBe(200);
    expect((await one("tenant", { token: await tenantToken({ iat: T0 - 10, exp: T0 - 10 + TENANT_TOKEN.lifetimeBounds.max }) })).status).toBe(200);
  });

  it("refuses a kid that is not in the key set even after a refetch, with 401 and one more fetch", async () => {
    const out = await runTenantGate({
      config: config("tenant"),
      steps: [
        { now: T0, request: { token: await tenantToken() } },
        { now: T0 + REFETCH, request: { token: await tenantToken({}, { kid: "tenant-2099-01" }) } },
      ],
    });
    expect(single(out, 0).status).toBe(200);
    expect(single(out, 1).status).toBe(401);
    expect(refusal(single(out, 1))).toMatch(/unknown kid/);
    expect(out.jwks_fetches.map((f) => f.at)).toEqual([T0, T0 + REFETCH]);
  });

  it("refuses an unknown or missing plan tier with 403", async () => {
    expect((await one("tenant", { token: await tenantToken({ plan_tier: "platinum" }) })).status).toBe(403);
    expect((await one("tenant", { token: await tenantToken({ plan_tier: undefined }) })).status).toBe(403);
    expect((await one("tenant", { token: await tenantToken({ plan_tier: "__index" }) })).status).toBe(403);
  });

  it("validates tenant ids exactly like TENANT_ID_PATTERN", async () => {
    const samples = ["abc", "a-b", "acme-corp", "0ab", "a".repeat(63), "a".repeat(64), "ab", "-ab", "ab-", "a_b", "a.b", "ABC", "ab c", "a>b", "tenant-1", "ü-tenant", "a\nb"];
    const tokens = await Promise.all(samples.map((tenant_id) => tenantToken({ tenant_id })));
    const out = await runTenantGate({ config: config("tenant"), steps: tokens.map((token) => ({ now: T0, request: { token } })) });
    samples.forEach((tenant, i) => {
      expect(single(out, i).status === 200, `tenant id ${JSON.stringify(tenant)}`).toBe(TENANT_ID_PATTERN.test(tenant));
    });
  });
});

describe("tenant-gate tenant mode: request size", () => {
  it.each(PLAN_TIER_NAMES)("%s: allows exactly maxRequestBodyKiB and refuses one byte more with 413", async (tier) => {
    const max = tiers[tier].gateway.maxRequestBodyKiB * 1024;
    const t = await tenantToken({ plan_tier: tier });
    expect((await one("tenant", { token: t, headers: { "Content-Length": String(max) } })).status).toBe(200);
    expect((await one("tenant", { token: t, headers: { "Content-Length": String(max + 1) } })).status).toBe(413);
  });

  it("refuses a body without Content-Length (chunked) with 411, and a bad Content-Length with 400", async () => {
    const t = await tenantToken();
    expect((await one("tenant", { token: t, headers: { "Transfer-Encoding": "chunked" } })).status).toBe(411);
    expect((await one("tenant", { token: t, headers: { "Content-Length": "12abc" } })).status).toBe(400);
  });
});

describe.each(PLAN_TIER_NAMES)("tenant-gate tenant mode: %s rate limits from the catalog", (tier) => {
  const g = tiers[tier].gateway;
  // One token for the whole hour: these tests are about counting, not token lifetimes.
  const longLived = () => config("tenant", { maxLifetimeSeconds: 7_200 });
  const t = () => tenantToken({ plan_tier: tier, iat: T0 - 10, exp: T0 + 7_000 });

  it(`lets ${g.requestsPerSecond} requests through in one second and refuses the next with 429`, async () => {
    const token = await t();
    const out = await runTenantGate({ config: longLived(), steps: [{ now: T0, count: g.requestsPerSecond + 1, request: { token } }, { now: T0 + 1, request: { token } }] });
    expect(burst(out, 0).first_refused).toBe(g.requestsPerSecond + 1);
    expect(burst(out, 0).last_status).toBe(429);
    expect(single(out, 1).status).toBe(200); // a new second
  });

  it(`lets ${g.requestsPerMinute} requests through in one minute and refuses the next with 429`, async () => {
    // Spread over the minute at the per-second limit so only the minute window can refuse.
    const out = await runTenantGate({ config: longLived(), steps: [{ now: T0, count: g.requestsPerMinute + 1, spread: [g.requestsPerSecond, 1], request: { token: await t() } }] });
    expect(burst(out, 0).first_refused).toBe(g.requestsPerMinute + 1);
  });

  it(`lets ${g.requestsPerHour} requests through in one hour and refuses the next with 429`, async () => {
    const out = await runTenantGate({ config: longLived(), steps: [{ now: T0, count: g.requestsPerHour + 1, spread: [g.requestsPerMinute, 60], request: { token: await t() } }] });
    expect(burst(out, 0).first_refused).toBe(g.requestsPerHour + 1);
  });
});

describe("tenant-gate tenant mode: shared counters in Redis", () => {
  it("counts in Redis over TLS with the configured password, keyed by the verified tenant", async () => {
    const out = await runTenantGate({ config: redisConfig(), redis: { password: REDIS_PASSWORD }, steps: [{ now: T0, request: { token: await tenantToken(), headers: { "X-Tenant-Id": "victim" } } }] });
    expect(out.schema_errors).toEqual([]);
    const r = single(out, 0);
    expect(r.status).toBe(200);
    expect(r.keys).toEqual([`redis:ratelimit:tenant:acme:second:${T0}`, `redis:ratelimit:tenant:acme:minute:${T0}`, `redis:ratelimit:tenant:acme:hour:${T0}`]);
    expect(out.redis_connections[0]).toMatchObject({ ssl: true, ssl_verify: true, server_name: REDIS_HOST, port: 6379 });
  });

  it("refuses the N+1th request of a second through Redis with 429", async () => {
    const n = tiers.pro.gateway.requestsPerSecond;
    const out = await runTenantGate({ config: redisConfig(), redis: { password: REDIS_PASSWORD }, steps: [{ now: T0, count: n + 1, request: { token: await tenantToken({ plan_tier: "pro" }) } }] });
    expect(burst(out, 0).first_refused).toBe(n + 1);
  });

  it("falls back to local counters when Redis is down or refuses the password, and still limits", async () => {
    const n = tiers.free.gateway.requestsPerSecond;
    const token = await tenantToken();
    for (const redis of [{ down: true }, { password: "another-password" }]) {
      const out = await runTenantGate({ config: redisConfig(), redis, steps: [{ now: T0, request: { token } }, { now: T0, count: n, request: { token } }] });
      expect(single(out, 0).keys[0]).toMatch(/^local:ratelimit:tenant:acme:/);
      expect(burst(out, 1).first_refused).toBe(n);
    }
  });
});

describe("tenant-gate user mode: a Keycloak access token, limited per user", () => {
  it("passes a valid RS256 user token without any tenant, counting per user (sub) and passing only the user to the upstream", async () => {
    const out = await runTenantGate({ config: config("user"), steps: [{ now: T0, request: { token: await userToken(), headers: { "X-Tenant-Id": "victim", "X-User-Id": "someone-else" } } }] });
    const r = single(out, 0);
    expect(r.status).toBe(200);
    const sub = userClaims()["sub"];
    expect(r.keys).toEqual([`local:ratelimit:user:${sub}:second:${T0}`, `local:ratelimit:user:${sub}:minute:${T0}`, `local:ratelimit:user:${sub}:hour:${T0}`]);
    expect(r.upstream[h(USER_HEADER)]).toBe(sub);
    expect(r.upstream[h(TENANT_HEADER)]).toBeUndefined();
    expect(r.upstream[h(PLAN_TIER_HEADER)]).toBeUndefined();
    expect(out.jwks_fetches).toEqual([{ url: server.url("realm"), at: T0, status: 200, error: null }]);
  });

  const refusals: [string, () => Promise<string>, RegExp][] = [
    ["a tenant token", () => tenantToken(), /algorithm ES256/],
    ["alg none (no signature)", async () => unsigned(userClaims(), { alg: "none", kid: realmKey.kid }), /not a compact JWS/],
    ["alg none with a signature", async () => withSignatureOf(unsigned(userClaims(), { alg: "none", kid: realmKey.kid }), await userToken()), /algorithm none/],
    ["HS256 keyed with the realm's public key", () => hmac(realmKey.spkiPem, userClaims(), { kid: realmKey.kid }), /algorithm HS256/],
    ["HS256 keyed with the realm key's modulus", () => hmac(String(realmKey.jwk.n), userClaims(), { kid: realmKey.kid }), /algorithm HS256/],
    ["a bad signature", async () => withSignatureOf(await userToken({ sub: "someone-else" }), await userToken()), /bad signature/],
    ["the kid of the realm's encryption key", () => userToken({}, { kid: "realm-enc" }), /unknown kid/],
    ["an ID token (typ ID)", () => userToken({ typ: "ID", aud: USER_TOKEN_AUDIENCE }), /token type ID/],
    ["a refresh token (typ Refresh)", () => userToken({ typ: "Refresh" }), /token type Refresh/],
    ["no typ claim, only a JOSE header typ Bearer", () => userToken({ typ: undefined }, { typ: "Bearer" }), /token type nil/],
    ["the account console's audience only", () => userToken({ aud: "account" }), /audience/],
    ["another realm's issuer", () => userToken({ iss: issuerUrl("auth.evil.example") }), /issuer/],
    ["an expired token", () => userToken({ iat: T0 - 600, exp: T0 - SKEW }), /expired/],
    ["a lifetime longer than Keycloak's longest", () => userToken({ iat: T0 - 10, exp: T0 - 10 + MODE_TOKENS.user.maxLifetimeSeconds + 1 }), /lifetime/],
    ["a missing sub", () => userToken({ sub: undefined }), /sub/],
    ["a sub with a space", () => userToken({ sub: "a b" }), /sub/],
  ];
  it.each(refusals)("refuses %s with 401", async (_name, make, reason) => {
    const r = await one("user", { token: await make() });
    expect(r.status).toBe(401);
    expect(refusal(r)).toMatch(reason);
    expect(r.keys).toEqual([]);
  });

  const u = userLimits.gateway;
  it(`lets one user make ${u.requestsPerSecond} requests a second and refuses the next with 429; another user keeps their budget`, async () => {
    const out = await runTenantGate({
      config: config("user"),
      steps: [
        { now: T0, count: u.requestsPerSecond + 1, request: { token: await userToken() } },
        { now: T0, count: u.requestsPerSecond, request: { token: await userToken({ sub: "another-user" }) } },
        { now: T0 + 1, request: { token: await userToken() } },
      ],
    });
    expect(burst(out, 0).first_refused).toBe(u.requestsPerSecond + 1);
    expect(burst(out, 0).last_status).toBe(429);
    expect(burst(out, 1).counts).toEqual({ "200": u.requestsPerSecond });
    expect(single(out, 2).status).toBe(200);
  });

  it(`lets one user make ${u.requestsPerMinute} requests a minute and ${u.requestsPerHour} an hour, then 429`, async () => {
    const long = config("user", { maxLifetimeSeconds: 7_200 });
    const token = await userToken({ iat: T0 - 10, exp: T0 + 7_000 });
    const minute = await runTenantGate({ config: long, steps: [{ now: T0, count: u.requestsPerMinute + 1, spread: [u.requestsPerSecond, 1], request: { token } }] });
    expect(burst(minute, 0).first_refused).toBe(u.requestsPerMinute + 1);
    const hour = await runTenantGate({ config: long, steps: [{ now: T0, count: u.requestsPerHour + 1, spread: [u.requestsPerMinute, 60], request: { token } }] });
    expect(burst(hour, 0).first_refused).toBe(u.requestsPerHour + 1);
  });

  it(`allows a body of exactly ${u.maxRequestBodyKiB} KiB and refuses one byte more with 413`, async () => {
    const token = await userToken();
    expect((await one("user", { token, headers: { "Content-Length": String(u.maxRequestBodyKiB * 1024) } })).status).toBe(200);
    expect((await one("user", { token, headers: { "Content-Length": String(u.maxRequestBodyKiB * 1024 + 1) } })).status).toBe(413);
  });
});

describe("tenant-gate operator mode", () => {
  const operatorClaims = (over: Record<string, unknown> = {}) => ({ aud: [OPERATOR_AUDIENCE], realm_access: { roles: [REALM_ROLES.platformAdmin, "offline_access"] }, ...over });

  it("passes a Keycloak token with the operator audience and the platform-admin role, counting per user", async () => {
    const r = await one("operator", { token: await userToken(operatorClaims()) });
    expect(r.status).toBe(200);
    expect(r.keys[0]).toBe(`local:ratelimit:user:${userClaims()["sub"]}:second:${T0}`);
  });

  it.each([
    ["a user token (aud api)", userClaims(), /audience/],
    ["the operator audience without platform-admin", operatorClaims({ realm_access: { roles: ["tenant-admin"] } }), /realm role platform-admin/],
    ["the operator audience without realm roles", operatorClaims({ realm_access: undefined }), /realm role platform-admin/],
  ])("refuses %s with 401", async (_name, claims, reason) => {
    const r = await one("operator", { token: await userToken(claims) });
    expect(r.status).toBe(401);
    expect(refusal(r)).toMatch(reason);
  });
});

describe("tenant-gate key sets: rotation, bounded refetches, outages", () => {
  let keySets: KeySetServer;
  let k1: SigningKey;
  let k2: SigningKey;
  beforeAll(async () => {
    [k1, k2] = await Promise.all([signingKey("tenant-k1", "ES256"), signingKey("tenant-k2", "ES256")]);
  });
  const start = async () => {
    keySets = await KeySetServer.start({ tenant: [k1.jwk] });
    return keySets;
  };
  afterAll(() => keySets?.stop());
  const tok = (key: SigningKey, at: number, over: Record<string, unknown> = {}) => tenantToken({ iat: at - 5, exp: at + 295, ...over }, {}, key);

  it("picks up a new key by its kid with no config change, and drops a removed key at the periodic refresh", async () => {
    const s = await start();
    const rotated = s.stage("rotated", { tenant: [k1.jwk, k2.jwk] });
    const retired = s.stage("retired", { tenant: [k2.jwk] });
    const cachedK1 = await tok(k1, T0 + REFETCH, { exp: T0 + REFETCH + 800 }); // verified once, then remembered
    const out = await runTenantGate({
      config: config("tenant", {}, s),
      steps: [
        { now: T0, request: { token: await tok(k1, T0) } },
        // The provisioning service publishes k2 and signs with it.
        { now: T0 + REFETCH, call: [rotated], request: { token: await tok(k2, T0 + REFETCH) } },
        { now: T0 + REFETCH, request: { token: cachedK1 } },
        // It retires k1: at the next periodic refresh k1 stops verifying, remembered or not.
        { now: T0 + REFETCH + 1, call: [retired], request: { token: cachedK1 } },
        { now: T0 + REFETCH + TTL, request: { token: cachedK1 } },
        { now: T0 + REFETCH + TTL + 1, request: { token: await tok(k1, T0 + REFETCH + TTL + 1) } },
        { now: T0 + REFETCH + TTL + 2, request: { token: await tok(k2, T0 + REFETCH + TTL + 2) } },
      ],
    });
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => single(out, i).status)).toEqual([200, 200, 200, 200, 401, 401, 200]);
    expect(refusal(single(out, 4))).toMatch(/no longer published/);
    expect(refusal(single(out, 5))).toMatch(/unknown kid/);
    expect(out.jwks_fetches.map((f) => [f.at, f.status])).toEqual([
      [T0, 200],
      [T0 + REFETCH, 200],
      [T0 + REFETCH + TTL, 200],
    ]);
    expect(s.requests.get("/tenant")).toBe(3);
    await s.stop();
  });

  it("a storm of unknown kids costs at most one fetch per refetch interval", async () => {
    const s = await start();
    const seconds = 3 * REFETCH;
    const n = 20 * seconds;
    const out = await runTenantGate({
      config: config("tenant", {}, s),
      steps: [
        { now: T0, request: { token: await tok(k1, T0) } },
        // n requests over `seconds`, each naming a kid nobody published.
        { now: T0 + 1, count: n, spread: [n, seconds], request: { token: await tok(k2, T0 + 1, { exp: T0 + 1 + 600 }) } },
      ],
    });
    expect(single(out, 0).status).toBe(200);
    expect(burst(out, 1).counts).toEqual({ "401": n });
    const at = out.jwks_fetches.map((f) => f.at);
    expect(at).toEqual([T0, T0 + REFETCH, T0 + 2 * REFETCH, T0 + 3 * REFETCH]);
    expect(s.requests.get("/tenant")).toBe(at.length);
    await s.stop();
  });

  it("while the key set server is down, cached keys still verify and an unknown kid is 401, not 500", async () => {
    const s = await start();
    const later = T0 + TTL + 100;
    const out = await runTenantGate({
      config: config("tenant", {}, s),
      steps: [
        { now: T0, request: { token: await tok(k1, T0) } },
        // The server stops; the cache is past its TTL, so the next request tries a refresh.
        { now: later, call: [s.downUrl], request: { token: await tok(k1, later) } },
        { now: later + 1, request: { token: await tok(k2, later + 1) } },
        { now: later + REFETCH, request: { token: await tok(k2, later + REFETCH) } },
        { now: later + REFETCH + 1, request: { token: await tok(k1, later + REFETCH + 1) } },
      ],
    });
    expect([0, 1, 2, 3, 4].map((i) => single(out, i).status)).toEqual([200, 200, 401, 401, 200]);
    expect(refusal(single(out, 3))).toMatch(/unknown kid/);
    expect(single(out, 1).log.join("\n")).toMatch(/not refreshed/);
    expect(out.jwks_fetches.map((f) => [f.at, f.status])).toEqual([
      [T0, 200],
      [later, null],
      [later + REFETCH, null],
    ]);
    expect(out.jwks_fetches[1]?.error).toMatch(/connect|refused/i);
  });

  it("with no key set ever fetched (server down, or no key set at the URL), every token is 401", async () => {
    const s = await start();
    await s.stop();
    const down = await runTenantGate({ config: config("tenant", {}, s), steps: [{ now: T0, request: { token: await tok(k1, T0) } }] });
    expect(single(down, 0).status).toBe(401);
    expect(refusal(single(down, 0))).toMatch(/no key set/);
    const missing = await runTenantGate({ config: { ...config("tenant"), jwks_url: server.url("no-such-set") }, steps: [{ now: T0, request: { token: await tenantToken() } }] });
    expect(single(missing, 0).status).toBe(401);
    expect(missing.jwks_fetches[0]?.status).toBe(404);
  });
});

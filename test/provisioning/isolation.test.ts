/**
 * Tenant isolation matrix: three tenants, every tenant route of PROVISIONING_ROUTES, each
 * tenant's token against the other two tenants' ids (and each user's token against the others'
 * token route). A foreign id must answer exactly (status and body bytes) like an id that does not
 * exist. Tokens are real: Keycloak's from real sign-ins, tenant tokens from the service. So are
 * the refused ones where the issuers make them: Keycloak's (expired: a client whose access tokens
 * live one second; wrong issuer: the realm under another host name; wrong audience: the account
 * console's; another realm's) and the platform's (signed with its real key but expired, with
 * another issuer, or living too long). The rest are an attacker's forgeries (altered claims,
 * alg=none, the attacker's own key under the real key id, HMAC keyed with the public key). All
 * are refused with 401 on every route.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { generateKeyPair, SignJWT } from "jose";
import { PROVISIONING_ROUTES, TENANT_TOKEN } from "../../services/identity/names.js";
import { PlatformKeys } from "../../services/provisioning/src/platform-keys.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PLAN_TIER_NAMES } from "../../config/tiers.js";
import { AdminClient, claimsOf, issuerOf, KEYCLOAK_WAIT_MS, UserSession, type RealmUser } from "../support/keycloak.js";
import { API_AUDIENCE, REALM_NAME, REALM_ROLES, TENANT_CLAIM, WEB_CLIENT_ID } from "../../services/keycloak-realm/names.js";
import { CLOCK_TOLERANCE_SECONDS } from "../../services/provisioning/src/auth.js";
import { generateNatsSeeds, publicKeysOf } from "../../services/nats-auth/sign.js";
import { startHarness, TEST_TOKEN_ISSUER, type Harness } from "./harness.js";

let h: Harness;
let keyDir = "";
/** Each tenant, its owner, the owner's user token and tenant token. */
const tenants: { id: string; user: RealmUser; token: string; userToken: string }[] = [];
const MISSING = "t000000000000000000000000";

/** A valid body per route (so a refusal is about the tenant, never the input). */
const BODIES: Record<string, unknown> = {
  "PUT /v1/tenants/:tenantId/members/:userId": { role: "viewer" },
  "POST /v1/tenants/:tenantId/invitations": { email: "someone@example.com", role: "viewer" },
  "POST /v1/tenants/:tenantId/bus-credentials": {},
  "POST /v1/tenants/:tenantId/token": {},
  "POST /v1/tenants": { name: "Forged", slug: "forged-co" },
  "POST /v1/invitations/accept": { invitationId: `inv${"0".repeat(24)}` },
  "PUT /v1/admin/tenants/:tenantId/plan": { planTier: "pro" },
  "PATCH /v1/tenants/:tenantId": { payloadEncryption: true },
};

/** Every route of `auth`, its path filled in for `tenantId` (the victim's owner as the member). */
function routes(auth: string, tenantId: string, userId = tenants[1]?.user.id ?? "someone"): { method: string; path: string; body?: unknown; name: string }[] {
  return PROVISIONING_ROUTES.filter((r) => r.auth === auth).map((r) => {
    const path = r.url.replace(":tenantId", tenantId).replace(":userId", userId).replace(":publicKey", `U${"A".repeat(55)}`).replace(":invitationId", `inv${"0".repeat(24)}`);
    const name = `${r.method} ${r.url}`;
    return { method: r.method, path, name, ...(BODIES[name] !== undefined ? { body: BODIES[name] } : {}) };
  });
}

beforeAll(async () => {
  const seeds = generateNatsSeeds([]);
  keyDir = mkdtempSync(join(tmpdir(), "provisioning-keys-"));
  const dir = keyDir;
  for (const t of PLAN_TIER_NAMES) writeFileSync(join(dir, `${t}.seed`), seeds.swarmSigningKeys[t]);
  h = await startHarness({ env: { PROVISIONING_NATS_SIGNING_KEYS_DIR: dir, PROVISIONING_NATS_ACCOUNT: publicKeysOf(seeds).swarmAccount } });
  for (const [i, slug] of ["alpha-co", "beta-co", "gamma-co"].entries()) {
    const user = await h.addUser();
    const id = await h.createTenant(user, { name: `Tenant ${i}`, slug });
    // One tenant per tier (set as the entitlement path does).
    if (PLAN_TIER_NAMES[i] !== "free") await h.svc.plane.changePlan(id, PLAN_TIER_NAMES[i]!, { kind: "operator", userId: "isolation-test", at: new Date().toISOString() });
    tenants.push({ id, user, token: await h.tenantToken(user, id), userToken: await h.token(user) });
  }
}, KEYCLOAK_WAIT_MS);
/**
 * A real access token of the realm that has expired: signed in through a client that is the web
 * client's copy except that its access tokens live one second, then waited out past the service's
 * clock tolerance. The client is removed afterwards.
 */
async function expiredToken(user: RealmUser): Promise<string> {
  const [web] = await h.admin.get<Record<string, unknown>[]>(`/${REALM_NAME}/clients?clientId=${WEB_CLIENT_ID}`);
  const { id: _id, protocolMappers, attributes, ...settings } = web as { id: string; protocolMappers?: Record<string, unknown>[]; attributes?: Record<string, string> };
  const clientId = `${WEB_CLIENT_ID}-expiry-${randomBytes(4).toString("hex")}`;
  const created = await h.admin.call("POST", `/${REALM_NAME}/clients`, {
    ...settings,
    clientId,
    attributes: { ...attributes, "access.token.lifespan": "1" },
    protocolMappers: (protocolMappers ?? []).map(({ id: _mapperId, ...m }) => m),
  });
  expect(created.status, created.text).toBe(201);
  try {
    const token = await (await UserSession.signIn(h.keycloak, user, { clientId })).accessToken(0);
    const waitMs = ((claimsOf(token).exp as number) + CLOCK_TOLERANCE_SECONDS + 1) * 1000 - Date.now();
    await new Promise((r) => setTimeout(r, Math.max(0, waitMs)));
    return token;
  } finally {
    await h.admin.call("DELETE", `/${REALM_NAME}/clients/${(created.location ?? "").split("/").pop()}`);
  }
}

afterAll(async () => {
  await h?.stop();
  rmSync(keyDir, { recursive: true, force: true });
});

describe("tenant isolation matrix", () => {
  it("answers every foreign tenant id on every route exactly like a missing one", async () => {
    let checks = 0;
    for (const attacker of tenants) {
      for (const victim of tenants) {
        if (victim === attacker) continue;
        // Tenant routes that name a tenant (the others, like the jobs route, act on the token's own tenant).
        const asTenant = routes("tenant", victim.id).filter((r) => r.name.includes(":tenantId")).map((r) => ({ ...r, missing: routes("tenant", MISSING).find((m) => m.name === r.name)!, token: attacker.token }));
        // The user route that names a tenant: selecting another's tenant.
        const asUser = routes("user", victim.id).filter((r) => r.name.includes(":tenantId")).map((r) => ({ ...r, missing: routes("user", MISSING).find((m) => m.name === r.name)!, token: attacker.userToken }));
        for (const e of [...asTenant, ...asUser]) {
          const foreign = await h.request(e.method, e.path, { token: e.token, ...(e.body !== undefined ? { body: e.body } : {}) });
          const missing = await h.request(e.missing.method, e.missing.path, { token: e.token, ...(e.missing.body !== undefined ? { body: e.missing.body } : {}) });
          expect({ status: foreign.status, text: foreign.text }, e.name).toEqual({ status: missing.status, text: missing.text });
          expect(foreign.status, e.name).toBe(404);
          expect(foreign.text).toBe('{"error":{"code":"not_found","message":"tenant not found"}}');
          expect(foreign.text).not.toContain(victim.id);
          checks++;
        }
      }
      // The caller's own list names only its own tenant.
      const mine = await h.request("GET", "/v1/tenants", { token: attacker.userToken });
      expect((mine.body as { tenants: { id: string }[] }).tenants.map((t) => t.id)).toEqual([attacker.id]);
    }
    expect(checks).toBe(3 * 2 * (routes("tenant", MISSING).filter((r) => r.name.includes(":tenantId")).length + 1));
    // Nothing was changed by the attempts: every tenant still exists on its tier, with its one member.
    for (const [i, t] of tenants.entries()) {
      const own = await h.request("GET", `/v1/tenants/${t.id}`, { token: t.token });
      expect(own.status).toBe(200);
      expect(own.body).toMatchObject({ tenant: { id: t.id, planTier: PLAN_TIER_NAMES[i], status: "active" } });
      expect(((await h.request("GET", `/v1/tenants/${t.id}/members`, { token: t.token })).body as { members: unknown[] }).members).toHaveLength(1);
    }
  });

  it("gives every member its own tenant on every read route", async () => {
    for (const t of tenants) {
      for (const e of routes("tenant", t.id).filter((r) => r.method === "GET" || r.name.endsWith("bus-credentials"))) {
        const res = await h.request(e.method, e.path, { token: t.token, ...(e.body !== undefined ? { body: e.body } : {}) });
        expect(res.status, e.name).toBeLessThan(300);
        if (e.method === "POST") expect(res.body).toMatchObject({ tenantId: t.id, subjects: [`swarm.${t.id}.>`] });
      }
    }
  });

  it("refuses forged and misdirected tokens with 401 on every route", async () => {
    const victim = tenants[1]!;
    const attacker = tenants[0]!;
    const valid = attacker.userToken;
    const [header, payload, signature] = valid.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const jwks = (await (await fetch(`${h.issuer}/protocol/openid-connect/certs`)).json()) as { keys: { kid: string; n: string }[] };
    const { kid } = JSON.parse(Buffer.from(header, "base64url").toString()) as { kid: string };
    // Keycloak's own wrong tokens are a fresh user's: a tenant owner holds tenant-admin, whose every
    // new browser login asks for a one-time code that may not be used twice in its 30 s window.
    const outsider = await h.addUser();
    const expired = await expiredToken(outsider);
    const otherHost = await UserSession.signIn(h.keycloak, outsider, { baseUrl: h.keycloak.url.replace("127.0.0.1", "localhost") });
    // The platform's own wrong tokens: its real signing key, wrong in one way each.
    const platform = (o: { issuer?: string; ttl?: number; now?: () => number }) => {
      const keys = new PlatformKeys({ store: h.svc.store, provider: h.svc.dataKeys, issuer: o.issuer ?? TEST_TOKEN_ISSUER, tokenTtlSeconds: o.ttl ?? 60, ...(o.now ? { now: o.now } : {}) });
      return keys.load().then(() => keys.signTenantToken({ userId: attacker.user.id, tenantId: victim.id, planTier: "enterprise", role: "owner" }));
    };
    const tenantClaims = claimsOf(victim.token);
    const [th, tp, ts] = victim.token.split(".") as [string, string, string];
    const { kid: platformKid } = JSON.parse(Buffer.from(th, "base64url").toString()) as { kid: string };
    const platformJwks = (await (await fetch(`${h.svc.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string; x: string }[] };
    const accountConsole = await UserSession.signIn(h.keycloak, outsider, { clientId: "account-console", redirectUri: `${issuerOf(h.keycloak)}/account/` });
    const forged: Record<string, string> = {
      "altered tenant_id claim": `${header}.${b64({ ...claims, [TENANT_CLAIM]: victim.id })}.${signature}`,
      "altered subject": `${header}.${b64({ ...claims, sub: victim.user.id })}.${signature}`,
      "alg=none": `${b64({ alg: "none", typ: "JWT" })}.${b64({ ...claims, sub: victim.user.id })}.`,
      "expired (Keycloak's own, one-second lifespan)": expired,
      "wrong issuer (the realm under another host name)": await otherHost.accessToken(0),
      "wrong audience (the account console's token)": await accountConsole.accessToken(0),
      "another realm's token (master)": await AdminClient.bootstrap(h.keycloak).accessToken(),
      "the attacker's own RSA key under the realm's key id": await new SignJWT({ ...claims }).setProtectedHeader({ alg: "RS256", typ: "JWT", kid }).sign((await generateKeyPair("RS256")).privateKey),
      "HS256 keyed with the public key": await new SignJWT({ ...claims }).setProtectedHeader({ alg: "HS256", kid }).sign(Buffer.from(jwks.keys.find((k) => k.kid === kid)!.n, "base64url")),
      "platform-admin role added": `${header}.${b64({ ...claims, realm_access: { roles: [REALM_ROLES.platformAdmin] } })}.${signature}`,
      garbage: "not-a-jwt",
      "tenant token: tenant_id altered": `${th}.${b64({ ...tenantClaims, tenant_id: attacker.id })}.${ts}`,
      "tenant token: subject altered": `${th}.${b64({ ...tenantClaims, sub: attacker.user.id })}.${ts}`,
      "tenant token: alg=none": `${b64({ alg: "none", typ: TENANT_TOKEN.type })}.${tp}.`,
      "tenant token: the attacker's own EC key under the platform's key id": await new SignJWT({ ...tenantClaims }).setProtectedHeader({ alg: "ES256", typ: TENANT_TOKEN.type, kid: platformKid }).sign((await generateKeyPair("ES256")).privateKey),
      "tenant token: HS256 keyed with the public key": await new SignJWT({ ...tenantClaims }).setProtectedHeader({ alg: "HS256", typ: TENANT_TOKEN.type, kid: platformKid }).sign(Buffer.from(platformJwks.keys[0]!.x, "base64url")),
      "tenant token: expired (the platform's key, an hour ago)": (await platform({ now: () => Date.now() - 3_600_000 })).token,
      "tenant token: another issuer (the platform's key)": (await platform({ issuer: "https://api.attacker.example" })).token,
      "tenant token: living an hour (the platform's key)": (await platform({ ttl: 3_600 })).token,
    };
    // Each real token is wrong in exactly the way its name says, and only that way (else the 401 below would prove less).
    const audiences = (jwt: string) => [claimsOf(jwt).aud].flat();
    const wrongIssuer = forged["wrong issuer (the realm under another host name)"]!;
    expect(claimsOf(wrongIssuer).iss).not.toBe(h.issuer);
    expect(audiences(wrongIssuer)).toContain(API_AUDIENCE);
    const wrongAudience = forged["wrong audience (the account console's token)"]!;
    expect(claimsOf(wrongAudience)).toMatchObject({ iss: h.issuer, sub: outsider.id });
    expect(audiences(wrongAudience)).not.toContain(API_AUDIENCE);
    expect(claimsOf(expired)).toMatchObject({ iss: h.issuer, sub: outsider.id });
    // The same user's token is accepted when nothing is wrong with it.
    expect((await h.request("GET", "/v1/tenants", { token: await h.token(outsider) })).status).toBe(200);
    expect(audiences(expired)).toContain(API_AUDIENCE);
    expect((claimsOf(expired).exp as number) + CLOCK_TOLERANCE_SECONDS).toBeLessThan(Date.now() / 1000);
    // A tenant token of the victim on the user routes, the victim's user token on the tenant routes, either on operator routes.
    const misdirected = [
      ...routes("user", victim.id).map((r) => ({ ...r, token: victim.token, what: "a tenant token on a user route" })),
      ...routes("tenant", victim.id).map((r) => ({ ...r, token: victim.userToken, what: "a user token on a tenant route" })),
      ...routes("operator", victim.id).flatMap((r) => [{ ...r, token: victim.token, what: "a tenant token on an operator route" }, { ...r, token: victim.userToken, what: "a web-client token on an operator route" }]),
    ];
    const every = [...routes("user", victim.id), ...routes("tenant", victim.id), ...routes("operator", victim.id)];
    const attempts = [...Object.entries(forged).flatMap(([what, token]) => every.map((e) => ({ ...e, token, what }))), ...misdirected];
    for (const e of attempts) {
      const res = await h.request(e.method, e.path, { token: e.token, ...(e.body !== undefined ? { body: e.body } : {}) });
      expect(res.status, `${e.what}: ${e.name}`).toBe(401);
      expect(res.body).toEqual({ error: { code: "unauthorized", message: "a valid bearer access token is required" } });
    }
    // No token at all.
    for (const e of every) expect((await h.request(e.method, e.path, { ...(e.body !== undefined ? { body: e.body } : {}) })).status, e.name).toBe(401);
    // The victim is untouched.
    expect((await h.request("GET", `/v1/tenants/${victim.id}`, { token: victim.token })).status).toBe(200);
  });
});

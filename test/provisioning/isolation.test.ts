/**
 * Tenant isolation matrix: three tenants, every endpoint, each tenant's token against the other
 * two tenants' ids. A foreign id must answer exactly (status and body bytes) like an id that does
 * not exist. Tokens are the real Keycloak's, from real sign-ins; so are the refused ones where
 * Keycloak issues them (expired: a client whose access tokens live one second; wrong issuer: the
 * same realm reached under another host name; wrong audience: the account console's token; another
 * realm's token). The rest are an attacker's forgeries (altered claims, alg=none, the attacker's
 * own RSA key under the realm's key id, HMAC keyed with the public key). All are refused with 401
 * on every endpoint.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PLAN_TIER_NAMES } from "../../config/tiers.js";
import { AdminClient, claimsOf, issuerOf, KEYCLOAK_WAIT_MS, UserSession, type RealmUser } from "../support/keycloak.js";
import { API_AUDIENCE, REALM_NAME, REALM_ROLES, TENANT_CLAIM, WEB_CLIENT_ID } from "../../services/keycloak-realm/names.js";
import { CLOCK_TOLERANCE_SECONDS } from "../../services/provisioning/src/auth.js";
import { generateNatsSeeds, publicKeysOf } from "../../services/nats-auth/sign.js";
import { eventually, startHarness, type Harness } from "./harness.js";

let h: Harness;
let keyDir = "";
const tenants: { id: string; user: RealmUser; token: string }[] = [];
const MISSING = "t000000000000000000000000";

/** Every tenant-scoped endpoint, with a valid body. */
const ENDPOINTS: { method: string; path: (id: string) => string; body?: unknown }[] = [
  { method: "GET", path: (id) => `/v1/tenants/${id}` },
  { method: "GET", path: (id) => `/v1/tenants/${id}/members` },
  { method: "GET", path: (id) => `/v1/tenants/${id}/limits` },
  { method: "GET", path: (id) => `/v1/tenants/${id}/usage` },
  { method: "POST", path: (id) => `/v1/tenants/${id}/bus-credentials`, body: {} },
  { method: "DELETE", path: (id) => `/v1/tenants/${id}/bus-credentials/U${"A".repeat(55)}` },
  { method: "PUT", path: (id) => `/v1/tenants/${id}/plan`, body: { planTier: "pro" } },
  { method: "PATCH", path: (id) => `/v1/tenants/${id}/plan`, body: { planTier: "enterprise" } },
  { method: "DELETE", path: (id) => `/v1/tenants/${id}` },
];
const GLOBAL: { method: string; path: string; body?: unknown }[] = [
  { method: "GET", path: "/v1/tenants" },
  { method: "POST", path: "/v1/tenants", body: { name: "Forged", slug: "forged-co", planTier: "free" } },
  { method: "GET", path: "/v1/admin/nats-revocations" },
];

beforeAll(async () => {
  const seeds = generateNatsSeeds([]);
  keyDir = mkdtempSync(join(tmpdir(), "provisioning-keys-"));
  const dir = keyDir;
  for (const t of PLAN_TIER_NAMES) writeFileSync(join(dir, `${t}.seed`), seeds.swarmSigningKeys[t]);
  h = await startHarness({ env: { PROVISIONING_NATS_SIGNING_KEYS_DIR: dir, PROVISIONING_NATS_ACCOUNT: publicKeysOf(seeds).swarmAccount } });
  for (const [i, slug] of ["alpha-co", "beta-co", "gamma-co"].entries()) {
    const user = await h.addUser();
    const res = await h.request("POST", "/v1/tenants", { token: await h.token(user), body: { name: `Tenant ${i}`, slug, planTier: PLAN_TIER_NAMES[i] } });
    expect(res.status).toBe(201);
    const id = (res.body as { tenant: { id: string } }).tenant.id;
    // The service writes the tenant onto the Keycloak user (its outbox); the user's next tokens carry it.
    await eventually(async () => claimsOf(await h.token(user, { refresh: true }))[TENANT_CLAIM] === id, 30_000, `${slug}'s tenant in its token`);
    tenants.push({ id, user, token: await h.token(user) });
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
  it("answers every foreign tenant id on every endpoint exactly like a missing one", async () => {
    let checks = 0;
    for (const attacker of tenants) {
      for (const victim of tenants) {
        if (victim === attacker) continue;
        for (const e of ENDPOINTS) {
          const foreign = await h.request(e.method, e.path(victim.id), { token: attacker.token, ...(e.body ? { body: e.body } : {}) });
          const missing = await h.request(e.method, e.path(MISSING), { token: attacker.token, ...(e.body ? { body: e.body } : {}) });
          expect({ status: foreign.status, text: foreign.text }, `${e.method} ${e.path("<victim>")}`).toEqual({ status: missing.status, text: missing.text });
          expect(foreign.status).toBe(404);
          expect(foreign.text).toBe('{"error":{"code":"not_found","message":"tenant not found"}}');
          expect(foreign.text).not.toContain(victim.id);
          checks++;
        }
      }
      // The caller's own list names only its own tenant.
      const mine = await h.request("GET", "/v1/tenants", { token: attacker.token });
      expect((mine.body as { tenants: { id: string }[] }).tenants.map((t) => t.id)).toEqual([attacker.id]);
    }
    expect(checks).toBe(3 * 2 * ENDPOINTS.length);
    // Nothing was changed by the attempts: every tenant still exists on its original tier.
    for (const [i, t] of tenants.entries()) {
      const own = await h.request("GET", `/v1/tenants/${t.id}`, { token: t.token });
      expect(own.status).toBe(200);
      expect(own.body).toMatchObject({ tenant: { id: t.id, planTier: PLAN_TIER_NAMES[i], status: "active" } });
    }
  });

  it("gives every member its own tenant on every read endpoint", async () => {
    for (const t of tenants) {
      for (const e of ENDPOINTS.slice(0, 5)) {
        const res = await h.request(e.method, e.path(t.id), { token: t.token, ...(e.body ? { body: e.body } : {}) });
        expect(res.status, `${e.method} ${e.path(t.id)}`).toBeLessThan(300);
        if (e.method === "POST") expect(res.body).toMatchObject({ tenantId: t.id, subjects: [`swarm.${t.id}.>`] });
      }
    }
  });

  it("refuses forged tokens with 401 on every endpoint", async () => {
    const victim = tenants[1]!;
    const attacker = tenants[0]!;
    const valid = attacker.token;
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
    for (const [what, token] of Object.entries(forged)) {
      for (const e of [...ENDPOINTS.map((x) => ({ ...x, path: x.path(victim.id) })), ...GLOBAL]) {
        const res = await h.request(e.method, e.path, { token, ...(e.body ? { body: e.body } : {}) });
        expect(res.status, `${what}: ${e.method} ${e.path}`).toBe(401);
        expect(res.body).toEqual({ error: { code: "unauthorized", message: "a valid bearer access token is required" } });
      }
    }
    // No token at all.
    expect((await h.request("GET", `/v1/tenants/${victim.id}`)).status).toBe(401);
    // The victim is untouched.
    expect((await h.request("GET", `/v1/tenants/${victim.id}`, { token: victim.token })).status).toBe(200);
  });
});

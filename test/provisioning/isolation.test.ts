/**
 * Tenant isolation matrix: three tenants, every endpoint, each tenant's token against the other
 * two tenants' ids. A foreign id must answer exactly (status and body bytes) like an id that does
 * not exist. Forged tokens (altered tenant_id, alg=none, expired, wrong issuer, wrong key, wrong
 * audience, HMAC with the public key) are refused with 401 on every endpoint.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PLAN_TIER_NAMES } from "../../config/tiers.js";
import { KEYCLOAK_WAIT_MS } from "../support/keycloak.js";
import { REALM_ROLES, TENANT_CLAIM } from "../../services/keycloak-realm/names.js";
import { generateNatsSeeds, publicKeysOf } from "../../services/nats-auth/sign.js";
import { startHarness, type Harness } from "./harness.js";

let h: Harness;
let keyDir = "";
const tenants: { id: string; user: string; token: string }[] = [];
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
    const user = (await h.addUser()).id;
    const token = await h.tokens.userToken(user);
    const res = await h.request("POST", "/v1/tenants", { token, body: { name: `Tenant ${i}`, slug, planTier: PLAN_TIER_NAMES[i] } });
    expect(res.status).toBe(201);
    const id = (res.body as { tenant: { id: string } }).tenant.id;
    tenants.push({ id, user, token: await h.tokens.userToken(user, { tenantId: id }) });
  }
}, KEYCLOAK_WAIT_MS);
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
    const jwks = (await (await fetch(h.tokens.jwksUrl)).json()) as { keys: { n: string }[] };
    const forged: Record<string, string> = {
      "altered tenant_id claim": `${header}.${b64({ ...claims, [TENANT_CLAIM]: victim.id })}.${signature}`,
      "altered subject": `${header}.${b64({ ...claims, sub: victim.user })}.${signature}`,
      "alg=none": `${b64({ alg: "none", typ: "JWT" })}.${b64({ ...claims, sub: victim.user })}.`,
      expired: await h.tokens.userToken(attacker.user, { expiresIn: -60 }),
      "wrong issuer": await h.tokens.userToken(attacker.user, { issuer: "https://evil.example/realms/enchanted" }),
      "wrong key": await h.tokens.userToken(attacker.user, { foreignKey: true }),
      "wrong audience": await h.tokens.userToken(attacker.user, { audience: "account" }),
      "HS256 keyed with the public key": await new SignJWT({ ...claims }).setProtectedHeader({ alg: "HS256", kid: (JSON.parse(Buffer.from(header, "base64url").toString()) as { kid: string }).kid }).sign(Buffer.from(jwks.keys[0]!.n, "base64url")),
      "platform-admin role added": `${header}.${b64({ ...claims, realm_access: { roles: [REALM_ROLES.platformAdmin] } })}.${signature}`,
      garbage: "not-a-jwt",
    };
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

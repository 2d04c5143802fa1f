/**
 * The tenant lifecycle end to end against the real Keycloak (Admin API through the fault proxy):
 * create (outbox → owner membership in the store, the owner's `tenant-admin` realm role, a wrapped
 * data key; nothing per tenant in Keycloak), read with a tenant token, the plan row in the event
 * store (chdb), offboarding (tokens and credentials refused, key shredded, realm role revoked with
 * the user's last administered tenant, the plan row offboarded and the history deleted, slug
 * reserved forever).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PLAN_TIERS } from "../../config/tiers.js";
import { REALM_ROLES, TENANT_CLAIM } from "../../services/keycloak-realm/names.js";
import { keys, type OutboxEntry } from "../../services/provisioning/src/control-plane.js";
import { parseJson } from "../../services/provisioning/src/store/kv.js";
import { LocalKekProvider } from "../../services/provisioning/src/datakeys.js";
import { claimsOf, KEYCLOAK_WAIT_MS } from "../support/keycloak.js";
import { eventually, startHarness, type Harness } from "./harness.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, KEYCLOAK_WAIT_MS);

const R = "/enchanted";
const realmRoles = async (id: string) => (await h.admin.get<{ name: string }[]>(`${R}/users/${id}/role-mappings/realm`)).map((r) => r.name);
const userAttributes = async (id: string) => (await h.admin.get<{ attributes?: Record<string, string[]> }>(`${R}/users/${id}`)).attributes ?? {};
afterAll(async () => {
  await h?.stop();
});

describe("tenant lifecycle", () => {
  it("creates, provisions exactly the side effects and offboards", async () => {
    const user = await h.addUser();
    const token = await h.token(user);
    const created = await h.request("POST", "/v1/tenants", { token, body: { name: "Acme Robotics", slug: "acme-robotics" } });
    expect(created.status).toBe(201);
    const tenant = (created.body as { tenant: { id: string; slug: string; planTier: string } }).tenant;
    expect(tenant).toMatchObject({ slug: "acme-robotics", planTier: "free", status: "active", role: "owner", history: "kept" });
    expect(tenant.id).toMatch(/^t[0-9a-f]{24}$/);

    await eventually(async () => (await h.svc.plane.tenant(tenant.id))?.dataKey === "ready", 15_000, "the outbox to provision the tenant");
    // Its plan row in the event store, versioned by the tenant's effect clock.
    await eventually(async () => (await h.events!.currentPlan(tenant.id)) !== undefined, 15_000, "the tenant's plan row");
    expect(await h.events!.currentPlan(tenant.id)).toEqual({ tenant_id: tenant.id, plan_tier: "free", status: "active", updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/) });
    await eventually(async () => (await realmRoles(user.id)).includes(REALM_ROLES.tenantAdmin), 15_000, "the owner's realm role");
    // Nothing per tenant in Keycloak: the user has no attribute, no group; the realm has no Organization feature.
    expect(await userAttributes(user.id)).toEqual({});
    expect(await h.admin.get<unknown[]>(`${R}/users/${user.id}/groups`)).toEqual([]);
    expect((await h.admin.get<{ organizationsEnabled?: boolean }>(R)).organizationsEnabled).toBe(false);

    // Only the wrapped key is stored, and it unwraps (AES-256-GCM, bound to the tenant id).
    const wrapped = await h.svc.plane.wrappedKey(tenant.id);
    expect(wrapped?.provider).toBe("local");
    expect(Object.keys(wrapped ?? {}).sort()).toEqual(["ciphertext", "createdAt", "iv", "keyId", "provider", "tag"]);
    expect(await (h.svc.dataKeys as LocalKekProvider).unwrap(tenant.id, wrapped!)).toHaveLength(32);
    await expect((h.svc.dataKeys as LocalKekProvider).unwrap("tother000000000000000000", wrapped!)).rejects.toThrow();

    const tt = await h.tenantToken(user, tenant.id);
    const limits = await h.request("GET", `/v1/tenants/${tenant.id}/limits`, { token: tt });
    expect(limits.status).toBe(200);
    expect((limits.body as { limits: unknown }).limits).toEqual(JSON.parse(JSON.stringify(PLAN_TIERS.free)));
    const members = await h.request("GET", `/v1/tenants/${tenant.id}/members`, { token: tt });
    expect((members.body as { members: { userId: string; role: string }[] }).members).toEqual([expect.objectContaining({ userId: user.id, role: "owner", email: user.email })]);
    const mine = await h.request("GET", "/v1/tenants", { token });
    expect((mine.body as { tenants: { id: string }[] }).tenants.map((t) => t.id)).toEqual([tenant.id]);

    // Usage: atomic counters.
    expect((await h.request("GET", `/v1/tenants/${tenant.id}/usage`, { token: tt })).body).toMatchObject({ usage: { members: 1, owners: 1, bus_credentials_minted: 0 } });

    // Offboarding by the owner.
    await h.events!.insertEvents(tenant.id, 25);
    expect(await h.events!.counts(tenant.id)).toEqual({ events: 25, usage: 1 });
    const off = await h.request("DELETE", `/v1/tenants/${tenant.id}`, { token: tt });
    expect(off.status).toBe(202);
    expect(off.body).toMatchObject({ tenant: { id: tenant.id, status: "offboarded", history: "deleting" } });
    expect(await h.svc.plane.wrappedKey(tenant.id)).toBeUndefined();
    expect((await h.request("GET", `/v1/tenants/${tenant.id}`, { token: tt })).status).toBe(404);
    expect((await h.request("POST", `/v1/tenants/${tenant.id}/bus-credentials`, { token: tt, body: {} })).status).toBe(404);
    expect((await h.request("POST", `/v1/tenants/${tenant.id}/token`, { token })).status).toBe(404);
    // The plan row says offboarded, then the history goes: no event or usage row of the tenant is left.
    await eventually(async () => (await h.svc.plane.tenant(tenant.id))?.history === "deleted", 15_000, "the tenant's history deleted");
    expect(await h.events!.currentPlan(tenant.id)).toMatchObject({ plan_tier: "free", status: "offboarded" });
    expect(await h.events!.counts(tenant.id)).toEqual({ events: 0, usage: 0 });
    // A repeat with the owner's tenant token (it lives minutes) answers the tombstone: deleted, and when.
    const repeat = await h.request("DELETE", `/v1/tenants/${tenant.id}`, { token: tt });
    expect(repeat.status).toBe(200);
    expect(repeat.body).toEqual({ tenant: expect.objectContaining({ id: tenant.id, status: "offboarded", history: "deleted", historyDeletedAt: expect.any(String) }) });
    await eventually(async () => (await h.svc.store.transact((tx) => tx.getRange(["o"]))).length === 0, 15_000, "the outbox to drain");
    expect((await h.request("GET", "/v1/tenants", { token })).body).toEqual({ tenants: [] });
    // The memberships are purged from the store, both directions.
    expect(await h.svc.store.transact((tx) => tx.getRange(keys.members(tenant.id)))).toEqual([]);
    expect(await h.svc.store.transact((tx) => tx.getRange(keys.userTenants(user.id)))).toEqual([]);
    // The tenant-admin role went with the user's last tenant: a fresh token carries neither it nor any tenant.
    expect(await realmRoles(user.id)).not.toContain(REALM_ROLES.tenantAdmin);
    const fresh = claimsOf(await h.token(user, { refresh: true }));
    expect(fresh[TENANT_CLAIM]).toBeUndefined();
    expect((fresh.realm_access as { roles?: string[] } | undefined)?.roles ?? []).not.toContain(REALM_ROLES.tenantAdmin);

    // The slug stays reserved forever.
    const again = await h.request("POST", "/v1/tenants", { token, body: { name: "Acme again", slug: "acme-robotics" } });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: { code: "conflict", field: "body.slug" } });
  });

  it("keeps the tenant-admin role while the user still administers another active tenant", async () => {
    const user = await h.addUser();
    const token = await h.token(user);
    const ids: string[] = [];
    for (const slug of ["two-first", "two-second"]) {
      const res = await h.request("POST", "/v1/tenants", { token, body: { name: slug, slug } });
      expect(res.status).toBe(201);
      ids.push((res.body as { tenant: { id: string } }).tenant.id);
    }
    const drained = () => eventually(async () => (await h.svc.store.transact((tx) => tx.getRange(["o"]))).length === 0, 15_000, "the outbox to drain");
    await drained();
    expect(await realmRoles(user.id)).toContain(REALM_ROLES.tenantAdmin);
    expect((await h.request("DELETE", `/v1/tenants/${ids[0]}`, { token: await h.tenantToken(user, ids[0]!) })).status).toBe(202);
    await drained();
    expect(await realmRoles(user.id)).toContain(REALM_ROLES.tenantAdmin);
    expect((await h.request("DELETE", `/v1/tenants/${ids[1]}`, { token: await h.tenantToken(user, ids[1]!) })).status).toBe(202);
    await drained();
    expect(await realmRoles(user.id)).not.toContain(REALM_ROLES.tenantAdmin);
  });

  it("without an event store, keeps the plan row and the deletion queued, failing with the variable to set, and never reports the history deleted", async () => {
    const bare = await startHarness({ keycloak: false, eventStore: false });
    try {
      const user = await bare.addUser();
      const id = await bare.createTenant(user);
      const entry = async (kind: OutboxEntry["kind"]) => (await bare.svc.store.transact((tx) => tx.getRange(["o"]))).map((r) => parseJson<OutboxEntry>(r.value) as OutboxEntry).find((e) => e.tenantId === id && e.kind === kind);
      await eventually(async () => ((await entry("events.plan"))?.attempts ?? 0) >= 2, 15_000, "the plan row's effect to fail twice");
      expect((await entry("events.plan"))?.lastError).toContain("no event store is configured: set PROVISIONING_CLICKHOUSE_URL and PROVISIONING_CLICKHOUSE_PASSWORD_FILE");
      // The other effects of the tenant are not held up by it (other lanes).
      await eventually(async () => (await bare.svc.plane.tenant(id))?.dataKey === "ready", 15_000, "the data key");
      const tt = await bare.tenantToken(user, id);
      expect((await bare.request("DELETE", `/v1/tenants/${id}`, { token: tt })).status).toBe(202);
      // The deletion waits behind the plan row in the tenant's events lane: still deleting, still queued.
      await eventually(async () => (await entry("tenant.purge")) === undefined, 15_000, "the store purge");
      expect(await entry("events.delete")).toMatchObject({ attempts: 0 });
      const repeat = await bare.request("DELETE", `/v1/tenants/${id}`, { token: tt });
      expect([repeat.status, (repeat.body as { tenant: { history: string } }).tenant.history]).toEqual([202, "deleting"]);
    } finally {
      await bare.stop();
    }
  });

  it("answers health, readiness, metrics and the key set without a token", async () => {
    expect((await h.request("GET", "/healthz")).status).toBe(200);
    expect((await h.request("GET", "/readyz")).status).toBe(200);
    const metrics = await h.request("GET", "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain("provisioning_http_requests_total");
    expect((await h.request("GET", "/v1/tenants")).status).toBe(401);
    const jwks = await h.request("GET", "/.well-known/jwks.json");
    expect(jwks.status).toBe(200);
    expect(jwks.headers.get("cache-control")).toBe("public, max-age=300");
    expect((jwks.body as { keys: { kid: string; alg: string; kty: string; crv: string; d?: string }[] }).keys).toEqual([expect.objectContaining({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig", kid: h.svc.keys.keyIds[0] })]);
    expect(jwks.text).not.toContain('"d"');
  });
});

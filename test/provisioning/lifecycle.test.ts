/**
 * The tenant lifecycle end to end against the real Keycloak (Admin API through the fault proxy): create (outbox → Organization with
 * attributes, membership, user attributes, tenant-admin role, a wrapped data key), read, plan
 * change (platform admin only), offboarding (credentials refused, key shredded, organization
 * removed, event deletion queued, slug reserved forever).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PLAN_TIERS } from "../../config/tiers.js";
import { PLAN_TIER_ATTRIBUTE, REALM_ROLES, TENANT_ATTRIBUTE, TENANT_CLAIM } from "../../services/keycloak-realm/names.js";
import { keys } from "../../services/provisioning/src/control-plane.js";
import { LocalKekProvider } from "../../services/provisioning/src/datakeys.js";
import { getJson } from "../../services/provisioning/src/store/kv.js";
import { claimsOf, KEYCLOAK_WAIT_MS } from "../support/keycloak.js";
import { eventually, startHarness, type Harness } from "./harness.js";

interface Org {
  id: string;
  alias: string;
  attributes?: Record<string, string[]>;
}

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, KEYCLOAK_WAIT_MS);

const R = "/enchanted";
const orgsBySlug = (slug: string) => h.admin.get<Org[]>(`${R}/organizations?search=${slug}&exact=true&briefRepresentation=false`);
const realmRoles = async (id: string) => (await h.admin.get<{ name: string }[]>(`${R}/users/${id}/role-mappings/realm`)).map((r) => r.name);
const userAttributes = async (id: string) => (await h.admin.get<{ attributes?: Record<string, string[]> }>(`${R}/users/${id}`)).attributes ?? {};
afterAll(async () => {
  await h?.stop();
});

describe("tenant lifecycle", () => {
  it("creates, provisions exactly the side effects, changes plan and offboards", async () => {
    const user = (await h.addUser());
    const token = await h.token(user);
    const created = await h.request("POST", "/v1/tenants", { token, body: { name: "Acme Robotics", slug: "acme-robotics", planTier: "free" } });
    expect(created.status).toBe(201);
    const tenant = (created.body as { tenant: { id: string; slug: string; planTier: string } }).tenant;
    expect(tenant).toMatchObject({ slug: "acme-robotics", planTier: "free", status: "active" });
    expect(tenant.id).toMatch(/^t[0-9a-f]{24}$/);

    await eventually(async () => {
      const t = await h.svc.plane.tenant(tenant.id);
      return t?.organization === "ready" && t.dataKey === "ready";
    }, 15_000, "the outbox to provision the tenant");
    const orgs = await orgsBySlug("acme-robotics");
    expect(orgs).toHaveLength(1);
    expect(orgs[0]).toMatchObject({ alias: "acme-robotics", attributes: { [TENANT_ATTRIBUTE]: [tenant.id], [PLAN_TIER_ATTRIBUTE]: ["free"] } });
    expect((await h.admin.get<{ id: string }[]>(`${R}/organizations/${orgs[0]!.id}/members`)).map((m) => m.id)).toEqual([user.id]);
    expect(await userAttributes(user.id)).toEqual({ [TENANT_ATTRIBUTE]: [tenant.id], [PLAN_TIER_ATTRIBUTE]: ["free"] });
    expect(await realmRoles(user.id)).toContain(REALM_ROLES.tenantAdmin);

    // Only the wrapped key is stored, and it unwraps (AES-256-GCM, bound to the tenant id).
    const wrapped = await h.svc.plane.wrappedKey(tenant.id);
    expect(wrapped?.provider).toBe("local");
    expect(Object.keys(wrapped ?? {}).sort()).toEqual(["ciphertext", "createdAt", "iv", "keyId", "provider", "tag"]);
    expect((h.svc.dataKeys as LocalKekProvider).unwrap(tenant.id, wrapped!)).toHaveLength(32);
    expect(() => (h.svc.dataKeys as LocalKekProvider).unwrap("tother000000000000000000", wrapped!)).toThrow();

    const limits = await h.request("GET", `/v1/tenants/${tenant.id}/limits`, { token });
    expect(limits.status).toBe(200);
    expect((limits.body as { limits: unknown }).limits).toEqual(JSON.parse(JSON.stringify(PLAN_TIERS.free)));
    const members = await h.request("GET", `/v1/tenants/${tenant.id}/members`, { token });
    expect((members.body as { members: { userId: string; role: string }[] }).members).toEqual([expect.objectContaining({ userId: user.id, role: "admin" })]);
    const mine = await h.request("GET", "/v1/tenants", { token });
    expect((mine.body as { tenants: { id: string }[] }).tenants.map((t) => t.id)).toEqual([tenant.id]);

    // Plan change: the tenant's own admin may not; a platform admin may.
    const denied = await h.request("PUT", `/v1/tenants/${tenant.id}/plan`, { token, body: { planTier: "pro" } });
    expect(denied.status).toBe(403);
    const admin = await h.token(await h.addPlatformAdmin());
    const changed = await h.request("PATCH", `/v1/tenants/${tenant.id}/plan`, { token: admin, body: { planTier: "pro" } });
    expect(changed.status).toBe(200);
    expect((await h.request("GET", `/v1/tenants/${tenant.id}/limits`, { token })).body).toMatchObject({ planTier: "pro", limits: { gateway: PLAN_TIERS.pro.gateway } });
    await eventually(async () => (await orgsBySlug("acme-robotics"))[0]?.attributes?.[PLAN_TIER_ATTRIBUTE]?.[0] === "pro" && (await userAttributes(user.id))[PLAN_TIER_ATTRIBUTE]?.[0] === "pro", 15_000, "the plan tier in Keycloak");

    // Usage: atomic counters.
    expect((await h.request("GET", `/v1/tenants/${tenant.id}/usage`, { token })).body).toMatchObject({ usage: { members: 1, bus_credentials_minted: 0 } });

    // Offboarding by a plain member is refused; by the tenant admin accepted.
    const off = await h.request("DELETE", `/v1/tenants/${tenant.id}`, { token });
    expect(off.status).toBe(202);
    expect(await h.svc.plane.wrappedKey(tenant.id)).toBeUndefined();
    expect((await h.request("GET", `/v1/tenants/${tenant.id}`, { token })).status).toBe(404);
    expect((await h.request("POST", `/v1/tenants/${tenant.id}/bus-credentials`, { token, body: {} })).status).toBe(404);
    await eventually(async () => (await orgsBySlug("acme-robotics")).length === 0 && (await userAttributes(user.id))[TENANT_ATTRIBUTE] === undefined, 15_000, "the organization's removal");
    await eventually(async () => (await h.svc.store.transact((tx) => getJson(tx, keys.eventDeletion(tenant.id)))) !== undefined, 15_000, "the event deletion to be queued");
    const deletion = await h.svc.store.transact((tx) => getJson<{ statements: string[] }>(tx, keys.eventDeletion(tenant.id)));
    expect(deletion?.statements).toEqual([`DELETE FROM enchanted.swarm_events WHERE tenant_id = '${tenant.id}'`]);
    await eventually(async () => (await h.svc.store.transact((tx) => tx.getRange(["o"]))).length === 0, 15_000, "the outbox to drain");
    expect((await h.request("GET", "/v1/tenants", { token })).body).toEqual({ tenants: [] });
    // The tenant-admin role went with the user's last tenant: a fresh token carries neither.
    expect(await realmRoles(user.id)).not.toContain(REALM_ROLES.tenantAdmin);
    const fresh = claimsOf(await h.token(user, { refresh: true }));
    expect(fresh[TENANT_CLAIM]).toBeUndefined();
    expect((fresh.realm_access as { roles?: string[] } | undefined)?.roles ?? []).not.toContain(REALM_ROLES.tenantAdmin);

    // The slug stays reserved forever.
    const again = await h.request("POST", "/v1/tenants", { token, body: { name: "Acme again", slug: "acme-robotics", planTier: "free" } });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: { code: "conflict", field: "body.slug" } });
  });

  it("keeps the tenant-admin role while the user still administers another active tenant", async () => {
    const user = await h.addUser();
    const token = await h.token(user);
    const ids: string[] = [];
    for (const slug of ["two-first", "two-second"]) {
      const res = await h.request("POST", "/v1/tenants", { token, body: { name: slug, slug, planTier: "free" } });
      expect(res.status).toBe(201);
      ids.push((res.body as { tenant: { id: string } }).tenant.id);
    }
    const drained = () => eventually(async () => (await h.svc.store.transact((tx) => tx.getRange(["o"]))).length === 0, 15_000, "the outbox to drain");
    await drained();
    expect(await realmRoles(user.id)).toContain(REALM_ROLES.tenantAdmin);
    expect((await h.request("DELETE", `/v1/tenants/${ids[0]}`, { token })).status).toBe(202);
    await drained();
    expect(await realmRoles(user.id)).toContain(REALM_ROLES.tenantAdmin);
    expect((await h.request("DELETE", `/v1/tenants/${ids[1]}`, { token })).status).toBe(202);
    await drained();
    expect(await realmRoles(user.id)).not.toContain(REALM_ROLES.tenantAdmin);
  });

  it("answers health, readiness and metrics outside /v1 without a token", async () => {
    expect((await h.request("GET", "/healthz")).status).toBe(200);
    expect((await h.request("GET", "/readyz")).status).toBe(200);
    const metrics = await h.request("GET", "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain("provisioning_http_requests_total");
    expect((await h.request("GET", "/v1/tenants")).status).toBe(401);
  });
});

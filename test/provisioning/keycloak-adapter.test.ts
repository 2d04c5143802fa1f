/**
 * The Keycloak adapter against the run's real Keycloak (realm applied as production applies it),
 * through a fault-injecting proxy: idempotent repeats (409 → look up and continue), 404 on
 * removal counts as done, 5xx retried, 401 refreshes the token once, a wrong client secret fails
 * clearly, an alias owned by another tenant is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PLAN_TIER_ATTRIBUTE, REALM_NAME, REALM_ROLES, TENANT_ATTRIBUTE } from "../../services/keycloak-realm/names.js";
import { KeycloakAdmin, KeycloakError } from "../../services/provisioning/src/keycloak.js";
import { AdminClient, createRegisteredUser, KEYCLOAK_WAIT_MS, keycloakServer, provisioningClientSecret, type KeycloakTestServer } from "../support/keycloak.js";
import { KeycloakFaultProxy } from "../support/keycloak-fault-proxy.js";

const R = `/${REALM_NAME}`;
/** Slugs unique to this file (the server is shared by the run). */
const slug = (name: string) => `adapter-${name}`;
let server: KeycloakTestServer;
let proxy: KeycloakFaultProxy;
let admin: KeycloakAdmin;
let kc: AdminClient;

interface Org {
  id: string;
  alias: string;
  description?: string;
  attributes?: Record<string, string[]>;
}

beforeAll(async () => {
  server = await keycloakServer();
  proxy = await KeycloakFaultProxy.start(server.url);
  admin = new KeycloakAdmin({ baseUrl: proxy.url, realm: REALM_NAME, clientSecret: provisioningClientSecret(server), attempts: 10 });
  kc = AdminClient.bootstrap(server);
}, KEYCLOAK_WAIT_MS);
afterAll(async () => {
  await proxy?.stop();
});

const organization = async (id: string) => {
  const r = await kc.call("GET", `${R}/organizations/${id}`);
  return r.status === 200 ? (r.body as Org) : undefined;
};

describe("Keycloak adapter (real Keycloak)", () => {
  it("creates an organization once, and a repeat finds the same one (409 → lookup)", async () => {
    const spec = { slug: slug("one"), displayName: "Org One", tenantId: "tenant-one", planTier: "free" };
    const creates = proxy.stats.organizationCreates;
    const id = await admin.ensureOrganization(spec);
    expect(await admin.ensureOrganization(spec)).toBe(id);
    expect(proxy.stats.organizationCreates).toBe(creates + 1);
    expect(await organization(id)).toMatchObject({ name: spec.slug, alias: spec.slug, description: "Org One", attributes: { [TENANT_ATTRIBUTE]: ["tenant-one"], [PLAN_TIER_ATTRIBUTE]: ["free"] } });
    await expect(admin.ensureOrganization({ ...spec, tenantId: "tenant-two" })).rejects.toMatchObject({ retryable: false });
  });

  it("adds members, sets attributes and grants the tenant-admin role idempotently", async () => {
    const user = await createRegisteredUser(kc);
    const readUser = async () => (await kc.get<{ attributes?: Record<string, string[]>; firstName?: string }>(`${R}/users/${user.id}`));
    // A profile attribute the user set is kept when the adapter writes its own.
    const before = await readUser();
    expect((await kc.call("PUT", `${R}/users/${user.id}`, { ...before, firstName: "Ada" })).status).toBe(204);
    const id = await admin.ensureOrganization({ slug: slug("two"), displayName: "Two", tenantId: "tenant-two", planTier: "pro" });
    await admin.addMember(id, user.id);
    await admin.addMember(id, user.id); // 409 already a member: fine
    await admin.setUserTenantAttributes(user.id, "tenant-two", "pro");
    await admin.grantRealmRole(user.id, REALM_ROLES.tenantAdmin);
    await admin.grantRealmRole(user.id, REALM_ROLES.tenantAdmin);
    expect((await kc.get<{ id: string }[]>(`${R}/organizations/${id}/members`)).map((m) => m.id)).toEqual([user.id]);
    expect(await readUser()).toMatchObject({ firstName: "Ada", attributes: { [TENANT_ATTRIBUTE]: ["tenant-two"], [PLAN_TIER_ATTRIBUTE]: ["pro"] } });
    expect((await kc.get<{ name: string }[]>(`${R}/users/${user.id}/role-mappings/realm`)).map((r) => r.name)).toContain(REALM_ROLES.tenantAdmin);
    await admin.updateOrganizationTier({ slug: slug("two"), displayName: "Two", tenantId: "tenant-two", planTier: "enterprise" });
    await admin.setUserTierIfTenant(user.id, "tenant-two", "enterprise");
    await admin.setUserTierIfTenant(user.id, "tenant-other", "free"); // another tenant's plan change: untouched
    expect((await organization(id))?.attributes?.[PLAN_TIER_ATTRIBUTE]).toEqual(["enterprise"]);
    expect((await readUser()).attributes?.[PLAN_TIER_ATTRIBUTE]).toEqual(["enterprise"]);
    await admin.clearUserTenantAttributes(user.id, "tenant-two");
    const cleared = await readUser();
    expect(cleared.firstName).toBe("Ada");
    expect(cleared.attributes?.[TENANT_ATTRIBUTE]).toBeUndefined();
    expect(cleared.attributes?.[PLAN_TIER_ATTRIBUTE]).toBeUndefined();
    await admin.removeOrganization(slug("two"), id);
    await admin.removeOrganization(slug("two"), id); // 404: already gone
    await admin.removeOrganization(slug("two"), undefined); // not found by alias: done
    expect(await organization(id)).toBeUndefined();
    // Missing users: nothing to set.
    await admin.setUserTenantAttributes("00000000-0000-0000-0000-000000000000", "tenant-two", "pro");
    await expect(admin.addMember("no-such-org", user.id)).rejects.toBeInstanceOf(KeycloakError);
    // Keycloak's user profile refuses a tenant id the platform would never issue (the former hand-written stand-in accepted anything).
    await expect(admin.setUserTenantAttributes(user.id, "Not A Tenant!", "pro")).rejects.toMatchObject({ status: 400, retryable: false });
    await expect(admin.setUserTenantAttributes(user.id, "tenant-two", "platinum")).rejects.toMatchObject({ status: 400 });
  });

  it("retries 5xx answers and refreshes an expired service token once", async () => {
    proxy.failNextAdminCalls = 3;
    const before = proxy.stats.injectedFailures;
    await admin.ensureOrganization({ slug: slug("after-503s"), displayName: "F", tenantId: "tenant-f", planTier: "free" });
    expect(proxy.stats.injectedFailures).toBe(before + 3);
    proxy.failureRate = 0.2;
    for (let i = 0; i < 10; i++) await admin.ensureOrganization({ slug: slug(`flaky-${i}`), displayName: "F", tenantId: `tenant-f${i}`, planTier: "free" });
    proxy.failureRate = 0;
    expect(proxy.stats.injectedFailures).toBeGreaterThan(before + 3);
    const grants = proxy.stats.tokenGrants;
    proxy.expireAdminTokens();
    await admin.ensureOrganization({ slug: slug("after-expiry"), displayName: "E", tenantId: "tenant-e", planTier: "free" });
    expect(proxy.stats.expiredRefusals).toBe(1);
    expect(proxy.stats.tokenGrants).toBe(grants + 1);
    // Every organization exists exactly once despite the failures.
    const all = await kc.get<Org[]>(`${R}/organizations?search=${slug("flaky-")}&max=100`);
    expect(all.map((o) => o.alias).sort()).toEqual(Array.from({ length: 10 }, (_, i) => slug(`flaky-${i}`)).sort());
  });

  it("fails clearly with a wrong client secret", async () => {
    const bad = new KeycloakAdmin({ baseUrl: proxy.url, realm: REALM_NAME, clientSecret: "wrong" });
    await expect(bad.ensureOrganization({ slug: slug("never"), displayName: "N", tenantId: "tenant-n", planTier: "free" })).rejects.toThrow(/token answered 401/);
  });
});

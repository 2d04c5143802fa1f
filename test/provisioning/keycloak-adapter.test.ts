/**
 * The Keycloak adapter against the local Admin REST stand-in: idempotent repeats (409 → look up
 * and continue), 404 on removal counts as done, 5xx retried, 401 refreshes the token once, a
 * wrong client secret fails clearly, an alias owned by another tenant is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PLAN_TIER_ATTRIBUTE, REALM_ROLES, TENANT_ATTRIBUTE } from "../../services/keycloak-realm/names.js";
import { KeycloakAdmin, KeycloakError } from "../../services/provisioning/src/keycloak.js";
import { FakeKeycloak } from "../support/keycloak-admin.js";

let kc: FakeKeycloak;
let admin: KeycloakAdmin;
beforeAll(async () => {
  kc = await FakeKeycloak.start();
  admin = new KeycloakAdmin({ baseUrl: kc.url, realm: kc.realm, clientSecret: kc.clientSecret, attempts: 10 });
});
afterAll(async () => {
  await kc?.stop();
});

describe("Keycloak adapter", () => {
  it("creates an organization once, and a repeat finds the same one (409 → lookup)", async () => {
    const spec = { slug: "org-one", displayName: "Org One", tenantId: "t1", planTier: "free" };
    const id = await admin.ensureOrganization(spec);
    expect(await admin.ensureOrganization(spec)).toBe(id);
    expect(kc.stats.organizationCreates).toBe(1);
    expect(kc.organizations.get(id)).toMatchObject({ name: "org-one", alias: "org-one", description: "Org One", attributes: { [TENANT_ATTRIBUTE]: ["t1"], [PLAN_TIER_ATTRIBUTE]: ["free"] } });
    await expect(admin.ensureOrganization({ ...spec, tenantId: "t2" })).rejects.toMatchObject({ retryable: false });
  });

  it("adds members, sets attributes and grants the tenant-admin role idempotently", async () => {
    const user = kc.addUser();
    user.attributes = { locale: ["de"] };
    const id = await admin.ensureOrganization({ slug: "org-two", displayName: "Two", tenantId: "t2", planTier: "pro" });
    await admin.addMember(id, user.id);
    await admin.addMember(id, user.id); // 409 already a member: fine
    await admin.setUserTenantAttributes(user.id, "t2", "pro");
    await admin.grantRealmRole(user.id, REALM_ROLES.tenantAdmin);
    await admin.grantRealmRole(user.id, REALM_ROLES.tenantAdmin);
    expect(kc.members.get(id)).toEqual(new Set([user.id]));
    expect(user.attributes).toEqual({ locale: ["de"], [TENANT_ATTRIBUTE]: ["t2"], [PLAN_TIER_ATTRIBUTE]: ["pro"] });
    expect(kc.roleMappings.get(user.id)).toEqual(new Set([REALM_ROLES.tenantAdmin]));
    await admin.updateOrganizationTier({ slug: "org-two", displayName: "Two", tenantId: "t2", planTier: "enterprise" });
    await admin.setUserTierIfTenant(user.id, "t2", "enterprise");
    expect(kc.organizations.get(id)?.attributes[PLAN_TIER_ATTRIBUTE]).toEqual(["enterprise"]);
    expect(user.attributes[PLAN_TIER_ATTRIBUTE]).toEqual(["enterprise"]);
    await admin.clearUserTenantAttributes(user.id, "t2");
    expect(user.attributes).toEqual({ locale: ["de"] });
    await admin.removeOrganization("org-two", id);
    await admin.removeOrganization("org-two", id); // 404: already gone
    await admin.removeOrganization("org-two", undefined); // not found by alias: done
    expect(kc.organizations.has(id)).toBe(false);
    // Missing users: nothing to set.
    await admin.setUserTenantAttributes("no-such-user", "t2", "pro");
    await expect(admin.addMember("no-such-org", user.id)).rejects.toBeInstanceOf(KeycloakError);
  });

  it("retries 5xx answers and refreshes an expired service token once", async () => {
    kc.failNextAdminCalls = 3;
    await admin.ensureOrganization({ slug: "org-after-503s", displayName: "F", tenantId: "tf", planTier: "free" });
    expect(kc.stats.injectedFailures).toBe(3);
    kc.failureRate = 0.2;
    for (let i = 0; i < 10; i++) await admin.ensureOrganization({ slug: `org-flaky-${i}`, displayName: "F", tenantId: `tf${i}`, planTier: "free" });
    kc.failureRate = 0;
    expect(kc.stats.injectedFailures).toBeGreaterThan(0);
    const grants = kc.stats.tokenGrants;
    kc.expireAdminTokens();
    await admin.ensureOrganization({ slug: "org-after-expiry", displayName: "E", tenantId: "te", planTier: "free" });
    expect(kc.stats.tokenGrants).toBe(grants + 1);
  });

  it("fails clearly with a wrong client secret", async () => {
    const bad = new KeycloakAdmin({ baseUrl: kc.url, realm: kc.realm, clientSecret: "wrong" });
    await expect(bad.ensureOrganization({ slug: "never", displayName: "N", tenantId: "tn", planTier: "free" })).rejects.toThrow(/token answered 401/);
  });
});

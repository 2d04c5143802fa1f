/**
 * The Keycloak adapter against the run's real Keycloak (realm applied as production applies it),
 * through a fault-injecting proxy. All the service asks of Keycloak is a user's realm role
 * `tenant-admin`: granting and revoking it are idempotent (a repeat writes nothing), a gone user
 * counts as done on revoke and is a clear refusal on grant, 5xx answers are retried, a 401
 * refreshes the token once, and a wrong client secret fails clearly.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REALM_NAME, REALM_ROLES } from "../../services/keycloak-realm/names.js";
import { disabledIdentityAdmin, KeycloakAdmin, KeycloakError } from "../../services/provisioning/src/keycloak.js";
import { AdminClient, createRegisteredUser, KEYCLOAK_WAIT_MS, keycloakServer, provisioningClientSecret, type KeycloakTestServer } from "../support/keycloak.js";
import { KeycloakFaultProxy } from "../support/keycloak-fault-proxy.js";

const R = `/${REALM_NAME}`;
const GONE = "00000000-0000-0000-0000-000000000000";
let server: KeycloakTestServer;
let proxy: KeycloakFaultProxy;
let admin: KeycloakAdmin;
let kc: AdminClient;

beforeAll(async () => {
  server = await keycloakServer();
  proxy = await KeycloakFaultProxy.start(server.url);
  admin = new KeycloakAdmin({ baseUrl: proxy.url, realm: REALM_NAME, clientSecret: provisioningClientSecret(server), attempts: 10 });
  kc = AdminClient.bootstrap(server);
}, KEYCLOAK_WAIT_MS);
afterAll(async () => {
  await proxy?.stop();
});

/** The user's direct realm roles, as the bootstrap admin reads them. */
const realmRoles = async (userId: string) => (await kc.get<{ name: string }[]>(`${R}/users/${userId}/role-mappings/realm`)).map((r) => r.name);

describe("Keycloak adapter (real Keycloak)", () => {
  it("is reduced to users' realm roles", () => {
    expect(Object.keys(disabledIdentityAdmin).sort()).toEqual(["enabled", "grantRealmRole", "revokeRealmRole"]);
  });

  it("grants and revokes tenant-admin idempotently: a repeat writes nothing, other roles stay", async () => {
    const user = await createRegisteredUser(kc);
    await kc.call("POST", `${R}/users/${user.id}/role-mappings/realm`, [await kc.get(`${R}/roles/${REALM_ROLES.platformAdmin}`)]);
    const writes = proxy.stats.roleMappingWrites;
    await admin.grantRealmRole(user.id, REALM_ROLES.tenantAdmin);
    expect(proxy.stats.roleMappingWrites).toBe(writes + 1);
    await admin.grantRealmRole(user.id, REALM_ROLES.tenantAdmin);
    expect(proxy.stats.roleMappingWrites).toBe(writes + 1);
    expect(await realmRoles(user.id)).toEqual(expect.arrayContaining([REALM_ROLES.tenantAdmin, REALM_ROLES.platformAdmin]));

    await admin.revokeRealmRole(user.id, REALM_ROLES.tenantAdmin);
    expect(proxy.stats.roleMappingWrites).toBe(writes + 2);
    await admin.revokeRealmRole(user.id, REALM_ROLES.tenantAdmin);
    expect(proxy.stats.roleMappingWrites).toBe(writes + 2);
    const after = await realmRoles(user.id);
    expect(after).not.toContain(REALM_ROLES.tenantAdmin);
    expect(after).toContain(REALM_ROLES.platformAdmin);
    // Granted again after a revoke: a new write.
    await admin.grantRealmRole(user.id, REALM_ROLES.tenantAdmin);
    expect(await realmRoles(user.id)).toContain(REALM_ROLES.tenantAdmin);
  });

  it("revoking from a gone user is done; granting to a gone user, or a role the realm lacks, is a non-retryable 404", async () => {
    await admin.revokeRealmRole(GONE, REALM_ROLES.tenantAdmin);
    await expect(admin.grantRealmRole(GONE, REALM_ROLES.tenantAdmin)).rejects.toMatchObject({ status: 404, retryable: false });
    const user = await createRegisteredUser(kc);
    await expect(admin.grantRealmRole(user.id, "no-such-role")).rejects.toBeInstanceOf(KeycloakError);
    await expect(admin.grantRealmRole(user.id, "no-such-role")).rejects.toMatchObject({ status: 404, retryable: false });
    await admin.revokeRealmRole(user.id, "no-such-role");
    expect(await realmRoles(user.id)).not.toContain(REALM_ROLES.tenantAdmin);
  });

  it("retries 5xx answers and refreshes an expired service token once", async () => {
    const users = await Promise.all(Array.from({ length: 10 }, () => createRegisteredUser(kc)));
    proxy.failNextAdminCalls = 3;
    const before = proxy.stats.injectedFailures;
    await admin.grantRealmRole(users[0]!.id, REALM_ROLES.tenantAdmin);
    expect(proxy.stats.injectedFailures).toBe(before + 3);
    proxy.failureRate = 0.2;
    for (const u of users) await admin.grantRealmRole(u.id, REALM_ROLES.tenantAdmin);
    for (const u of users.slice(5)) await admin.revokeRealmRole(u.id, REALM_ROLES.tenantAdmin);
    proxy.failureRate = 0;
    expect(proxy.stats.injectedFailures).toBeGreaterThan(before + 3);
    const grants = proxy.stats.tokenGrants;
    proxy.expireAdminTokens();
    await admin.revokeRealmRole(users[0]!.id, REALM_ROLES.tenantAdmin);
    expect(proxy.stats.expiredRefusals).toBe(1);
    expect(proxy.stats.tokenGrants).toBe(grants + 1);
    // Every role is where the last call left it despite the failures.
    const held = await Promise.all(users.map(async (u) => (await realmRoles(u.id)).includes(REALM_ROLES.tenantAdmin)));
    expect(held).toEqual([false, true, true, true, true, false, false, false, false, false]);
  });

  it("fails clearly with a wrong client secret", async () => {
    const bad = new KeycloakAdmin({ baseUrl: proxy.url, realm: REALM_NAME, clientSecret: "wrong" });
    const user = await createRegisteredUser(kc);
    await expect(bad.grantRealmRole(user.id, REALM_ROLES.tenantAdmin)).rejects.toThrow(/token answered 401/);
  });
});

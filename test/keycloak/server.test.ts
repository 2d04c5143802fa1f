/**
 * The realm on a real Keycloak (the run's shared server, realm applied by applyRealm): users
 * register and sign in; their access tokens carry what Kong checks; only the provisioning client
 * writes the tenant attributes, and it is refused what the service does not need; brute-force
 * protection and the password policy act.
 */
import { createRemoteJWKSet, jwtVerify } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import {
  API_AUDIENCE,
  PLAN_TIER_ATTRIBUTE,
  PLAN_TIER_CLAIM,
  PROVISIONING_CLIENT_ID,
  REALM_MANAGEMENT_CLIENT,
  REALM_NAME,
  REALM_ROLES,
  TENANT_ATTRIBUTE,
  TENANT_CLAIM,
  WEB_CLIENT_ID,
} from "../../services/keycloak-realm/names.js";
import { BRUTE_FORCE } from "../../services/keycloak-realm/realm.js";
import { KeycloakAdmin } from "../../services/provisioning/src/keycloak.js";
import {
  AdminClient,
  Browser,
  browserLogin,
  claimsOf,
  createRegisteredUser,
  formAction,
  issuerOf,
  KEYCLOAK_WAIT_MS,
  keycloakServer,
  provisioningClientSecret,
  webRedirectUri,
  type KeycloakTestServer,
} from "../support/keycloak.js";

const R = `/${REALM_NAME}`;
let server: KeycloakTestServer;
let admin: AdminClient;
let provisioning: AdminClient;
let adapter: KeycloakAdmin;
const TENANT = "t-0123456789abcdef0123456789abcdef";

beforeAll(async () => {
  server = await keycloakServer();
  admin = AdminClient.bootstrap(server);
  provisioning = AdminClient.provisioning(server);
  adapter = new KeycloakAdmin({ baseUrl: server.url, realm: REALM_NAME, clientSecret: provisioningClientSecret(server) });
}, KEYCLOAK_WAIT_MS);

describe("registration and sign-in", () => {
  it("a visitor registers through the registration form; the user exists with the e-mail as user name and must verify it", async () => {
    const browser = new Browser();
    const email = `reg-${Date.now()}@example.com`;
    const registrations = new URL(`${issuerOf(server)}/protocol/openid-connect/registrations`);
    registrations.search = new URLSearchParams({ client_id: WEB_CLIENT_ID, redirect_uri: webRedirectUri(), response_type: "code", scope: "openid", code_challenge: "x".repeat(43), code_challenge_method: "S256" }).toString();
    const page = await browser.fetch(registrations.toString());
    expect(page.status).toBe(200);
    const html = await page.text();
    // A forged tenant in the form is not accepted (the attribute is admin-only in the user profile).
    const posted = await browser.fetch(formAction(html), {
      method: "POST",
      body: new URLSearchParams({ email, firstName: "Reg", lastName: "Istered", password: "correct horse battery", "password-confirm": "correct horse battery", [TENANT_ATTRIBUTE]: TENANT, [PLAN_TIER_ATTRIBUTE]: "enterprise" }),
    });
    expect([200, 302]).toContain(posted.status);
    const [user] = await admin.get<{ id: string; username: string; emailVerified: boolean; requiredActions?: string[]; attributes?: Record<string, string[]> }[]>(`${R}/users?email=${encodeURIComponent(email)}&exact=true`);
    expect(user).toMatchObject({ username: email, emailVerified: false });
    expect(user?.attributes?.[TENANT_ATTRIBUTE]).toBeUndefined();
    expect(user?.attributes?.[PLAN_TIER_ATTRIBUTE]).toBeUndefined();
  });

  it("a registered user signs in (authorization code + PKCE); the access token carries tenant_id, plan_tier and aud api once provisioning set them", async () => {
    const user = await createRegisteredUser(admin);
    const before = await browserLogin(server, user.email, user.password);
    expect(before.tokens).toBeDefined();
    expect(claimsOf(before.tokens!.access_token)).not.toHaveProperty(TENANT_CLAIM);

    await adapter.setUserTenantAttributes(user.id, TENANT, "pro");
    const login = await browserLogin(server, user.email, user.password);
    const token = login.tokens!.access_token;
    // What Kong checks: signature by the realm's JWKS, issuer, audience, then the two claims.
    const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${issuerOf(server)}/protocol/openid-connect/certs`)), { issuer: issuerOf(server), audience: API_AUDIENCE });
    expect(payload[TENANT_CLAIM]).toBe(TENANT);
    expect(payload[PLAN_TIER_CLAIM]).toBe("pro");
    expect(payload.typ).toBe("Bearer");
    expect(payload.azp).toBe(WEB_CLIENT_ID);
    expect(payload.sub).toBe(user.id);
    // Top-level string claims, not nested or arrays.
    expect(typeof payload[TENANT_CLAIM]).toBe("string");

    // The tier follows the provisioning service's write at the next token.
    await adapter.setUserTierIfTenant(user.id, TENANT, "enterprise");
    const again = await browserLogin(server, user.email, user.password);
    expect(claimsOf(again.tokens!.access_token)[PLAN_TIER_CLAIM]).toBe("enterprise");

    // An admin role reaches the web app's token (scope mapping); the login then demands OTP setup.
    await adapter.grantRealmRole(user.id, REALM_ROLES.tenantAdmin);
    const adminLogin = await browserLogin(server, user.email, user.password);
    expect(adminLogin.tokens).toBeUndefined();
    expect(adminLogin.page).toMatch(/totp|authenticator|otp/i);
  });
});

describe("the tenant attributes", () => {
  it("are kept by the user profile (not dropped as unmanaged) and visible to admins only", async () => {
    const profile = await admin.get<{ attributes: { name: string; permissions: { view: string[]; edit: string[] } }[]; unmanagedAttributePolicy?: string }>(`${R}/users/profile`);
    for (const name of [TENANT_ATTRIBUTE, PLAN_TIER_ATTRIBUTE]) {
      expect(profile.attributes.find((a) => a.name === name)?.permissions).toEqual({ view: ["admin"], edit: ["admin"] });
    }
    expect(profile.unmanagedAttributePolicy).toBeUndefined();
    const user = await createRegisteredUser(admin);
    await adapter.setUserTenantAttributes(user.id, TENANT, "free");
    const read = await admin.get<{ attributes?: Record<string, string[]> }>(`${R}/users/${user.id}`);
    expect(read.attributes).toMatchObject({ [TENANT_ATTRIBUTE]: [TENANT], [PLAN_TIER_ATTRIBUTE]: ["free"] });
    // An attribute the profile does not declare is dropped.
    const put = await provisioning.call("PUT", `${R}/users/${user.id}`, { ...read, attributes: { ...read.attributes, undeclared: ["x"] } });
    expect(put.status).toBe(204);
    expect((await admin.get<{ attributes?: Record<string, string[]> }>(`${R}/users/${user.id}`)).attributes).not.toHaveProperty("undeclared");
  });

  it("a user cannot set them on itself through the account API", async () => {
    const user = await createRegisteredUser(admin);
    await adapter.setUserTenantAttributes(user.id, TENANT, "free");
    // The account console's client carries the account roles the account API checks.
    const login = await browserLogin(server, user.email, user.password, { clientId: "account-console", redirectUri: `${issuerOf(server)}/account/` });
    const token = login.tokens!.access_token;
    const account = `${issuerOf(server)}/account`;
    const me = (await (await fetch(account, { headers: { authorization: `Bearer ${token}`, accept: "application/json" } })).json()) as Record<string, unknown>;
    expect(me.email).toBe(user.email);
    expect(JSON.stringify(me)).not.toContain(TENANT);
    const write = await fetch(account, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ ...me, attributes: { [TENANT_ATTRIBUTE]: ["t-ffffffffffffffffffffffffffffffff"], [PLAN_TIER_ATTRIBUTE]: ["enterprise"] } }),
    });
    expect(write.status).toBeLessThan(500);
    const read = await admin.get<{ attributes?: Record<string, string[]> }>(`${R}/users/${user.id}`);
    expect(read.attributes).toMatchObject({ [TENANT_ATTRIBUTE]: [TENANT], [PLAN_TIER_ATTRIBUTE]: ["free"] });
  });
});

describe("the provisioning client", () => {
  it("does what the service needs: organizations, members, attributes, the tenant-admin role", async () => {
    const user = await createRegisteredUser(admin);
    const spec = { slug: `srv-${Date.now()}`, displayName: "Server Test", tenantId: TENANT, planTier: "pro" };
    const orgId = await adapter.ensureOrganization(spec);
    expect(await adapter.ensureOrganization(spec)).toBe(orgId);
    await adapter.addMember(orgId, user.id);
    await adapter.addMember(orgId, user.id);
    await adapter.setUserTenantAttributes(user.id, TENANT, "pro");
    await adapter.grantRealmRole(user.id, REALM_ROLES.tenantAdmin);
    await adapter.updateOrganizationTier({ ...spec, planTier: "enterprise" });
    const org = await admin.get<{ alias: string; attributes: Record<string, string[]> }>(`${R}/organizations/${orgId}`);
    expect(org).toMatchObject({ alias: spec.slug, attributes: { [TENANT_ATTRIBUTE]: [TENANT], [PLAN_TIER_ATTRIBUTE]: ["enterprise"] } });
    const members = await admin.get<{ id: string }[]>(`${R}/organizations/${orgId}/members`);
    expect(members.map((m) => m.id)).toEqual([user.id]);
    const roles = await admin.get<{ name: string }[]>(`${R}/users/${user.id}/role-mappings/realm`);
    expect(roles.map((r) => r.name)).toContain(REALM_ROLES.tenantAdmin);
    await adapter.clearUserTenantAttributes(user.id, TENANT);
    await adapter.removeOrganization(spec.slug, orgId);
    await adapter.removeOrganization(spec.slug, undefined);
    expect((await admin.call("GET", `${R}/organizations/${orgId}`)).status).toBe(404);
  });

  it("is refused what the service does not need", async () => {
    const user = await createRegisteredUser(admin);
    const clients = await admin.get<{ id: string; clientId: string }[]>(`${R}/clients`);
    const idOf = (clientId: string) => clients.find((c) => c.clientId === clientId)?.id as string;
    const realmManagement = idOf(REALM_MANAGEMENT_CLIENT);
    const [self] = await admin.get<{ id: string }[]>(`${R}/users?username=service-account-${PROVISIONING_CLIENT_ID}&exact=true`);
    const manageClients = await admin.get<Record<string, unknown>>(`/${REALM_NAME}/clients/${realmManagement}/roles/manage-clients`);
    const realmAdmin = await admin.get<Record<string, unknown>>(`/${REALM_NAME}/clients/${realmManagement}/roles/realm-admin`);
    const refused: [string, string, string, unknown?][] = [
      ["create a realm", "POST", "", { realm: "stolen", enabled: true }],
      ["read the master realm's users", "GET", "/master/users", undefined],
      ["list the realm's clients", "GET", `${R}/clients`, undefined],
      ["read the web client", "GET", `${R}/clients/${idOf(WEB_CLIENT_ID)}`, undefined],
      ["read its own client secret", "GET", `${R}/clients/${idOf(PROVISIONING_CLIENT_ID)}/client-secret`, undefined],
      ["create a client", "POST", `${R}/clients`, { clientId: "backdoor", publicClient: true, directAccessGrantsEnabled: true }],
      ["grant itself manage-clients", "POST", `${R}/users/${self!.id}/role-mappings/clients/${realmManagement}`, [manageClients]],
      ["grant a user realm-admin", "POST", `${R}/users/${user.id}/role-mappings/clients/${realmManagement}`, [realmAdmin]],
      ["impersonate a user", "POST", `${R}/users/${user.id}/impersonation`, undefined],
      ["read login events", "GET", `${R}/events`, undefined],
      ["read admin events", "GET", `${R}/admin-events`, undefined],
      ["create an identity provider", "POST", `${R}/identity-provider/instances`, { alias: "evil", providerId: "oidc", config: {} }],
    ];
    const answers: Record<string, number> = {};
    for (const [what, method, path, body] of refused) answers[what] = (await provisioning.call(method, path, body)).status;
    expect(answers).toEqual(Object.fromEntries(refused.map(([what]) => [what, 403])));
  });
});

describe("protection", () => {
  it(`brute force: ${BRUTE_FORCE.failureFactor} wrong passwords lock the account temporarily; the right password is then refused too`, async () => {
    const user = await createRegisteredUser(admin);
    const lockout = () => admin.get<{ disabled: boolean; numFailures: number }>(`${R}/attack-detection/brute-force/users/${user.id}`);
    for (let i = 0; i < BRUTE_FORCE.failureFactor; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, BRUTE_FORCE.quickLoginCheckMilliSeconds + 100)); // slower than the quick-login check
      expect((await lockout()).disabled).toBe(false);
      const wrong = await browserLogin(server, user.email, `wrong-password-${i}`);
      expect(wrong.tokens).toBeUndefined();
    }
    expect(await lockout()).toMatchObject({ disabled: true, numFailures: BRUTE_FORCE.failureFactor });
    expect((await browserLogin(server, user.email, user.password)).tokens).toBeUndefined();
    // Not permanent: an admin (or the wait) lifts it.
    await admin.call("DELETE", `${R}/attack-detection/brute-force/users/${user.id}`);
    expect((await browserLogin(server, user.email, user.password)).tokens).toBeDefined();
  });

  it("the password policy refuses short passwords and the e-mail as password, and accepts a long one", async () => {
    const user = await createRegisteredUser(admin);
    const reset = (value: string) => provisioning.call("PUT", `${R}/users/${user.id}/reset-password`, { type: "password", value, temporary: false });
    const short = await reset("Sh0rt!pass");
    expect(short.status).toBe(400);
    expect(short.text).toMatch(/invalidPasswordMinLength/);
    const email = await reset(user.email);
    expect(email.status).toBe(400);
    expect(email.text).toMatch(/invalidPassword(NotEmail|NotUsername)/);
    expect((await reset("a long enough passphrase")).status).toBe(204);
  });
});

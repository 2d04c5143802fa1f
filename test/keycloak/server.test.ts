/**
 * The realm on a real Keycloak (the run's shared server, realm applied by applyRealm): users
 * register and sign in; the web client's access tokens carry what the API checks of a user token
 * (`aud: api`, the verified e-mail) and nothing about tenants; nobody can put a tenant on a user
 * (Keycloak holds users only); operators sign in through the operator client and get
 * `platform-admin` and the operator audience there, and only there; the provisioning client
 * grants and revokes `tenant-admin` and is refused what the service does not need; brute-force
 * protection and the password policy act.
 */
import { createRemoteJWKSet, jwtVerify } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { OPERATOR_AUDIENCE } from "../../services/identity/names.js";
import {
  API_AUDIENCE,
  OPERATOR_CLIENT_ID,
  PLAN_TIER_CLAIM,
  PROVISIONING_CLIENT_ID,
  REALM_MANAGEMENT_CLIENT,
  REALM_NAME,
  REALM_ROLES,
  TENANT_CLAIM,
  WEB_APP_PATHS,
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
  type RealmUser,
} from "../support/keycloak.js";

const R = `/${REALM_NAME}`;
let server: KeycloakTestServer;
let admin: AdminClient;
let provisioning: AdminClient;
let adapter: KeycloakAdmin;
const TENANT = "t-0123456789abcdef0123456789abcdef";
/** The operator client's redirect URI in the dev realm (same origin as the web app's). */
const operatorRedirectUri = () => webRedirectUri().replace(WEB_APP_PATHS.redirect, WEB_APP_PATHS.operatorRedirect);
const jwks = () => createRemoteJWKSet(new URL(`${issuerOf(server)}/protocol/openid-connect/certs`));
const realmRolesOf = (token: string) => ((claimsOf(token).realm_access as { roles?: string[] } | undefined)?.roles ?? []);

/** Users holding `value` in the attribute `name`: Keycloak's search reads stored values, even of an attribute the user profile does not declare (which the admin API would not show). */
const holders = async (name: string, value: string) => (await admin.get<{ id: string }[]>(`${R}/users?q=${encodeURIComponent(`${name}:${value}`)}`)).map((u) => u.id);

beforeAll(async () => {
  server = await keycloakServer();
  admin = AdminClient.bootstrap(server);
  provisioning = AdminClient.provisioning(server);
  adapter = new KeycloakAdmin({ baseUrl: server.url, realm: REALM_NAME, clientSecret: provisioningClientSecret(server) });
}, KEYCLOAK_WAIT_MS);

describe("registration and sign-in", () => {
  it("a visitor registers through the registration form; the user exists with the e-mail as user name, must verify it, and holds no field it made up", async () => {
    const browser = new Browser();
    const email = `reg-${Date.now()}@example.com`;
    const forged = `t-${Date.now().toString(16).padStart(32, "0")}`;
    const registrations = new URL(`${issuerOf(server)}/protocol/openid-connect/registrations`);
    registrations.search = new URLSearchParams({ client_id: WEB_CLIENT_ID, redirect_uri: webRedirectUri(), response_type: "code", scope: "openid", code_challenge: "x".repeat(43), code_challenge_method: "S256" }).toString();
    const page = await browser.fetch(registrations.toString());
    expect(page.status).toBe(200);
    const html = await page.text();
    // A tenant and a tier in the form are not stored: the user profile declares no such attribute.
    const posted = await browser.fetch(formAction(html), {
      method: "POST",
      body: new URLSearchParams({ email, firstName: "Reg", lastName: "Istered", password: "correct horse battery", "password-confirm": "correct horse battery", [TENANT_CLAIM]: forged, [PLAN_TIER_CLAIM]: "enterprise" }),
    });
    expect([200, 302]).toContain(posted.status);
    const [user] = await admin.get<{ id: string; username: string; emailVerified: boolean; attributes?: Record<string, string[]> }[]>(`${R}/users?email=${encodeURIComponent(email)}&exact=true`);
    expect(user).toMatchObject({ username: email, emailVerified: false });
    expect(user?.attributes ?? {}).toEqual({});
    expect(await holders(TENANT_CLAIM, forged)).toEqual([]);
    expect(await holders(PLAN_TIER_CLAIM, "enterprise")).not.toContain(user?.id);
  });

  it("a registered user signs in (authorization code + PKCE); the access token carries aud api, the verified e-mail and no tenant", async () => {
    const user = await createRegisteredUser(admin);
    const login = await browserLogin(server, user.email, user.password);
    const token = login.tokens!.access_token;
    // What the API checks of a user token: signature by the realm's JWKS, issuer, audience.
    const { payload } = await jwtVerify(token, jwks(), { issuer: issuerOf(server), audience: API_AUDIENCE });
    expect(payload.aud).toBe(API_AUDIENCE);
    expect(payload.typ).toBe("Bearer");
    expect(payload.azp).toBe(WEB_CLIENT_ID);
    expect(payload.sub).toBe(user.id);
    // Invitations compare the verified e-mail.
    expect(payload.email).toBe(user.email);
    expect(payload.email_verified).toBe(true);
    // Tenants are the platform's tenant token's business, never Keycloak's.
    expect(payload).not.toHaveProperty(TENANT_CLAIM);
    expect(payload).not.toHaveProperty(PLAN_TIER_CLAIM);
    expect(realmRolesOf(token)).toEqual([]);

    // tenant-admin reaches the web app's token (scope mapping); the login then demands OTP setup.
    await adapter.grantRealmRole(user.id, REALM_ROLES.tenantAdmin);
    const adminLogin = await browserLogin(server, user.email, user.password);
    expect(adminLogin.tokens).toBeUndefined();
    expect(adminLogin.page).toMatch(/totp|authenticator|otp/i);
    const withOtp = await browserLogin(server, user.email, user.password, { totp: {} });
    expect(realmRolesOf(withOtp.tokens!.access_token)).toContain(REALM_ROLES.tenantAdmin);
    expect(realmRolesOf(withOtp.tokens!.access_token)).not.toContain(REALM_ROLES.platformAdmin);
  });
});

describe("the operator console's client", () => {
  const operatorLogin = (user: RealmUser, totp?: { secret?: string; step?: number }) => browserLogin(server, user.email, user.password, { clientId: OPERATOR_CLIENT_ID, redirectUri: operatorRedirectUri(), totp });

  it("an operator signs in with OTP and gets platform-admin and the operator audience; the same operator's web token has aud api only", async () => {
    const operator = await createRegisteredUser(admin);
    await admin.call("POST", `${R}/users/${operator.id}/role-mappings/realm`, [await admin.get(`${R}/roles/${REALM_ROLES.platformAdmin}`)]);
    // platform-admin requires OTP: without an authenticator the login stops at its setup.
    expect((await operatorLogin(operator)).tokens).toBeUndefined();
    const totp: { secret?: string; step?: number } = {};
    const login = await operatorLogin(operator, totp);
    const token = login.tokens!.access_token;
    const { payload } = await jwtVerify(token, jwks(), { issuer: issuerOf(server), audience: OPERATOR_AUDIENCE });
    expect([payload.aud].flat()).toContain(OPERATOR_AUDIENCE);
    expect([payload.aud].flat()).not.toContain(API_AUDIENCE);
    expect(payload.azp).toBe(OPERATOR_CLIENT_ID);
    expect(realmRolesOf(token)).toContain(REALM_ROLES.platformAdmin);
    expect(realmRolesOf(token)).not.toContain(REALM_ROLES.tenantAdmin);

    // The web client: the API audience, not the operator's (its platform-admin opens no operator route).
    const web = await browserLogin(server, operator.email, operator.password, { totp });
    const webToken = web.tokens!.access_token;
    expect([claimsOf(webToken).aud].flat()).toEqual([API_AUDIENCE]);
    await expect(jwtVerify(webToken, jwks(), { issuer: issuerOf(server), audience: OPERATOR_AUDIENCE })).rejects.toThrow(/aud/);
  }, 120_000);

  it("a user without platform-admin gets no platform-admin from it, a tenant admin none of its own roles", async () => {
    const user = await createRegisteredUser(admin);
    const token = (await operatorLogin(user)).tokens!.access_token;
    expect(claimsOf(token).azp).toBe(OPERATOR_CLIENT_ID);
    expect(realmRolesOf(token)).toEqual([]);

    const tenantAdmin = await createRegisteredUser(admin);
    await adapter.grantRealmRole(tenantAdmin.id, REALM_ROLES.tenantAdmin);
    const roles = realmRolesOf((await operatorLogin(tenantAdmin, {})).tokens!.access_token);
    expect(roles).not.toContain(REALM_ROLES.platformAdmin);
    expect(roles).not.toContain(REALM_ROLES.tenantAdmin);
  });

  it("refuses a password grant and a redirect outside the operator console", async () => {
    const user = await createRegisteredUser(admin);
    const grant = await fetch(`${issuerOf(server)}/protocol/openid-connect/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "password", client_id: OPERATOR_CLIENT_ID, username: user.email, password: user.password }),
    });
    expect(grant.status).toBe(400);
    expect(((await grant.json()) as { error?: string }).error).toBe("unauthorized_client");
    const elsewhere = await browserLogin(server, user.email, user.password, { clientId: OPERATOR_CLIENT_ID, redirectUri: webRedirectUri() });
    expect(elsewhere.tokens).toBeUndefined();
    expect(elsewhere.page).toMatch(/redirect/i);
  });
});

describe("no tenant on a user", () => {
  it("the user profile declares the user name, e-mail and names only; an undeclared attribute an admin writes is not stored", async () => {
    const profile = await admin.get<{ attributes: { name: string }[]; unmanagedAttributePolicy?: string }>(`${R}/users/profile`);
    expect(profile.attributes.map((a) => a.name)).toEqual(["username", "email", "firstName", "lastName"]);
    expect(profile.unmanagedAttributePolicy).toBeUndefined();
    const user = await createRegisteredUser(admin);
    const read = await admin.get<Record<string, unknown>>(`${R}/users/${user.id}`);
    const put = await provisioning.call("PUT", `${R}/users/${user.id}`, { ...read, attributes: { [TENANT_CLAIM]: [TENANT], [PLAN_TIER_CLAIM]: ["free"] } });
    expect(put.status).toBe(204);
    expect((await admin.get<{ attributes?: Record<string, string[]> }>(`${R}/users/${user.id}`)).attributes ?? {}).toEqual({});
    expect(await holders(TENANT_CLAIM, TENANT)).not.toContain(user.id);
  });

  it("a user cannot set one on itself through the account API", async () => {
    const user = await createRegisteredUser(admin);
    const forged = "t-ffffffffffffffffffffffffffffffff";
    // The account console's client carries the account roles the account API checks.
    const login = await browserLogin(server, user.email, user.password, { clientId: "account-console", redirectUri: `${issuerOf(server)}/account/` });
    const token = login.tokens!.access_token;
    const account = `${issuerOf(server)}/account`;
    const me = (await (await fetch(account, { headers: { authorization: `Bearer ${token}`, accept: "application/json" } })).json()) as Record<string, unknown>;
    expect(me.email).toBe(user.email);
    const write = await fetch(account, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ ...me, attributes: { [TENANT_CLAIM]: [forged], [PLAN_TIER_CLAIM]: ["enterprise"] } }),
    });
    expect(write.status).toBeLessThan(500);
    const read = await admin.get<{ attributes?: Record<string, string[]> }>(`${R}/users/${user.id}`);
    expect(read.attributes ?? {}).toEqual({});
    expect(await holders(TENANT_CLAIM, forged)).toEqual([]);
    expect(await holders(PLAN_TIER_CLAIM, "enterprise")).not.toContain(user.id);
    const token2 = (await browserLogin(server, user.email, user.password)).tokens!.access_token;
    expect(claimsOf(token2)).not.toHaveProperty(TENANT_CLAIM);
  });
});

describe("the provisioning client", () => {
  it("does what the service needs: grants and revokes the tenant-admin role", async () => {
    const user = await createRegisteredUser(admin);
    const roles = async () => (await admin.get<{ name: string }[]>(`${R}/users/${user.id}/role-mappings/realm`)).map((r) => r.name);
    await adapter.grantRealmRole(user.id, REALM_ROLES.tenantAdmin);
    await adapter.grantRealmRole(user.id, REALM_ROLES.tenantAdmin);
    expect(await roles()).toContain(REALM_ROLES.tenantAdmin);
    await adapter.revokeRealmRole(user.id, REALM_ROLES.tenantAdmin);
    await adapter.revokeRealmRole(user.id, REALM_ROLES.tenantAdmin);
    expect(await roles()).not.toContain(REALM_ROLES.tenantAdmin);
  });

  it("is refused what the service does not need", async () => {
    const user = await createRegisteredUser(admin);
    const clients = await admin.get<{ id: string; clientId: string }[]>(`${R}/clients`);
    const idOf = (clientId: string) => clients.find((c) => c.clientId === clientId)?.id as string;
    const realmManagement = idOf(REALM_MANAGEMENT_CLIENT);
    const [self] = await admin.get<{ id: string }[]>(`${R}/users?username=service-account-${PROVISIONING_CLIENT_ID}&exact=true`);
    const manageClients = await admin.get<Record<string, unknown>>(`/${REALM_NAME}/clients/${realmManagement}/roles/manage-clients`);
    const realmAdmin = await admin.get<Record<string, unknown>>(`/${REALM_NAME}/clients/${realmManagement}/roles/realm-admin`);
    const profile = await admin.get<Record<string, unknown>>(`${R}/users/profile`);
    const refused: [string, string, string, unknown?][] = [
      ["create a realm", "POST", "", { realm: "stolen", enabled: true }],
      ["change the realm's settings", "PUT", R, { realm: REALM_NAME, organizationsEnabled: true }],
      ["change the user profile", "PUT", `${R}/users/profile`, { ...profile, unmanagedAttributePolicy: "ENABLED" }],
      ["create an organization", "POST", `${R}/organizations`, { name: "stolen", alias: "stolen" }],
      ["create a realm role", "POST", `${R}/roles`, { name: "backdoor" }],
      ["create a client scope", "POST", `${R}/client-scopes`, { name: "backdoor", protocol: "openid-connect" }],
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

/** The realm as data: users only, the audiences of its tokens, its clients, login security, and nothing per tenant. */
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, loadEnvironment } from "../../config/index.js";
import { OPERATOR_AUDIENCE } from "../../services/identity/names.js";
import {
  ADMIN_OTP_CONDITION,
  ADMIN_ROLES,
  API_AUDIENCE,
  API_CLIENT_SCOPE,
  BROWSER_FLOW,
  OPERATIONS_CLIENT_SCOPE,
  OPERATOR_CLIENT_ID,
  PLAN_TIER_CLAIM,
  PROVISIONING_CLIENT_ID,
  REALM_NAME,
  REALM_ROLES,
  realmConfig,
  RealmConfigError,
  TENANT_CLAIM,
  WEB_CLIENT_ID,
  type ClientRepresentation,
  type RealmRepresentation,
} from "../../services/keycloak-realm/index.js";

const client = (realm: RealmRepresentation, id: string): ClientRepresentation => {
  const c = realm.clients.find((x) => x.clientId === id);
  if (!c) throw new Error(`no client ${id}`);
  return c;
};

describe.each(ENVIRONMENT_NAMES)("%s realm", (env) => {
  const config = loadEnvironment(env);
  const realm = realmConfig(config);
  const scope = (name: string) => realm.clientScopes.find((s) => s.name === name);
  const scopeMappings = (clientId: string) => realm.scopeMappings.filter((m) => m.client === clientId).flatMap((m) => m.roles);

  it("is the one realm, with Organizations off", () => {
    expect(realm.realm).toBe(REALM_NAME);
    expect(realm.organizationsEnabled).toBe(false);
  });

  it.each([
    [API_CLIENT_SCOPE, API_AUDIENCE],
    [OPERATIONS_CLIENT_SCOPE, OPERATOR_AUDIENCE],
  ])("the %s scope puts only the audience %s into access tokens (not ID tokens)", (name, audience) => {
    expect(scope(name)?.protocolMappers).toEqual([
      {
        name: expect.any(String),
        protocol: "openid-connect",
        protocolMapper: "oidc-audience-mapper",
        config: { "included.custom.audience": audience, "access.token.claim": "true", "id.token.claim": "false", "introspection.token.claim": "true" },
      },
    ]);
  });

  it("keeps nothing about tenants on users: the user profile is the user name, e-mail and names", () => {
    expect(realm.userProfile.attributes.map((a) => a.name)).toEqual(["username", "email", "firstName", "lastName"]);
    expect(realm.userProfile.groups).toEqual([]);
    for (const s of realm.clientScopes) {
      for (const m of s.protocolMappers) expect(m.protocolMapper, `${s.name}/${m.name}`).not.toBe("oidc-usermodel-attribute-mapper");
    }
    // The tenant token's claims are the platform's: no Keycloak mapper, attribute or description names them.
    const text = JSON.stringify(realm);
    expect(text).not.toContain(`"${TENANT_CLAIM}"`);
    expect(text).not.toContain(`"${PLAN_TIER_CLAIM}"`);
    expect(text.replace('"organizationsEnabled":false', "")).not.toMatch(/organization/i);
  });

  it("gives the web app a public client: code flow with PKCE S256 only, exact https redirect and origin", () => {
    const web = client(realm, WEB_CLIENT_ID);
    const origin = `https://${config.domains.api}`;
    expect(web).toMatchObject({
      publicClient: true,
      standardFlowEnabled: true,
      implicitFlowEnabled: false,
      directAccessGrantsEnabled: false,
      serviceAccountsEnabled: false,
    });
    expect(web.attributes?.["pkce.code.challenge.method"]).toBe("S256");
    expect(web.redirectUris).toEqual([`${origin}/auth/callback`]);
    expect(web.webOrigins).toEqual([origin]);
    expect(web.attributes?.["post.logout.redirect.uris"]).toBe(`${origin}/`);
    for (const uri of [...(web.redirectUris ?? []), ...(web.webOrigins ?? []), web.attributes?.["post.logout.redirect.uris"] ?? ""]) {
      expect(uri.startsWith("https://")).toBe(true);
      expect(uri).not.toContain("*");
    }
    expect(web.secret).toBeUndefined();
    expect(web.fullScopeAllowed).toBe(false);
    expect(web.defaultClientScopes).toContain(API_CLIENT_SCOPE);
    expect(web.defaultClientScopes).not.toContain(OPERATIONS_CLIENT_SCOPE);
    // `email` carries email and email_verified, which invitations compare.
    expect(web.defaultClientScopes).toEqual(expect.arrayContaining(["basic", "email"]));
    // Of the user's roles, the admin roles only (platform-admin opens no operator route without the operator audience).
    expect(scopeMappings(WEB_CLIENT_ID)).toEqual([...ADMIN_ROLES]);
  });

  it("gives the operator console a public client: code flow with PKCE S256 only, platform-admin and the operator audience only", () => {
    const operator = client(realm, OPERATOR_CLIENT_ID);
    const origin = `https://${config.domains.api}`;
    expect(operator).toMatchObject({
      publicClient: true,
      standardFlowEnabled: true,
      implicitFlowEnabled: false,
      directAccessGrantsEnabled: false,
      serviceAccountsEnabled: false,
      fullScopeAllowed: false,
    });
    expect(operator.secret).toBeUndefined();
    expect(operator.attributes?.["pkce.code.challenge.method"]).toBe("S256");
    expect(operator.attributes?.["oauth2.device.authorization.grant.enabled"]).toBe("false");
    expect(operator.attributes?.["standard.token.exchange.enabled"]).toBe("false");
    expect(operator.redirectUris).toEqual([`${origin}/operator/callback`]);
    expect(operator.webOrigins).toEqual([origin]);
    expect(operator.defaultClientScopes).toContain(OPERATIONS_CLIENT_SCOPE);
    expect(operator.defaultClientScopes).not.toContain(API_CLIENT_SCOPE);
    expect(operator.optionalClientScopes).toEqual([]);
    expect(scopeMappings(OPERATOR_CLIENT_ID)).toEqual([REALM_ROLES.platformAdmin]);
  });

  it("gives the provisioning service a confidential service-account client with exactly manage-users", () => {
    const prov = client(realm, PROVISIONING_CLIENT_ID);
    expect(prov).toMatchObject({
      publicClient: false,
      serviceAccountsEnabled: true,
      standardFlowEnabled: false,
      implicitFlowEnabled: false,
      directAccessGrantsEnabled: false,
      redirectUris: [],
    });
    // The secret is a keycloak-config-cli variable, filled from a Kubernetes Secret at import.
    expect(prov.secret).toBe("$(env:PROVISIONING_CLIENT_SECRET)");
    expect(realm.users).toEqual([
      {
        username: `service-account-${PROVISIONING_CLIENT_ID}`,
        enabled: true,
        serviceAccountClientId: PROVISIONING_CLIENT_ID,
        clientRoles: { "realm-management": ["manage-users"] },
      },
    ]);
  });

  it("no client allows the implicit flow or a password grant", () => {
    for (const c of realm.clients) {
      expect(c.implicitFlowEnabled ?? false, c.clientId).toBe(false);
      expect(c.directAccessGrantsEnabled, c.clientId).toBe(false);
    }
  });

  it("lets users register, verifies their e-mail, protects against brute force and enforces a password policy", () => {
    expect(realm).toMatchObject({ registrationAllowed: true, verifyEmail: true, duplicateEmailsAllowed: false, bruteForceProtected: true, permanentLockout: false });
    expect(realm.failureFactor).toBeLessThanOrEqual(10);
    expect(realm.passwordPolicy).toMatch(/length\((1[2-9]|[2-9]\d)\)/);
    expect(realm.passwordPolicy).toContain("notUsername");
    expect(realm.smtpServer).toMatchObject({ starttls: "true", auth: "true", password: "$(env:SMTP_PASSWORD)" });
  });

  it("keeps access tokens short-lived and refresh tokens single-use", () => {
    expect(realm.accessTokenLifespan).toBeLessThanOrEqual(300);
    expect(realm).toMatchObject({ revokeRefreshToken: true, refreshTokenMaxReuse: 0 });
  });

  it("requires OTP at browser login for every admin role", () => {
    expect(realm.browserFlow).toBe(BROWSER_FLOW);
    const flows = new Map(realm.authenticationFlows.map((f) => [f.alias, f]));
    const top = flows.get(BROWSER_FLOW);
    expect(top?.topLevel).toBe(true);
    const forms = flows.get(top?.authenticationExecutions.find((e) => e.flowAlias)?.flowAlias ?? "");
    expect(forms?.authenticationExecutions[0]).toMatchObject({ authenticator: "auth-username-password-form", requirement: "REQUIRED" });
    const otpStep = forms?.authenticationExecutions.find((e) => e.flowAlias);
    expect(otpStep?.requirement).toBe("CONDITIONAL");
    const otp = flows.get(otpStep?.flowAlias ?? "");
    expect(otp?.authenticationExecutions.map((e) => [e.authenticator, e.requirement, e.authenticatorConfig])).toEqual([
      ["conditional-user-role", "REQUIRED", ADMIN_OTP_CONDITION],
      ["auth-otp-form", "REQUIRED", undefined],
    ]);
    expect(realm.authenticatorConfig).toEqual([{ alias: ADMIN_OTP_CONDITION, config: { condUserRole: REALM_ROLES.mfaRequired, negate: "false" } }]);
    for (const role of ADMIN_ROLES) {
      expect(realm.roles.realm.find((r) => r.name === role)?.composites?.realm).toContain(REALM_ROLES.mfaRequired);
    }
  });

  it("creates nothing per tenant: no organizations, groups or per-tenant clients, roles or scopes", () => {
    const json = realm as unknown as Record<string, unknown>;
    expect(json.organizations).toBeUndefined();
    expect(json.groups).toBeUndefined();
    expect(json.identityProviders).toBeUndefined();
    expect(realm.clients.map((c) => c.clientId).sort()).toEqual(["admin-cli", OPERATOR_CLIENT_ID, PROVISIONING_CLIENT_ID, WEB_CLIENT_ID].sort());
    expect(realm.roles.realm.map((r) => r.name).sort()).toEqual([...ADMIN_ROLES, REALM_ROLES.mfaRequired].sort());
    expect(realm.clientScopes.map((s) => s.name)).toEqual([API_CLIENT_SCOPE, OPERATIONS_CLIENT_SCOPE]);
  });

  it("describes tenant-admin as a role of the user (administers at least one tenant), not of a tenant", () => {
    const tenantAdmin = realm.roles.realm.find((r) => r.name === REALM_ROLES.tenantAdmin);
    expect(tenantAdmin?.description).toMatch(/at least one tenant/);
    expect(tenantAdmin?.composites?.realm).toEqual([REALM_ROLES.mfaRequired]);
  });

  it("holds no Terraform interpolation and no secret literal", () => {
    const text = JSON.stringify(realm);
    expect(text).not.toMatch(/[$%]\{/);
    expect(realm.smtpServer.user).toBe("$(env:SMTP_USERNAME)");
  });
});

describe("realmConfig options", () => {
  const config = loadEnvironment("prod");

  it("derives every web URI from webAppOrigin", () => {
    const realm = realmConfig(config, { webAppOrigin: "https://app.example.com" });
    expect(client(realm, WEB_CLIENT_ID).redirectUris).toEqual(["https://app.example.com/auth/callback"]);
    expect(client(realm, OPERATOR_CLIENT_ID).redirectUris).toEqual(["https://app.example.com/operator/callback"]);
    expect(client(realm, OPERATOR_CLIENT_ID).webOrigins).toEqual(["https://app.example.com"]);
  });

  it.each(["http://app.example.com", "http://10.0.0.5:8080", "http://127.0.0.1.example.com", "https://*.example.com", "https://app.example.com/path", "http://127.0.0.1:8080/path", "app.example.com"])("rejects the web origin %s", (origin) => {
    expect(() => realmConfig(config, { webAppOrigin: origin })).toThrow(RealmConfigError);
  });

  it("accepts plain http only for a loopback origin (the local platform's console), and names the rule when refusing", () => {
    for (const origin of ["http://127.0.0.1:5173", "http://localhost:8080", "http://[::1]:3000"]) {
      expect(client(realmConfig(config, { webAppOrigin: origin }), WEB_CLIENT_ID).redirectUris).toEqual([`${origin}/auth/callback`]);
    }
    expect(() => realmConfig(config, { webAppOrigin: "http://app.example.com" })).toThrow(/plain http only on a loopback address/);
  });

  it("rejects a long-lived access token, naming the option", () => {
    expect(() => realmConfig(config, { accessTokenLifespanSeconds: 3_600 })).toThrow(/accessTokenLifespanSeconds = 3600/);
  });
});

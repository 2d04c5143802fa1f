/** The realm as data: claims the gateway reads, clients, login security, and nothing per tenant. */
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, loadEnvironment, PLAN_TIER_NAMES, TENANT_ID_PATTERN } from "../../config/index.js";
import {
  ADMIN_OTP_CONDITION,
  ADMIN_ROLES,
  API_AUDIENCE,
  BROWSER_FLOW,
  PLAN_TIER_CLAIM,
  PROVISIONING_CLIENT_ID,
  REALM_NAME,
  REALM_ROLES,
  realmConfig,
  RealmConfigError,
  TENANT_CLAIM,
  TENANT_CLIENT_SCOPE,
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
  const scope = realm.clientScopes.find((s) => s.name === TENANT_CLIENT_SCOPE);
  const mapper = (claim: string) => scope?.protocolMappers.find((m) => m.config["claim.name"] === claim);

  it("is the one realm, with Organizations on", () => {
    expect(realm.realm).toBe(REALM_NAME);
    expect(realm.organizationsEnabled).toBe(true);
  });

  it.each([TENANT_CLAIM, PLAN_TIER_CLAIM])("maps the user attribute %s to a top-level access-token claim", (claim) => {
    expect(mapper(claim)).toEqual({
      name: claim,
      protocol: "openid-connect",
      protocolMapper: "oidc-usermodel-attribute-mapper",
      config: expect.objectContaining({
        "user.attribute": claim,
        "claim.name": claim,
        "jsonType.label": "String",
        multivalued: "false",
        "access.token.claim": "true",
      }),
    });
    // A dotted claim name would be nested by Keycloak.
    expect(mapper(claim)?.config["claim.name"]).not.toContain(".");
  });

  it("puts the api audience into access tokens (not ID tokens)", () => {
    const audience = scope?.protocolMappers.find((m) => m.protocolMapper === "oidc-audience-mapper");
    expect(audience?.config).toMatchObject({ "included.custom.audience": API_AUDIENCE, "access.token.claim": "true", "id.token.claim": "false" });
  });

  it("lets only admins see or set tenant_id and plan_tier, and validates them", () => {
    const attrs = realm.userProfile.attributes;
    const tenant = attrs.find((a) => a.name === TENANT_CLAIM);
    const tier = attrs.find((a) => a.name === PLAN_TIER_CLAIM);
    for (const a of [tenant, tier]) expect(a?.permissions).toEqual({ view: ["admin"], edit: ["admin"] });
    expect(tenant?.validations).toEqual({ pattern: expect.objectContaining({ pattern: TENANT_ID_PATTERN.source }) });
    expect(tier?.validations).toEqual({ options: { options: [...PLAN_TIER_NAMES] } });
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
    expect(web.defaultClientScopes).toContain(TENANT_CLIENT_SCOPE);
    expect(web.defaultClientScopes).toContain("basic");
  });

  it("gives the provisioning service a confidential service-account client with exactly manage-users and manage-realm", () => {
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
        clientRoles: { "realm-management": ["manage-realm", "manage-users"] },
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
    expect(realm.clients.map((c) => c.clientId).sort()).toEqual(["admin-cli", PROVISIONING_CLIENT_ID, WEB_CLIENT_ID].sort());
    expect(realm.roles.realm.map((r) => r.name).sort()).toEqual([...ADMIN_ROLES, REALM_ROLES.mfaRequired].sort());
    expect(realm.clientScopes.map((s) => s.name)).toEqual([TENANT_CLIENT_SCOPE]);
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
  });

  it.each(["http://app.example.com", "https://*.example.com", "https://app.example.com/path", "app.example.com"])("rejects the web origin %s", (origin) => {
    expect(() => realmConfig(config, { webAppOrigin: origin })).toThrow(RealmConfigError);
  });

  it("rejects a long-lived access token, naming the option", () => {
    expect(() => realmConfig(config, { accessTokenLifespanSeconds: 3_600 })).toThrow(/accessTokenLifespanSeconds = 3600/);
  });
});

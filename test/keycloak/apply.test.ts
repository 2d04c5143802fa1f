/**
 * applyRealm (services/keycloak-realm/apply.ts) on the run's real Keycloak, in realms of their own
 * (the shared `enchanted` realm stays as the global setup applied it): it creates the realm, a
 * repeat changes nothing that matters, it repairs drift the way a re-run of the Job must, and it
 * converges a realm of the time tenants lived in Keycloak (Organizations, `tenant_id` and
 * `plan_tier` on users, the `enchanted-tenant` scope) to the realm of users only.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadEnvironment, PLAN_TIER_NAMES } from "../../config/index.js";
import { applyRealm, RealmApplyError } from "../../services/keycloak-realm/apply.js";
import {
  API_AUDIENCE,
  API_CLIENT_SCOPE,
  OPERATIONS_CLIENT_SCOPE,
  OPERATOR_CLIENT_ID,
  PLAN_TIER_CLAIM,
  PROVISIONING_CLIENT_ID,
  REALM_MANAGEMENT_CLIENT,
  REALM_APPLY_ENV,
  REALM_ROLES,
  REALM_VARIABLES,
  TENANT_CLAIM,
  WEB_CLIENT_ID,
} from "../../services/keycloak-realm/names.js";
import { PASSWORD_POLICY, realmConfig, realmDocument, type ClientScopeRepresentation, type RealmRepresentation } from "../../services/keycloak-realm/realm.js";
import { realmJobEnvironment } from "../support/keycloak-process.js";
import { AdminClient, browserLogin, claimsOf, KEYCLOAK_WAIT_MS, keycloakServer, type KeycloakTestServer } from "../support/keycloak.js";

const NAME = "enchanted-apply-test";
const R = `/${NAME}`;
const realm = { ...realmConfig(loadEnvironment("dev")), realm: NAME };
let server: KeycloakTestServer;
let admin: AdminClient;
const apply = (variables = server.variables, rep: RealmRepresentation = realm) =>
  applyRealm(rep, { url: server.url, clientId: server.adminClientId, clientSecret: server.adminClientSecret, variables });

interface Execution {
  id: string;
  level: number;
  requirement: string;
  providerId?: string;
  displayName?: string;
}

beforeAll(async () => {
  server = await keycloakServer();
  admin = AdminClient.bootstrap(server);
}, KEYCLOAK_WAIT_MS);

describe("applyRealm", () => {
  it("refuses an undefined variable before writing anything", async () => {
    const { [REALM_VARIABLES.smtpPassword]: _left, ...partial } = server.variables;
    await expect(apply(partial)).rejects.toThrow(RealmApplyError);
    await expect(apply(partial)).rejects.toThrow(/SMTP_PASSWORD/);
    expect((await admin.call("GET", R)).status).toBe(404);
  });

  it("creates the realm, and a repeat rebuilds nothing", async () => {
    const first = await apply();
    expect(first).toMatchObject({ realmCreated: true, flowsRebuilt: ["browser-admin-otp"] });
    const settings = await admin.get<Record<string, unknown>>(R);
    expect(settings).toMatchObject({ passwordPolicy: PASSWORD_POLICY, browserFlow: "browser-admin-otp", organizationsEnabled: false, bruteForceProtected: true, registrationAllowed: true, verifyEmail: true });
    const second = await apply();
    expect(second).toMatchObject({ realmCreated: false, flowsRebuilt: [], retired: { organizations: 0, users: 0, clientScopes: [] } });
    expect(second.writes).toBeLessThan(first.writes);
  });

  it("repairs drift: a removed mapper, a changed flow, a lost and an extra admin role, a re-enabled password grant, extra scope mappings, a shrunk user profile", async () => {
    const clients = await admin.get<{ id: string; clientId: string }[]>(`${R}/clients`);
    const idOf = (clientId: string) => clients.find((c) => c.clientId === clientId)?.id as string;
    const scopes = await admin.get<{ id: string; name: string }[]>(`${R}/client-scopes`);
    const scopeId = scopes.find((s) => s.name === API_CLIENT_SCOPE)?.id as string;
    const mappers = await admin.get<{ id: string; name: string }[]>(`${R}/client-scopes/${scopeId}/protocol-mappers/models`);
    await admin.call("DELETE", `${R}/client-scopes/${scopeId}/protocol-mappers/models/${mappers.find((m) => m.name === "api-audience")?.id}`);
    const executions = await admin.get<Execution[]>(`${R}/authentication/flows/browser-admin-otp/executions`);
    const otp = executions.find((e) => e.providerId === "auth-otp-form") as Execution;
    await admin.call("PUT", `${R}/authentication/flows/browser-admin-otp/executions`, { ...otp, requirement: "DISABLED" });
    const account = await admin.get<{ id: string }>(`${R}/clients/${idOf(PROVISIONING_CLIENT_ID)}/service-account-user`);
    const realmRole = (name: string) => admin.get<Record<string, unknown>>(`${R}/clients/${idOf(REALM_MANAGEMENT_CLIENT)}/roles/${name}`);
    await admin.call("DELETE", `${R}/users/${account.id}/role-mappings/clients/${idOf(REALM_MANAGEMENT_CLIENT)}`, [await realmRole("manage-users")]);
    await admin.call("POST", `${R}/users/${account.id}/role-mappings/clients/${idOf(REALM_MANAGEMENT_CLIENT)}`, [await realmRole("manage-realm")]);
    const adminCli = await admin.get<Record<string, unknown>>(`${R}/clients/${idOf("admin-cli")}`);
    await admin.call("PUT", `${R}/clients/${idOf("admin-cli")}`, { ...adminCli, directAccessGrantsEnabled: true });
    await admin.call("DELETE", `${R}/clients/${idOf(WEB_CLIENT_ID)}/default-client-scopes/${scopeId}`);
    const role = (name: string) => admin.get<Record<string, unknown>>(`${R}/roles/${name}`);
    await admin.call("POST", `${R}/clients/${idOf(WEB_CLIENT_ID)}/scope-mappings/realm`, [await role(REALM_ROLES.mfaRequired)]);
    await admin.call("POST", `${R}/clients/${idOf(OPERATOR_CLIENT_ID)}/scope-mappings/realm`, [await role(REALM_ROLES.tenantAdmin)]);
    const profile = await admin.get<{ attributes: { name: string }[] }>(`${R}/users/profile`);
    await admin.call("PUT", `${R}/users/profile`, { ...profile, attributes: profile.attributes.filter((a) => a.name !== "lastName") });

    const report = await apply();
    expect(report.flowsRebuilt).toEqual(["browser-admin-otp"]);

    const mappersAfter = await admin.get<{ name: string }[]>(`${R}/client-scopes/${scopeId}/protocol-mappers/models`);
    expect(mappersAfter.map((m) => m.name)).toEqual(["api-audience"]);
    const flow = await admin.get<Execution[]>(`${R}/authentication/flows/browser-admin-otp/executions`);
    expect(flow.map((e) => `${e.level} ${e.requirement} ${e.providerId ?? e.displayName}`)).toEqual([
      "0 ALTERNATIVE auth-cookie",
      "0 ALTERNATIVE identity-provider-redirector",
      "0 ALTERNATIVE browser-admin-otp forms",
      "1 REQUIRED auth-username-password-form",
      "1 CONDITIONAL browser-admin-otp admin otp",
      "2 REQUIRED conditional-user-role",
      "2 REQUIRED auth-otp-form",
    ]);
    const condition = flow.find((e) => e.providerId === "conditional-user-role") as Execution & { authenticationConfig?: string };
    expect((await admin.get<{ config: Record<string, string> }>(`${R}/authentication/config/${condition.authenticationConfig}`)).config).toMatchObject({ condUserRole: "mfa-required" });
    expect((await admin.get<Record<string, unknown>>(R)).browserFlow).toBe("browser-admin-otp");
    const roles = await admin.get<{ name: string }[]>(`${R}/users/${account.id}/role-mappings/clients/${idOf(REALM_MANAGEMENT_CLIENT)}`);
    expect(roles.map((r) => r.name)).toEqual(["manage-users"]);
    expect((await admin.get<Record<string, unknown>>(`${R}/clients/${idOf("admin-cli")}`)).directAccessGrantsEnabled).toBe(false);
    const webScopes = await admin.get<{ name: string }[]>(`${R}/clients/${idOf(WEB_CLIENT_ID)}/default-client-scopes`);
    expect(webScopes.map((s) => s.name)).toContain(API_CLIENT_SCOPE);
    const mapped = async (clientId: string) => (await admin.get<{ name: string }[]>(`${R}/clients/${idOf(clientId)}/scope-mappings/realm`)).map((r) => r.name);
    expect((await mapped(WEB_CLIENT_ID)).sort()).toEqual([REALM_ROLES.platformAdmin, REALM_ROLES.tenantAdmin]);
    expect(await mapped(OPERATOR_CLIENT_ID)).toEqual([REALM_ROLES.platformAdmin]);
    const profileAfter = await admin.get<{ attributes: { name: string }[] }>(`${R}/users/profile`);
    expect(profileAfter.attributes.map((a) => a.name)).toEqual(["username", "email", "firstName", "lastName"]);

    // The provisioning client signs in with the substituted secret.
    const token = await fetch(`${server.url}/realms/${NAME}/protocol/openid-connect/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: PROVISIONING_CLIENT_ID, client_secret: server.variables[REALM_VARIABLES.provisioningClientSecret] as string }),
    });
    expect(token.status).toBe(200);
    await admin.call("DELETE", R);
  });
});

/**
 * The realm as it was while tenants lived in Keycloak (before issue 15), rebuilt from today's:
 * Organizations on, the `enchanted-tenant` scope mapping the user attributes `tenant_id` and
 * `plan_tier` into tokens (the web client's default scope), both attributes in the user profile
 * (admin-only, group "tenancy"), platform-admin in the web client's tokens, and the provisioning
 * service account with `manage-realm` besides `manage-users`.
 */
function legacyRealm(now: RealmRepresentation): RealmRepresentation {
  const attributeClaim = (name: string) => ({
    name,
    protocol: "openid-connect" as const,
    protocolMapper: "oidc-usermodel-attribute-mapper",
    config: { "user.attribute": name, "claim.name": name, "jsonType.label": "String", multivalued: "false", "access.token.claim": "true", "id.token.claim": "true", "userinfo.token.claim": "true" },
  });
  const apiScope = now.clientScopes.find((s) => s.name === API_CLIENT_SCOPE) as ClientScopeRepresentation;
  const tenantScope: ClientScopeRepresentation = { ...apiScope, name: "enchanted-tenant", description: "Tenant and plan tier of the user, and the API audience", protocolMappers: [attributeClaim(TENANT_CLAIM), attributeClaim(PLAN_TIER_CLAIM), ...apiScope.protocolMappers] };
  const adminOnly = { view: ["admin"], edit: ["admin"] };
  return {
    ...now,
    organizationsEnabled: true,
    clientScopes: [tenantScope],
    clients: now.clients
      .filter((c) => c.clientId !== OPERATOR_CLIENT_ID)
      .map((c) => (c.clientId === WEB_CLIENT_ID ? { ...c, defaultClientScopes: [...(c.defaultClientScopes ?? []).filter((n) => n !== API_CLIENT_SCOPE), tenantScope.name] } : c)),
    scopeMappings: [{ client: WEB_CLIENT_ID, roles: [REALM_ROLES.platformAdmin, REALM_ROLES.tenantAdmin] }],
    users: now.users.map((u) => ({ ...u, clientRoles: { [REALM_MANAGEMENT_CLIENT]: ["manage-realm", "manage-users"] } })),
    userProfile: {
      attributes: [
        ...now.userProfile.attributes,
        { name: TENANT_CLAIM, displayName: "Tenant", group: "tenancy", multivalued: false, validations: {}, permissions: adminOnly },
        { name: PLAN_TIER_CLAIM, displayName: "Plan tier", group: "tenancy", multivalued: false, validations: { options: { options: [...PLAN_TIER_NAMES] } }, permissions: adminOnly },
      ],
      groups: [{ name: "tenancy", displayHeader: "Tenancy", displayDescription: "Set by the provisioning service; read by the API gateway" }],
    },
  };
}

describe("applyRealm on a realm of the time tenants lived in Keycloak", () => {
  const LEGACY = "enchanted-legacy-test";
  const L = `/${LEGACY}`;
  const now = { ...realmConfig(loadEnvironment("dev")), realm: LEGACY };
  const password = "a long enough passphrase";
  const users: { id: string; email: string }[] = [];

  it("converges it to users only: Organizations deleted and off, the tenant attributes gone from every user, the old scope deleted", async () => {
    const created = await apply(server.variables, legacyRealm(now));
    expect(created.realmCreated).toBe(true);
    // What the old provisioning service left: members with tenant attributes, one Organization per tenant.
    for (let i = 0; i < 3; i++) {
      const email = `legacy-${i}@example.com`;
      const user = await admin.call("POST", `${L}/users`, {
        username: email,
        email,
        emailVerified: true,
        enabled: true,
        attributes: { [TENANT_CLAIM]: [`t-legacy-${i}`], [PLAN_TIER_CLAIM]: ["pro"] },
        credentials: [{ type: "password", value: password, temporary: false }],
      });
      expect(user.status).toBe(201);
      users.push({ id: (user.location ?? "").split("/").pop() as string, email });
      const org = await admin.call("POST", `${L}/organizations`, { name: `legacy-${i}`, alias: `legacy-${i}`, enabled: true, attributes: { [TENANT_CLAIM]: [`t-legacy-${i}`], [PLAN_TIER_CLAIM]: ["pro"] }, domains: [] });
      expect(org.status).toBe(201);
      expect((await admin.call("POST", `${L}/organizations/${(org.location ?? "").split("/").pop()}/members`, users[i]!.id)).status).toBe(201);
    }
    const before = await browserLogin(server, users[0]!.email, password, { realm: LEGACY });
    expect(claimsOf(before.tokens!.access_token)).toMatchObject({ [TENANT_CLAIM]: "t-legacy-0", [PLAN_TIER_CLAIM]: "pro" });

    const report = await apply(server.variables, now);
    expect(report.retired).toEqual({ organizations: 3, users: 3, clientScopes: ["enchanted-tenant"] });

    expect((await admin.get<Record<string, unknown>>(L)).organizationsEnabled).toBe(false);
    const scopes = (await admin.get<{ name: string }[]>(`${L}/client-scopes`)).map((s) => s.name);
    expect(scopes.filter((n) => n.startsWith("enchanted-")).sort()).toEqual([API_CLIENT_SCOPE, OPERATIONS_CLIENT_SCOPE]);
    const profile = await admin.get<{ attributes: { name: string }[]; groups?: { name: string }[] }>(`${L}/users/profile`);
    expect(profile.attributes.map((a) => a.name)).toEqual(["username", "email", "firstName", "lastName"]);
    expect((profile.groups ?? []).map((g) => g.name)).not.toContain("tenancy");
    // Keycloak keeps the stored values of an undeclared attribute, and its search still finds them: none is left.
    for (let i = 0; i < 3; i++) expect(await admin.get<unknown[]>(`${L}/users?q=${TENANT_CLAIM}:t-legacy-${i}`)).toEqual([]);
    expect(await admin.get<unknown[]>(`${L}/users?q=${PLAN_TIER_CLAIM}:pro`)).toEqual([]);
    const clients = await admin.get<{ id: string; clientId: string }[]>(`${L}/clients`);
    const idOf = (clientId: string) => clients.find((c) => c.clientId === clientId)?.id as string;
    expect((await admin.get<{ name: string }[]>(`${L}/clients/${idOf(OPERATOR_CLIENT_ID)}/scope-mappings/realm`)).map((r) => r.name)).toEqual([REALM_ROLES.platformAdmin]);
    const account = await admin.get<{ id: string }>(`${L}/clients/${idOf(PROVISIONING_CLIENT_ID)}/service-account-user`);
    expect((await admin.get<{ name: string }[]>(`${L}/users/${account.id}/role-mappings/clients/${idOf(REALM_MANAGEMENT_CLIENT)}`)).map((r) => r.name)).toEqual(["manage-users"]);

    // The same user's next token: the API audience, no tenant.
    const after = await browserLogin(server, users[0]!.email, password, { realm: LEGACY });
    const claims = claimsOf(after.tokens!.access_token);
    expect(claims.aud).toBe(API_AUDIENCE);
    expect(claims).not.toHaveProperty(TENANT_CLAIM);
    expect(claims).not.toHaveProperty(PLAN_TIER_CLAIM);

    // Converged: a repeat retires nothing.
    expect((await apply(server.variables, now)).retired).toEqual({ organizations: 0, users: 0, clientScopes: [] });
    // Not merely hidden: with the feature back on (this realm only), no Organization is left.
    await admin.call("PUT", L, { realm: LEGACY, organizationsEnabled: true });
    expect((await admin.get<number>(`${L}/organizations/count`))).toBe(0);
    await admin.call("DELETE", L);
  }, 120_000);
});

describe("the realm Job's program (services/keycloak-realm/apply-main.ts)", () => {
  const JOB_REALM = "enchanted-job-test";
  const run = (env: Record<string, string>) =>
    new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", "services/keycloak-realm/apply-main.ts"], {
        cwd: new URL("../..", import.meta.url),
        env: { PATH: process.env["PATH"] ?? "", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (d: Buffer) => (output += d.toString()));
      child.stderr.on("data", (d: Buffer) => (output += d.toString()));
      child.on("close", (code) => resolve({ code, output }));
    });
  const jobEnv = (file: string, overrides: Record<string, string> = {}) => ({ ...realmJobEnvironment(server, file, "10"), ...overrides });
  let file: string;

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), "realm-job-"));
    file = join(dir, "realm.json");
    writeFileSync(file, realmDocument({ ...realmConfig(loadEnvironment("dev")), realm: JOB_REALM }));
  });

  it("applies the realm file as a process with the Job's environment, and exits 0", async () => {
    const result = await run(jobEnv(file));
    expect(result.output).toMatch(/realm apply: done \(created/);
    expect(result.code).toBe(0);
    expect((await admin.call("GET", `/${JOB_REALM}`)).status).toBe(200);
    await admin.call("DELETE", `/${JOB_REALM}`);
  }, 120_000);

  it("exits 1 naming the refusal when the admin client's secret is wrong, and 2 naming a missing variable", async () => {
    const refused = await run(jobEnv(file, { [REALM_APPLY_ENV.clientSecret]: "not-the-secret" }));
    expect(refused.code).toBe(1);
    expect(refused.output).toMatch(/realm apply: .*(401|unauthorized|invalid_client)/i);
    expect((await admin.call("GET", `/${JOB_REALM}`)).status).toBe(404);
    const { [REALM_APPLY_ENV.url]: _url, ...noUrl } = jobEnv(file);
    const missing = await run(noUrl);
    expect(missing.code).toBe(2);
    expect(missing.output).toMatch(/KEYCLOAK_URL is not set\. Fix:/);
  }, 120_000);
});

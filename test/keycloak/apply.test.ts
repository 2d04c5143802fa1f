/**
 * applyRealm (services/keycloak-realm/apply.ts) on the run's real Keycloak, in a realm of its own
 * (the shared `enchanted` realm stays as the global setup applied it): it creates the realm, a
 * repeat changes nothing that matters, and it repairs drift the way a re-run of the Job must.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadEnvironment } from "../../config/index.js";
import { applyRealm, RealmApplyError } from "../../services/keycloak-realm/apply.js";
import {
  PLAN_TIER_ATTRIBUTE,
  PROVISIONING_CLIENT_ID,
  REALM_MANAGEMENT_CLIENT,
  REALM_APPLY_ENV,
  REALM_VARIABLES,
  TENANT_ATTRIBUTE,
  TENANT_CLAIM,
  TENANT_CLIENT_SCOPE,
  WEB_CLIENT_ID,
} from "../../services/keycloak-realm/names.js";
import { PASSWORD_POLICY, realmConfig, realmDocument } from "../../services/keycloak-realm/realm.js";
import { realmJobEnvironment } from "../support/keycloak-process.js";
import { AdminClient, KEYCLOAK_WAIT_MS, keycloakServer, type KeycloakTestServer } from "../support/keycloak.js";

const NAME = "enchanted-apply-test";
const R = `/${NAME}`;
const realm = { ...realmConfig(loadEnvironment("dev")), realm: NAME };
let server: KeycloakTestServer;
let admin: AdminClient;
const apply = (variables = server.variables) => applyRealm(realm, { url: server.url, clientId: server.adminClientId, clientSecret: server.adminClientSecret, variables });

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
    expect(settings).toMatchObject({ passwordPolicy: PASSWORD_POLICY, browserFlow: "browser-admin-otp", organizationsEnabled: true, bruteForceProtected: true, registrationAllowed: true, verifyEmail: true });
    const second = await apply();
    expect(second).toMatchObject({ realmCreated: false, flowsRebuilt: [] });
    expect(second.writes).toBeLessThan(first.writes);
  });

  it("repairs drift: a removed mapper, a changed flow, a lost admin role, a re-enabled password grant, a shrunk user profile", async () => {
    const clients = await admin.get<{ id: string; clientId: string }[]>(`${R}/clients`);
    const idOf = (clientId: string) => clients.find((c) => c.clientId === clientId)?.id as string;
    const scopes = await admin.get<{ id: string; name: string }[]>(`${R}/client-scopes`);
    const scopeId = scopes.find((s) => s.name === TENANT_CLIENT_SCOPE)?.id as string;
    const mappers = await admin.get<{ id: string; name: string }[]>(`${R}/client-scopes/${scopeId}/protocol-mappers/models`);
    await admin.call("DELETE", `${R}/client-scopes/${scopeId}/protocol-mappers/models/${mappers.find((m) => m.name === TENANT_CLAIM)?.id}`);
    const executions = await admin.get<Execution[]>(`${R}/authentication/flows/browser-admin-otp/executions`);
    const otp = executions.find((e) => e.providerId === "auth-otp-form") as Execution;
    await admin.call("PUT", `${R}/authentication/flows/browser-admin-otp/executions`, { ...otp, requirement: "DISABLED" });
    const account = await admin.get<{ id: string }>(`${R}/clients/${idOf(PROVISIONING_CLIENT_ID)}/service-account-user`);
    const manageUsers = await admin.get<Record<string, unknown>>(`${R}/clients/${idOf(REALM_MANAGEMENT_CLIENT)}/roles/manage-users`);
    await admin.call("DELETE", `${R}/users/${account.id}/role-mappings/clients/${idOf(REALM_MANAGEMENT_CLIENT)}`, [manageUsers]);
    const adminCli = await admin.get<Record<string, unknown>>(`${R}/clients/${idOf("admin-cli")}`);
    await admin.call("PUT", `${R}/clients/${idOf("admin-cli")}`, { ...adminCli, directAccessGrantsEnabled: true });
    await admin.call("DELETE", `${R}/clients/${idOf(WEB_CLIENT_ID)}/default-client-scopes/${scopeId}`);
    const profile = await admin.get<{ attributes: { name: string }[] }>(`${R}/users/profile`);
    await admin.call("PUT", `${R}/users/profile`, { ...profile, attributes: profile.attributes.filter((a) => a.name !== PLAN_TIER_ATTRIBUTE) });

    const report = await apply();
    expect(report.flowsRebuilt).toEqual(["browser-admin-otp"]);

    const mappersAfter = await admin.get<{ name: string }[]>(`${R}/client-scopes/${scopeId}/protocol-mappers/models`);
    expect(mappersAfter.map((m) => m.name).sort()).toEqual(["api-audience", "plan_tier", "tenant_id"]);
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
    expect(roles.map((r) => r.name).sort()).toEqual(["manage-realm", "manage-users"]);
    expect((await admin.get<Record<string, unknown>>(`${R}/clients/${idOf("admin-cli")}`)).directAccessGrantsEnabled).toBe(false);
    const webScopes = await admin.get<{ name: string }[]>(`${R}/clients/${idOf(WEB_CLIENT_ID)}/default-client-scopes`);
    expect(webScopes.map((s) => s.name)).toContain(TENANT_CLIENT_SCOPE);
    const profileAfter = await admin.get<{ attributes: { name: string }[] }>(`${R}/users/profile`);
    expect(profileAfter.attributes.map((a) => a.name)).toEqual(expect.arrayContaining([TENANT_ATTRIBUTE, PLAN_TIER_ATTRIBUTE]));

    // The provisioning client signs in with the substituted secret.
    const token = await fetch(`${server.url}/realms/${NAME}/protocol/openid-connect/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: PROVISIONING_CLIENT_ID, client_secret: server.variables[REALM_VARIABLES.provisioningClientSecret] as string }),
    });
    expect(token.status).toBe(200);
    await admin.call("DELETE", R);
  });
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

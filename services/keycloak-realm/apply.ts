/**
 * Applies the realm representation ({@link realmConfig}) to a running Keycloak 26 over its Admin
 * REST API, idempotently, for the subset of the format the realm uses: the realm Job in production
 * (apply-main.ts, constructs/keycloak/realm-import.ts) and the tests run it. It signs in
 * the same way the Job does (client credentials of the bootstrap admin client in `master`),
 * substitutes the same `$(env:NAME)` variables (an undefined one is an error) and then:
 *
 * - creates the realm when it is missing (its settings only, so Keycloak adds its built-in client
 *   scopes, roles and flows), else updates its settings;
 * - first retires what an existing realm holds and the realm no longer declares, while Keycloak
 *   still lets it be reached: every Organization when the realm turns Organizations off (they are
 *   unreachable, not deleted, once the feature is off), and the values every user holds of a
 *   user-profile attribute the realm no longer declares (Keycloak keeps the stored values of an
 *   undeclared attribute, hidden but still searchable); a run that stops halfway leaves the old
 *   settings and profile in place, so the next run finishes the job;
 * - creates or updates the realm roles and their composites, the client scopes and their protocol
 *   mappers (mappers not in the realm are removed), and the clients (merged into what exists, so
 *   the built-in `admin-cli` keeps what the realm does not say), their default and optional client
 *   scopes, and their realm-role scope mappings (exactly the realm's);
 * - deletes the realm's own client scopes (named `enchanted-…`) that the realm no longer declares,
 *   once no client of the realm uses them;
 * - grants the service-account users exactly their client roles;
 * - builds a login flow that is missing, or whose executions differ from the realm's, through the
 *   executions API;
 * - writes the declarative user profile (attributes it does not declare are not stored).
 *
 * Nothing else is deleted: protocol mappers of the realm's own client scopes, surplus default
 * client scopes, scope mappings and service-account roles of the realm's clients, flows being
 * rebuilt, and the retired objects above. Retiring scales with what is retired: one request per
 * Organization and one per page of 100 users plus one per user holding a retired attribute, once.
 */
import { parseJsonOr } from "../runtime/json.js";
import { OWNED_CLIENT_SCOPE_PREFIX } from "./names.js";
import type {
  AuthenticationExecution,
  AuthenticationFlowRepresentation,
  ClientRepresentation,
  ProtocolMapperRepresentation,
  RealmRepresentation,
  RoleRepresentation,
} from "./realm.js";

export interface ApplyRealmOptions {
  /** Keycloak's base URL (no trailing slash), as `KEYCLOAK_URL` of the Job. */
  readonly url: string;
  /** Realm the admin client signs in to. @default "master" (`KEYCLOAK_LOGINREALM`) */
  readonly loginRealm?: string;
  /** `KEYCLOAK_CLIENTID` / `KEYCLOAK_CLIENTSECRET`: a client-credentials admin client. */
  readonly clientId: string;
  readonly clientSecret: string;
  /** Values of the `$(env:NAME)` references (the Job's environment). */
  readonly variables: Readonly<Record<string, string | undefined>>;
  readonly fetch?: typeof fetch;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

export class RealmApplyError extends Error {
  override readonly name = "RealmApplyError";
  constructor(
    readonly operation: string,
    readonly status: number,
    readonly detail: string,
  ) {
    super(`realm apply: ${operation} answered ${status}${detail ? `: ${detail.slice(0, 300)}` : ""}`);
  }
}

/** What one apply did (counts of writes), for logs and tests. */
export interface ApplyReport {
  realmCreated: boolean;
  writes: number;
  flowsRebuilt: string[];
  /** What the realm no longer declares and this run deleted. */
  retired: {
    /** Organizations deleted because the realm turns Organizations off. */
    organizations: number;
    /** Users whose values of undeclared profile attributes were removed. */
    users: number;
    /** The realm's own client scopes deleted. */
    clientScopes: string[];
  };
}

const VARIABLE = /\$\(env:([A-Za-z_][A-Za-z0-9_]*)\)/g;

/** Replaces every `$(env:NAME)` in the representation; an undefined NAME is an error (`IMPORT_VARSUBSTITUTION_UNDEFINEDISERROR`). */
export function substituteVariables<T>(value: T, variables: Readonly<Record<string, string | undefined>>): T {
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) =>
      typeof v === "string"
        ? v.replace(VARIABLE, (_m, name: string) => {
            const found = variables[name];
            if (found === undefined) throw new RealmApplyError(`variable ${name}`, 0, "is not defined (set it in the environment)");
            return found;
          })
        : v,
    ),
  ) as T;
}

type Json = Record<string, unknown>;

class Admin {
  private token: string | undefined;
  writes = 0;
  private readonly fetch: typeof fetch;
  constructor(private readonly o: ApplyRealmOptions) {
    this.fetch = o.fetch ?? globalThis.fetch;
  }

  private async signIn(): Promise<string> {
    const realm = encodeURIComponent(this.o.loginRealm ?? "master");
    const res = await this.fetch(`${this.o.url}/realms/${realm}/protocol/openid-connect/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: this.o.clientId, client_secret: this.o.clientSecret }).toString(),
    });
    const body = (await res.json().catch(() => ({}))) as { access_token?: string; error_description?: string };
    if (res.status !== 200 || !body.access_token) throw new RealmApplyError("sign-in", res.status, body.error_description ?? "");
    this.token = body.access_token;
    return body.access_token;
  }

  /** One Admin API call; `ok` lists the accepted statuses (others throw). A 401 signs in again once. */
  async call(method: string, path: string, body?: unknown, ok: readonly number[] = [200, 201, 204]): Promise<{ status: number; body: unknown; location: string | null }> {
    for (let attempt = 0; ; attempt++) {
      const token = this.token ?? (await this.signIn());
      const res = await this.fetch(`${this.o.url}/admin/realms${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, accept: "application/json", ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (res.status === 401 && attempt === 0) {
        this.token = undefined;
        continue;
      }
      if (!ok.includes(res.status)) throw new RealmApplyError(`${method} ${path}`, res.status, text);
      if (method !== "GET" && res.status < 300) this.writes++;
      const parsed = parseJsonOr(text, text);
      return { status: res.status, body: parsed, location: res.headers.get("location") };
    }
  }

  /** Signs in anew: a token issued before the realm existed carries no roles on it. */
  forgetToken(): void {
    this.token = undefined;
  }

  async get<T>(path: string): Promise<T | undefined> {
    const r = await this.call("GET", path, undefined, [200, 404]);
    return r.status === 404 ? undefined : (r.body as T);
  }
}

/** Keys of the realm representation applied by their own endpoints, not by the realm's PUT. */
const COLLECTION_KEYS = ["roles", "clientScopes", "clients", "scopeMappings", "users", "authenticationFlows", "authenticatorConfig", "userProfile", "browserFlow"] as const;

function settingsOf(realm: RealmRepresentation): Json {
  const settings: Json = { ...realm };
  for (const k of COLLECTION_KEYS) delete settings[k];
  return settings;
}

const enc = encodeURIComponent;

/** Applies `realm` to the Keycloak at `o.url`. Safe to repeat; a repeat without changes writes only what Keycloak cannot compare cheaply (settings, clients, the user profile). */
export async function applyRealm(input: RealmRepresentation, o: ApplyRealmOptions): Promise<ApplyReport> {
  const realm = substituteVariables(input, o.variables);
  const log = o.log ?? (() => undefined);
  const api = new Admin(o);
  const r = `/${enc(realm.realm)}`;
  const report: ApplyReport = { realmCreated: false, writes: 0, flowsRebuilt: [], retired: { organizations: 0, users: 0, clientScopes: [] } };

  const live = await api.get<Json>(r);
  if (!live) {
    // Settings only: an import with client scopes, roles or flows would leave out Keycloak's built-in ones.
    await api.call("POST", "", settingsOf(realm), [201]);
    report.realmCreated = true;
    api.forgetToken();
    log(`realm ${realm.realm}: created`);
  } else {
    if (live.organizationsEnabled === true && realm.organizationsEnabled === false) {
      report.retired.organizations = await retireOrganizations(api, r);
      log(`realm ${realm.realm}: ${report.retired.organizations} organizations deleted (Organizations off)`);
    }
    report.retired.users = await retireUserAttributes(api, r, realm, log);
    await api.call("PUT", r, settingsOf(realm));
    log(`realm ${realm.realm}: settings updated`);
  }

  await applyRoles(api, r, realm.roles.realm);
  const scopeIds = await applyClientScopes(api, r, realm);
  report.flowsRebuilt = await applyFlows(api, r, realm);
  await api.call("PUT", r, { realm: realm.realm, browserFlow: realm.browserFlow });
  const clientIds = await applyClients(api, r, realm.clients, scopeIds);
  await applyScopeMappings(api, r, realm, clientIds);
  report.retired.clientScopes = await retireClientScopes(api, r, realm);
  if (report.retired.clientScopes.length > 0) log(`realm ${realm.realm}: client scopes deleted: ${report.retired.clientScopes.join(", ")}`);
  await applyServiceAccounts(api, r, realm, clientIds);
  await api.call("PUT", `${r}/users/profile`, {
    attributes: realm.userProfile.attributes,
    groups: realm.userProfile.groups,
    unmanagedAttributePolicy: undefined,
  });
  report.writes = api.writes;
  log(`realm ${realm.realm}: applied (${api.writes} writes${report.flowsRebuilt.length ? `, flows rebuilt: ${report.flowsRebuilt.join(", ")}` : ""})`);
  return report;
}

async function applyRoles(api: Admin, r: string, roles: readonly RoleRepresentation[]): Promise<void> {
  for (const role of roles) {
    const found = await api.get<Json>(`${r}/roles/${enc(role.name)}`);
    const { composites, ...rep } = role;
    if (!found) await api.call("POST", `${r}/roles`, rep, [201]);
    else if (found.description !== role.description) await api.call("PUT", `${r}/roles/${enc(role.name)}`, { ...found, description: role.description });
  }
  for (const role of roles) {
    if (!role.composites) continue;
    const have = ((await api.get<{ name: string }[]>(`${r}/roles/${enc(role.name)}/composites`)) ?? []).map((x) => x.name);
    const missing = role.composites.realm.filter((n) => !have.includes(n));
    if (missing.length === 0) continue;
    const reps = await Promise.all(missing.map((n) => api.get<Json>(`${r}/roles/${enc(n)}`)));
    await api.call("POST", `${r}/roles/${enc(role.name)}/composites`, reps);
  }
}

/** Creates or updates the realm's client scopes and their mappers; returns every scope's id by name. */
async function applyClientScopes(api: Admin, r: string, realm: RealmRepresentation): Promise<Map<string, string>> {
  const list = async () => new Map(((await api.get<{ id: string; name: string }[]>(`${r}/client-scopes`)) ?? []).map((s) => [s.name, s.id]));
  let ids = await list();
  for (const scope of realm.clientScopes) {
    const { protocolMappers, ...rep } = scope;
    let id = ids.get(scope.name);
    if (!id) {
      await api.call("POST", `${r}/client-scopes`, rep, [201]);
      ids = await list();
      id = ids.get(scope.name) as string;
    } else {
      await api.call("PUT", `${r}/client-scopes/${id}`, { id, ...rep });
    }
    const have = (await api.get<(ProtocolMapperRepresentation & { id: string })[]>(`${r}/client-scopes/${id}/protocol-mappers/models`)) ?? [];
    for (const mapper of protocolMappers) {
      const existing = have.find((m) => m.name === mapper.name);
      if (!existing) await api.call("POST", `${r}/client-scopes/${id}/protocol-mappers/models`, mapper, [201]);
      else if (existing.protocolMapper !== mapper.protocolMapper) {
        await api.call("DELETE", `${r}/client-scopes/${id}/protocol-mappers/models/${existing.id}`);
        await api.call("POST", `${r}/client-scopes/${id}/protocol-mappers/models`, mapper, [201]);
      } else if (!sameStrings(existing.config, mapper.config)) {
        await api.call("PUT", `${r}/client-scopes/${id}/protocol-mappers/models/${existing.id}`, { ...mapper, id: existing.id });
      }
    }
    for (const extra of have.filter((m) => !protocolMappers.some((p) => p.name === m.name))) {
      await api.call("DELETE", `${r}/client-scopes/${id}/protocol-mappers/models/${extra.id}`);
    }
  }
  return ids;
}

function sameStrings(a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>>): boolean {
  const keys = new Set([...Object.keys(a ?? {}), ...Object.keys(b)]);
  return [...keys].every((k) => (a ?? {})[k] === b[k]);
}

/** Creates or updates the clients (merged into what exists) and their client scopes; returns their internal ids by clientId. */
async function applyClients(api: Admin, r: string, clients: readonly ClientRepresentation[], scopeIds: Map<string, string>): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const client of clients) {
    const { defaultClientScopes, optionalClientScopes, ...rep } = client;
    const found = ((await api.get<Json[]>(`${r}/clients?clientId=${enc(client.clientId)}`)) ?? [])[0];
    let id: string;
    if (!found) {
      const created = await api.call("POST", `${r}/clients`, rep, [201]);
      id = decodeURIComponent((created.location ?? "").split("/").pop() ?? "");
    } else {
      id = found.id as string;
      const attributes = { ...((found.attributes as Json | undefined) ?? {}), ...(rep.attributes ?? {}) };
      await api.call("PUT", `${r}/clients/${id}`, { ...found, ...rep, attributes });
    }
    ids.set(client.clientId, id);
    for (const [kind, wanted] of [["default-client-scopes", defaultClientScopes], ["optional-client-scopes", optionalClientScopes]] as const) {
      if (wanted === undefined) continue;
      const have = ((await api.get<{ id: string; name: string }[]>(`${r}/clients/${id}/${kind}`)) ?? []).map((s) => s.name);
      for (const name of wanted.filter((n) => !have.includes(n))) {
        const scopeId = scopeIds.get(name);
        if (!scopeId) throw new RealmApplyError(`client ${client.clientId} ${kind}`, 0, `no client scope named ${name}`);
        await api.call("PUT", `${r}/clients/${id}/${kind}/${scopeId}`);
      }
      for (const name of have.filter((n) => !wanted.includes(n))) {
        await api.call("DELETE", `${r}/clients/${id}/${kind}/${scopeIds.get(name)}`);
      }
    }
  }
  return ids;
}

async function applyScopeMappings(api: Admin, r: string, realm: RealmRepresentation, clientIds: Map<string, string>): Promise<void> {
  for (const mapping of realm.scopeMappings) {
    const id = clientIds.get(mapping.client) ?? ((await api.get<Json[]>(`${r}/clients?clientId=${enc(mapping.client)}`)) ?? [])[0]?.id;
    if (!id) throw new RealmApplyError(`scope mappings of ${mapping.client}`, 404, "no such client");
    const have = (await api.get<(Json & { name: string })[]>(`${r}/clients/${id}/scope-mappings/realm`)) ?? [];
    const missing = mapping.roles.filter((n) => !have.some((x) => x.name === n));
    if (missing.length > 0) {
      const reps = await Promise.all(missing.map((n) => api.get<Json>(`${r}/roles/${enc(n)}`)));
      await api.call("POST", `${r}/clients/${id}/scope-mappings/realm`, reps);
    }
    const surplus = have.filter((x) => !mapping.roles.includes(x.name));
    if (surplus.length > 0) await api.call("DELETE", `${r}/clients/${id}/scope-mappings/realm`, surplus);
  }
}

/** Users are read (and written) this many at a time when retiring attributes; Organizations deleted this many per listing. */
const PAGE = 100;

/** Deletes every Organization of the realm (while the feature is still on: once off, Keycloak answers 404 to every Organization call). */
async function retireOrganizations(api: Admin, r: string): Promise<number> {
  let deleted = 0;
  for (;;) {
    const page = (await api.get<{ id: string }[]>(`${r}/organizations?first=0&max=${PAGE}&briefRepresentation=true`)) ?? [];
    if (page.length === 0) return deleted;
    for (const org of page) {
      await api.call("DELETE", `${r}/organizations/${enc(org.id)}`, undefined, [204, 404]);
      deleted++;
    }
  }
}

/**
 * Removes, from every user, the values of the attributes the live user profile declares and the
 * realm's does not: while the profile still declares them they are the admin API's to read and
 * remove; once it no longer does, Keycloak keeps them stored (hidden, yet searchable). Returns the
 * number of users changed; nothing is read when no attribute is being dropped.
 */
async function retireUserAttributes(api: Admin, r: string, realm: RealmRepresentation, log: (line: string) => void): Promise<number> {
  const profile = await api.get<{ attributes?: { name: string }[] }>(`${r}/users/profile`);
  const declared = new Set(realm.userProfile.attributes.map((a) => a.name));
  const dropped = (profile?.attributes ?? []).map((a) => a.name).filter((n) => !declared.has(n));
  if (dropped.length === 0) return 0;
  let changed = 0;
  for (let first = 0; ; first += PAGE) {
    const users = (await api.get<(Json & { id: string; attributes?: Record<string, string[]> })[]>(`${r}/users?briefRepresentation=false&first=${first}&max=${PAGE}`)) ?? [];
    for (const user of users) {
      const attributes = { ...(user.attributes ?? {}) };
      if (!dropped.some((n) => n in attributes)) continue;
      for (const n of dropped) delete attributes[n];
      await api.call("PUT", `${r}/users/${enc(user.id)}`, { ...user, attributes }, [204, 404]);
      changed++;
    }
    if (users.length < PAGE) break;
  }
  log(`realm ${realm.realm}: ${dropped.join(", ")} removed from ${changed} users (no longer in the user profile)`);
  return changed;
}

/** Deletes the realm's own client scopes (`enchanted-…`) the realm no longer declares; its clients no longer use them by now. */
async function retireClientScopes(api: Admin, r: string, realm: RealmRepresentation): Promise<string[]> {
  const scopes = (await api.get<{ id: string; name: string }[]>(`${r}/client-scopes`)) ?? [];
  const retired = scopes.filter((s) => s.name.startsWith(OWNED_CLIENT_SCOPE_PREFIX) && !realm.clientScopes.some((c) => c.name === s.name));
  for (const scope of retired) await api.call("DELETE", `${r}/client-scopes/${enc(scope.id)}`, undefined, [204, 404]);
  return retired.map((s) => s.name);
}

async function applyServiceAccounts(api: Admin, r: string, realm: RealmRepresentation, clientIds: Map<string, string>): Promise<void> {
  for (const user of realm.users) {
    const clientId = clientIds.get(user.serviceAccountClientId);
    if (!clientId) throw new RealmApplyError(`user ${user.username}`, 404, `no client ${user.serviceAccountClientId}`);
    const account = await api.get<{ id: string }>(`${r}/clients/${clientId}/service-account-user`);
    if (!account) throw new RealmApplyError(`user ${user.username}`, 404, "the client has no service account");
    for (const [owner, roles] of Object.entries(user.clientRoles)) {
      const ownerId = ((await api.get<Json[]>(`${r}/clients?clientId=${enc(owner)}`)) ?? [])[0]?.id as string | undefined;
      if (!ownerId) throw new RealmApplyError(`user ${user.username}`, 404, `no client ${owner}`);
      const have = ((await api.get<{ name: string }[]>(`${r}/users/${account.id}/role-mappings/clients/${ownerId}`)) ?? []).map((x) => x.name);
      const missing = roles.filter((n) => !have.includes(n));
      if (missing.length > 0) {
        const reps = await Promise.all(missing.map((n) => api.get<Json>(`${r}/clients/${ownerId}/roles/${enc(n)}`)));
        await api.call("POST", `${r}/users/${account.id}/role-mappings/clients/${ownerId}`, reps);
      }
      const surplus = have.filter((n) => !roles.includes(n));
      if (surplus.length > 0) {
        const reps = await Promise.all(surplus.map((n) => api.get<Json>(`${r}/clients/${ownerId}/roles/${enc(n)}`)));
        await api.call("DELETE", `${r}/users/${account.id}/role-mappings/clients/${ownerId}`, reps);
      }
    }
  }
}

interface ExecutionInfo {
  id: string;
  level: number;
  index: number;
  requirement: string;
  providerId?: string;
  displayName?: string;
  authenticationFlow?: boolean;
  flowId?: string;
  authenticationConfig?: string;
}

/** The executions of a top-level flow as Keycloak lists them (depth first): one line per step. */
function expectedLines(flows: readonly AuthenticationFlowRepresentation[], alias: string, level: number, configIds: Map<string, string> | undefined): string[] {
  const flow = flows.find((f) => f.alias === alias);
  if (!flow) throw new RealmApplyError(`flow ${alias}`, 0, "is referenced but not in the realm");
  const steps = [...flow.authenticationExecutions].sort((a, b) => a.priority - b.priority);
  return steps.flatMap((e: AuthenticationExecution) => {
    const head = `${level}:${e.requirement}:${e.flowAlias ? `flow=${e.flowAlias}` : `${e.authenticator}${e.authenticatorConfig ? `@${configIds ? "config" : "config"}` : ""}`}`;
    return e.flowAlias ? [head, ...expectedLines(flows, e.flowAlias, level + 1, configIds)] : [head];
  });
}

function actualLines(executions: readonly ExecutionInfo[]): string[] {
  return executions.map((e) => `${e.level}:${e.requirement}:${e.authenticationFlow ? `flow=${e.displayName}` : `${e.providerId}${e.authenticationConfig ? "@config" : ""}`}`);
}

/** Compares each top-level flow of the realm with Keycloak's; rebuilds those that differ (or are missing). */
async function applyFlows(api: Admin, r: string, realm: RealmRepresentation): Promise<string[]> {
  const rebuilt: string[] = [];
  for (const top of realm.authenticationFlows.filter((f) => f.topLevel)) {
    const want = expectedLines(realm.authenticationFlows, top.alias, 0, undefined);
    const have = await api.get<ExecutionInfo[]>(`${r}/authentication/flows/${enc(top.alias)}/executions`);
    if (have && JSON.stringify(actualLines(have)) === JSON.stringify(want)) continue;
    await rebuildFlow(api, r, realm, top);
    rebuilt.push(top.alias);
  }
  return rebuilt;
}

async function rebuildFlow(api: Admin, r: string, realm: RealmRepresentation, top: AuthenticationFlowRepresentation): Promise<void> {
  const flows = (await api.get<{ id: string; alias: string }[]>(`${r}/authentication/flows`)) ?? [];
  const existing = flows.find((f) => f.alias === top.alias);
  if (existing) {
    // A bound flow cannot be deleted: bind the built-in browser flow meanwhile (the realm's PUT rebinds it).
    const settings = (await api.get<Json>(r)) ?? {};
    if (settings.browserFlow === top.alias) await api.call("PUT", r, { realm: realm.realm, browserFlow: "browser" });
    await api.call("DELETE", `${r}/authentication/flows/${existing.id}`);
  }
  await api.call("POST", `${r}/authentication/flows`, { alias: top.alias, description: top.description, providerId: top.providerId, topLevel: true, builtIn: false }, [201]);
  await addExecutions(api, r, realm, top.alias);
}

async function addExecutions(api: Admin, r: string, realm: RealmRepresentation, alias: string): Promise<void> {
  const flow = realm.authenticationFlows.find((f) => f.alias === alias) as AuthenticationFlowRepresentation;
  const steps = [...flow.authenticationExecutions].sort((a, b) => a.priority - b.priority);
  for (const step of steps) {
    if (step.flowAlias) {
      const sub = realm.authenticationFlows.find((f) => f.alias === step.flowAlias);
      await api.call("POST", `${r}/authentication/flows/${enc(alias)}/executions/flow`, { alias: step.flowAlias, type: "basic-flow", provider: "registration-page-form", description: sub?.description ?? "" }, [201]);
    } else {
      await api.call("POST", `${r}/authentication/flows/${enc(alias)}/executions/execution`, { provider: step.authenticator }, [201]);
    }
    const executions = (await api.get<ExecutionInfo[]>(`${r}/authentication/flows/${enc(alias)}/executions`)) ?? [];
    const added = executions.filter((e) => e.level === 0).at(-1) as ExecutionInfo;
    await api.call("PUT", `${r}/authentication/flows/${enc(alias)}/executions`, { ...added, requirement: step.requirement });
    if (step.authenticatorConfig) {
      const config = realm.authenticatorConfig.find((c) => c.alias === step.authenticatorConfig);
      if (!config) throw new RealmApplyError(`flow ${alias}`, 0, `no authenticator config ${step.authenticatorConfig}`);
      // Config aliases are unique per realm: drop a stale one first.
      const stale = await findConfigByAlias(api, r, realm, config.alias);
      if (stale) await api.call("DELETE", `${r}/authentication/config/${stale}`, undefined, [204, 404]);
      await api.call("POST", `${r}/authentication/executions/${added.id}/config`, config, [201]);
    }
    if (step.flowAlias) await addExecutions(api, r, realm, step.flowAlias);
  }
}

async function findConfigByAlias(api: Admin, r: string, realm: RealmRepresentation, alias: string): Promise<string | undefined> {
  for (const flow of realm.authenticationFlows.filter((f) => f.topLevel)) {
    const executions = (await api.get<ExecutionInfo[]>(`${r}/authentication/flows/${enc(flow.alias)}/executions`)) ?? [];
    for (const e of executions) {
      if (!e.authenticationConfig) continue;
      const config = await api.get<{ alias: string }>(`${r}/authentication/config/${e.authenticationConfig}`);
      if (config?.alias === alias) return e.authenticationConfig;
    }
  }
  return undefined;
}

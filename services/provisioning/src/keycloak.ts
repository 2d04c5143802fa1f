/**
 * The Keycloak adapter: the few Admin REST API calls (Keycloak 26) the provisioning service makes,
 * as the `enchanted-provisioning` service account (client credentials).
 *
 * | call | endpoint |
 * |---|---|
 * | service-account token | `POST /realms/{realm}/protocol/openid-connect/token` (`grant_type=client_credentials`) |
 * | create organization | `POST /admin/realms/{realm}/organizations` (201; 409 when the name or alias exists) |
 * | find organization | `GET /admin/realms/{realm}/organizations?search={slug}&exact=true` |
 * | read / update / delete organization | `GET`/`PUT`/`DELETE /admin/realms/{realm}/organizations/{id}` (404 when missing) |
 * | add member | `POST /admin/realms/{realm}/organizations/{id}/members` (body: the user id as a JSON string; 409 when already a member) |
 * | read / update user | `GET`/`PUT /admin/realms/{realm}/users/{id}` (attributes are replaced as a whole: read, merge, write) |
 * | grant realm role | `GET /admin/realms/{realm}/roles/{name}`, `POST /admin/realms/{realm}/users/{id}/role-mappings/realm` |
 *
 * Every operation is idempotent so the outbox worker can repeat it: "already exists" (409) is
 * followed by a lookup and the call continues; "missing" (404) on removal counts as done. 5xx and
 * network errors are retried here a few times with backoff (the worker retries further); a 401
 * refreshes the token once. The organization's name and alias are the tenant's slug (unique and
 * reserved forever, so never another tenant's), the display name goes into its description.
 */
import { parseJsonOr } from "../../runtime/json.js";
import { REALM_ROLES, PLAN_TIER_ATTRIBUTE, PROVISIONING_CLIENT_ID, TENANT_ATTRIBUTE } from "../../keycloak-realm/names.js";

export class KeycloakError extends Error {
  override readonly name = "KeycloakError";
  constructor(
    readonly status: number,
    readonly operation: string,
    readonly retryable: boolean,
  ) {
    super(`Keycloak ${operation} answered ${status === 0 ? "no response (network error)" : status}`);
  }
}

export interface OrganizationSpec {
  readonly slug: string;
  readonly displayName: string;
  readonly tenantId: string;
  readonly planTier: string;
}

/** What the outbox worker needs of Keycloak (a no-op implementation serves PROVISIONING_KEYCLOAK=off). */
export interface IdentityAdmin {
  readonly enabled: boolean;
  ensureOrganization(spec: OrganizationSpec): Promise<string>;
  addMember(organizationId: string, userId: string): Promise<void>;
  setUserTenantAttributes(userId: string, tenantId: string, planTier: string): Promise<void>;
  clearUserTenantAttributes(userId: string, tenantId: string): Promise<void>;
  setUserTierIfTenant(userId: string, tenantId: string, planTier: string): Promise<void>;
  grantRealmRole(userId: string, role: string): Promise<void>;
  revokeRealmRole(userId: string, role: string): Promise<void>;
  updateOrganizationTier(spec: OrganizationSpec): Promise<void>;
  removeOrganization(slug: string, organizationId: string | undefined): Promise<void>;
}

export const disabledIdentityAdmin: IdentityAdmin = {
  enabled: false,
  ensureOrganization: async () => "",
  addMember: async () => undefined,
  setUserTenantAttributes: async () => undefined,
  clearUserTenantAttributes: async () => undefined,
  setUserTierIfTenant: async () => undefined,
  grantRealmRole: async () => undefined,
  revokeRealmRole: async () => undefined,
  updateOrganizationTier: async () => undefined,
  removeOrganization: async () => undefined,
};

export interface KeycloakAdminOptions {
  readonly baseUrl: string;
  readonly realm: string;
  readonly clientSecret: string;
  readonly clientId?: string;
  /** Attempts per call on 5xx / network errors. @default 3 */
  readonly attempts?: number;
  /** @default 5000 */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

interface OrganizationRep {
  id?: string;
  name?: string;
  alias?: string;
  description?: string;
  enabled?: boolean;
  attributes?: Record<string, string[]>;
  domains?: unknown[];
}

interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly location: string | null;
}

export class KeycloakAdmin implements IdentityAdmin {
  readonly enabled = true;
  private token: { value: string; expiresAt: number } | undefined;
  private tokenPromise: Promise<string> | undefined;
  private readonly fetch: typeof fetch;
  private readonly admin: string;
  /** Number of HTTP requests made (tests, metrics). */
  requests = 0;

  constructor(private readonly options: KeycloakAdminOptions) {
    this.fetch = options.fetch ?? globalThis.fetch;
    this.admin = `${options.baseUrl}/admin/realms/${encodeURIComponent(options.realm)}`;
  }

  private async accessToken(force: boolean): Promise<string> {
    if (!force && this.token && this.token.expiresAt > Date.now() + 10_000) return this.token.value;
    if (force) this.token = undefined;
    this.tokenPromise ??= this.fetchToken().finally(() => {
      this.tokenPromise = undefined;
    });
    return this.tokenPromise;
  }

  private async fetchToken(): Promise<string> {
    const url = `${this.options.baseUrl}/realms/${encodeURIComponent(this.options.realm)}/protocol/openid-connect/token`;
    const form = new URLSearchParams({ grant_type: "client_credentials", client_id: this.options.clientId ?? PROVISIONING_CLIENT_ID, client_secret: this.options.clientSecret });
    const reply = await this.send("POST", url, form, "token", false);
    const body = reply.body as { access_token?: string; expires_in?: number } | undefined;
    if (reply.status !== 200 || !body?.access_token) throw new KeycloakError(reply.status, "token", reply.status >= 500);
    this.token = { value: body.access_token, expiresAt: Date.now() + (body.expires_in ?? 60) * 1000 };
    return body.access_token;
  }

  /** One HTTP exchange with retries on 5xx and network errors. */
  private async send(method: string, url: string, body: unknown, operation: string, auth: boolean): Promise<Reply> {
    const attempts = this.options.attempts ?? 3;
    let refreshed = false;
    for (let n = 1; ; n++) {
      const headers: Record<string, string> = { accept: "application/json" };
      let payload: string | undefined;
      if (body instanceof URLSearchParams) {
        headers["content-type"] = "application/x-www-form-urlencoded";
        payload = body.toString();
      } else if (body !== undefined) {
        headers["content-type"] = "application/json";
        payload = JSON.stringify(body);
      }
      if (auth) headers.authorization = `Bearer ${await this.accessToken(false)}`;
      let res: Response;
      try {
        this.requests++;
        res = await this.fetch(url, { method, headers, body: payload, signal: AbortSignal.timeout(this.options.timeoutMs ?? 5_000) });
      } catch {
        if (n < attempts) {
          await backoff(n);
          continue;
        }
        throw new KeycloakError(0, operation, true);
      }
      const text = await res.text();
      if (res.status === 401 && auth && !refreshed) {
        refreshed = true;
        await this.accessToken(true);
        n--;
        continue;
      }
      if (res.status >= 500 && n < attempts) {
        await backoff(n);
        continue;
      }
      const parsed = parseJsonOr(text, undefined);
      return { status: res.status, body: parsed, location: res.headers.get("location") };
    }
  }

  private async call(method: string, path: string, body: unknown, operation: string, ok: readonly number[]): Promise<Reply> {
    const reply = await this.send(method, `${this.admin}${path}`, body, operation, true);
    if (!ok.includes(reply.status)) throw new KeycloakError(reply.status, operation, reply.status >= 500 || reply.status === 401 || reply.status === 429);
    return reply;
  }

  private async findOrganization(slug: string): Promise<OrganizationRep | undefined> {
    const reply = await this.call("GET", `/organizations?search=${encodeURIComponent(slug)}&exact=true&briefRepresentation=false`, undefined, "find organization", [200]);
    const list = Array.isArray(reply.body) ? (reply.body as OrganizationRep[]) : [];
    return list.find((o) => o.alias === slug);
  }

  async ensureOrganization(spec: OrganizationSpec): Promise<string> {
    const rep: OrganizationRep = {
      name: spec.slug,
      alias: spec.slug,
      description: spec.displayName,
      enabled: true,
      attributes: { [TENANT_ATTRIBUTE]: [spec.tenantId], [PLAN_TIER_ATTRIBUTE]: [spec.planTier] },
      domains: [],
    };
    const reply = await this.call("POST", "/organizations", rep, "create organization", [201, 409]);
    if (reply.status === 201 && reply.location) {
      const id = reply.location.split("/").pop();
      if (id) return decodeURIComponent(id);
    }
    const found = await this.findOrganization(spec.slug);
    if (!found?.id) throw new KeycloakError(409, "create organization (exists but not found by alias)", true);
    const owner = found.attributes?.[TENANT_ATTRIBUTE];
    if (owner && !owner.includes(spec.tenantId)) throw new KeycloakError(409, "create organization (alias belongs to another tenant)", false);
    return found.id;
  }

  async addMember(organizationId: string, userId: string): Promise<void> {
    await this.call("POST", `/organizations/${encodeURIComponent(organizationId)}/members`, userId, "add member", [201, 204, 409]);
  }

  private async updateUserAttributes(userId: string, update: (attrs: Record<string, string[]>) => boolean): Promise<void> {
    const reply = await this.call("GET", `/users/${encodeURIComponent(userId)}`, undefined, "read user", [200, 404]);
    if (reply.status === 404) return; // the user is gone: nothing to set or clear
    const user = (reply.body ?? {}) as { attributes?: Record<string, string[]> } & Record<string, unknown>;
    const attrs = { ...(user.attributes ?? {}) };
    if (!update(attrs)) return;
    await this.call("PUT", `/users/${encodeURIComponent(userId)}`, { ...user, attributes: attrs }, "update user", [204, 200, 404]);
  }

  async setUserTenantAttributes(userId: string, tenantId: string, planTier: string): Promise<void> {
    await this.updateUserAttributes(userId, (a) => {
      if (a[TENANT_ATTRIBUTE]?.[0] === tenantId && a[PLAN_TIER_ATTRIBUTE]?.[0] === planTier) return false;
      a[TENANT_ATTRIBUTE] = [tenantId];
      a[PLAN_TIER_ATTRIBUTE] = [planTier];
      return true;
    });
  }

  /** Plan changes only touch users whose active tenant is this one. */
  async setUserTierIfTenant(userId: string, tenantId: string, planTier: string): Promise<void> {
    await this.updateUserAttributes(userId, (a) => {
      if (a[TENANT_ATTRIBUTE]?.[0] !== tenantId || a[PLAN_TIER_ATTRIBUTE]?.[0] === planTier) return false;
      a[PLAN_TIER_ATTRIBUTE] = [planTier];
      return true;
    });
  }

  async clearUserTenantAttributes(userId: string, tenantId: string): Promise<void> {
    await this.updateUserAttributes(userId, (a) => {
      if (a[TENANT_ATTRIBUTE]?.[0] !== tenantId) return false;
      delete a[TENANT_ATTRIBUTE];
      delete a[PLAN_TIER_ATTRIBUTE];
      return true;
    });
  }

  async grantRealmRole(userId: string, role: string = REALM_ROLES.tenantAdmin): Promise<void> {
    const rep = await this.call("GET", `/roles/${encodeURIComponent(role)}`, undefined, "read role", [200]);
    await this.call("POST", `/users/${encodeURIComponent(userId)}/role-mappings/realm`, [rep.body], "grant role", [204, 200]);
  }

  /** Idempotent: a user without the role, or gone, is left as it is. */
  async revokeRealmRole(userId: string, role: string): Promise<void> {
    const rep = await this.call("GET", `/roles/${encodeURIComponent(role)}`, undefined, "read role", [200]);
    await this.call("DELETE", `/users/${encodeURIComponent(userId)}/role-mappings/realm`, [rep.body], "revoke role", [204, 200, 404]);
  }

  async updateOrganizationTier(spec: OrganizationSpec): Promise<void> {
    const found = await this.findOrganization(spec.slug);
    if (!found?.id) return; // not created yet: keycloak.provision (earlier in the lane) writes the tier
    const attributes = { ...(found.attributes ?? {}), [PLAN_TIER_ATTRIBUTE]: [spec.planTier] };
    await this.call("PUT", `/organizations/${encodeURIComponent(found.id)}`, { ...found, attributes }, "update organization", [204, 200]);
  }

  async removeOrganization(slug: string, organizationId: string | undefined): Promise<void> {
    const id = organizationId ?? (await this.findOrganization(slug))?.id;
    if (!id) return;
    await this.call("DELETE", `/organizations/${encodeURIComponent(id)}`, undefined, "delete organization", [204, 200, 404]);
  }
}

function backoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(1_000, 50 * 2 ** attempt) * (0.5 + Math.random() / 2)));
}

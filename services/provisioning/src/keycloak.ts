/**
 * The Keycloak adapter: the few Admin REST API calls (Keycloak 26) the provisioning service makes,
 * as the `enchanted-provisioning` service account (client credentials, `manage-users` only).
 * Keycloak holds users only: tenants and memberships are the platform's, and the one thing the
 * service writes into Keycloak is a user's realm role `tenant-admin` ("administers at least one
 * tenant", which keeps OTP required at that user's login).
 *
 * | call | endpoint |
 * |---|---|
 * | service-account token | `POST /realms/{realm}/protocol/openid-connect/token` (`grant_type=client_credentials`) |
 * | grant realm role | `GET /admin/realms/{realm}/users/{id}/role-mappings/realm/available` (the role, unless the user has it), `POST /admin/realms/{realm}/users/{id}/role-mappings/realm` |
 * | revoke realm role | `GET /admin/realms/{realm}/users/{id}/role-mappings/realm` (the role, if the user has it), `DELETE /admin/realms/{realm}/users/{id}/role-mappings/realm` |
 *
 * The role's representation comes from the user's role mappings, which `manage-users` may read
 * (`/roles/{name}` would need `view-realm` too). Both operations are idempotent so the outbox
 * worker can repeat them: granting a role the user has (directly or through a composite) and
 * revoking one it lacks, or of a user that is gone, write nothing. 5xx and network errors are
 * retried here a few times with backoff (the worker retries further); a 401 refreshes the token
 * once.
 */
import { parseJsonOr } from "../../runtime/json.js";
import { PROVISIONING_CLIENT_ID } from "../../keycloak-realm/names.js";

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

/** What the outbox worker needs of Keycloak (a no-op implementation serves PROVISIONING_KEYCLOAK=off). */
export interface IdentityAdmin {
  readonly enabled: boolean;
  /** Gives the user the realm role (idempotent). A user or role that does not exist is a non-retryable {@link KeycloakError} (404). */
  grantRealmRole(userId: string, role: string): Promise<void>;
  /** Takes the realm role from the user (idempotent): a user without it, or gone, is left as it is. */
  revokeRealmRole(userId: string, role: string): Promise<void>;
}

export const disabledIdentityAdmin: IdentityAdmin = {
  enabled: false,
  grantRealmRole: async () => undefined,
  revokeRealmRole: async () => undefined,
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

interface RoleRep {
  readonly id: string;
  readonly name: string;
}

interface Reply {
  readonly status: number;
  readonly body: unknown;
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
      return { status: res.status, body: parsed };
    }
  }

  private async call(method: string, path: string, body: unknown, operation: string, ok: readonly number[]): Promise<Reply> {
    const reply = await this.send(method, `${this.admin}${path}`, body, operation, true);
    if (!ok.includes(reply.status)) throw new KeycloakError(reply.status, operation, reply.status >= 500 || reply.status === 401 || reply.status === 429);
    return reply;
  }

  /** The user's realm roles: `path` "" (direct mappings), "/available" (mappable, not yet effective) or "/composite" (effective); undefined when the user is gone. */
  private async realmRoles(userId: string, path: "" | "/available" | "/composite", operation: string): Promise<RoleRep[] | undefined> {
    const reply = await this.call("GET", `/users/${encodeURIComponent(userId)}/role-mappings/realm${path}`, undefined, operation, [200, 404]);
    if (reply.status === 404) return undefined;
    return Array.isArray(reply.body) ? (reply.body as RoleRep[]) : [];
  }

  async grantRealmRole(userId: string, role: string): Promise<void> {
    const available = await this.realmRoles(userId, "/available", "read available roles");
    if (!available) throw new KeycloakError(404, "grant role (no such user)", false);
    const rep = available.find((r) => r.name === role);
    if (rep) {
      await this.call("POST", `/users/${encodeURIComponent(userId)}/role-mappings/realm`, [rep], "grant role", [204, 200]);
      return;
    }
    // Not available: the user has it already (a repeat), or there is no such role.
    const effective = await this.realmRoles(userId, "/composite", "read effective roles");
    if (!effective) throw new KeycloakError(404, "grant role (no such user)", false);
    if (!effective.some((r) => r.name === role)) throw new KeycloakError(404, `grant role (no realm role ${role} the service may map)`, false);
  }

  async revokeRealmRole(userId: string, role: string): Promise<void> {
    const rep = (await this.realmRoles(userId, "", "read role mappings"))?.find((r) => r.name === role);
    if (!rep) return;
    await this.call("DELETE", `/users/${encodeURIComponent(userId)}/role-mappings/realm`, [rep], "revoke role", [204, 200, 404]);
  }
}

function backoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(1_000, 50 * 2 ** attempt) * (0.5 + Math.random() / 2)));
}

/**
 * Every request the console makes to the platform goes through {@link ApiClient}: same-origin
 * `fetch('/v1/…')` only (the console is served on the API's origin), and the only credential is
 * the signed-in user's own bearer token:
 * - the user routes (`/v1/tenants` create/list, `/v1/tenants/{id}/token`, `/v1/invitations…`)
 *   carry the user's Keycloak access token;
 * - every other route carries the tenant token that `POST /v1/tenants/{id}/token` answered for
 *   that user and tenant, cached until shortly before it expires.
 * No API key, client secret or token ever travels in a query string or to another origin: a path
 * that resolves outside the console's origin is refused before any request is made.
 *
 * Errors: the services answer `{"error":{"code","message","field"?}}`; that becomes an
 * {@link ApiError} with the status, code, field and the fix the message states.
 */
import type {
  AcceptedInvitation,
  BusCredentials,
  CrashContext,
  EventDetail,
  EventPage,
  EventUsage,
  Invitation,
  LoopsAnswer,
  Member,
  Membership,
  MyInvitation,
  Replay,
  RevokedCredentials,
  StateHistory,
  Tenant,
  TenantLimits,
  TenantRole,
  TenantTokenAnswer,
  TenantUsage,
  TimelineFilters,
} from "./api-types.js";

/** A refused or failed API call, as the service explained it. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    /** HTTP status; 0 when no answer arrived (network). */
    readonly status: number,
    /** The service's error code (`invalid_request`, `not_found`, …), or `network` / `http_<status>`. */
    readonly code: string,
    message: string,
    /** The request field at fault (`body.slug`, `querystring.from`), when the service named one. */
    readonly field: string | undefined,
    /** What to do about it, when the message states it. */
    readonly fix: string | undefined,
    /** Other members of the error object (a replay's `knownHashes`). */
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The fix a service's message carries: `… Fix: <fix>`, or the part after the first `: ` (the
 * services write `<field> <problem>: <fix>`).
 */
export function fixOf(message: string): string | undefined {
  const explicit = /\bFix: (.+)$/s.exec(message);
  if (explicit) return explicit[1]?.trim();
  const at = message.indexOf(": ");
  return at > 0 ? message.slice(at + 2).trim() || undefined : undefined;
}

/** An error answer as an ApiError (anything that is not the services' error shape keeps the HTTP status). */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const e = body && typeof body === "object" ? (body as { error?: unknown }).error : undefined;
  if (e && typeof e === "object" && typeof (e as { message?: unknown }).message === "string") {
    const { code, message, field, ...rest } = e as { code?: unknown; message: string; field?: unknown };
    return new ApiError(res.status, typeof code === "string" ? code : `http_${res.status}`, message, typeof field === "string" ? field : undefined, fixOf(message), rest);
  }
  return new ApiError(res.status, `http_${res.status}`, `the API answered ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`, undefined, res.status >= 500 ? "retry in a moment" : undefined);
}

/** Renew a tenant token this long before it expires (clock skew and the request's own time). */
export const TENANT_TOKEN_MARGIN_SECONDS = 30;

export interface ApiClientOptions {
  /** The console's origin; every request goes here and nowhere else. */
  readonly origin: string;
  /** The signed-in user's current access token (renewed by the auth layer); null when signed out. */
  readonly userToken: () => Promise<string | null>;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
}

type Query = Readonly<Record<string, string | number | undefined>>;
interface RequestOptions {
  readonly query?: Query;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}
/** Which token a request carries: the user's, or that user's token for one tenant. */
type Caller = { readonly kind: "user" } | { readonly kind: "tenant"; readonly tenantId: string };
const USER: Caller = { kind: "user" };
const tenant = (tenantId: string): Caller => ({ kind: "tenant", tenantId });
const seg = encodeURIComponent;

interface CachedToken {
  readonly answer: TenantTokenAnswer;
  /** The user token it was obtained with: another user's session never reuses it. */
  readonly userToken: string;
}

export class ApiClient {
  readonly origin: string;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<TenantTokenAnswer>>();

  constructor(private readonly o: ApiClientOptions) {
    this.origin = new URL(o.origin).origin;
    this.fetchFn = o.fetch ?? ((...args) => globalThis.fetch(...args));
    this.now = o.now ?? Date.now;
  }

  /** The absolute URL of an API path on the console's origin; throws for anything else. */
  url(path: string, query: Query = {}): URL {
    if (!path.startsWith("/v1/")) throw new ApiError(0, "bad_path", `${path} is not an API path: API paths start with /v1/`, undefined, undefined);
    const url = new URL(path, this.origin);
    // `//host/v1` or a backslash trick would leave the origin: the token must never go there.
    if (url.origin !== this.origin) throw new ApiError(0, "bad_path", `${path} resolves outside ${this.origin}`, undefined, undefined);
    // Dot segments (`/v1/../x`) would leave the API: only what still resolves under /v1/ goes out.
    if (!url.pathname.startsWith("/v1/")) throw new ApiError(0, "bad_path", `${path} resolves to ${url.pathname}, outside /v1/`, undefined, undefined);
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    return url;
  }

  /** Forgets every tenant token (sign-out, another user). */
  clearTenantTokens(): void {
    this.tokens.clear();
    this.pending.clear();
  }

  /** The user's tenant token for `tenantId`: cached until {@link TENANT_TOKEN_MARGIN_SECONDS} before expiry. */
  async tenantToken(tenantId: string): Promise<TenantTokenAnswer> {
    const user = await this.requireUserToken();
    const cached = this.tokens.get(tenantId);
    if (cached && cached.userToken === user && cached.answer.expires_at - TENANT_TOKEN_MARGIN_SECONDS > this.now() / 1000) return cached.answer;
    const key = `${tenantId}\u0000${user}`;
    let inflight = this.pending.get(key);
    if (!inflight) {
      inflight = this.send<TenantTokenAnswer>("POST", `/v1/tenants/${seg(tenantId)}/token`, user, { body: {} })
        .then((answer) => {
          this.tokens.set(tenantId, { answer, userToken: user });
          return answer;
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, inflight);
    }
    return inflight;
  }

  // ---- user routes -----------------------------------------------------------------------
  listTenants(): Promise<{ tenants: Membership[] }> {
    return this.call(USER, "GET", "/v1/tenants");
  }
  /** `idempotencyKey`: the same for a retry of one submission, so a lost answer never makes two tenants. */
  createTenant(input: { name: string; slug: string }, idempotencyKey: string): Promise<{ tenant: Membership }> {
    return this.call(USER, "POST", "/v1/tenants", { body: input, headers: { "idempotency-key": idempotencyKey } });
  }
  myInvitations(): Promise<{ invitations: MyInvitation[] }> {
    return this.call(USER, "GET", "/v1/invitations");
  }
  /** By the secret of the e-mail link, or by the id of one of {@link myInvitations}. */
  acceptInvitation(by: { token: string } | { invitationId: string }): Promise<AcceptedInvitation> {
    return this.call(USER, "POST", "/v1/invitations/accept", { body: by });
  }

  // ---- tenant routes (provisioning) ------------------------------------------------------
  tenant(tenantId: string): Promise<{ tenant: Tenant; role: TenantRole }> {
    return this.call(tenant(tenantId), "GET", `/v1/tenants/${seg(tenantId)}`);
  }
  members(tenantId: string): Promise<{ tenantId: string; members: Member[] }> {
    return this.call(tenant(tenantId), "GET", `/v1/tenants/${seg(tenantId)}/members`);
  }
  setRole(tenantId: string, userId: string, role: TenantRole): Promise<{ tenantId: string; userId: string; role: TenantRole }> {
    return this.call(tenant(tenantId), "PUT", `/v1/tenants/${seg(tenantId)}/members/${seg(userId)}`, { body: { role } });
  }
  removeMember(tenantId: string, userId: string): Promise<void> {
    return this.call(tenant(tenantId), "DELETE", `/v1/tenants/${seg(tenantId)}/members/${seg(userId)}`);
  }
  invite(tenantId: string, email: string, role: TenantRole): Promise<{ invitation: Invitation }> {
    return this.call(tenant(tenantId), "POST", `/v1/tenants/${seg(tenantId)}/invitations`, { body: { email, role } });
  }
  invitations(tenantId: string): Promise<{ tenantId: string; invitations: Invitation[] }> {
    return this.call(tenant(tenantId), "GET", `/v1/tenants/${seg(tenantId)}/invitations`);
  }
  cancelInvitation(tenantId: string, invitationId: string): Promise<{ invitation: Invitation }> {
    return this.call(tenant(tenantId), "DELETE", `/v1/tenants/${seg(tenantId)}/invitations/${seg(invitationId)}`);
  }
  limits(tenantId: string): Promise<TenantLimits> {
    return this.call(tenant(tenantId), "GET", `/v1/tenants/${seg(tenantId)}/limits`);
  }
  tenantUsage(tenantId: string): Promise<TenantUsage> {
    return this.call(tenant(tenantId), "GET", `/v1/tenants/${seg(tenantId)}/usage`);
  }
  mintCredentials(tenantId: string, ttlSeconds?: number): Promise<BusCredentials> {
    return this.call(tenant(tenantId), "POST", `/v1/tenants/${seg(tenantId)}/bus-credentials`, { body: ttlSeconds === undefined ? {} : { ttlSeconds } });
  }
  revokeCredentials(tenantId: string, publicKey: string): Promise<RevokedCredentials> {
    return this.call(tenant(tenantId), "DELETE", `/v1/tenants/${seg(tenantId)}/bus-credentials/${seg(publicKey)}`);
  }
  setPayloadEncryption(tenantId: string, payloadEncryption: boolean): Promise<{ tenant: Tenant }> {
    return this.call(tenant(tenantId), "PATCH", `/v1/tenants/${seg(tenantId)}`, { body: { payloadEncryption } });
  }
  offboard(tenantId: string): Promise<{ tenant: Tenant }> {
    return this.call(tenant(tenantId), "DELETE", `/v1/tenants/${seg(tenantId)}`);
  }

  // ---- events API (the tenant is the token's) --------------------------------------------
  events(tenantId: string, filters: TimelineFilters, page: { cursor?: string; limit?: number } = {}): Promise<EventPage> {
    return this.call(tenant(tenantId), "GET", "/v1/events", { query: { ...filters, ...page } });
  }
  event(tenantId: string, eventId: string): Promise<{ event: EventDetail }> {
    return this.call(tenant(tenantId), "GET", `/v1/events/${seg(eventId)}`);
  }
  crashContext(tenantId: string, agentId: string, o: { before?: string; limit?: number } = {}): Promise<CrashContext> {
    return this.call(tenant(tenantId), "GET", `/v1/agents/${seg(agentId)}/crash-context`, { query: o });
  }
  loops(tenantId: string, o: { until?: string; windowSeconds?: number; minModifications?: number; limit?: number } = {}): Promise<LoopsAnswer> {
    return this.call(tenant(tenantId), "GET", "/v1/loops", { query: o });
  }
  stateHistory(tenantId: string, projectId: string, resource: string, cursor?: string): Promise<StateHistory> {
    return this.call(tenant(tenantId), "GET", `/v1/projects/${seg(projectId)}/state-history`, { query: { resource, cursor } });
  }
  eventUsage(tenantId: string): Promise<EventUsage> {
    return this.call(tenant(tenantId), "GET", "/v1/usage");
  }
  replay(tenantId: string, projectId: string, input: { resource: string; stateHash: string }): Promise<{ replay: Replay }> {
    return this.call(tenant(tenantId), "POST", `/v1/projects/${seg(projectId)}/replays`, { body: input });
  }

  // ---- the one request path ----------------------------------------------------------------
  private async requireUserToken(): Promise<string> {
    const token = await this.o.userToken();
    if (!token) throw new ApiError(401, "signed_out", "you are signed out", undefined, "sign in again");
    return token;
  }

  private async call<T>(caller: Caller, method: string, path: string, o: RequestOptions = {}): Promise<T> {
    if (caller.kind === "user") return this.send<T>(method, path, await this.requireUserToken(), o);
    const first = await this.tenantToken(caller.tenantId);
    try {
      return await this.send<T>(method, path, first.access_token, o);
    } catch (error) {
      // A 401 on a tenant route: the token was refused (expired early, keys rotated); one fresh token, once.
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      this.tokens.delete(caller.tenantId);
      const fresh = await this.tenantToken(caller.tenantId);
      return this.send<T>(method, path, fresh.access_token, o);
    }
  }

  private async send<T>(method: string, path: string, bearer: string, o: RequestOptions): Promise<T> {
    const url = this.url(path, o.query);
    const headers: Record<string, string> = { accept: "application/json", ...o.headers, authorization: `Bearer ${bearer}` };
    if (o.body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await this.fetchFn(url.toString(), {
        method,
        headers,
        ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
        // Same origin only; no cookies are needed (the bearer token is the credential).
        credentials: "omit",
        cache: "no-store",
        redirect: "error",
      });
    } catch (error) {
      throw new ApiError(0, "network", `${method} ${url.pathname} did not reach the API (${(error as Error).message})`, undefined, "check the connection and retry", {}, { cause: error });
    }
    if (!res.ok) throw await errorFromResponse(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text === "" ? undefined : JSON.parse(text)) as T;
  }
}

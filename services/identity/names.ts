/**
 * The platform's identity contract, shared by the provisioning service (which issues tenant
 * tokens), every service that verifies them, and the gateway (Kong's `tenant-gate` plugin, whose
 * config is rendered from here). Dependency-free.
 *
 * Two kinds of bearer token reach the API:
 * - a **user token**: Keycloak's access token of a signed-in user (`iss` the realm, `aud`
 *   {@link USER_TOKEN_AUDIENCE}); it names a person, never a tenant. It reaches only the front-door
 *   routes (create a tenant, list my tenants and invitations, accept one, select a tenant), and
 *   the operator routes when it also carries {@link OPERATOR_AUDIENCE} and the realm role
 *   `platform-admin`;
 * - a **tenant token**: issued by the provisioning service for ONE of the user's tenants after it
 *   checked the membership (`POST /v1/tenants/{tenantId}/token`), signed ES256 with a platform key
 *   published with its key id at {@link JWKS_PATH}, minutes long. Every other route requires it.
 *
 * Keycloak holds users only: no Organization, attribute or group per pooled tenant.
 */
import { API_AUDIENCE, PLAN_TIER_CLAIM, TENANT_CLAIM } from "../keycloak-realm/names.js";

/** `aud` of a Keycloak user token meant for the API. */
export const USER_TOKEN_AUDIENCE = API_AUDIENCE;
/** `aud` an operator's Keycloak token carries (the realm's operator client adds it) for the `/v1/admin/` routes. */
export const OPERATOR_AUDIENCE = "platform-operations";

/** The tenant token's claims and header. */
export const TENANT_TOKEN = {
  /** `aud`: only the tenant routes accept it (and no Keycloak token carries it). */
  audience: "tenant-api",
  /** JOSE header `typ` (RFC 9068): never confused with an ID or a Keycloak token. */
  type: "at+jwt",
  /** ECDSA P-256 with SHA-256: the key is a 32-byte data key of the platform's KMS key. */
  algorithm: "ES256",
  claims: { tenant: TENANT_CLAIM, planTier: PLAN_TIER_CLAIM, role: "role" },
  /** Default lifetime; removal of a member takes effect within it. */
  lifetimeSeconds: 300,
  /** Bounds of `PROVISIONING_TENANT_TOKEN_TTL_SECONDS`. */
  lifetimeBounds: { min: 60, max: 900 },
} as const;

/** Where the provisioning service publishes the tenant tokens' public keys (a JWK Set, RFC 7517). */
export const JWKS_PATH = "/.well-known/jwks.json";

/** The issuer (`iss`) of tenant tokens: the public API's origin. */
export function tenantTokenIssuer(apiDomain: string): string {
  return `https://${apiDomain}`;
}

/** What a user id (`sub` of either token kind, a member's id in paths) may look like. */
export const USER_ID_PATTERN = /^[A-Za-z0-9_@.:-]{1,255}$/;

/** A member's role in one tenant, strongest first. */
export const TENANT_ROLES = ["owner", "admin", "member", "viewer"] as const;
export type TenantRole = (typeof TENANT_ROLES)[number];

/** `a` is at least as strong as `b`. */
export function roleAtLeast(a: TenantRole, b: TenantRole): boolean {
  return TENANT_ROLES.indexOf(a) <= TENANT_ROLES.indexOf(b);
}

/**
 * What each role may do in its tenant: the weakest role allowed. The README's table is this one.
 * Owners and admins manage people, but only an owner grants, changes or removes the owner role,
 * and a tenant always keeps one owner (the last one can neither leave, be removed nor demoted).
 */
export const TENANT_ACTIONS = {
  "tenant.read": { minRole: "viewer", what: "read the tenant, its members, plan limits and usage" },
  "credentials.mint": { minRole: "member", what: "mint bus credentials for agents; revoke the ones they minted" },
  "credentials.revoke-any": { minRole: "admin", what: "revoke any bus credential of the tenant" },
  "invitations.manage": { minRole: "admin", what: "invite by e-mail, list and cancel invitations (an owner invitation only by an owner)" },
  "members.manage": { minRole: "admin", what: "change roles and remove members (owners only by an owner; never the last owner)" },
  "members.leave": { minRole: "viewer", what: "leave the tenant (not the last owner)" },
  "jobs.submit": { minRole: "member", what: "submit jobs to the tenant's workers, and replays of a resource's earlier state" },
  "events.read": { minRole: "viewer", what: "read the tenant's event history: crash context, loops, timeline, events, state history, usage" },
  "tenant.settings": { minRole: "admin", what: "change the tenant's settings (payload encryption)" },
  "tenant.offboard": { minRole: "owner", what: "offboard the tenant (credentials refused, history deleted, data key shredded)" },
} as const satisfies Record<string, { minRole: TenantRole; what: string }>;
export type TenantAction = keyof typeof TENANT_ACTIONS;

/**
 * How the gateway and the service authenticate a route. `agent`: an agent's own bus credentials
 * (its NATS user JWT and a signature by its nkey, {@link AGENT_AUTH}), verified by the service;
 * the gateway passes them through like the webhook's signature.
 */
export type RouteAuth = "public" | "webhook" | "user" | "tenant" | "operator" | "agent";

export interface ApiRoute {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** fastify's path syntax (`:param`). */
  readonly url: string;
  readonly auth: RouteAuth;
  /** For `tenant` routes: the action it performs (its weakest role is in {@link TENANT_ACTIONS}). */
  readonly action?: TenantAction;
}

/**
 * Every API route of the provisioning service, with its authentication. The service registers
 * exactly these (a test compares), and the gateway publishes them by their `auth`.
 */
export const PROVISIONING_ROUTES = [
  { method: "GET", url: JWKS_PATH, auth: "public" },
  { method: "POST", url: "/v1/billing/events", auth: "webhook" },
  { method: "POST", url: "/v1/tenants", auth: "user" },
  { method: "GET", url: "/v1/tenants", auth: "user" },
  { method: "POST", url: "/v1/tenants/:tenantId/token", auth: "user" },
  { method: "GET", url: "/v1/invitations", auth: "user" },
  { method: "POST", url: "/v1/invitations/accept", auth: "user" },
  { method: "GET", url: "/v1/tenants/:tenantId", auth: "tenant", action: "tenant.read" },
  { method: "GET", url: "/v1/tenants/:tenantId/members", auth: "tenant", action: "tenant.read" },
  { method: "GET", url: "/v1/tenants/:tenantId/limits", auth: "tenant", action: "tenant.read" },
  { method: "GET", url: "/v1/tenants/:tenantId/usage", auth: "tenant", action: "tenant.read" },
  { method: "PATCH", url: "/v1/tenants/:tenantId", auth: "tenant", action: "tenant.settings" },
  { method: "POST", url: "/v1/projects/:projectId/jobs", auth: "tenant", action: "jobs.submit" },
  { method: "GET", url: "/v1/agent/data-key", auth: "agent" },
  { method: "GET", url: "/v1/agent/data-keys/:keyId", auth: "agent" },
  { method: "PUT", url: "/v1/tenants/:tenantId/members/:userId", auth: "tenant", action: "members.manage" },
  { method: "DELETE", url: "/v1/tenants/:tenantId/members/:userId", auth: "tenant", action: "members.leave" },
  { method: "POST", url: "/v1/tenants/:tenantId/invitations", auth: "tenant", action: "invitations.manage" },
  { method: "GET", url: "/v1/tenants/:tenantId/invitations", auth: "tenant", action: "invitations.manage" },
  { method: "DELETE", url: "/v1/tenants/:tenantId/invitations/:invitationId", auth: "tenant", action: "invitations.manage" },
  { method: "POST", url: "/v1/tenants/:tenantId/bus-credentials", auth: "tenant", action: "credentials.mint" },
  { method: "DELETE", url: "/v1/tenants/:tenantId/bus-credentials/:publicKey", auth: "tenant", action: "credentials.mint" },
  { method: "DELETE", url: "/v1/tenants/:tenantId", auth: "tenant", action: "tenant.offboard" },
  { method: "PUT", url: "/v1/admin/tenants/:tenantId/plan", auth: "operator" },
  { method: "GET", url: "/v1/admin/nats-revocations", auth: "operator" },
] as const satisfies readonly ApiRoute[];

/**
 * Every route of the events API (services/events-api): the tenants' read path. All of them take a
 * tenant token; the tenant is the token's, never a path's or a query's. The service registers
 * exactly these (a test compares), and the gateway sends {@link EVENTS_API_GATEWAY_PATHS} to it.
 */
export const EVENTS_API_ROUTES = [
  { method: "GET", url: "/v1/agents/:agentId/crash-context", auth: "tenant", action: "events.read" },
  { method: "GET", url: "/v1/loops", auth: "tenant", action: "events.read" },
  { method: "GET", url: "/v1/events", auth: "tenant", action: "events.read" },
  { method: "GET", url: "/v1/events/:eventId", auth: "tenant", action: "events.read" },
  { method: "GET", url: "/v1/projects/:projectId/state-history", auth: "tenant", action: "events.read" },
  { method: "GET", url: "/v1/usage", auth: "tenant", action: "events.read" },
  { method: "POST", url: "/v1/projects/:projectId/replays", auth: "tenant", action: "jobs.submit" },
] as const satisfies readonly ApiRoute[];

/**
 * The paths of {@link EVENTS_API_ROUTES} as the gateway matches them (PCRE), tenant-token routes
 * sent to the events API ahead of the catch-all `tenant` class of {@link GATEWAY_PATHS}.
 */
export const EVENTS_API_GATEWAY_PATHS = ["^/v1/agents/[^/]+/crash-context$", "^/v1/loops$", "^/v1/events(/[^/]+)?$", "^/v1/projects/[^/]+/(state-history|replays)$", "^/v1/usage$"] as const;

/**
 * How the gateway tells the route classes apart by path (Kong matches paths, not methods):
 * the user routes (`POST`/`GET /v1/tenants` exactly, `/v1/tenants/{id}/token`, `/v1/invitations…`),
 * the operator routes (`/v1/admin/…`), the webhook (`/v1/billing/…`), the key set; every other
 * path under `/v1/` is a tenant route. Regular expressions in PCRE syntax (Kong's `~` paths).
 */
export const GATEWAY_PATHS = {
  user: ["^/v1/tenants$", "^/v1/tenants/[^/]+/token$", "^/v1/invitations(/accept)?$"],
  operator: ["^/v1/admin/"],
  webhook: ["^/v1/billing/events$"],
  public: [`^${JWKS_PATH.replace(/\./g, "\\.")}$`],
  agent: ["^/v1/agent/"],
  tenant: ["^/v1/"],
} as const satisfies Record<RouteAuth, readonly string[]>;

/** The billing provider's webhook: the signature header and how old a delivery may be. */
export const BILLING_WEBHOOK = {
  /** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` (several `v1=` during a secret rotation). */
  signatureHeader: "enchanted-signature",
  toleranceSeconds: 300,
} as const;

/**
 * How an agent authenticates to the `agent` routes with the bus credentials the API handed out,
 * never a user's token: its NATS user JWT in `Authorization: NATS-JWT <jwt>`, and in
 * {@link AGENT_AUTH.signatureHeader} `t=<unix seconds>,n=<nonce>,s=<signature>`, where the
 * signature is Ed25519 by the user's nkey (the JWT's `sub`) over {@link agentSigningInput}, in
 * base64url. The service checks the JWT's chain (its tenant's account, its tier's signing key,
 * not expired, not revoked), the signature, and that `t` is within {@link AGENT_AUTH.toleranceSeconds}.
 */
export const AGENT_AUTH = {
  scheme: "NATS-JWT",
  signatureHeader: "enchanted-agent-signature",
  /** The first line of every signed input: a signature made for anything else never verifies here. */
  context: "enchanted-agent-v1",
  toleranceSeconds: 60,
} as const;

/** The bytes an agent signs for one request: context, method, path with query, time and nonce, one per line. */
export function agentSigningInput(method: string, pathWithQuery: string, unixSeconds: number, nonce: string): string {
  return `${AGENT_AUTH.context}\n${method.toUpperCase()}\n${pathWithQuery}\n${unixSeconds}\n${nonce}`;
}

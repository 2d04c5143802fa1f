/**
 * The HTTP API (fastify). Every `/v1` route has a JSON schema for its params, query and body with
 * `additionalProperties: false` (unknown fields are refused, never stripped or coerced); bodies
 * above `PROVISIONING_BODY_LIMIT_BYTES` get 413; `__proto__` / `constructor.prototype` in a body
 * is refused (400) before any handler sees it. ONE error handler shapes every error as
 * `{"error":{"code","message","field"?}}` (400s name the field, e.g. `body.slug`) and never
 * leaks internals: anything unexpected is logged and answered with a bare 500.
 *
 * The routes and their authentication are `PROVISIONING_ROUTES` (services/identity/names.ts);
 * the roles each tenant route needs are `TENANT_ACTIONS` there (the README has both as tables):
 * - `user`: a Keycloak access token (`aud` api): create a tenant, my tenants, my invitations,
 *   accept one, and select a tenant (`POST /v1/tenants/{id}/token` answers a tenant token);
 * - `tenant`: a tenant token for exactly the tenant in the path (another tenant's token answers
 *   404, like a missing tenant); the member's CURRENT role in the store decides, so a removal or a
 *   demotion takes effect here at once (other services and the gateway trust the token's role for
 *   its few minutes);
 * - `operator`: a Keycloak token with `aud` platform-operations and the realm role platform-admin;
 * - `webhook`: the billing provider's HMAC signature (billing.ts); `public`: the key set.
 * `GET /healthz`, `/readyz`, `/metrics` are unauthenticated probes.
 *
 * Authentication is decided by the route the router picked, not by the raw URL: every route needs a
 * verified access token unless its route config says `public: true` (only the three probes), and
 * an unmatched path needs one too. The check runs in `onRequest`, before the body is read or
 * parsed, so `/%761/tenants` (which routes to `/v1/tenants`) without a token gets 401 and its body
 * is never read. A tenant the caller is not a member of answers exactly like a missing one (404,
 * same body).
 *
 * Slow and numerous clients are bounded by `PROVISIONING_HEADERS_TIMEOUT_MS`,
 * `PROVISIONING_REQUEST_TIMEOUT_MS` (408 and closed), `PROVISIONING_IDLE_TIMEOUT_MS` (closed) and
 * `PROVISIONING_MAX_CONNECTIONS` (connections beyond are closed at once); see config.ts.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { TENANT_ID_FIX, TENANT_ID_PATTERN } from "../../../config/tenancy.js";
import { DEFAULT_PLAN_TIER, PLAN_TIER_NAMES, type PlanTierName } from "../../../config/tiers.js";
import { BILLING_WEBHOOK, JWKS_PATH, PROVISIONING_ROUTES, roleAtLeast, TENANT_ACTIONS, TENANT_ROLES, USER_ID_PATTERN, type RouteAuth, type TenantAction, type TenantRole } from "../../identity/names.js";
import { TokenRejectedError, type TenantPrincipal } from "../../identity/verify.js";
import { REALM_ROLES } from "../../keycloak-realm/names.js";
import { bearerToken, UnauthorizedError, type Principal, type TokenVerifier } from "./auth.js";
import { BillingSignatureError, type BillingWebhook } from "./billing.js";
import type { ControlPlane } from "./control-plane.js";
import { tenantView } from "./control-plane.js";
import { ApiError, forbidden, tenantNotFound, unavailable } from "./errors.js";
import type { Invitations } from "./invitations.js";
import type { PlatformKeys } from "./platform-keys.js";
import { createApiServer, serverErrorAnswer, type ErrorAnswer } from "../../runtime/api-server.js";
import type { HttpLimits } from "./config.js";
import type { ProvisioningMetrics } from "./metrics.js";
import type { BusMinter } from "./nats.js";
import { AgentAuthError, dataKeyId, type AgentPrincipal, type AgentVerifier } from "./agents.js";
import { PlaintextKeyCache, type DataKeyProvider } from "./datakeys.js";
import type { PlatformBus } from "./jobs.js";
import { PROJECT_ID_PATTERN } from "../../nats-auth/jetstream-names.js";
import { AGENT_AUTH } from "../../identity/names.js";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | TenantPrincipal | AgentPrincipal | null;
    /** The raw body of the billing webhook (its signature covers these bytes). */
    rawBody: string | undefined;
  }
  interface FastifyContextConfig {
    /** Served without an access token (the probes). @default false */
    public?: boolean;
    /** How the route is authenticated (PROVISIONING_ROUTES). */
    auth?: RouteAuth;
    /** For tenant routes: the action, whose weakest role TENANT_ACTIONS gives. */
    action?: TenantAction;
  }
}

const BILLING_SIGNATURE_HEADER = BILLING_WEBHOOK.signatureHeader;

/** Route options of the unauthenticated probes. */
const PUBLIC_ROUTE = { config: { public: true } } as const;

export const SLUG_PATTERN = "^[a-z0-9-]{3,63}$";
export const SLUG_FIX = "use 3-63 lower-case letters, digits and hyphens";
export const IDEMPOTENCY_KEY_PATTERN = "^[A-Za-z0-9_.:-]{1,128}$";
export const INVITATION_ID_PATTERN = "^inv[0-9a-f]{24}$";

export interface AppDeps {
  readonly plane: ControlPlane;
  /** Keycloak user tokens (`aud` api). */
  readonly verify: TokenVerifier;
  /** Keycloak operator tokens (`aud` platform-operations). */
  readonly verifyOperator: TokenVerifier;
  /** Tenant tokens (this service's own keys). */
  readonly verifyTenant: (token: string) => Promise<TenantPrincipal>;
  readonly keys: PlatformKeys;
  readonly invitations: Invitations;
  /** undefined = no webhook secret configured (503). */
  readonly billing: BillingWebhook | undefined;
  readonly minter: BusMinter | undefined;
  readonly metrics: ProvisioningMetrics;
  readonly log: Logger;
  readonly bodyLimitBytes: number;
  /** Timeouts and the connection cap of the HTTP server. */
  readonly http: HttpLimits;
  readonly credentialsTtlSeconds: number;
  /** Agents' credentials (the agent routes); undefined = no bus configured (401). */
  readonly agents: AgentVerifier | undefined;
  readonly dataKeys: DataKeyProvider;
  /** The platform-account connection (jobs); undefined = not configured (503). */
  readonly bus: PlatformBus | undefined;
  /** What the credentials answer tells agents besides the credentials. */
  readonly agentEndpoints: { readonly servers: readonly string[]; readonly ca: string | undefined; readonly api: string };
  /** Readiness: the store answers and the worker runs. */
  readonly ready: () => Promise<boolean>;
}

const noQuery = { type: "object", additionalProperties: false, properties: {} } as const;
const tenantParams = {
  type: "object",
  additionalProperties: false,
  required: ["tenantId"],
  properties: { tenantId: { type: "string", pattern: TENANT_ID_PATTERN.source } },
} as const;
const createBody = {
  type: "object",
  additionalProperties: false,
  required: ["name", "slug"],
  properties: {
    name: { type: "string", minLength: 1, maxLength: 100, pattern: "^[^\\u0000-\\u001F\\u007F]+$" },
    slug: { type: "string", pattern: SLUG_PATTERN },
  },
} as const;
const planBody = {
  type: "object",
  additionalProperties: false,
  required: ["planTier"],
  properties: { planTier: { type: "string", enum: [...PLAN_TIER_NAMES] } },
} as const;

/** A job's type: the handler the worker runs (lower-case, dots and hyphens). */
const JOB_TYPE_PATTERN = "^[a-z][a-z0-9.-]{0,63}$";
/** How long an agent may use the current data key before it asks again (a rotation reaches it within this). */
const DATA_KEY_REFRESH_SECONDS = 3_600;
/** How long a plaintext data key stays in this process's memory after use. */
const DATA_KEY_CACHE_MS = 300_000;

const FIXES: Record<string, string> = {
  "body.type": "use the job's type: lower-case letters, digits, '.' and '-' (e.g. changes.digest)",
  "body.input": "send the job's input as a JSON object of at most 64 properties",
  "body.jobId": "leave it out, or send a lower-case UUID (a retry with the same jobId is stored once)",
  "params.projectId": "use 1-128 letters, digits, '_' or '-'",
  "params.keyId": "use the key id of the sealed field (dk- and hex digits)",
  "body.payloadEncryption": "send true or false",
  "body.slug": SLUG_FIX,
  "params.tenantId": TENANT_ID_FIX,
  "params.publicKey": "use the publicKey the credential was minted with (U and 55 base32 characters)",
  "body.planTier": `every tenant starts on the ${DEFAULT_PLAN_TIER} tier and changes tier only through billing (or an operator): leave planTier out`,
  "body.role": `use one of ${TENANT_ROLES.join(", ")}`,
  "body.email": "use the invitee's e-mail address",
  "params.userId": "use the member's user id (from GET /v1/tenants/{tenantId}/members)",
  "params.invitationId": "use the invitation's id (inv and 24 hex digits)",
  "body.token": "use the token from the invitation e-mail's link (the part after #token=)",
  "body.name": "use 1-100 characters without control characters",
  "headers.idempotency-key": "use 1-128 letters, digits, '_', '.', ':' or '-'",
};

/** The answer to any error a route throws: the service's own errors, then the server's (services/runtime/api-server.ts). */
export function errorAnswer(error: FastifyError | Error, bodyLimitBytes: number): ErrorAnswer {
  if (error instanceof BillingSignatureError) return { status: 401, body: { error: { code: "bad_signature", message: error.message } }, internal: false };
  if (error instanceof UnauthorizedError || error instanceof TokenRejectedError) return { status: 401, body: { error: { code: "unauthorized", message: "a valid bearer access token is required" } }, internal: false };
  return serverErrorAnswer(error, bodyLimitBytes, FIXES);
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const { plane, metrics, log } = deps;
  // Slow, numerous and malformed clients: the platform API server's defences (services/runtime/api-server.ts).
  const app = createApiServer({ log, bodyLimitBytes: deps.bodyLimitBytes, http: deps.http });
  app.decorateRequest("principal", null);
  app.decorateRequest("rawBody", undefined);

  // Authentication by the route the router chose (percent-encoding, case or slashes in the raw URL
  // change nothing), before the body is read. An unmatched path needs a valid token of either kind.
  app.addHook("onRequest", async (req) => {
    const config = req.routeOptions.config;
    if (config?.public === true) return;
    const auth = config?.auth;
    if (auth === "public" || auth === "webhook") return;
    if (auth === "agent") {
      try {
        if (!deps.agents) throw new AgentAuthError("no bus configured on this deployment");
        req.principal = await deps.agents({ authorization: req.headers.authorization, signature: req.headers[AGENT_AUTH.signatureHeader] as string | undefined }, req.method, req.url);
      } catch (error) {
        if (error instanceof AgentAuthError) {
          req.log.info({ reqId: req.id, why: error.message }, "agent credentials refused");
          throw new UnauthorizedError("agent credentials refused");
        }
        throw error;
      }
      return;
    }
    const token = bearerToken(req.headers.authorization);
    if (auth === "user") req.principal = await deps.verify(token);
    else if (auth === "tenant") req.principal = await deps.verifyTenant(token);
    else if (auth === "operator") {
      const p = await deps.verifyOperator(token);
      if (!p.roles.has(REALM_ROLES.platformAdmin)) throw forbidden(`operator routes need the ${REALM_ROLES.platformAdmin} role`);
      req.principal = p;
    } else {
      req.principal = await deps.verify(token).catch(() => deps.verifyTenant(token));
    }
  });
  app.addHook("onSend", async (req, reply) => {
    reply.header("x-request-id", req.id);
    if (req.routeOptions.url !== JWKS_PATH) reply.header("cache-control", "no-store");
  });
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.url ?? "unmatched";
    metrics.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    metrics.duration.observe({ route, method: req.method }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((error: FastifyError, req, reply) => {
    const answer = errorAnswer(error, deps.bodyLimitBytes);
    if (answer.internal) req.log.error({ err: error, reqId: req.id, route: req.routeOptions.url }, "request failed");
    if (answer.status === 401) reply.header("www-authenticate", 'Bearer error="invalid_token"');
    return reply.code(answer.status).type("application/json").send(answer.body);
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).type("application/json").send({ error: { code: "not_found", message: "not found" } }));

  app.get("/healthz", PUBLIC_ROUTE, async () => ({ status: "ok" }));
  app.get("/readyz", PUBLIC_ROUTE, async (_req, reply) => {
    const ok = await deps.ready().catch(() => false);
    return reply.code(ok ? 200 : 503).send({ status: ok ? "ready" : "not ready" });
  });
  app.get("/metrics", PUBLIC_ROUTE, async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  const user = (req: FastifyRequest): Principal => {
    const p = req.principal;
    if (!p || p.kind !== "user") throw new UnauthorizedError("no user principal");
    return p;
  };
  /** The tenant token's principal, for the tenant in the path only (another tenant's token: the one not-found answer). */
  const tenantCaller = (req: FastifyRequest<{ Params: { tenantId: string } }>): TenantPrincipal => {
    const p = req.principal;
    if (!p || p.kind !== "tenant") throw new UnauthorizedError("no tenant principal");
    if (p.tenantId !== req.params.tenantId) throw tenantNotFound();
    return p;
  };
  /** The tenant token's principal of a route without a tenant in its path (the token says which). */
  const tokenTenant = (req: FastifyRequest): TenantPrincipal => {
    const p = req.principal;
    if (!p || p.kind !== "tenant") throw new UnauthorizedError("no tenant principal");
    return p;
  };
  const agent = (req: FastifyRequest): AgentPrincipal => {
    const p = req.principal;
    if (!p || p.kind !== "agent") throw new UnauthorizedError("no agent principal");
    return p;
  };
  /** Plaintext data keys for a few minutes: one KMS Decrypt per tenant per agent wave, not per request. */
  const keyCache = new PlaintextKeyCache(DATA_KEY_CACHE_MS);
  const plainKey = (tenantId: string, wrapped: NonNullable<AgentPrincipal["wrapped"]>): Promise<Buffer> => keyCache.get(tenantId, dataKeyId(wrapped), () => deps.dataKeys.unwrap(tenantId, wrapped));
  const keyAnswer = async (p: AgentPrincipal) => {
    if (!p.wrapped) throw unavailable("the tenant's data key is not created yet; retry shortly");
    return { tenantId: p.tenantId, encryption: p.tenant.payloadEncryption === true, keyId: dataKeyId(p.wrapped), algorithm: "AES-256-GCM", key: (await plainKey(p.tenantId, p.wrapped)).toString("base64"), refreshAfterSeconds: DATA_KEY_REFRESH_SECONDS };
  };

  /** The caller's membership, checked now in the store for the route's action. */
  const authorized = async (req: FastifyRequest<{ Params: { tenantId: string } }>) => {
    const p = tenantCaller(req);
    const action = req.routeOptions.config.action;
    if (!action) throw new Error(`route ${req.routeOptions.url} has no action`);
    return { p, ...(await plane.authorize(p.userId, p.tenantId, action)) };
  };

  /** Registers one route of PROVISIONING_ROUTES with its auth and action (the test compares both lists). */
  const route = <R extends { Params?: unknown; Body?: unknown; Querystring?: unknown; Headers?: unknown }>(
    method: (typeof PROVISIONING_ROUTES)[number]["method"],
    url: (typeof PROVISIONING_ROUTES)[number]["url"],
    schema: Record<string, unknown>,
    handler: (req: FastifyRequest<R>, reply: FastifyReply) => Promise<unknown>,
    extra: Record<string, unknown> = {},
  ) => {
    const spec = PROVISIONING_ROUTES.find((r) => r.method === method && r.url === url);
    if (!spec) throw new Error(`${method} ${url} is not in PROVISIONING_ROUTES`);
    app.route<R>({
      method,
      url,
      schema: { querystring: noQuery, ...schema },
      config: { auth: spec.auth, ...("action" in spec ? { action: spec.action } : {}) },
      handler: handler as never,
      ...extra,
    });
  };
  type TenantReq = { Params: { tenantId: string } };
  const emptyBodyIsObject = {
    preValidation: async (req: FastifyRequest) => {
      if (req.body === undefined || req.body === null) (req as { body: unknown }).body = {};
    },
  };

  // ---- the key set -------------------------------------------------------------------------
  route("GET", JWKS_PATH, {}, async (_req, reply) => {
    reply.header("cache-control", "public, max-age=300");
    return deps.keys.jwks();
  });

  // ---- user routes -------------------------------------------------------------------------
  route<{ Body: { name: string; slug: string }; Headers: { "idempotency-key"?: string } }>(
    "POST",
    "/v1/tenants",
    { body: createBody, headers: { type: "object", properties: { "idempotency-key": { type: "string", pattern: IDEMPOTENCY_KEY_PATTERN } } } },
    async (req, reply) => {
      const p = user(req);
      const idempotencyKey = req.headers["idempotency-key"];
      const answer = await plane.createTenant({ userId: p.userId, name: req.body.name, slug: req.body.slug, requestId: req.id, ...(p.email && p.emailVerified ? { email: p.email } : {}), ...(idempotencyKey !== undefined ? { idempotencyKey } : {}) });
      if (answer.replayed) reply.header("idempotent-replayed", "true");
      else if (answer.statusCode === 201) metrics.tenantsCreated.inc();
      return reply.code(answer.statusCode).send(answer.body);
    },
  );

  route("GET", "/v1/tenants", {}, async (req) => ({ tenants: await plane.tenantsOf(user(req).userId) }));

  route<TenantReq & { Body: Record<string, never> }>(
    "POST",
    "/v1/tenants/:tenantId/token",
    { params: tenantParams, body: { type: "object", additionalProperties: false, properties: {} } },
    async (req) => {
      const p = user(req);
      // Any member may select the tenant (tenant.read is every role's).
      const { tenant, member } = await plane.authorize(p.userId, req.params.tenantId, "tenant.read");
      const signed = await deps.keys.signTenantToken({ userId: p.userId, tenantId: tenant.id, planTier: tenant.planTier, role: member.role });
      metrics.tenantTokens.inc();
      return { access_token: signed.token, token_type: "Bearer", expires_in: signed.expiresAt - Math.floor(Date.now() / 1000), expires_at: signed.expiresAt, tenant_id: tenant.id, plan_tier: tenant.planTier, role: member.role };
    },
    emptyBodyIsObject,
  );

  route("GET", "/v1/invitations", {}, async (req) => ({ invitations: await deps.invitations.mine(user(req)) }));

  route<{ Body: { token?: string; invitationId?: string } }>(
    "POST",
    "/v1/invitations/accept",
    {
      body: {
        type: "object",
        additionalProperties: false,
        properties: { token: { type: "string", pattern: "^[A-Za-z0-9_-]{43}$" }, invitationId: { type: "string", pattern: INVITATION_ID_PATTERN } },
      },
    },
    async (req) => {
      const { token, invitationId } = req.body;
      if ((token === undefined) === (invitationId === undefined)) throw new ApiError(400, "invalid_request", "body needs exactly one of token (from the e-mail) or invitationId (from GET /v1/invitations)", "body.token");
      const accepted = await deps.invitations.accept(user(req), token !== undefined ? { secret: token } : { invitationId: invitationId as string });
      return { tenantId: accepted.tenantId, role: accepted.role, invitationId: accepted.invitationId };
    },
  );

  // ---- tenant routes -----------------------------------------------------------------------
  route<TenantReq>("GET", "/v1/tenants/:tenantId", { params: tenantParams }, async (req) => {
    const { tenant, member } = await authorized(req);
    return { tenant: tenantView(tenant), role: member.role };
  });

  route<TenantReq>("GET", "/v1/tenants/:tenantId/members", { params: tenantParams }, async (req) => {
    const { tenant } = await authorized(req);
    return { tenantId: tenant.id, members: (await plane.members(tenant.id)).map((m) => ({ userId: m.userId, role: m.role, addedAt: m.addedAt, ...(m.email ? { email: m.email } : {}) })) };
  });

  route<TenantReq>("GET", "/v1/tenants/:tenantId/limits", { params: tenantParams }, async (req) => {
    const { tenant } = await authorized(req);
    return { tenantId: tenant.id, planTier: tenant.planTier, limits: plane.limitsOf(tenant.planTier) };
  });

  route<TenantReq>("GET", "/v1/tenants/:tenantId/usage", { params: tenantParams }, async (req) => {
    const { tenant } = await authorized(req);
    const limits = plane.limitsOf(tenant.planTier);
    return {
      tenantId: tenant.id,
      planTier: tenant.planTier,
      usage: await plane.usage(tenant.id),
      allowances: { eventsPerDay: limits.events.perDay, busConnections: limits.bus.connections, busCredentialsPerDay: limits.bus.credentialsPerDay, members: limits.members.max, pendingInvitations: limits.members.pendingInvitations },
    };
  });

  const memberParams = {
    type: "object",
    additionalProperties: false,
    required: ["tenantId", "userId"],
    properties: { tenantId: tenantParams.properties.tenantId, userId: { type: "string", pattern: USER_ID_PATTERN.source } },
  } as const;
  const roleBody = { type: "object", additionalProperties: false, required: ["role"], properties: { role: { type: "string", enum: [...TENANT_ROLES] } } } as const;

  route<{ Params: { tenantId: string; userId: string }; Body: { role: TenantRole } }>("PUT", "/v1/tenants/:tenantId/members/:userId", { params: memberParams, body: roleBody }, async (req) => {
    const p = tenantCaller(req);
    const m = await plane.setRole(p.tenantId, p.userId, req.params.userId, req.body.role);
    return { tenantId: p.tenantId, userId: m.userId, role: m.role };
  });

  route<{ Params: { tenantId: string; userId: string } }>("DELETE", "/v1/tenants/:tenantId/members/:userId", { params: memberParams }, async (req, reply) => {
    const p = tenantCaller(req);
    await plane.removeMember(p.tenantId, p.userId, req.params.userId);
    return reply.code(204).send();
  });

  route<TenantReq & { Body: { email: string; role: TenantRole } }>(
    "POST",
    "/v1/tenants/:tenantId/invitations",
    {
      params: tenantParams,
      body: {
        type: "object",
        additionalProperties: false,
        required: ["email", "role"],
        properties: { email: { type: "string", maxLength: 254, pattern: "^[^\\s@<>()\\[\\],;:\"]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+$" }, role: { type: "string", enum: [...TENANT_ROLES] } },
      },
    },
    async (req, reply) => {
      const p = tenantCaller(req);
      return reply.code(201).send({ invitation: await deps.invitations.create(p.tenantId, p.userId, req.body.email, req.body.role) });
    },
  );

  route<TenantReq>("GET", "/v1/tenants/:tenantId/invitations", { params: tenantParams }, async (req) => {
    const p = tenantCaller(req);
    return { tenantId: p.tenantId, invitations: await deps.invitations.list(p.tenantId, p.userId) };
  });

  route<{ Params: { tenantId: string; invitationId: string } }>(
    "DELETE",
    "/v1/tenants/:tenantId/invitations/:invitationId",
    { params: { type: "object", additionalProperties: false, required: ["tenantId", "invitationId"], properties: { tenantId: tenantParams.properties.tenantId, invitationId: { type: "string", pattern: INVITATION_ID_PATTERN } } } },
    async (req) => {
      const p = tenantCaller(req);
      return { invitation: await deps.invitations.cancel(p.tenantId, p.userId, req.params.invitationId) };
    },
  );

  route<TenantReq & { Body: { ttlSeconds?: number } }>(
    "POST",
    "/v1/tenants/:tenantId/bus-credentials",
    { params: tenantParams, body: { type: "object", additionalProperties: false, properties: { ttlSeconds: { type: "integer", minimum: 60, maximum: deps.credentialsTtlSeconds } } } },
    async (req, reply) => {
      const { p, tenant } = await authorized(req);
      if (!deps.minter) throw unavailable("bus credentials are not configured on this deployment");
      const ttl = req.body?.ttlSeconds ?? deps.credentialsTtlSeconds;
      const creds = await deps.minter.mint(tenant.id, tenant.planTier, ttl, tenant.busAccount);
      // Recorded (and re-checked: still active, still a member, within the day's allowance) before it is handed out.
      await plane.recordCredential(tenant.id, { publicKey: creds.publicKey, userId: p.userId, issuedAt: Math.floor(Date.now() / 1000), expiresAt: creds.expiresAt });
      metrics.credentialsMinted.inc();
      return reply.code(201).send({
        tenantId: tenant.id,
        jwt: creds.jwt,
        seed: creds.seed,
        creds: creds.creds,
        publicKey: creds.publicKey,
        inboxPrefix: creds.inboxPrefix,
        expiresAt: creds.expiresAt,
        account: tenant.busAccount,
        subjects: [`swarm.${tenant.id}.>`],
        userId: p.userId,
        servers: deps.agentEndpoints.servers,
        ...(deps.agentEndpoints.ca ? { ca: deps.agentEndpoints.ca } : {}),
        api: deps.agentEndpoints.api,
      });
    },
    emptyBodyIsObject,
  );

  const credentialParams = {
    type: "object",
    additionalProperties: false,
    required: ["tenantId", "publicKey"],
    properties: { tenantId: tenantParams.properties.tenantId, publicKey: { type: "string", pattern: "^U[A-Z2-7]{55}$" } },
  } as const;
  route<{ Params: { tenantId: string; publicKey: string } }>("DELETE", "/v1/tenants/:tenantId/bus-credentials/:publicKey", { params: credentialParams }, async (req, reply) => {
    const p = tenantCaller(req);
    const revoked = await plane.revokeCredential(p.tenantId, p.userId, req.params.publicKey);
    return reply.code(202).send({ tenantId: p.tenantId, publicKey: revoked.publicKey, revokedAt: revoked.revokedAt });
  });

  route<TenantReq & { Body: { payloadEncryption: boolean } }>(
    "PATCH",
    "/v1/tenants/:tenantId",
    { params: tenantParams, body: { type: "object", additionalProperties: false, required: ["payloadEncryption"], properties: { payloadEncryption: { type: "boolean" } } } },
    async (req) => {
      const p = tenantCaller(req);
      return { tenant: await plane.setPayloadEncryption(p.tenantId, p.userId, req.body.payloadEncryption) };
    },
  );

  route<{ Params: { projectId: string }; Body: { type: string; input?: Record<string, unknown>; jobId?: string } }>(
    "POST",
    "/v1/projects/:projectId/jobs",
    {
      params: { type: "object", additionalProperties: false, required: ["projectId"], properties: { projectId: { type: "string", pattern: PROJECT_ID_PATTERN.source } } },
      body: {
        type: "object",
        additionalProperties: false,
        required: ["type"],
        properties: {
          type: { type: "string", pattern: JOB_TYPE_PATTERN },
          input: { type: "object", maxProperties: 64 },
          jobId: { type: "string", pattern: "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$" },
        },
      },
    },
    async (req, reply) => {
      const p = tokenTenant(req);
      const { tenant } = await plane.authorize(p.userId, p.tenantId, "jobs.submit");
      if (!deps.bus) throw unavailable("jobs are not configured on this deployment");
      const out = await deps.bus.submit(tenant, req.params.projectId, { type: req.body.type, input: req.body.input ?? {}, jobId: req.body.jobId }, p.userId);
      return reply.code(out.duplicate ? 200 : 202).send({ job: out.job, lane: out.subject, tier: tenant.planTier, sequence: out.sequence, duplicate: out.duplicate });
    },
  );

  // ---- agent routes: the agent's own bus credentials ---------------------------------------
  route("GET", "/v1/agent/data-key", {}, async (req) => {
    const p = agent(req);
    if (p.tenant.payloadEncryption !== true) return { tenantId: p.tenantId, encryption: false, refreshAfterSeconds: DATA_KEY_REFRESH_SECONDS };
    return keyAnswer(p);
  });

  route<{ Params: { keyId: string } }>(
    "GET",
    "/v1/agent/data-keys/:keyId",
    { params: { type: "object", additionalProperties: false, required: ["keyId"], properties: { keyId: { type: "string", pattern: "^dk-[0-9a-f]{16,64}$" } } } },
    async (req) => {
      const p = agent(req);
      if (!p.wrapped || dataKeyId(p.wrapped) !== req.params.keyId) throw new ApiError(404, "not_found", "no data key of this tenant has this id");
      return keyAnswer(p);
    },
  );

  // Offboarding answers 202 with the tenant's view: `history: "deleting"` (its messages and rows
  // are being deleted by the outbox). Repeating it is how the tenant's side follows the deletion:
  // the memberships are gone by then, so a repeat is answered to a tenant token (they live minutes)
  // whose role may offboard, with the tombstone's view, 202 while `deleting`, 200 once `deleted`
  // (with `historyDeletedAt`). Anyone else gets the one not-found answer.
  route<TenantReq>("DELETE", "/v1/tenants/:tenantId", { params: tenantParams }, async (req, reply) => {
    const p = tenantCaller(req);
    const gone = await plane.tenant(p.tenantId);
    if (gone?.status === "offboarded") {
      if (!roleAtLeast(p.role, TENANT_ACTIONS["tenant.offboard"].minRole)) throw tenantNotFound();
      const view = tenantView(gone);
      return reply.code(view.history === "deleted" ? 200 : 202).send({ tenant: view });
    }
    const { tenant } = await authorized(req);
    const view = await plane.offboard(tenant.id);
    metrics.tenantsOffboarded.inc();
    return reply.code(202).send({ tenant: view });
  });

  // ---- operator routes ---------------------------------------------------------------------
  route<TenantReq & { Body: { planTier: PlanTierName } }>("PUT", "/v1/admin/tenants/:tenantId/plan", { params: tenantParams, body: planBody }, async (req) => {
    const p = user(req);
    return { tenant: await plane.changePlan(req.params.tenantId, req.body.planTier, { kind: "operator", userId: p.userId, at: new Date().toISOString() }) };
  });

  route("GET", "/v1/admin/nats-revocations", {}, async () => ({ revocations: await plane.revocations() }));

  // ---- the billing provider's webhook ------------------------------------------------------
  // Its own JSON parser keeps the raw bytes: the signature covers exactly them.
  void app.register(async (scope) => {
    scope.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
      req.rawBody = body as string;
      try {
        done(null, JSON.parse(body as string));
      } catch {
        done(Object.assign(new Error("body is not JSON"), { statusCode: 400 }), undefined);
      }
    });
    scope.route({
      method: "POST",
      url: "/v1/billing/events",
      config: { auth: "webhook" },
      schema: {
        querystring: noQuery,
        body: {
          type: "object",
          additionalProperties: false,
          required: ["id", "type", "created", "data"],
          properties: {
            id: { type: "string", pattern: "^[A-Za-z0-9_.:-]{1,255}$" },
            type: { type: "string", enum: ["entitlement.updated"] },
            created: { type: "integer", minimum: 0 },
            data: {
              type: "object",
              additionalProperties: false,
              required: ["tenantId", "planTier"],
              properties: { tenantId: { type: "string", pattern: TENANT_ID_PATTERN.source }, planTier: { type: "string", enum: [...PLAN_TIER_NAMES] } },
            },
          },
        },
      },
      // The signature is checked before the body is validated or anything else looks at it.
      preValidation: async (req) => {
        if (!deps.billing) throw unavailable("the billing webhook is not configured on this deployment");
        deps.billing.verify(req.headers[BILLING_SIGNATURE_HEADER], req.rawBody ?? "");
      },
      handler: async (req: FastifyRequest<{ Body: { id: string; created: number; data: { tenantId: string; planTier: PlanTierName } } }>, reply: FastifyReply) => {
        const b = req.body;
        const answer = await plane.applyBillingEvent({ id: b.id, created: b.created, tenantId: b.data.tenantId, planTier: b.data.planTier });
        const body = answer.body as { applied?: boolean };
        metrics.billingEvents.inc({ outcome: answer.replayed ? "replayed" : body.applied ? "applied" : "stale" });
        if (answer.replayed) reply.header("idempotent-replayed", "true");
        return reply.code(answer.statusCode).send(answer.body);
      },
    });
  });

  return app;
}

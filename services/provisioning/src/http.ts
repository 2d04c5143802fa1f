/**
 * The HTTP API (fastify). Every `/v1` route has a JSON schema for its params, query and body with
 * `additionalProperties: false` (unknown fields are refused, never stripped or coerced); bodies
 * above `PROVISIONING_BODY_LIMIT_BYTES` get 413; `__proto__` / `constructor.prototype` in a body
 * is refused (400) before any handler sees it. ONE error handler shapes every error as
 * `{"error":{"code","message","field"?}}` (400s name the field, e.g. `body.slug`) and never
 * leaks internals: anything unexpected is logged and answered with a bare 500.
 *
 * | route | who | what |
 * |---|---|---|
 * | `POST /v1/tenants` | any user | create a tenant (`name`, `slug`, `planTier`); `Idempotency-Key` header |
 * | `GET /v1/tenants` | any user | the caller's tenants |
 * | `GET /v1/tenants/:tenantId` | member | the tenant |
 * | `GET /v1/tenants/:tenantId/members` | member | members and roles |
 * | `GET /v1/tenants/:tenantId/limits` | member | the plan tier's limits (from the catalog) |
 * | `GET /v1/tenants/:tenantId/usage` | member | usage counters |
 * | `POST /v1/tenants/:tenantId/bus-credentials` | member | a NATS user JWT + seed of the tenant's own account (`swarm.<tenant>.>`, expiring) |
 * | `DELETE /v1/tenants/:tenantId/bus-credentials/:publicKey` | its minter or a tenant admin | revoke one bus credential: the servers close its connections and refuse it |
 * | `PUT`/`PATCH /v1/tenants/:tenantId/plan` | `platform-admin` realm role | change the plan tier |
 * | `DELETE /v1/tenants/:tenantId` | tenant admin (or platform admin) | offboard |
 * | `GET /v1/admin/nats-revocations` | `platform-admin` | revoked bus credentials not yet expired (audit; the servers get them from the tenant accounts) |
 * | `GET /healthz`, `/readyz`, `/metrics` | unauthenticated | liveness, readiness, Prometheus |
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
import { randomUUID } from "node:crypto";
import Fastify, {
  LogController,
  type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { TENANT_ID_FIX, TENANT_ID_PATTERN } from "../../../config/tenancy.js";
import { PLAN_TIER_NAMES, type PlanTierName } from "../../../config/tiers.js";
import { REALM_ROLES } from "../../keycloak-realm/names.js";
import { UnauthorizedError, type Principal, type TokenVerifier } from "./auth.js";
import type { ControlPlane, TenantRecord } from "./control-plane.js";
import { tenantView } from "./control-plane.js";
import { ApiError, forbidden, tenantNotFound, unavailable } from "./errors.js";
import { httpTimeoutCheckIntervalMs } from "../contract.js";
import type { HttpLimits } from "./config.js";
import type { ProvisioningMetrics } from "./metrics.js";
import type { BusMinter } from "./nats.js";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Served without an access token (the probes). @default false */
    public?: boolean;
  }
}

/** Route options of the unauthenticated probes. */
const PUBLIC_ROUTE = { config: { public: true } } as const;

export const SLUG_PATTERN = "^[a-z0-9-]{3,63}$";
export const SLUG_FIX = "use 3-63 lower-case letters, digits and hyphens";
export const IDEMPOTENCY_KEY_PATTERN = "^[A-Za-z0-9_.:-]{1,128}$";

export interface AppDeps {
  readonly plane: ControlPlane;
  readonly verify: TokenVerifier;
  readonly minter: BusMinter | undefined;
  readonly metrics: ProvisioningMetrics;
  readonly log: Logger;
  readonly bodyLimitBytes: number;
  /** Timeouts and the connection cap of the HTTP server. */
  readonly http: HttpLimits;
  readonly credentialsTtlSeconds: number;
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
  required: ["name", "slug", "planTier"],
  properties: {
    name: { type: "string", minLength: 1, maxLength: 100, pattern: "^[^\\u0000-\\u001F\\u007F]+$" },
    slug: { type: "string", pattern: SLUG_PATTERN },
    planTier: { type: "string", enum: [...PLAN_TIER_NAMES] },
  },
} as const;
const planBody = {
  type: "object",
  additionalProperties: false,
  required: ["planTier"],
  properties: { planTier: { type: "string", enum: [...PLAN_TIER_NAMES] } },
} as const;

const FIXES: Record<string, string> = {
  "body.slug": SLUG_FIX,
  "params.tenantId": TENANT_ID_FIX,
  "params.publicKey": "use the publicKey the credential was minted with (U and 55 base32 characters)",
  "body.planTier": `use one of ${PLAN_TIER_NAMES.join(", ")}`,
  "body.name": "use 1-100 characters without control characters",
  "headers.idempotency-key": "use 1-128 letters, digits, '_', '.', ':' or '-'",
};

interface AjvIssue {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/** `body.slug` from a validation issue. */
function fieldOf(context: string, issue: AjvIssue): string {
  let path = issue.instancePath.replace(/^\//, "").split("/").filter(Boolean).join(".");
  const extra = issue.keyword === "required" ? issue.params.missingProperty : issue.keyword === "additionalProperties" ? issue.params.additionalProperty : undefined;
  if (typeof extra === "string") path = path ? `${path}.${extra}` : extra;
  return path ? `${context}.${path}` : context;
}

const safeField = (f: string) => f.replace(/[^A-Za-z0-9_.-]/g, "?").slice(0, 120);

export function errorAnswer(error: FastifyError | Error, bodyLimitBytes: number): { status: number; body: unknown; internal: boolean } {
  if (error instanceof ApiError) return { status: error.statusCode, body: error.body(), internal: false };
  if (error instanceof UnauthorizedError) return { status: 401, body: { error: { code: "unauthorized", message: "a valid bearer access token is required" } }, internal: false };
  const fe = error as FastifyError & { validation?: AjvIssue[]; validationContext?: string };
  if (fe.validation && fe.validation.length > 0) {
    const issue = fe.validation[0] as AjvIssue;
    const field = safeField(fieldOf(fe.validationContext ?? "body", issue));
    const problem = issue.keyword === "additionalProperties" ? "is not a known field" : issue.keyword === "required" ? "is required" : (issue.message ?? "is invalid");
    const fix = FIXES[field];
    return { status: 400, body: { error: { code: "invalid_request", field, message: `${field} ${problem}${fix ? `: ${fix}` : ""}` } }, internal: false };
  }
  switch (fe.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return { status: 413, body: { error: { code: "payload_too_large", message: `the request body exceeds ${bodyLimitBytes} bytes` } }, internal: false };
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return { status: 415, body: { error: { code: "unsupported_media_type", message: "send application/json" } }, internal: false };
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return { status: 400, body: { error: { code: "invalid_request", field: "body", message: "body is empty: send a JSON object" } }, internal: false };
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return { status: 400, body: { error: { code: "invalid_request", field: "headers.content-length", message: "content-length does not match the body" } }, internal: false };
  }
  const status = typeof fe.statusCode === "number" ? fe.statusCode : 500;
  if (status === 400) {
    // JSON syntax errors and prototype poisoning (secure-json-parse) come here.
    return { status: 400, body: { error: { code: "invalid_request", field: "body", message: "body is not valid JSON, or carries __proto__ / constructor.prototype" } }, internal: false };
  }
  if (status > 400 && status < 500) return { status, body: { error: { code: "invalid_request", message: "the request cannot be processed" } }, internal: false };
  return { status: 500, body: { error: { code: "internal", message: "internal error" } }, internal: true };
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const { plane, metrics, log } = deps;
  const app = Fastify({
    loggerInstance: log as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimitBytes,
    // Slow clients: headers, then the whole request, within their timeouts (408, closed); no
    // traffic for the idle timeout closes the connection (keep-alive ones too).
    requestTimeout: deps.http.requestTimeoutMs,
    connectionTimeout: deps.http.idleTimeoutMs,
    keepAliveTimeout: deps.http.idleTimeoutMs,
    http: {
      headersTimeout: deps.http.headersTimeoutMs,
      requestTimeout: deps.http.requestTimeoutMs,
      connectionsCheckingInterval: httpTimeoutCheckIntervalMs(deps.http.headersTimeoutMs),
    },
    onProtoPoisoning: "error",
    onConstructorPoisoning: "error",
    return503OnClosing: true,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
    routerOptions: { maxParamLength: 200 },
    // Malformed URLs (bad percent-encoding) and the like: the same answer shape as everything else.
    frameworkErrors: (_error, _req, reply) => {
      void (reply as unknown as { code(n: number): { type(t: string): { send(b: unknown): unknown } } }).code(400).type("application/json").send({ error: { code: "invalid_request", field: "url", message: "url is not a valid URL (check its percent-encoding)" } });
    },
  });
  // Numerous clients: connections beyond the cap are closed as they arrive.
  app.server.maxConnections = deps.http.maxConnections;
  app.decorateRequest("principal", null);

  // Every route but the public probes, and every unmatched path, by the route the router chose
  // (percent-encoding, case or slashes in the raw URL change nothing); before the body is read.
  app.addHook("onRequest", async (req) => {
    if (req.routeOptions.config?.public === true) return;
    req.principal = await deps.verify(req.headers.authorization);
  });
  app.addHook("onSend", async (req, reply) => {
    reply.header("x-request-id", req.id);
    reply.header("cache-control", "no-store");
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

  const principal = (req: FastifyRequest): Principal => {
    if (!req.principal) throw new UnauthorizedError("no principal");
    return req.principal;
  };
  const isPlatformAdmin = (p: Principal) => p.roles.has(REALM_ROLES.platformAdmin);

  /** The tenant if the caller is a member; the one not-found answer otherwise. */
  async function memberTenant(req: FastifyRequest, tenantId: string): Promise<{ tenant: TenantRecord; role: "admin" | "member" }> {
    const p = principal(req);
    const found = await plane.access(p.userId, tenantId);
    if (!found || !found.member) throw tenantNotFound();
    return { tenant: found.tenant, role: found.member.role };
  }

  type TenantReq = FastifyRequest<{ Params: { tenantId: string } }>;

  app.post<{ Body: { name: string; slug: string; planTier: PlanTierName }; Headers: { "idempotency-key"?: string } }>(
    "/v1/tenants",
    {
      schema: {
        body: createBody,
        querystring: noQuery,
        headers: { type: "object", properties: { "idempotency-key": { type: "string", pattern: IDEMPOTENCY_KEY_PATTERN } } },
      },
    },
    async (req, reply) => {
      const p = principal(req);
      const idempotencyKey = req.headers["idempotency-key"];
      const answer = await plane.createTenant({ userId: p.userId, name: req.body.name, slug: req.body.slug, planTier: req.body.planTier, requestId: req.id, ...(idempotencyKey !== undefined ? { idempotencyKey } : {}) });
      if (answer.replayed) reply.header("idempotent-replayed", "true");
      else if (answer.statusCode === 201) metrics.tenantsCreated.inc();
      return reply.code(answer.statusCode).send(answer.body);
    },
  );

  app.get("/v1/tenants", { schema: { querystring: noQuery } }, async (req) => ({ tenants: await plane.tenantsOf(principal(req).userId) }));

  app.get("/v1/tenants/:tenantId", { schema: { params: tenantParams, querystring: noQuery } }, async (req: TenantReq) => {
    const { tenant, role } = await memberTenant(req, req.params.tenantId);
    return { tenant: tenantView(tenant), role };
  });

  app.get("/v1/tenants/:tenantId/members", { schema: { params: tenantParams, querystring: noQuery } }, async (req: TenantReq) => {
    const { tenant } = await memberTenant(req, req.params.tenantId);
    return { tenantId: tenant.id, members: (await plane.members(tenant.id)).map((m) => ({ userId: m.userId, role: m.role, addedAt: m.addedAt })) };
  });

  app.get("/v1/tenants/:tenantId/limits", { schema: { params: tenantParams, querystring: noQuery } }, async (req: TenantReq) => {
    const { tenant } = await memberTenant(req, req.params.tenantId);
    return { tenantId: tenant.id, planTier: tenant.planTier, limits: plane.limitsOf(tenant.planTier) };
  });

  app.get("/v1/tenants/:tenantId/usage", { schema: { params: tenantParams, querystring: noQuery } }, async (req: TenantReq) => {
    const { tenant } = await memberTenant(req, req.params.tenantId);
    const limits = plane.limitsOf(tenant.planTier);
    return { tenantId: tenant.id, planTier: tenant.planTier, usage: await plane.usage(tenant.id), allowances: { eventsPerDay: limits.events.perDay, busConnections: limits.bus.connections } };
  });

  app.post<{ Params: { tenantId: string }; Body: { ttlSeconds?: number } | undefined }>(
    "/v1/tenants/:tenantId/bus-credentials",
    {
      schema: {
        params: tenantParams,
        querystring: noQuery,
        body: { type: "object", additionalProperties: false, properties: { ttlSeconds: { type: "integer", minimum: 60, maximum: deps.credentialsTtlSeconds } } },
      },
      preValidation: async (req) => {
        if (req.body === undefined || req.body === null) (req as { body: unknown }).body = {};
      },
    },
    async (req, reply) => {
      const p = principal(req);
      const { tenant } = await memberTenant(req, req.params.tenantId);
      if (!deps.minter) throw unavailable("bus credentials are not configured on this deployment");
      const ttl = req.body?.ttlSeconds ?? deps.credentialsTtlSeconds;
      const creds = await deps.minter.mint(tenant.id, tenant.planTier, ttl, tenant.busAccount);
      // Recorded (and re-checked: still active, still a member) before it is handed out.
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
      });
    },
  );

  const credentialParams = {
    type: "object",
    additionalProperties: false,
    required: ["tenantId", "publicKey"],
    properties: { tenantId: tenantParams.properties.tenantId, publicKey: { type: "string", pattern: "^U[A-Z2-7]{55}$" } },
  } as const;
  app.delete<{ Params: { tenantId: string; publicKey: string } }>("/v1/tenants/:tenantId/bus-credentials/:publicKey", { schema: { params: credentialParams, querystring: noQuery } }, async (req, reply) => {
    const p = principal(req);
    const { tenant, role } = await memberTenant(req, req.params.tenantId);
    const revoked = await plane.revokeCredential(tenant.id, p.userId, req.params.publicKey, role === "admin");
    return reply.code(202).send({ tenantId: tenant.id, publicKey: revoked.publicKey, revokedAt: revoked.revokedAt });
  });

  const changePlan = async (req: FastifyRequest<{ Params: { tenantId: string }; Body: { planTier: PlanTierName } }>) => {
    const p = principal(req);
    if (!isPlatformAdmin(p)) {
      await memberTenant(req, req.params.tenantId); // a non-member learns nothing: 404
      throw forbidden("changing the plan tier needs the platform-admin role");
    }
    return { tenant: await plane.changePlan(req.params.tenantId, req.body.planTier) };
  };
  const planSchema = { schema: { params: tenantParams, querystring: noQuery, body: planBody } };
  app.put("/v1/tenants/:tenantId/plan", planSchema, changePlan);
  app.patch("/v1/tenants/:tenantId/plan", planSchema, changePlan);

  app.delete("/v1/tenants/:tenantId", { schema: { params: tenantParams, querystring: noQuery } }, async (req: TenantReq, reply) => {
    const p = principal(req);
    if (!isPlatformAdmin(p)) {
      const { role } = await memberTenant(req, req.params.tenantId);
      if (role !== "admin") throw forbidden("offboarding needs the tenant's admin");
    } else if (!(await plane.tenant(req.params.tenantId)) || (await plane.tenant(req.params.tenantId))?.status !== "active") {
      throw tenantNotFound();
    }
    const view = await plane.offboard(req.params.tenantId);
    metrics.tenantsOffboarded.inc();
    return reply.code(202).send({ tenant: view });
  });

  app.get("/v1/admin/nats-revocations", { schema: { querystring: noQuery } }, async (req) => {
    if (!isPlatformAdmin(principal(req))) throw forbidden("needs the platform-admin role");
    return { revocations: await plane.revocations() };
  });

  return app;
}

/**
 * The events API's HTTP surface (fastify): exactly the routes of `EVENTS_API_ROUTES`
 * (services/identity/names.ts), each with a JSON schema for its params, query and body
 * (`additionalProperties: false`: unknown fields are refused, never stripped or coerced), plus
 * the unauthenticated probes `/healthz`, `/readyz` and `/metrics`.
 *
 * - Authentication: every route but the probes, and every unmatched path, needs a tenant token
 *   (`Authorization: Bearer`), verified by the one verifier (services/identity/verify.ts) against
 *   the provisioning service's key set. It runs in `onRequest`, before a body is read. The tenant
 *   of every query is the token's: no route takes a tenant from its path or query.
 * - Authorization: the route's action (`TENANT_ACTIONS`: `events.read` for the reads, viewer and
 *   above; `jobs.submit` for replays, member and above) against the token's role; 403 names the
 *   role needed. A replay is checked again by the provisioning service against the member's
 *   current role.
 * - Another tenant's event, state or resource answers exactly like a missing one.
 * - ONE error shape, `{"error":{"code","message","field"?}}`: a 400 names the field and the fix;
 *   plan limits of ClickHouse are 429 / 504 (clickhouse.ts); anything unexpected is logged and
 *   answered with a bare 500.
 */
import { fromBinary } from "@bufbuild/protobuf";
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { TierCatalog } from "../../../config/tiers.js";
import {
  AGENT_ID_PATTERN,
  crashContextQuery,
  decodeCursor,
  encodeCursor,
  EVENT_ID_PATTERN,
  EVENT_TYPES,
  eventQuery,
  formatDateTime64,
  hallucinationLoopsQuery,
  knownHashesQuery,
  RESOURCE_MAX_LENGTH,
  stateAtQuery,
  stateByHashQuery,
  stateHistoryQuery,
  STATE_HASH_PATTERN,
  timelineQuery,
  usageQuery,
  type CrashContextRow,
  type EventRow,
  type EventType,
  type HallucinationLoopRow,
  type KnownHashRow,
  type PageCursor,
  type StateChangeRow,
  type TimelineRow,
  type UsageRow,
} from "../../clickhouse-schema/index.js";
import { EVENTS_API_ROUTES, roleAtLeast, TENANT_ACTIONS, type TenantAction } from "../../identity/names.js";
import { TokenRejectedError, type TenantPrincipal } from "../../identity/verify.js";
import { ChangeKind, SignalKind, SwarmEventSchema, type SwarmEvent } from "../../ingestor/src/gen/enchanted/events/v1/events_pb.js";
import { PROJECT_ID_PATTERN } from "../../nats-auth/jetstream-names.js";
import { EncryptionError } from "../../../sdk/errors.js";
import { openEvent } from "../../../sdk/cipher.js";
import { createApiServer, serverErrorAnswer, type ErrorAnswer } from "../../runtime/api-server.js";
import { EVENTS_API_HTTP_PATHS, EVENTS_API_KNOWN_HASHES_MAX, EVENTS_API_PAGE } from "../contract.js";
import type { TenantReader } from "./clickhouse.js";
import type { EventsApiHttpLimits } from "./config.js";
import type { DataKeySource } from "./datakeys.js";
import { badRequest, forbidden, notFound } from "./errors.js";
import type { EventsApiMetrics } from "./metrics.js";
import { JobsApiError, replayJobId, type ProvisioningJobs } from "./replays.js";

declare module "fastify" {
  interface FastifyRequest {
    tenant: TenantPrincipal | null;
  }
  interface FastifyContextConfig {
    /** Served without a token (the probes). @default false */
    public?: boolean;
    /** For the API's routes: the action, whose weakest role TENANT_ACTIONS gives. */
    action?: TenantAction;
  }
}

export interface AppDeps {
  readonly verifyTenant: (token: string) => Promise<TenantPrincipal>;
  readonly reader: TenantReader;
  readonly catalog: TierCatalog;
  /** undefined = this deployment cannot open encrypted payloads (answered without plaintext). */
  readonly dataKeys: DataKeySource | undefined;
  readonly jobs: ProvisioningJobs;
  readonly metrics: EventsApiMetrics;
  readonly log: Logger;
  readonly bodyLimitBytes: number;
  readonly http: EventsApiHttpLimits;
  /** Readiness: the readers (and the data-key store) answer, and the service is not stopping. */
  readonly ready: () => Promise<boolean>;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** A token that is missing or malformed (a forged or expired one is a TokenRejectedError). */
class UnauthorizedError extends Error {
  override readonly name = "UnauthorizedError";
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/;

function bearerToken(authorization: string | undefined): string {
  const m = authorization ? BEARER.exec(authorization) : null;
  if (!m) throw new UnauthorizedError("missing or malformed bearer token");
  return m[1] as string;
}

// ---- input shapes ------------------------------------------------------------------------------

/** RFC 3339 with a zone (`Z` or `±hh:mm`), fractions to the nanosecond (kept to the microsecond). */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;
const RFC3339_SOURCE = "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$";
const MOMENT_FIX = "use an RFC 3339 time with its zone, e.g. 2025-11-21T15:00:00Z or 2025-11-21T16:00:00.250+01:00";
const WHOLE = "^[0-9]{1,12}$";
const CURSOR_SOURCE = "^[A-Za-z0-9_-]{1,256}$";
const moment = { type: "string", maxLength: 40, pattern: RFC3339_SOURCE } as const;
const whole = { type: "string", pattern: WHOLE } as const;
const cursor = { type: "string", pattern: CURSOR_SOURCE } as const;
const projectIdSchema = { type: "string", pattern: PROJECT_ID_PATTERN.source } as const;
const resourceSchema = { type: "string", minLength: 1, maxLength: RESOURCE_MAX_LENGTH } as const;
const noQuery = { type: "object", additionalProperties: false, properties: {} } as const;
const query = (properties: Record<string, unknown>, required: readonly string[] = []) => ({ type: "object", additionalProperties: false, required, properties }) as const;

/** The fix of each field a 400 names. */
const FIXES: Record<string, string> = {
  "params.agentId": "use the agent_id of the events: 1-128 letters, digits and _ . : @ -, starting with a letter or digit",
  "params.eventId": "use the event's event_id: a canonical lower-case UUID",
  "params.projectId": "use 1-128 letters, digits, '_' or '-'",
  "querystring.before": MOMENT_FIX,
  "querystring.until": MOMENT_FIX,
  "querystring.from": MOMENT_FIX,
  "querystring.to": MOMENT_FIX,
  "querystring.limit": `use a whole number from 1 to ${EVENTS_API_PAGE.max}`,
  "querystring.windowSeconds": "use a whole number of seconds from 1 to 31536000",
  "querystring.minModifications": "use a whole number from 0 to 1000000000",
  "querystring.cursor": "pass the nextCursor of the previous page unchanged, or leave it out for the first page",
  "querystring.projectId": "use 1-128 letters, digits, '_' or '-'",
  "querystring.agentId": "use 1-128 letters, digits and _ . : @ -, starting with a letter or digit",
  "querystring.eventType": `use one of ${EVENT_TYPES.join(", ")}`,
  "querystring.resource": `use the resource's target_resource, 1-${RESOURCE_MAX_LENGTH} characters`,
  "body.resource": `use the resource's target_resource, 1-${RESOURCE_MAX_LENGTH} characters`,
  "body.stateHash": "use the state's hash: 64 lower-case hex digits (SHA-256), from the state history",
  "body.at": MOMENT_FIX,
};

/** A whole-number query value within bounds; `fallback` when absent. */
function wholeParam(field: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!/^[0-9]{1,12}$/.test(raw) || !Number.isSafeInteger(v) || v < min || v > max) throw badRequest(`querystring.${field}`, `querystring.${field} = ${JSON.stringify(raw)} is not a whole number from ${min} to ${max}: use one (or leave it out for ${fallback})`);
  return v;
}

/** An RFC 3339 time as a DateTime64(6) literal (UTC), or a 400 naming the field. */
export function momentParam(field: string, raw: string): string {
  const m = RFC3339.exec(raw);
  const bad = () => badRequest(field, `${field} = ${JSON.stringify(raw)} is not a time: ${MOMENT_FIX}`);
  if (!m) throw bad();
  const [, y, mo, d, h, mi, s, fraction = "", zone = "Z"] = m as unknown as string[];
  const year = Number(y);
  const utc = Date.UTC(year, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const check = new Date(utc);
  // A calendar day that exists (no 30 February), a time of day that exists, a year ClickHouse holds.
  if (year < 1970 || year > 2261 || check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) throw bad();
  let offsetMinutes = 0;
  if (zone !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const [oh, om] = zone.slice(1).split(":").map(Number) as [number, number];
    if (oh > 23 || om > 59) throw bad();
    offsetMinutes = sign * (oh * 60 + om);
  }
  const seconds = BigInt(utc / 1000 - offsetMinutes * 60);
  const micros = seconds * 1_000_000n + BigInt(fraction.padEnd(6, "0").slice(0, 6) || "0");
  if (micros < 0n) throw bad();
  return formatDateTime64(micros);
}

/** A DateTime64 literal ('YYYY-MM-DD hh:mm:ss[.f]') as RFC 3339 UTC. */
export function rfc3339(literal: string): string {
  return `${literal.replace(" ", "T")}Z`;
}

function cursorParam(raw: string | undefined): PageCursor | undefined {
  if (raw === undefined) return undefined;
  try {
    return decodeCursor(raw, "querystring.cursor");
  } catch {
    throw badRequest("querystring.cursor", `querystring.cursor is not a cursor of this API: ${FIXES["querystring.cursor"]}`);
  }
}

const roleName = (role: string): string | null => (role === "UNSPECIFIED" ? null : role.toLowerCase());
const nonEmpty = (text: string): string | null => (text === "" ? null : text);

/** A row of the timeline (and the head of one event), in the API's names. */
function eventView(r: TimelineRow) {
  return {
    eventId: r.event_id,
    timestamp: rfc3339(r.timestamp),
    eventType: r.event_type,
    agentId: r.agent_id,
    agentRole: roleName(r.agent_role),
    userId: r.user_id,
    projectId: r.project_id,
    encrypted: r.is_encrypted,
    confidenceScore: r.event_type === "decision" ? r.confidence_score : null,
    // An encrypted decision's rationale is ciphertext, kept out of the columns by the ingestor.
    rationale: r.event_type === "decision" && !r.is_encrypted ? r.rationale : null,
    targetResource: r.event_type === "state_change" ? r.target_resource : null,
    stateHash: r.event_type === "state_change" ? r.state_hash : null,
    traceId: nonEmpty(r.trace_id),
    spanId: nonEmpty(r.span_id),
  };
}

const CHANGE_NAMES: Record<number, string> = { [ChangeKind.UNSPECIFIED]: "unspecified", [ChangeKind.CREATED]: "created", [ChangeKind.MODIFIED]: "modified", [ChangeKind.DELETED]: "deleted" };
const SIGNAL_NAMES: Record<number, string> = {
  [SignalKind.UNSPECIFIED]: "unspecified",
  [SignalKind.STARTED]: "started",
  [SignalKind.HEARTBEAT]: "heartbeat",
  [SignalKind.STOPPED]: "stopped",
  [SignalKind.CRASHED]: "crashed",
  [SignalKind.THROTTLED]: "throttled",
};

/** The payload of a (clear or opened) event, in the API's names. */
function payloadView(e: SwarmEvent): Record<string, unknown> | null {
  const p = e.payload;
  if (p.case === "decision") return { kind: "decision", confidenceScore: p.value.confidenceScore, rationale: p.value.rationale, action: p.value.action, alternatives: [...p.value.alternatives] };
  if (p.case === "stateChange")
    return { kind: "state_change", targetResource: p.value.targetResource, stateHash: p.value.stateHash, previousStateHash: p.value.previousStateHash, change: CHANGE_NAMES[p.value.changeKind] ?? "unspecified", summary: p.value.summary };
  if (p.case === "systemSignal") return { kind: "system_signal", signal: SIGNAL_NAMES[p.value.kind] ?? "unspecified", message: p.value.message };
  return null;
}

/** Why an event is answered without its payload. */
type PayloadReason = "key_destroyed" | "key_unavailable" | "undecryptable" | "not_stored";

class DataKeyGone extends Error {
  constructor(readonly keyId: string) {
    super(`data key ${keyId} is gone`);
  }
}

function pageOf<R extends { timestamp: string; event_id: string }>(rows: readonly R[], size: number): { rows: readonly R[]; nextCursor: string | null } {
  if (rows.length <= size) return { rows, nextCursor: null };
  const page = rows.slice(0, size);
  const last = page[page.length - 1] as R;
  return { rows: page, nextCursor: encodeCursor({ timestamp: last.timestamp, eventId: last.event_id }) };
}

/** The answer to any error a route throws. */
export function errorAnswer(error: FastifyError | Error, bodyLimitBytes: number): ErrorAnswer {
  if (error instanceof UnauthorizedError || error instanceof TokenRejectedError) return { status: 401, body: { error: { code: "unauthorized", message: "a valid tenant token is required (Authorization: Bearer <token from POST /v1/tenants/{tenantId}/token>)" } }, internal: false };
  return serverErrorAnswer(error, bodyLimitBytes, FIXES);
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const { metrics, reader } = deps;
  const now = deps.now ?? (() => new Date());
  const app = createApiServer({ log: deps.log, bodyLimitBytes: deps.bodyLimitBytes, http: deps.http });
  // JSON bodies only: a text/plain body is 415, never parsed.
  app.removeContentTypeParser("text/plain");
  app.decorateRequest("tenant", null);

  // The tenant token, by the route the router chose, before any body is read; unmatched paths too.
  app.addHook("onRequest", async (req) => {
    if (req.routeOptions.config?.public === true) return;
    req.tenant = await deps.verifyTenant(bearerToken(req.headers.authorization));
  });
  // The token's role against the route's action.
  app.addHook("preValidation", async (req) => {
    const action = req.routeOptions.config?.action;
    if (!action || !req.tenant) return;
    const needed = TENANT_ACTIONS[action].minRole;
    if (!roleAtLeast(req.tenant.role, needed)) throw forbidden(`${action} needs the ${needed} role or stronger; your token's role is ${req.tenant.role}`);
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
    for (const [name, value] of Object.entries(answer.headers ?? {})) reply.header(name, value);
    return reply.code(answer.status).type("application/json").send(answer.body);
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).type("application/json").send({ error: { code: "not_found", message: "not found" } }));

  const PUBLIC = { config: { public: true } } as const;
  app.get(EVENTS_API_HTTP_PATHS.health, PUBLIC, async () => ({ status: "ok" }));
  app.get(EVENTS_API_HTTP_PATHS.ready, PUBLIC, async (_req, reply) => {
    const ok = await deps.ready().catch(() => false);
    return reply.code(ok ? 200 : 503).send({ status: ok ? "ready" : "not ready" });
  });
  app.get(EVENTS_API_HTTP_PATHS.metrics, PUBLIC, async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  const caller = (req: FastifyRequest): TenantPrincipal => {
    if (!req.tenant) throw new UnauthorizedError("no tenant principal");
    return req.tenant;
  };

  const registered = new Set<string>();
  /** Registers one route of EVENTS_API_ROUTES with its action (a test compares both lists). */
  const route = <R extends { Params?: unknown; Body?: unknown; Querystring?: unknown }>(
    method: (typeof EVENTS_API_ROUTES)[number]["method"],
    url: (typeof EVENTS_API_ROUTES)[number]["url"],
    schema: Record<string, unknown>,
    handler: (req: FastifyRequest<R>, reply: FastifyReply, p: TenantPrincipal) => Promise<unknown>,
  ) => {
    const spec = EVENTS_API_ROUTES.find((r) => r.method === method && r.url === url);
    if (!spec) throw new Error(`${method} ${url} is not in EVENTS_API_ROUTES`);
    registered.add(`${method} ${url}`);
    app.route<R>({
      method,
      url,
      schema: { querystring: noQuery, ...schema },
      config: { action: spec.action },
      handler: ((req: FastifyRequest<R>, reply: FastifyReply) => handler(req, reply, caller(req))) as never,
    });
  };

  // ---- crash context -----------------------------------------------------------------------
  route<{ Params: { agentId: string }; Querystring: { before?: string; limit?: string } }>(
    "GET",
    "/v1/agents/:agentId/crash-context",
    {
      params: { type: "object", additionalProperties: false, required: ["agentId"], properties: { agentId: { type: "string", pattern: AGENT_ID_PATTERN.source } } },
      querystring: query({ before: moment, limit: whole }),
    },
    async (req, _reply, p) => {
      const before = req.query.before !== undefined ? momentParam("querystring.before", req.query.before) : formatDateTime64(BigInt(now().getTime()) * 1000n);
      const limit = wholeParam("limit", req.query.limit, 10, 1, EVENTS_API_PAGE.max);
      const rows = await reader.query<CrashContextRow>("/v1/agents/:agentId/crash-context", p, crashContextQuery({ tenantId: p.tenantId, agentId: req.params.agentId, before, limit }));
      return {
        agentId: req.params.agentId,
        before: rfc3339(before),
        decisions: rows.map((r) => ({ eventId: r.event_id, timestamp: rfc3339(r.timestamp), agentRole: roleName(r.agent_role), confidenceScore: r.confidence_score, rationale: r.rationale, traceId: nonEmpty(r.trace_id), spanId: nonEmpty(r.span_id) })),
      };
    },
  );

  // ---- hallucination loops -----------------------------------------------------------------
  route<{ Querystring: { until?: string; windowSeconds?: string; minModifications?: string; limit?: string } }>(
    "GET",
    "/v1/loops",
    { querystring: query({ until: moment, windowSeconds: whole, minModifications: whole, limit: whole }) },
    async (req, _reply, p) => {
      const until = req.query.until !== undefined ? momentParam("querystring.until", req.query.until) : formatDateTime64(BigInt(now().getTime()) * 1000n);
      const windowSeconds = wholeParam("windowSeconds", req.query.windowSeconds, 3_600, 1, 31_536_000);
      const minModifications = wholeParam("minModifications", req.query.minModifications, 5, 0, 1_000_000_000);
      const limit = wholeParam("limit", req.query.limit, EVENTS_API_PAGE.default, 1, EVENTS_API_PAGE.max);
      const rows = await reader.query<HallucinationLoopRow>("/v1/loops", p, hallucinationLoopsQuery({ tenantId: p.tenantId, until, windowSeconds, minModifications, limit }));
      return {
        until: rfc3339(until),
        windowSeconds,
        minModifications,
        loops: rows.map((r) => ({ projectId: r.project_id, resource: r.target_resource, modifications: r.modifications, agents: r.agents, firstModified: rfc3339(r.first_modified), lastModified: rfc3339(r.last_modified) })),
      };
    },
  );

  // ---- timeline ----------------------------------------------------------------------------
  route<{ Querystring: { projectId?: string; agentId?: string; eventType?: EventType; from?: string; to?: string; cursor?: string; limit?: string } }>(
    "GET",
    "/v1/events",
    {
      querystring: query({
        projectId: projectIdSchema,
        agentId: { type: "string", pattern: AGENT_ID_PATTERN.source },
        eventType: { type: "string", enum: [...EVENT_TYPES] },
        from: moment,
        to: moment,
        cursor,
        limit: whole,
      }),
    },
    async (req, _reply, p) => {
      const q = req.query;
      const size = wholeParam("limit", q.limit, EVENTS_API_PAGE.default, 1, EVENTS_API_PAGE.max);
      const from = q.from !== undefined ? momentParam("querystring.from", q.from) : undefined;
      const to = q.to !== undefined ? momentParam("querystring.to", q.to) : undefined;
      if (from !== undefined && to !== undefined && from >= to) throw badRequest("querystring.to", `querystring.to (${q.to}) is not after querystring.from (${q.from}): set to later than from`);
      const rows = await reader.query<TimelineRow>(
        "/v1/events",
        p,
        timelineQuery({
          tenantId: p.tenantId,
          ...(q.projectId !== undefined ? { projectId: q.projectId } : {}),
          ...(q.agentId !== undefined ? { agentId: q.agentId } : {}),
          ...(q.eventType !== undefined ? { eventType: q.eventType } : {}),
          ...(from !== undefined ? { from } : {}),
          ...(to !== undefined ? { to } : {}),
          ...(q.cursor !== undefined ? { cursor: cursorParam(q.cursor) as PageCursor } : {}),
          limit: size + 1,
        }),
      );
      const page = pageOf(rows, size);
      return { events: page.rows.map(eventView), nextCursor: page.nextCursor };
    },
  );

  // ---- one event ---------------------------------------------------------------------------
  route<{ Params: { eventId: string } }>(
    "GET",
    "/v1/events/:eventId",
    { params: { type: "object", additionalProperties: false, required: ["eventId"], properties: { eventId: { type: "string", pattern: EVENT_ID_PATTERN.source } } } },
    async (req, _reply, p) => {
      const [row] = await reader.query<EventRow>("/v1/events/:eventId", p, eventQuery({ tenantId: p.tenantId, eventId: req.params.eventId }));
      if (!row) throw notFound("event not found", "params.eventId");
      return { event: { ...eventView(row), ingestedAt: rfc3339(row.ingested_at), ...(await payloadOf(row, p, req.log)) } };
    },
  );

  /** The event's payload from its stored bytes, opened with the tenant's data key when encrypted. */
  const payloadOf = async (row: EventRow, p: TenantPrincipal, log: FastifyBaseLogger): Promise<Record<string, unknown>> => {
    const without = (reason: PayloadReason, detail: string) => {
      if (row.is_encrypted) metrics.decryptions.inc({ outcome: reason === "undecryptable" || reason === "not_stored" ? "failed" : reason });
      return { payload: null, ...(row.is_encrypted ? { decrypted: false } : {}), reason, detail };
    };
    let event: SwarmEvent;
    try {
      event = fromBinary(SwarmEventSchema, Buffer.from(row.raw_proto_base64, "base64"));
    } catch (error) {
      log.warn({ eventId: row.event_id, err: String(error) }, "stored event bytes do not decode");
      return without("not_stored", "the stored event bytes cannot be decoded");
    }
    if (row.raw_proto_base64 === "" || event.eventId !== row.event_id || event.tenantId !== p.tenantId) return without("not_stored", "the event's serialized bytes are not stored with it");
    if (!event.isEncrypted) return { payload: payloadView(event) };
    if (!deps.dataKeys) return without("key_unavailable", "this deployment has no access to the tenants' data keys: the payload stays sealed");
    const source = deps.dataKeys;
    try {
      const opened = await openEvent(event, async (keyId) => {
        const key = await source.key(p.tenantId, keyId);
        if (!key) throw new DataKeyGone(keyId);
        return { keyId, key };
      });
      metrics.decryptions.inc({ outcome: "decrypted" });
      return { payload: payloadView(opened), decrypted: true };
    } catch (error) {
      if (error instanceof DataKeyGone) return without("key_destroyed", `the tenant's data key ${error.keyId} no longer exists (destroyed when the tenant was offboarded): the payload cannot be opened`);
      if (error instanceof EncryptionError) {
        log.warn({ eventId: row.event_id, err: error.message }, "encrypted payload does not open");
        return without("undecryptable", "the payload does not open with the tenant's data key (altered, or sealed for another event)");
      }
      log.warn({ eventId: row.event_id, err: String(error) }, "data key unavailable");
      return without("key_unavailable", "the tenant's data key cannot be fetched right now: retry shortly");
    }
  };

  // ---- a resource's state history ----------------------------------------------------------
  const projectParams = { type: "object", additionalProperties: false, required: ["projectId"], properties: { projectId: projectIdSchema } } as const;
  const stateView = (r: StateChangeRow) => ({ eventId: r.event_id, timestamp: rfc3339(r.timestamp), stateHash: r.state_hash, deleted: r.state_hash === "", agentId: r.agent_id, agentRole: roleName(r.agent_role), userId: r.user_id, encrypted: r.is_encrypted });

  route<{ Params: { projectId: string }; Querystring: { resource: string; cursor?: string; limit?: string } }>(
    "GET",
    "/v1/projects/:projectId/state-history",
    { params: projectParams, querystring: query({ resource: resourceSchema, cursor, limit: whole }, ["resource"]) },
    async (req, _reply, p) => {
      const size = wholeParam("limit", req.query.limit, EVENTS_API_PAGE.default, 1, EVENTS_API_PAGE.max);
      const after = cursorParam(req.query.cursor);
      const rows = await reader.query<StateChangeRow>(
        "/v1/projects/:projectId/state-history",
        p,
        stateHistoryQuery({ tenantId: p.tenantId, projectId: req.params.projectId, resource: req.query.resource, limit: size + 1, ...(after ? { cursor: after } : {}) }),
      );
      const page = pageOf(rows, size);
      return { projectId: req.params.projectId, resource: req.query.resource, states: page.rows.map(stateView), nextCursor: page.nextCursor };
    },
  );

  // ---- usage -------------------------------------------------------------------------------
  route("GET", "/v1/usage", {}, async (_req, _reply, p) => {
    const today = now();
    const [row] = await reader.query<UsageRow>("/v1/usage", p, usageQuery({ tenantId: p.tenantId, today }));
    const n = (v: string | number | undefined) => Number(v ?? 0);
    const perDay = deps.catalog[p.planTier].events.perDay;
    const eventsToday = n(row?.events_today);
    return {
      planTier: p.planTier,
      day: today.toISOString().slice(0, 10),
      month: today.toISOString().slice(0, 7),
      events: { today: eventsToday, thisMonth: n(row?.events_month), allowancePerDay: perDay, remainingToday: Math.max(0, perDay - eventsToday) },
      overQuota: eventsToday >= perDay,
      rejected: {
        quota: { today: n(row?.rejected_quota_today), thisMonth: n(row?.rejected_quota_month) },
        expired: { today: n(row?.rejected_expired_today), thisMonth: n(row?.rejected_expired_month) },
      },
    };
  });

  // ---- replays -----------------------------------------------------------------------------
  route<{ Params: { projectId: string }; Body: { resource: string; stateHash?: string; at?: string } }>(
    "POST",
    "/v1/projects/:projectId/replays",
    {
      params: projectParams,
      body: {
        type: "object",
        additionalProperties: false,
        required: ["resource"],
        properties: { resource: resourceSchema, stateHash: { type: "string", pattern: STATE_HASH_PATTERN.source }, at: moment },
      },
    },
    async (req, reply, p) => {
      const { resource, stateHash, at } = req.body;
      const projectId = req.params.projectId;
      const exactlyOne = "send exactly one of body.stateHash (a state the resource was in) or body.at (the state it was in at that time)";
      if (stateHash === undefined && at === undefined) throw badRequest("body.stateHash", `body.stateHash (or body.at) is required: ${exactlyOne}`);
      if (stateHash !== undefined && at !== undefined) throw badRequest("body.at", `body.at is set together with body.stateHash: ${exactlyOne}`);
      const routeUrl = "/v1/projects/:projectId/replays";
      const atMoment = at !== undefined ? momentParam("body.at", at) : undefined;
      const [state] = await reader.query<StateChangeRow>(
        routeUrl,
        p,
        stateHash !== undefined ? stateByHashQuery({ tenantId: p.tenantId, projectId, resource, stateHash }) : stateAtQuery({ tenantId: p.tenantId, projectId, resource, at: atMoment as string }),
      );
      // No state to go back to: never in that state, no change yet at that time, or deleted then (a revert restores content, never an absence).
      if (!state || state.state_hash === "") {
        metrics.replays.inc({ outcome: "unknown_state" });
        const known = await reader.query<KnownHashRow>(routeUrl, p, knownHashesQuery({ tenantId: p.tenantId, projectId, resource, limit: EVENTS_API_KNOWN_HASHES_MAX }));
        const knownHashes = known.map((k) => ({ stateHash: k.state_hash, lastSeen: rfc3339(k.last_seen), changes: k.changes }));
        const pick = `pick one of knownHashes (the states it was in most recently, at most ${EVENTS_API_KNOWN_HASHES_MAX})`;
        if (stateHash !== undefined) throw notFound(`resource ${JSON.stringify(resource)} of project ${projectId} was never in state ${stateHash}: ${pick}`, "body.stateHash", { knownHashes });
        if (!state) throw notFound(`resource ${JSON.stringify(resource)} of project ${projectId} has no state change at or before ${at}: pick a later time, or ${pick}`, "body.at", { knownHashes });
        throw notFound(`resource ${JSON.stringify(resource)} of project ${projectId} was deleted at ${at} (by event ${state.event_id}): there is no content to go back to; pick an earlier time, or ${pick}`, "body.at", { knownHashes });
      }
      const input = { resource, stateHash: state.state_hash, eventId: state.event_id, timestamp: rfc3339(state.timestamp) };
      const jobId = replayJobId({ tenantId: p.tenantId, projectId, resource, eventId: state.event_id });
      let filed;
      try {
        filed = await deps.jobs.submitRevert(bearerToken(req.headers.authorization), projectId, jobId, input);
      } catch (error) {
        if (error instanceof JobsApiError) {
          metrics.replays.inc({ outcome: error.statusCode === 403 || error.statusCode === 404 || error.statusCode === 401 ? "refused" : "failed" });
          if (error.statusCode >= 500) req.log.warn({ reqId: req.id, status: error.statusCode, code: error.code, upstreamStatus: error.upstreamStatus }, "replay not filed");
          throw error;
        }
        metrics.replays.inc({ outcome: "failed" });
        throw error;
      }
      metrics.replays.inc({ outcome: filed.duplicate ? "duplicate" : "submitted" });
      return reply.code(202).send({
        replay: {
          projectId,
          resource,
          state: { stateHash: state.state_hash, eventId: state.event_id, timestamp: rfc3339(state.timestamp), agentId: state.agent_id, userId: state.user_id },
          job: filed.job,
          lane: filed.lane,
          tier: filed.tier,
          sequence: filed.sequence,
          duplicate: filed.duplicate,
        },
      });
    },
  );

  for (const r of EVENTS_API_ROUTES) if (!registered.has(`${r.method} ${r.url}`)) throw new Error(`${r.method} ${r.url} of EVENTS_API_ROUTES is not registered`);
  return app;
}

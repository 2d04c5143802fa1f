/**
 * The events API's read path into ClickHouse: one client per tier's reader
 * (`readerUserName(tier)`, a configuration user with the tier's settings profile and quota), and
 * {@link TenantReader.query}, the one way a route reads. It takes the caller's verified
 * principal, picks the client of the principal's tier, and sends the query with
 * `readerQuerySettings(principal.tenantId)`, whatever the query builder put there: the engine's
 * row policy then admits only that tenant's rows, and the tier's quota counts the query under
 * that tenant. A query whose bound `tenantId` parameter is not the principal's is refused before
 * it is sent.
 *
 * Errors: the limits the tier's profile and quota enforce come back as answers the caller can act
 * on (429 for a result over the plan's row or memory limit, for a used-up quota and for too many
 * queries at once; 504 for a query over its time), never as a 500. Anything else is rethrown for
 * the error handler (a bare 500, logged).
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type Logger as ClickHouseLogger } from "@clickhouse/client";
import type { Logger } from "pino";
import type { PlanTierName, TierCatalog } from "../../../config/tiers.js";
import { readerQuerySettings, type BoundQuery } from "../../clickhouse-schema/index.js";
import type { TenantPrincipal } from "../../identity/verify.js";
import { EVENTS_API_DATABASE, EVENTS_API_TIERS } from "../contract.js";
import type { ClickHouseConnection } from "./config.js";
import { ApiError, unavailable } from "./errors.js";
import type { EventsApiMetrics } from "./metrics.js";

/** A ClickHouse client per tier (a tier without one answers 503). */
export type TierReaders = Partial<Readonly<Record<PlanTierName, ClickHouseClient>>>;

/** The client library's own log lines, as the service's pino lines (a failed readiness ping is a warning there). */
function clickhouseLogger(log: Logger, tier: PlanTierName): new () => ClickHouseLogger {
  const child = log.child({ component: "clickhouse", tier });
  return class implements ClickHouseLogger {
    trace(p: { module: string; message: string; args?: Record<string, unknown> }) {
      child.trace({ module: p.module, args: p.args }, p.message);
    }
    debug(p: { module: string; message: string; args?: Record<string, unknown> }) {
      child.debug({ module: p.module, args: p.args }, p.message);
    }
    info(p: { module: string; message: string; args?: Record<string, unknown> }) {
      child.info({ module: p.module, args: p.args }, p.message);
    }
    warn(p: { module: string; message: string; args?: Record<string, unknown>; err?: Error }) {
      child.warn({ module: p.module, args: p.args, err: p.err?.message }, p.message);
    }
    error(p: { module: string; message: string; args?: Record<string, unknown>; err: Error }) {
      child.error({ module: p.module, args: p.args, err: p.err.message }, p.message);
    }
  };
}

/** The HTTP clients of the configured readers. */
export function httpReaders(config: ClickHouseConnection & { readonly queryTimeoutMs: number }, log: Logger): Record<PlanTierName, ClickHouseClient> {
  const out = {} as Record<PlanTierName, ClickHouseClient>;
  for (const tier of EVENTS_API_TIERS) {
    const r = config.readers[tier];
    out[tier] = createClient({
      url: config.url,
      username: r.user,
      password: r.password,
      database: EVENTS_API_DATABASE,
      application: `events-api-${tier}`,
      request_timeout: config.queryTimeoutMs,
      // A query whose caller gave up (timeout, client gone) stops on the server too.
      clickhouse_settings: { cancel_http_readonly_queries_on_client_close: 1 },
      ...(config.ca ? { tls: { ca_cert: Buffer.from(config.ca) } } : {}),
      log: { LoggerClass: clickhouseLogger(log, tier), level: ClickHouseLogLevel.WARN },
    });
  }
  return out;
}

/** How a failed query is answered, by ClickHouse's error name. */
export type QueryErrorKind = "too_many_rows" | "memory" | "timeout" | "quota" | "concurrency" | "unexpected";

const ERROR_KINDS: Readonly<Record<string, Exclude<QueryErrorKind, "unexpected">>> = {
  TOO_MANY_ROWS: "too_many_rows",
  TOO_MANY_ROWS_OR_BYTES: "too_many_rows",
  TOO_MANY_BYTES: "too_many_rows",
  TOO_MANY_ROWS_OR_BYTES_TO_READ: "too_many_rows",
  MEMORY_LIMIT_EXCEEDED: "memory",
  TIMEOUT_EXCEEDED: "timeout",
  QUOTA_EXCEEDED: "quota",
  QUOTA_EXPIRED: "quota",
  TOO_MANY_SIMULTANEOUS_QUERIES: "concurrency",
};
/** The same errors by their numeric codes (a server may send either). */
const ERROR_CODES: Readonly<Record<string, Exclude<QueryErrorKind, "unexpected">>> = {
  "158": "too_many_rows",
  "396": "too_many_rows",
  "307": "too_many_rows",
  "241": "memory",
  "159": "timeout",
  "201": "quota",
  "202": "concurrency",
};

/** The kind of a query failure: a plan limit the engine enforced, a client-side timeout, or unexpected. */
export function queryErrorKind(error: unknown): QueryErrorKind {
  if (error === null || typeof error !== "object") return "unexpected";
  const e = error as { type?: unknown; code?: unknown; name?: unknown; message?: unknown };
  if (typeof e.type === "string" && ERROR_KINDS[e.type]) return ERROR_KINDS[e.type] as QueryErrorKind;
  if (typeof e.code === "string" && ERROR_CODES[e.code]) return ERROR_CODES[e.code] as QueryErrorKind;
  // @clickhouse/client's own request timeout, and an aborted request.
  if (e.name === "TimeoutError" || e.name === "AbortError" || e.message === "Timeout error.") return "timeout";
  return "unexpected";
}

/** The answer to a plan limit (undefined for an unexpected failure). */
export function queryErrorAnswer(kind: QueryErrorKind, tier: PlanTierName, catalog: TierCatalog): ApiError | undefined {
  const profile = catalog[tier].clickhouse.profile;
  const quota = catalog[tier].clickhouse.quota;
  switch (kind) {
    case "too_many_rows":
      return new ApiError(
        429,
        "query_too_large",
        `the query reads or returns more rows than the ${tier} plan allows per query (${profile.maxResultRows} result rows): narrow it (a shorter time range, a project, an agent or an event type) or ask for fewer rows (limit)`,
      );
    case "memory":
      return new ApiError(429, "query_too_large", `the query needs more memory than the ${tier} plan allows per query (${profile.maxMemoryUsageMiB} MiB): narrow it (a shorter time range, a project, an agent or an event type)`);
    case "timeout":
      return new ApiError(504, "query_timeout", `the query ran longer than the ${tier} plan allows (${profile.maxExecutionTimeSeconds} s) or than this service waits: narrow it (a shorter time range, a project, an agent or an event type) and retry`);
    case "quota":
      return new ApiError(
        429,
        "quota_exceeded",
        `the ${tier} plan's query quota (${quota.queries} queries, ${quota.readRows} rows read per ${quota.intervalSeconds} s) is used up for now: retry after the interval`,
        undefined,
        undefined,
        { "retry-after": String(quota.intervalSeconds) },
      );
    case "concurrency":
      return new ApiError(429, "too_many_queries", `the ${tier} plan allows ${profile.maxConcurrentQueries} queries at once: retry when one of yours finished`, undefined, undefined, { "retry-after": "1" });
    case "unexpected":
      return undefined;
  }
}

export interface TenantReaderOptions {
  readonly readers: TierReaders;
  readonly catalog: TierCatalog;
  readonly metrics: EventsApiMetrics;
  readonly queryTimeoutMs: number;
}

/** Runs the routes' queries as the caller's tier reader, bound to the caller's tenant. */
export class TenantReader {
  constructor(private readonly o: TenantReaderOptions) {}

  /** All rows of `q` (JSONEachRow) for `principal`, timed under `route`. */
  async query<T>(route: string, principal: TenantPrincipal, q: BoundQuery): Promise<T[]> {
    const tier = principal.planTier;
    const client = this.o.readers[tier];
    if (!client) throw unavailable(`the ${tier} tier's reader is not configured on this deployment`);
    if (q.query_params.tenantId !== principal.tenantId) throw new Error(`query for route ${route} is bound to another tenant than the caller's`);
    const end = this.o.metrics.queryDuration.startTimer({ route, tier });
    try {
      const rs = await client.query({
        query: q.query,
        query_params: q.query_params,
        // The caller's tenant, never the builder's: the row policy's binding and the quota key.
        clickhouse_settings: readerQuerySettings(principal.tenantId),
        format: "JSONEachRow",
        abort_signal: AbortSignal.timeout(this.o.queryTimeoutMs),
      });
      return await rs.json<T>();
    } catch (error) {
      const kind = queryErrorKind(error);
      this.o.metrics.queryErrors.inc({ route, tier, kind });
      throw queryErrorAnswer(kind, tier, this.o.catalog) ?? error;
    } finally {
      end();
    }
  }

  /** Whether every configured reader answers (readiness). */
  async ping(): Promise<boolean> {
    const clients = Object.values(this.o.readers).filter((c): c is ClickHouseClient => c !== undefined);
    if (clients.length === 0) return false;
    const results = await Promise.all(clients.map((c) => c.ping().then((r) => r.success, () => false)));
    return results.every(Boolean);
  }
}

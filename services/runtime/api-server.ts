/**
 * The fastify server every API service of the platform runs (the provisioning service, the events
 * API): one set of defences, so a fix to one reaches both.
 * - Slow clients: headers, then the whole request, within their timeouts (408, closed), checked
 *   every `httpTimeoutCheckIntervalMs` (Node's default of 30 s would let a stalled connection
 *   outlive a shorter timeout); no traffic for the idle timeout closes the connection.
 * - Numerous clients: connections beyond `maxConnections` are closed as they arrive.
 * - Bodies: above `bodyLimitBytes` 413; `__proto__` / `constructor.prototype` in JSON refused
 *   (400) before a handler sees it; schemas never strip, coerce or default a value.
 * - Every request gets a fresh id (a client's `request-id` header is not trusted); a request
 *   arriving while the server closes gets 503; malformed URLs (bad percent-encoding) get the
 *   services' one error shape `{"error":{"code","message","field"}}`.
 */
import { randomUUID } from "node:crypto";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";

/** The HTTP server's bounds on slow or numerous clients (each service's `*_HEADERS_TIMEOUT_MS` and the like). */
export interface ApiServerLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
}

/**
 * How often the server looks for requests past the headers and request timeouts: a quarter of the
 * headers timeout, at most 1 s. A stalled request is closed within its timeout plus this.
 */
export function httpTimeoutCheckIntervalMs(headersTimeoutMs: number): number {
  return Math.max(25, Math.min(1_000, Math.floor(headersTimeoutMs / 4)));
}

export interface ApiServerOptions {
  /** The service's pino logger (request logging is the service's own, not fastify's). */
  readonly log: unknown;
  readonly bodyLimitBytes: number;
  readonly http: ApiServerLimits;
}

/** A fastify instance with the platform's defences (see the module comment); routes are the caller's. */
export function createApiServer(o: ApiServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: o.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: o.bodyLimitBytes,
    requestTimeout: o.http.requestTimeoutMs,
    connectionTimeout: o.http.idleTimeoutMs,
    keepAliveTimeout: o.http.idleTimeoutMs,
    http: {
      headersTimeout: o.http.headersTimeoutMs,
      requestTimeout: o.http.requestTimeoutMs,
      connectionsCheckingInterval: httpTimeoutCheckIntervalMs(o.http.headersTimeoutMs),
    },
    onProtoPoisoning: "error",
    onConstructorPoisoning: "error",
    return503OnClosing: true,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
    routerOptions: { maxParamLength: 200 },
    frameworkErrors: (_error, _req, reply) => {
      void (reply as unknown as { code(n: number): { type(t: string): { send(b: unknown): unknown } } })
        .code(400)
        .type("application/json")
        .send({ error: { code: "invalid_request", field: "url", message: "url is not a valid URL (check its percent-encoding)" } });
    },
  }) as unknown as FastifyInstance;
  app.server.maxConnections = o.http.maxConnections;
  return app;
}

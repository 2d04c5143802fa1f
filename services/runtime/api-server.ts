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
import { ApiError } from "./api-error.js";

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

/** What a service answers for an error: its status, body and headers, and whether it was unexpected (logged). */
export interface ErrorAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly internal: boolean;
}

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

/**
 * The answer to an error: an {@link ApiError} a route threw as it says, then the server's own: a schema refusal (400 naming
 * the field, with the service's fix for it from `fixes`), the body's size, type, emptiness or
 * length (413, 415, 400), a body that is not JSON or carries `__proto__` (400), any other client
 * error (4xx), and anything else, which is a bare 500 marked internal (the caller logs it). Each
 * service maps its own error classes first and hands the rest here.
 */
export function serverErrorAnswer(error: Error, bodyLimitBytes: number, fixes: Readonly<Record<string, string>>): ErrorAnswer {
  if (error instanceof ApiError) return { status: error.statusCode, body: error.body(), ...(error.headers ? { headers: error.headers } : {}), internal: false };
  const fe = error as Error & { code?: string; statusCode?: number; validation?: AjvIssue[]; validationContext?: string };
  if (fe.validation && fe.validation.length > 0) {
    const issue = fe.validation[0] as AjvIssue;
    const field = safeField(fieldOf(fe.validationContext ?? "body", issue));
    const problem = issue.keyword === "additionalProperties" ? "is not a known field" : issue.keyword === "required" ? "is required" : (issue.message ?? "is invalid");
    // The service's own fix for the field first (a refused field may say where it belongs instead).
    const fix = fixes[field] ?? (issue.keyword === "additionalProperties" ? "leave it out" : undefined);
    return { status: 400, body: { error: { code: "invalid_request", field, message: `${field} ${problem}${fix ? `: ${fix}` : ""}` } }, internal: false };
  }
  switch (fe.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return { status: 413, body: { error: { code: "payload_too_large", message: `the request body exceeds ${bodyLimitBytes} bytes` } }, internal: false };
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return { status: 415, body: { error: { code: "unsupported_media_type", field: "headers.content-type", message: "headers.content-type is not supported: send application/json" } }, internal: false };
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return { status: 400, body: { error: { code: "invalid_request", field: "body", message: "body is empty: send a JSON object" } }, internal: false };
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return { status: 400, body: { error: { code: "invalid_request", field: "headers.content-length", message: "headers.content-length does not match the body: send the body's length" } }, internal: false };
  }
  const status = typeof fe.statusCode === "number" ? fe.statusCode : 500;
  // JSON syntax errors and prototype poisoning (secure-json-parse) come here.
  if (status === 400) return { status: 400, body: { error: { code: "invalid_request", field: "body", message: "body is not valid JSON, or carries __proto__ / constructor.prototype: send a plain JSON object" } }, internal: false };
  if (status > 400 && status < 500) return { status, body: { error: { code: "invalid_request", message: "the request cannot be processed" } }, internal: false };
  return { status: 500, body: { error: { code: "internal", message: "internal error" } }, internal: true };
}

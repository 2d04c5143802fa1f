/**
 * Errors the events API answers with. Every answer has the shape
 * `{"error":{"code","message","field"?}}` (a replay of an unknown state adds the states the
 * resource does know, `knownHashes`); nothing internal (stack, SQL, upstream bodies) is ever in it.
 */

export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    /** Extra members of the error object (bounded, never internals). */
    readonly extra?: Readonly<Record<string, unknown>>,
    /** Response headers (Retry-After). */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
  }

  body(): { error: { code: string; message: string; field?: string } & Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...(this.field !== undefined ? { field: this.field } : {}), ...this.extra } };
  }
}

/** A request value the API cannot use: 400 naming the field and the fix. */
export const badRequest = (field: string, message: string): ApiError => new ApiError(400, "invalid_request", message, field);
export const forbidden = (message: string): ApiError => new ApiError(403, "forbidden", message);
export const notFound = (message: string, field?: string, extra?: Readonly<Record<string, unknown>>): ApiError => new ApiError(404, "not_found", message, field, extra);
export const unavailable = (message: string): ApiError => new ApiError(503, "unavailable", message);

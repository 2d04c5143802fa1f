/**
 * The error every API service of the platform answers with (the provisioning service, the events
 * API). Every answer has the shape `{"error":{"code","message","field"?}}`, plus bounded `extra`
 * members where a route documents them (a replay's `knownHashes`); nothing internal (stack, store
 * keys, SQL, upstream bodies) is ever in it.
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

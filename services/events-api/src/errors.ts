/**
 * Errors the events API answers with: the platform's ApiError (services/runtime/api-error.ts); a
 * replay of an unknown state adds the states the resource does know, `knownHashes`.
 */

import { ApiError } from "../../runtime/api-error.js";

export { ApiError };

/** A request value the API cannot use: 400 naming the field and the fix. */
export const badRequest = (field: string, message: string): ApiError => new ApiError(400, "invalid_request", message, field);
export const forbidden = (message: string): ApiError => new ApiError(403, "forbidden", message);
export const notFound = (message: string, field?: string, extra?: Readonly<Record<string, unknown>>): ApiError => new ApiError(404, "not_found", message, field, extra);
export const unavailable = (message: string): ApiError => new ApiError(503, "unavailable", message);

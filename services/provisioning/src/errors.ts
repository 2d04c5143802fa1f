/** Errors the API answers with: the platform's ApiError (services/runtime/api-error.ts). */

import { ApiError } from "../../runtime/api-error.js";

export { ApiError };

/**
 * The one answer for a tenant that does not exist, is offboarded, or belongs to someone else:
 * byte for byte the same, so a caller learns nothing about other tenants' ids.
 */
export const tenantNotFound = (): ApiError => new ApiError(404, "not_found", "tenant not found");
export const forbidden = (message: string): ApiError => new ApiError(403, "forbidden", message);
export const conflict = (message: string, field?: string): ApiError => new ApiError(409, "conflict", message, field);
export const unavailable = (message: string): ApiError => new ApiError(503, "unavailable", message);
export const tooMany = (code: string, message: string): ApiError => new ApiError(429, code, message);
/** A member, invitation or credential that is not there (or not the caller's to see): one answer each. */
export const notFound = (what: string): ApiError => new ApiError(404, "not_found", `${what} not found`);

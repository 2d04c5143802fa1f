/**
 * What a tenant id may look like: the one rule every layer applies before a tenant id becomes
 * part of a NATS subject, a ClickHouse user name, a Kubernetes label or a key prefix.
 *
 * Lower-case letters, digits and hyphens, 3-63 characters, starting and ending with a letter or
 * digit: never `.`, `*`, `>`, whitespace or anything else that is syntax somewhere.
 */
export const TENANT_ID_PATTERN = /^[a-z0-9]([a-z0-9-]{1,61}[a-z0-9])$/;
export const TENANT_ID_FIX = "use 3-63 lower-case letters, digits and hyphens, starting and ending with a letter or digit";

/** Thrown for a tenant id that does not match {@link TENANT_ID_PATTERN}. */
export class InvalidTenantIdError extends Error {
  override readonly name = "InvalidTenantIdError";
  readonly code = "E_INVALID_TENANT_ID";
  constructor(
    readonly field: string,
    readonly value: unknown,
  ) {
    super(`${field} = ${JSON.stringify(value)} is not a valid tenant id. Fix: ${TENANT_ID_FIX}.`);
  }
}

/** Returns `value` if it is a valid tenant id; throws {@link InvalidTenantIdError} naming `field` otherwise. */
export function assertTenantId(value: unknown, field = "tenantId"): string {
  if (typeof value !== "string" || !TENANT_ID_PATTERN.test(value)) throw new InvalidTenantIdError(field, value);
  return value;
}

/** Thrown for an argument the event store's SQL cannot be built from. */
export class ClickHouseSchemaError extends Error {
  override readonly name = "ClickHouseSchemaError";
  readonly code = "E_CLICKHOUSE_SCHEMA";
  constructor(
    readonly field: string,
    readonly value: unknown,
    problem: string,
    fix: string,
    options?: { cause?: unknown },
  ) {
    super(`${field} = ${JSON.stringify(value)} ${problem}. Fix: ${fix}.`, options);
  }
}

/** Returns `value` if it is an integer in [min, max]; throws a {@link ClickHouseSchemaError} naming `field` otherwise. */
export function checkInteger(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new ClickHouseSchemaError(field, value, `is not a whole number from ${min} to ${max}`, `pass an integer from ${min} to ${max}`);
  }
  return value;
}

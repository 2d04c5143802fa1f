import { FieldError } from "../runtime/errors.js";

/** Thrown for an argument the event store's SQL cannot be built from. */
export class ClickHouseSchemaError extends FieldError {
  override readonly name = "ClickHouseSchemaError";
  readonly code = "E_CLICKHOUSE_SCHEMA";
}

/** Returns `value` if it is an integer in [min, max]; throws a {@link ClickHouseSchemaError} naming `field` otherwise. */
export function checkInteger(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new ClickHouseSchemaError(field, value, `is not a whole number from ${min} to ${max}`, `pass an integer from ${min} to ${max}`);
  }
  return value;
}

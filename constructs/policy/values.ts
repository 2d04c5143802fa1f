/**
 * Helpers that read attribute values out of synthesized Terraform JSON, where nested blocks are
 * either one object or a list of objects, booleans may be `true` or `"true"`, and numbers may be
 * strings.
 */

/** Returns true for the JSON value `true` and the string `"true"`. */
export function isTrue(value: unknown): boolean {
  return value === true || value === "true";
}

/** Returns true for the JSON value `false` and the string `"false"`. */
export function isFalse(value: unknown): boolean {
  return value === false || value === "false";
}

/** Narrows to a plain (non-array) object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A nested block as a list: one object becomes `[object]`, a list keeps its object entries, anything else is `[]`. */
export function blocks(value: unknown): Record<string, unknown>[] {
  if (Array.isArray(value)) return value.filter(isRecord);
  return isRecord(value) ? [value] : [];
}

/** The first nested block, or undefined. */
export function firstBlock(value: unknown): Record<string, unknown> | undefined {
  return blocks(value)[0];
}

/** A string attribute, or undefined when absent or not a string. */
export function asString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** A non-empty string attribute (after trimming), or undefined. */
export function nonEmptyString(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value : undefined;
}

/** A list-of-strings attribute: a single string becomes `[string]`; non-string entries are dropped. */
export function asStringArray(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  return [];
}

/** A number attribute (numbers or numeric strings), or undefined. */
export function asNumber(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

/** Renders a value for a finding's reason: JSON for literals, `absent` for undefined/null. */
export function show(value: unknown): string {
  if (value === undefined || value === null) return "absent";
  return JSON.stringify(value);
}

/** Whether a string contains a Terraform interpolation (`${...}`), i.e. its value is only known at plan time. */
export function isExpression(value: unknown): boolean {
  return typeof value === "string" && value.includes("${");
}

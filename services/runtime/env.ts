/**
 * Reading a service's configuration from environment variables, one set of rules for every
 * service (ingestor, provisioning): blank means unset, values are trimmed, and a bad value goes
 * to the service's own error (naming the variable, the value and the fix) through `fail`.
 */
export type Env = Readonly<Record<string, string | undefined>>;

/** Throws the service's configuration error. */
export type EnvFail = (variable: string, value: string, problem: string, fix: string) => never;

/** The trimmed value, or undefined when unset or blank. */
export function envText(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === "" ? undefined : v;
}

/** A whole number from `min` to `max`; `fallback` when unset. */
export function envInteger(env: Env, name: string, fallback: number, min: number, max: number, fail: EnvFail): number {
  const raw = envText(env, name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(v) || v < min || v > max) {
    return fail(name, raw, `is not a whole number from ${min} to ${max}`, `set ${name} to an integer from ${min} to ${max}, or unset it for ${fallback}`);
  }
  return v;
}

/** `true`/`1` or `false`/`0` (any case); `fallback` when unset. */
export function envBoolean(env: Env, name: string, fallback: boolean, fail: EnvFail): boolean {
  const raw = envText(env, name);
  if (raw === undefined) return fallback;
  const v = raw.toLowerCase();
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  return fail(name, raw, "is not a boolean", `set ${name} to true or false`);
}

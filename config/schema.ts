/**
 * A small, strict schema language for the platform's configuration.
 *
 * Every check reports the field (a dotted path such as `tiers.pro.gateway.requestsPerMinute`),
 * the value it found and the fix, and the whole config is checked before anything fails, so one
 * run lists every mistake. Unknown keys are errors (a typo must never silently fall back to a
 * default), with the nearest known key suggested.
 */

/** One problem found in a config value. */
export interface ConfigIssue {
  readonly path: string;
  readonly value: unknown;
  readonly problem: string;
  readonly fix: string;
}

/** Thrown when a configuration does not validate; `issues` holds every problem found. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly code = "E_CONFIG_INVALID";
  constructor(
    readonly source: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(
      `${source}: ${issues.length} invalid value${issues.length === 1 ? "" : "s"}:\n` +
        issues.map((i) => `  - ${formatIssue(i)}`).join("\n"),
    );
  }
}

export function formatIssue(issue: ConfigIssue): string {
  return `${issue.path} = ${show(issue.value)}: ${issue.problem}. Fix: ${issue.fix}`;
}

/** Renders a value for an error message, short enough to read. */
export function show(value: unknown): string {
  if (value === undefined) return "(missing)";
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Collects issues while a value is checked. */
export class IssueCollector {
  readonly issues: ConfigIssue[] = [];
  add(path: string, value: unknown, problem: string, fix: string): void {
    this.issues.push({ path, value, problem, fix });
  }
}

/** A checker for one kind of value; `T` is the type a valid value has. */
export interface Schema<T> {
  /** Checks `value` at `path`, adding issues to `out`; returns whether it was valid. */
  check(value: unknown, path: string, out: IssueCollector): value is T;
  /** What the schema expects, for messages ("an integer from 0 to 65535"). */
  readonly expects: string;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

type Shape = Record<string, Schema<unknown> | OptionalSchema<unknown>>;

interface OptionalSchema<T> {
  readonly optional: true;
  readonly inner: Schema<T>;
}

type InferShape<S extends Shape> = {
  readonly [K in keyof S as S[K] extends OptionalSchema<unknown> ? never : K]: S[K] extends Schema<infer T> ? T : never;
} & {
  readonly [K in keyof S as S[K] extends OptionalSchema<unknown> ? K : never]?: S[K] extends OptionalSchema<infer T>
    ? T
    : never;
};

function join(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** Marks a field of an `object` schema as optional. */
export function optional<T>(inner: Schema<T>): OptionalSchema<T> {
  return { optional: true, inner };
}

function isOptional(s: Schema<unknown> | OptionalSchema<unknown>): s is OptionalSchema<unknown> {
  return (s as OptionalSchema<unknown>).optional === true;
}

/** An object with exactly these keys: unknown keys and missing required keys are errors. */
export function object<S extends Shape>(shape: S, opts: { fix?: string } = {}): Schema<InferShape<S>> {
  return {
    expects: "an object",
    check(value, path, out): value is InferShape<S> {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        out.add(path || "(root)", value, "expected an object", opts.fix ?? "write an object with the documented keys");
        return false;
      }
      let ok = true;
      const record = value as Record<string, unknown>;
      const known = Object.keys(shape);
      for (const key of Object.keys(record)) {
        if (!Object.prototype.hasOwnProperty.call(shape, key)) {
          ok = false;
          const near = nearest(key, known);
          out.add(
            join(path, key),
            record[key],
            "unknown key",
            near ? `did you mean "${near}"? Known keys: ${known.join(", ")}` : `remove it; known keys: ${known.join(", ")}`,
          );
        }
      }
      for (const key of known) {
        const field = shape[key] as Schema<unknown> | OptionalSchema<unknown>;
        const v = record[key];
        if (isOptional(field)) {
          if (v !== undefined && !field.inner.check(v, join(path, key), out)) ok = false;
        } else if (v === undefined) {
          ok = false;
          out.add(join(path, key), v, "required value is missing", `set it to ${field.expects}`);
        } else if (!field.check(v, join(path, key), out)) {
          ok = false;
        }
      }
      return ok;
    },
  };
}

/** A map from keys matching `keyPattern` to values of one schema. */
export function record<T>(
  value: Schema<T>,
  opts: { keyPattern: RegExp; keyFix: string; requiredKeys?: readonly string[] },
): Schema<Readonly<Record<string, T>>> {
  return {
    expects: "an object",
    check(v, path, out): v is Readonly<Record<string, T>> {
      if (typeof v !== "object" || v === null || Array.isArray(v)) {
        out.add(path, v, "expected an object", "write an object");
        return false;
      }
      let ok = true;
      const rec = v as Record<string, unknown>;
      for (const [key, item] of Object.entries(rec)) {
        if (!opts.keyPattern.test(key)) {
          ok = false;
          out.add(join(path, key), item, `key does not match ${opts.keyPattern}`, opts.keyFix);
        }
        if (!value.check(item, join(path, key), out)) ok = false;
      }
      for (const key of opts.requiredKeys ?? []) {
        if (!(key in rec)) {
          ok = false;
          out.add(join(path, key), undefined, "required entry is missing", `add "${key}" (required: ${(opts.requiredKeys ?? []).join(", ")})`);
        }
      }
      return ok;
    },
  };
}

/** A string, optionally matching a pattern. */
export function string(opts: { pattern?: RegExp; fix?: string; minLength?: number; maxLength?: number } = {}): Schema<string> {
  const expects = opts.pattern ? `a string matching ${opts.pattern}` : "a string";
  return {
    expects,
    check(value, path, out): value is string {
      if (typeof value !== "string") {
        out.add(path, value, "expected a string", opts.fix ?? `set it to ${expects}`);
        return false;
      }
      if (opts.minLength !== undefined && value.length < opts.minLength) {
        out.add(path, value, `shorter than ${opts.minLength} characters`, opts.fix ?? `use at least ${opts.minLength} characters`);
        return false;
      }
      if (opts.maxLength !== undefined && value.length > opts.maxLength) {
        out.add(path, value, `longer than ${opts.maxLength} characters`, opts.fix ?? `use at most ${opts.maxLength} characters`);
        return false;
      }
      if (opts.pattern && !opts.pattern.test(value)) {
        out.add(path, value, `does not match ${opts.pattern}`, opts.fix ?? `set it to ${expects}`);
        return false;
      }
      return true;
    },
  };
}

/** One of a fixed set of strings. */
export function oneOf<const T extends string>(values: readonly T[], fix?: string): Schema<T> {
  const expects = `one of ${values.map((v) => `"${v}"`).join(", ")}`;
  return {
    expects,
    check(value, path, out): value is T {
      if (typeof value !== "string" || !(values as readonly string[]).includes(value)) {
        out.add(path, value, `expected ${expects}`, fix ?? `set it to ${expects}`);
        return false;
      }
      return true;
    },
  };
}

/** An integer in [min, max]. Limits are never fractional, negative unless `min` says so, or NaN. */
export function integer(opts: { min?: number; max?: number; fix?: string } = {}): Schema<number> {
  const min = opts.min ?? 0;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  const expects = `an integer from ${min} to ${max}`;
  return {
    expects,
    check(value, path, out): value is number {
      if (typeof value !== "number" || !Number.isInteger(value)) {
        out.add(path, value, "expected an integer", opts.fix ?? `set it to ${expects}`);
        return false;
      }
      if (value < min || value > max) {
        const problem = value < 0 && min >= 0 ? "must not be negative" : `out of range [${min}, ${max}]`;
        out.add(path, value, problem, opts.fix ?? `set it to ${expects}`);
        return false;
      }
      return true;
    },
  };
}

export function boolean(): Schema<boolean> {
  return {
    expects: "true or false",
    check(value, path, out): value is boolean {
      if (typeof value !== "boolean") {
        out.add(path, value, "expected a boolean", "set it to true or false");
        return false;
      }
      return true;
    },
  };
}

/** An array of items of one schema. */
export function array<T>(item: Schema<T>, opts: { minLength?: number; maxLength?: number; unique?: boolean; fix?: string } = {}): Schema<readonly T[]> {
  return {
    expects: `a list of ${item.expects}`,
    check(value, path, out): value is readonly T[] {
      if (!Array.isArray(value)) {
        out.add(path, value, "expected a list", opts.fix ?? `set it to a list of ${item.expects}`);
        return false;
      }
      let ok = true;
      value.forEach((v, i) => {
        if (!item.check(v, join(path, i), out)) ok = false;
      });
      if (opts.minLength !== undefined && value.length < opts.minLength) {
        ok = false;
        out.add(path, value, `has ${value.length} entries, needs at least ${opts.minLength}`, opts.fix ?? `add entries`);
      }
      if (opts.maxLength !== undefined && value.length > opts.maxLength) {
        ok = false;
        out.add(path, value, `has ${value.length} entries, at most ${opts.maxLength} allowed`, opts.fix ?? `remove entries`);
      }
      if (opts.unique) {
        const seen = new Set<string>();
        value.forEach((v, i) => {
          const k = JSON.stringify(v);
          if (seen.has(k)) {
            ok = false;
            out.add(join(path, i), v, "duplicate entry", "list each value once");
          }
          seen.add(k);
        });
      }
      return ok;
    },
  };
}

/** A union chosen by the value of `discriminant` (e.g. `kind`). */
export function taggedUnion<K extends string, M extends Record<string, Schema<unknown>>>(
  discriminant: K,
  variants: M,
): Schema<{ [V in keyof M]: Infer<M[V]> }[keyof M]> {
  const names = Object.keys(variants);
  return {
    expects: `an object with ${discriminant} one of ${names.join(", ")}`,
    check(value, path, out): value is { [V in keyof M]: Infer<M[V]> }[keyof M] {
      const tag = typeof value === "object" && value !== null ? (value as Record<string, unknown>)[discriminant] : undefined;
      if (typeof tag !== "string" || !names.includes(tag)) {
        out.add(join(path, discriminant), tag, `expected one of ${names.map((n) => `"${n}"`).join(", ")}`, `set ${discriminant} to one of ${names.join(", ")}`);
        return false;
      }
      return (variants[tag] as Schema<unknown>).check(value, path, out);
    },
  };
}

/** A schema whose value must also pass `refine`, which reports its own issues and returns validity. */
export function refined<T>(base: Schema<T>, refine: (value: T, path: string, out: IssueCollector) => boolean): Schema<T> {
  return {
    expects: base.expects,
    check(value, path, out): value is T {
      if (!base.check(value, path, out)) return false;
      return refine(value, path, out);
    },
  };
}

/** The known key closest to `key` by edit distance, if it is close enough to be a typo. */
export function nearest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] as number;
}

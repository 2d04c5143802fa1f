/**
 * An input (a config field, an environment variable, an argument) whose value cannot be used. The
 * message names it, the value, the problem and the fix: `<field> = <value> <problem>. Fix: <fix>.`
 * (after `context`, e.g. `realmConfig: `). Subclasses set `name` and `code`.
 */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    problem: string,
    fix: string,
    options?: { readonly cause?: unknown; readonly context?: string },
  ) {
    super(`${options?.context ?? ""}${field} = ${JSON.stringify(value)} ${problem}. Fix: ${fix}.`, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

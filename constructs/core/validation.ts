/**
 * The one error every construct and pure value builder throws for a bad prop (aws-cdk's
 * `ValidationError(message, scope)`): it names where (the construct's path, or the builder),
 * the prop, its value, the problem and the fix, in the repository's one format
 * (`<where>: <prop> = <value> <problem>. Fix: <fix>.`, see services/runtime/errors.ts).
 */
import type { IConstruct } from "constructs";
import { FieldError } from "../../services/runtime/errors.js";

/** Where a prop was refused: a construct (reported by its path) or the name of a pure builder. */
export type PropScope = IConstruct | string;

/** The label a message starts with: the construct path (`prod-platform/kong`) or the builder name. */
export function scopeLabel(scope: PropScope): string {
  return typeof scope === "string" ? scope : scope.node.path;
}

/** A construct prop (or a value a builder was given) that cannot be used. */
export class ValidationError extends FieldError {
  override readonly name = "ValidationError";
  readonly code = "E_CONSTRUCT_PROPS";
  /** The construct path or builder name. */
  readonly scope: string;

  constructor(scope: PropScope, prop: string, value: unknown, problem: string, fix: string, options?: { readonly cause?: unknown }) {
    const where = scopeLabel(scope);
    super(prop, value, problem, fix.replace(/\.$/, ""), { context: `${where}: `, ...(options?.cause === undefined ? {} : { cause: options.cause }) });
    this.scope = where;
  }
}

/** Throws a {@link ValidationError} naming the prop, its value, the problem and the fix. */
export type PropFail = (prop: string, value: unknown, problem: string, fix: string) => never;

/** A {@link PropFail} bound to a construct or a builder's name. */
export function propFail(scope: PropScope): PropFail {
  return (prop, value, problem, fix) => {
    throw new ValidationError(scope, prop, value, problem, fix);
  };
}

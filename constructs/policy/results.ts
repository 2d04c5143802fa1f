/** Constructors for {@link RuleResult} values, so rules read as assertions. */
import type { CompliantResult, NonCompliantResult, NotApplicableResult, RuleResult } from "./types.js";

/** The resource satisfies the rule. */
export function compliant(): CompliantResult {
  return { status: "compliant" };
}

/** The resource violates the rule; `reason` must name the attribute and its value. */
export function nonCompliant(reason: string, fix?: string): NonCompliantResult {
  return fix === undefined ? { status: "non-compliant", reason } : { status: "non-compliant", reason, fix };
}

/** The rule does not apply to this resource. */
export function notApplicable(reason?: string): NotApplicableResult {
  return reason === undefined ? { status: "not-applicable" } : { status: "not-applicable", reason };
}

/** Compliant when there are no problems, otherwise non-compliant with the problems joined by "; ". */
export function fromProblems(problems: readonly string[]): RuleResult {
  return problems.length === 0 ? compliant() : nonCompliant(problems.join("; "));
}

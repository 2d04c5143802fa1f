/**
 * Types shared by the policy rule pack: the shape of a synthesized cdktf stack, the resources the
 * rules look at, what a rule returns and what the pack reports.
 */
import type { StackIndex } from "./index-of-stack.js";

/** The body of one resource or data source in synthesized Terraform JSON (attributes plus `"//"` metadata). */
export type SynthesizedBlock = Record<string, unknown>;

/** `{ <type>: { <logicalId>: <block> } }`, the shape of both `resource` and `data` in synthesized JSON. */
export type SynthesizedElements = Record<string, Record<string, SynthesizedBlock>>;

/**
 * The JSON that `TerraformStack.toTerraform()` returns (cdktf 0.21), narrowed to what the rules read.
 * Every resource and data source carries `"//": { metadata: { path, uniqueId } }`, where `path` is
 * the construct path (`stack/construct/child`).
 */
export interface SynthesizedStackJson {
  readonly "//"?: unknown;
  readonly resource?: SynthesizedElements;
  readonly data?: SynthesizedElements;
  readonly provider?: Record<string, unknown>;
  readonly terraform?: Record<string, unknown>;
  readonly output?: Record<string, unknown>;
  readonly [key: string]: unknown;
}

/** Whether an element is a managed resource (`resource`) or a data source (`data`). */
export type SynthElementKind = "resource" | "data";

/** One resource or data source of a synthesized stack, as the rules see it. */
export interface SynthResource {
  /** `resource` or `data`. */
  readonly kind: SynthElementKind;
  /** Terraform type, e.g. `aws_eks_cluster`. */
  readonly type: string;
  /** Logical id, e.g. `cluster_ABC123`. */
  readonly name: string;
  /** Terraform address: `aws_eks_cluster.cluster_ABC123`, or `data.aws_iam_policy_document.doc` for data sources. */
  readonly address: string;
  /** Construct path from `"//".metadata.path` (e.g. `dev-foundation/cluster/cluster`); empty when absent. */
  readonly path: string;
  /** The resource's attributes without the `"//"` metadata key. */
  readonly config: Readonly<Record<string, unknown>>;
}

/** The resource satisfies the rule. */
export interface CompliantResult {
  readonly status: "compliant";
}

/** The resource violates the rule; `reason` names the offending attribute and its value. */
export interface NonCompliantResult {
  readonly status: "non-compliant";
  /** Names the attribute and the value that is wrong, e.g. `http_put_response_hop_limit is 2 (must be 1)`. */
  readonly reason: string;
  /** Overrides the rule's generic fix when the rule can say something more specific. */
  readonly fix?: string;
}

/** The rule does not apply to this resource (e.g. an asymmetric KMS key for the rotation rule). */
export interface NotApplicableResult {
  readonly status: "not-applicable";
  /** Why the rule does not apply, for debugging. */
  readonly reason?: string;
}

/** What one rule says about one resource. */
export type RuleResult = CompliantResult | NonCompliantResult | NotApplicableResult;

/** Severity of a rule: errors fail synthesis, warnings become cdktf annotations. */
export type PolicyLevel = "error" | "warning";

/** One policy rule: a pure, deterministic function over a synthesized resource and its stack index. */
export interface PolicyRule {
  /** Short stable id used in messages and suppressions, e.g. `EKS1`. */
  readonly id: string;
  /** PascalCase name saying what the rule asserts, e.g. `EksEndpointNotPublic`. */
  readonly name: string;
  /** `error` fails synthesis; `warning` is reported as an annotation. */
  readonly level: PolicyLevel;
  /** Why the rule exists. */
  readonly explanation: string;
  /** The concrete change that makes a resource compliant (cdktf property names). */
  readonly fix: string;
  /**
   * Element types the rule evaluates: Terraform resource types (`aws_s3_bucket`) and data source
   * types prefixed with `data.` (`data.aws_iam_policy_document`).
   */
  readonly resourceTypes: readonly string[];
  /** Evaluates one element of a type listed in `resourceTypes`. Must be pure and deterministic. */
  evaluate(resource: SynthResource, index: StackIndex): RuleResult;
}

/** A non-compliant result of one rule on one resource, as the pack reports it. */
export interface PolicyFinding {
  readonly ruleId: string;
  readonly ruleName: string;
  readonly level: PolicyLevel;
  /** Construct path of the resource (empty when the synthesized JSON carries no metadata). */
  readonly path: string;
  /** Terraform address of the resource. */
  readonly address: string;
  /** Which attribute has which wrong value. */
  readonly reason: string;
  /** How to fix it. */
  readonly fix: string;
  /** Set to the suppression's reason when a suppression covers this finding; such findings never fail synthesis. */
  readonly suppressed?: string;
}

/** A suppression of one rule on a construct subtree: applies to resources whose path is `path` or under it. */
export interface PolicySuppression {
  /** Construct path of the suppressing scope (`""` for the app root, which covers everything). */
  readonly path: string;
  readonly ruleId: string;
  /** Why the finding is accepted; at least {@link MIN_SUPPRESSION_REASON_LENGTH} characters after trimming. */
  readonly reason: string;
}

/** Minimum length (after trimming) of a suppression's reason. */
export const MIN_SUPPRESSION_REASON_LENGTH = 20;

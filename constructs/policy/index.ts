/**
 * Policy rule pack (modelled on cdk-nag) over synthesized Terraform JSON.
 *
 * Stacks call {@link applyPolicyPack} once and {@link suppressPolicyRule} for accepted exceptions;
 * tests call {@link evaluatePolicy} / {@link evaluateStack}.
 */
export {
  POLICY_RULES,
  GATEWAY_LOAD_BALANCER_TAG,
  SUPPRESSION_METADATA_TYPE,
  applyPolicyPack,
  collectSuppressions,
  evaluatePolicy,
  evaluateStack,
  formatFinding,
  suppressPolicyRule,
  takeValidatedTerraform,
  type ApplyPolicyPackOptions,
  type EvaluatePolicyOptions,
} from "./pack.js";
export { StackIndex, addressOf } from "./index-of-stack.js";
export { UNSCOPABLE_ACTION_PATTERNS } from "./rules/iam-no-wildcard-resource-for-scopable-actions.js";
export { EKS_CONTROL_PLANE_LOG_TYPES } from "./rules/eks-control-plane-logs-all.js";
export {
  MIN_SUPPRESSION_REASON_LENGTH,
  type CompliantResult,
  type NonCompliantResult,
  type NotApplicableResult,
  type PolicyFinding,
  type PolicyLevel,
  type PolicyRule,
  type PolicySuppression,
  type RuleResult,
  type SynthElementKind,
  type SynthResource,
  type SynthesizedBlock,
  type SynthesizedElements,
  type SynthesizedStackJson,
} from "./types.js";

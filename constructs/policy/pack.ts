/**
 * The policy rule pack: the list of rules, the evaluator over synthesized stack JSON, suppressions
 * recorded on constructs, and the synth hook that fails synthesis on error-level findings.
 */
import { AnnotationMetadataEntryType, Annotations, type TerraformStack } from "cdktf";
import type { IConstruct } from "constructs";
import { StackIndex } from "./index-of-stack.js";
import { cloudFrontS3OriginAccessControl } from "./rules/cloudfront-s3-origin-access-control.js";
import { cloudFrontSecurityHeaders } from "./rules/cloudfront-security-headers.js";
import { cloudFrontTlsOnly } from "./rules/cloudfront-tls-only.js";
import { ebsVolumesEncrypted } from "./rules/ebs-volumes-encrypted.js";
import { ecrImmutableScannedEncrypted } from "./rules/ecr-immutable-scanned-encrypted.js";
import { eksControlPlaneLogsAll } from "./rules/eks-control-plane-logs-all.js";
import { eksEndpointNotPublic } from "./rules/eks-endpoint-not-public.js";
import { eksNodesInPrivateSubnets } from "./rules/eks-nodes-in-private-subnets.js";
import { eksSecretsEncryptedWithKms } from "./rules/eks-secrets-encrypted-with-kms.js";
import { iamNoWildcardAction } from "./rules/iam-no-wildcard-action.js";
import { iamNoWildcardResourceForScopableActions } from "./rules/iam-no-wildcard-resource-for-scopable-actions.js";
import { keycloakAdminNotPublic } from "./rules/keycloak-admin-not-public.js";
import { kmsKeyRotationEnabled } from "./rules/kms-key-rotation-enabled.js";
import { kongRoutesAuthenticated } from "./rules/kong-routes-authenticated.js";
import { launchTemplateImdsv2HopLimit1 } from "./rules/launch-template-imdsv2-hop-limit-1.js";
import { logGroupsEncrypted } from "./rules/log-groups-encrypted.js";
import { natsLoadBalancerSourceRanges } from "./rules/nats-load-balancer-source-ranges.js";
import { noPublicIngress } from "./rules/no-public-ingress.js";
import { s3Encrypted } from "./rules/s3-encrypted.js";
import { s3PublicAccessBlocked } from "./rules/s3-public-access-blocked.js";
import { s3Versioned } from "./rules/s3-versioned.js";
import { secretsManagerCustomerKey } from "./rules/secrets-manager-customer-key.js";
import { vpcFlowLogsEnabled } from "./rules/vpc-flow-logs-enabled.js";
import {
  MIN_SUPPRESSION_REASON_LENGTH,
  type PolicyFinding,
  type PolicyRule,
  type PolicySuppression,
  type RuleResult,
  type SynthesizedStackJson,
} from "./types.js";
import { isRecord } from "./values.js";

export { GATEWAY_LOAD_BALANCER_TAG } from "./rules/no-public-ingress.js";

/** Every rule of the pack, in reporting order. */
export const POLICY_RULES: readonly PolicyRule[] = [
  eksEndpointNotPublic,
  eksSecretsEncryptedWithKms,
  eksControlPlaneLogsAll,
  eksNodesInPrivateSubnets,
  launchTemplateImdsv2HopLimit1,
  ebsVolumesEncrypted,
  noPublicIngress,
  kmsKeyRotationEnabled,
  iamNoWildcardAction,
  iamNoWildcardResourceForScopableActions,
  s3PublicAccessBlocked,
  s3Encrypted,
  s3Versioned,
  secretsManagerCustomerKey,
  logGroupsEncrypted,
  ecrImmutableScannedEncrypted,
  vpcFlowLogsEnabled,
  kongRoutesAuthenticated,
  keycloakAdminNotPublic,
  natsLoadBalancerSourceRanges,
  cloudFrontTlsOnly,
  cloudFrontS3OriginAccessControl,
  cloudFrontSecurityHeaders,
];

/** Construct metadata type under which {@link suppressPolicyRule} records suppressions. */
export const SUPPRESSION_METADATA_TYPE = "enchanted/policy-suppression";

/** Options of {@link evaluatePolicy}. */
export interface EvaluatePolicyOptions {
  /** Rules to run; defaults to {@link POLICY_RULES}. */
  readonly rules?: readonly PolicyRule[];
  /** Suppressions by construct path; matching findings are returned with `suppressed` set. */
  readonly suppressions?: readonly PolicySuppression[];
}

/** Options of {@link applyPolicyPack}. */
export interface ApplyPolicyPackOptions {
  /** Rules to run; defaults to {@link POLICY_RULES}. */
  readonly rules?: readonly PolicyRule[];
}

/** Throws when a suppression's rule id is unknown or its reason is too short. */
function assertValidSuppression(where: string, ruleId: string, reason: string, rules: readonly PolicyRule[]): void {
  const known = rules.map((r) => r.id);
  if (!known.includes(ruleId)) {
    throw new Error(
      `${where}: ruleId ${JSON.stringify(ruleId)} is not a known policy rule id. Fix: use one of ${known.join(", ")}.`,
    );
  }
  const trimmed = reason.trim();
  if (trimmed.length < MIN_SUPPRESSION_REASON_LENGTH) {
    throw new Error(
      `${where}: the reason for suppressing ${ruleId} is ${JSON.stringify(reason)} (${trimmed.length} characters after trimming). ` +
        `Fix: explain in at least ${MIN_SUPPRESSION_REASON_LENGTH} characters why ${ruleId} is accepted here (who decided, and what compensates).`,
    );
  }
}

/** Whether a resource at `resourcePath` lies in the subtree rooted at `scopePath` (`""` is the app root). */
function isUnder(resourcePath: string, scopePath: string): boolean {
  return scopePath === "" || resourcePath === scopePath || resourcePath.startsWith(`${scopePath}/`);
}

/** Adapts a rule result so that a throwing or malformed rule is reported instead of crashing synthesis. */
function safeEvaluate(rule: PolicyRule, run: () => RuleResult): RuleResult {
  try {
    return run();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { status: "non-compliant", reason: `rule ${rule.id} could not evaluate this resource: ${message}` };
  }
}

/**
 * Runs the rules over one synthesized stack and returns every non-compliant finding, in rule order
 * then resource order. Findings covered by a suppression are included with `suppressed` set to the
 * suppression's reason. Throws if a suppression names an unknown rule or has a reason shorter than
 * {@link MIN_SUPPRESSION_REASON_LENGTH} characters.
 */
export function evaluatePolicy(stackJson: SynthesizedStackJson, options: EvaluatePolicyOptions = {}): PolicyFinding[] {
  const rules = options.rules ?? POLICY_RULES;
  const suppressions = options.suppressions ?? [];
  const knownRules = [...POLICY_RULES, ...rules.filter((r) => !POLICY_RULES.includes(r))];
  for (const s of suppressions) assertValidSuppression(`suppression at ${JSON.stringify(s.path)}`, s.ruleId, s.reason, knownRules);

  const index = new StackIndex(stackJson);
  const findings: PolicyFinding[] = [];
  for (const rule of rules) {
    for (const typeKey of rule.resourceTypes) {
      for (const resource of index.elementsOfTypeKey(typeKey)) {
        const result = safeEvaluate(rule, () => rule.evaluate(resource, index));
        if (result.status !== "non-compliant") continue;
        const suppression = suppressions.find((s) => s.ruleId === rule.id && isUnder(resource.path, s.path));
        findings.push({
          ruleId: rule.id,
          ruleName: rule.name,
          level: rule.level,
          path: resource.path,
          address: resource.address,
          reason: result.reason,
          fix: result.fix ?? rule.fix,
          ...(suppression === undefined ? {} : { suppressed: suppression.reason.trim() }),
        });
      }
    }
  }
  return findings;
}

/** Ensures a sentence ends with a full stop. */
function sentence(text: string): string {
  const trimmed = text.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

/**
 * Formats a finding as one line:
 * `[EKS1 EksEndpointNotPublic] stack/cluster/cluster (aws_eks_cluster.cluster_ABC): <reason>. Fix: <fix>.`
 */
export function formatFinding(finding: PolicyFinding): string {
  const where = finding.path === "" ? finding.address : `${finding.path} (${finding.address})`;
  const suffix = finding.suppressed === undefined ? "" : ` Suppressed: ${sentence(finding.suppressed)}`;
  return `[${finding.ruleId} ${finding.ruleName}] ${where}: ${sentence(finding.reason)} Fix: ${sentence(finding.fix)}${suffix}`;
}

/**
 * Records that `ruleId` is accepted for every resource whose construct path is `scope`'s path or
 * under it. Stored as construct metadata of type {@link SUPPRESSION_METADATA_TYPE}; read by
 * {@link applyPolicyPack} / {@link evaluateStack}. Throws if `ruleId` is not in {@link POLICY_RULES}
 * or `reason` is shorter than {@link MIN_SUPPRESSION_REASON_LENGTH} characters after trimming.
 */
export function suppressPolicyRule(scope: IConstruct, ruleId: string, reason: string): void {
  assertValidSuppression(`suppressPolicyRule(${JSON.stringify(scope.node.path)})`, ruleId, reason, POLICY_RULES);
  scope.node.addMetadata(SUPPRESSION_METADATA_TYPE, { ruleId, reason: reason.trim() });
}

/** Suppressions recorded on the stack, its ancestors (e.g. the app) and every construct inside it. */
export function collectSuppressions(stack: TerraformStack): PolicySuppression[] {
  const constructs = new Set<IConstruct>([...stack.node.scopes, ...stack.node.findAll()]);
  const suppressions: PolicySuppression[] = [];
  for (const construct of constructs) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== SUPPRESSION_METADATA_TYPE || !isRecord(entry.data)) continue;
      const { ruleId, reason } = entry.data;
      if (typeof ruleId === "string" && typeof reason === "string") {
        suppressions.push({ path: construct.node.path, ruleId, reason });
      }
    }
  }
  return suppressions;
}

/**
 * Synthesizes `stack` to JSON (`stack.toTerraform()`) and evaluates the rules with the
 * suppressions recorded on its constructs. Returns every finding, suppressed ones included.
 */
export function evaluateStack(stack: TerraformStack, options: ApplyPolicyPackOptions = {}): PolicyFinding[] {
  const json: unknown = stack.toTerraform();
  if (!isRecord(json)) throw new Error(`stack ${stack.node.path}: toTerraform() did not return an object`);
  return evaluatePolicy(json, {
    ...(options.rules === undefined ? {} : { rules: options.rules }),
    suppressions: collectSuppressions(stack),
  });
}

/** Adds an annotation unless the same message is already recorded on the construct (validations may run more than once). */
function annotateOnce(construct: IConstruct, type: AnnotationMetadataEntryType, message: string): void {
  if (construct.node.metadata.some((m) => m.type === type && m.data === message)) return;
  const annotations = Annotations.of(construct);
  if (type === AnnotationMetadataEntryType.WARN) annotations.addWarning(message);
  else annotations.addInfo(message);
}

/** Stacks that already have the pack applied. */
const STACKS_WITH_PACK = new WeakSet<TerraformStack>();

/** JSON a passing validation evaluated, kept for the write that follows it (see {@link takeValidatedTerraform}). */
const VALIDATED_JSON = new WeakMap<TerraformStack, Record<string, unknown>>();

/**
 * The resolved Terraform JSON that the policy validation of `stack` has just evaluated, handed
 * out once. cdktf resolves a stack twice per synth (for validations, then for writing
 * cdk.tf.json); a stack whose `toTerraform()` returns this when present resolves it only once.
 * Nothing can change the stack between the validation and the write that follows it.
 */
export function takeValidatedTerraform(stack: TerraformStack): Record<string, unknown> | undefined {
  const json = VALIDATED_JSON.get(stack);
  VALIDATED_JSON.delete(stack);
  return json;
}

/**
 * Adds the policy pack to `stack` as a construct validation. cdktf runs validations before writing
 * `cdk.tf.json` (and `Testing.synth(stack, true)` runs them too); the validation synthesizes the
 * stack, evaluates the rules and returns one message per unsuppressed error-level finding, so
 * `app.synth()` throws "Validation failed" listing them. Warning-level findings become
 * `Annotations.of(resource).addWarning`, and suppressed findings `addInfo`, on the resource's construct.
 * Throws if called twice on the same stack.
 */
export function applyPolicyPack(stack: TerraformStack, options: ApplyPolicyPackOptions = {}): void {
  if (STACKS_WITH_PACK.has(stack)) {
    throw new Error(`applyPolicyPack: the policy pack is already applied to stack ${stack.node.path}. Fix: call it once per stack.`);
  }
  STACKS_WITH_PACK.add(stack);
  stack.node.addValidation({
    validate: (): string[] => {
      const json: unknown = stack.toTerraform();
      if (!isRecord(json)) throw new Error(`stack ${stack.node.path}: toTerraform() did not return an object`);
      const findings = evaluatePolicy(json, {
        ...(options.rules === undefined ? {} : { rules: options.rules }),
        suppressions: collectSuppressions(stack),
      });
      const byPath = new Map<string, IConstruct>(stack.node.findAll().map((c) => [c.node.path, c]));
      const errors: string[] = [];
      for (const finding of findings) {
        const message = formatFinding(finding);
        const construct = byPath.get(finding.path) ?? stack;
        if (finding.suppressed !== undefined) annotateOnce(construct, AnnotationMetadataEntryType.INFO, message);
        else if (finding.level === "warning") annotateOnce(construct, AnnotationMetadataEntryType.WARN, message);
        else errors.push(message);
      }
      if (errors.length === 0) VALIDATED_JSON.set(stack, json);
      return errors;
    },
  });
}

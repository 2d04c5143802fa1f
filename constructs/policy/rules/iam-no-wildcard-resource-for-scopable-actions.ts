import { IAM_POLICY_TYPES, evaluateAllowStatements } from "../iam-statements.js";
import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { show } from "../values.js";

/**
 * Actions that AWS does not let you scope to a resource (the Service Authorization Reference lists
 * no resource type for them, so `Resource: "*"` is the only valid value). Kept deliberately short:
 * add an entry only with the documentation page that shows the empty "Resource types" column.
 * Patterns use IAM wildcards (`*`), matched case-insensitively. An action is allowed on "*" only if
 * it is covered by one of these patterns (`ec2:Describe*` covers `ec2:DescribeInstances` and
 * `ec2:Describe*`, but not `ec2:*`).
 *
 * Not listed on purpose: `ec2:CreateNetworkInterface` and friends (scopable to subnet,
 * security-group and network-interface ARNs), `s3:*` (bucket/object ARNs), `iam:List*` (many are
 * scopable to a role or user).
 */
export const UNSCOPABLE_ACTION_PATTERNS: readonly string[] = [
  "sts:GetCallerIdentity",
  "ecr:GetAuthorizationToken",
  "ec2:Describe*",
  "elasticloadbalancing:Describe*",
  "autoscaling:Describe*",
  "cloudwatch:PutMetricData",
  "xray:PutTraceSegments",
  "xray:PutTelemetryRecords",
  "xray:GetSamplingRules",
  "xray:GetSamplingTargets",
  "secretsmanager:GetRandomPassword",
  "secretsmanager:ListSecrets",
  "ssm:DescribeParameters",
  "kms:ListKeys",
  "kms:ListAliases",
  "s3:ListAllMyBuckets",
  "tag:GetResources",
  "eks:ListClusters",
  "eks:DescribeAddonVersions",
  "route53:ListHostedZones",
  "route53:ListHostedZonesByName",
];

/** The resource value that means "every resource". */
const ANY_RESOURCE = "*";

/**
 * Whether `action` is covered by `pattern`: a literal action must match the pattern glob; an action
 * with a trailing `*` must have a prefix that already starts with the pattern's literal prefix
 * (pattern ending in `*`) or equal the pattern; any other wildcard form is covered only by an equal pattern.
 */
export function actionCoveredBy(action: string, pattern: string): boolean {
  const a = action.trim().toLowerCase();
  const p = pattern.toLowerCase();
  if (a === p) return true;
  const actionHasWildcard = a.includes("*") || a.includes("?");
  if (!actionHasWildcard) {
    const regex = new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
    return regex.test(a);
  }
  const trailingOnly = a.endsWith("*") && !a.slice(0, -1).includes("*") && !a.includes("?");
  const patternTrailingOnly = p.endsWith("*") && !p.slice(0, -1).includes("*") && !p.includes("?");
  return trailingOnly && patternTrailingOnly && a.slice(0, -1).startsWith(p.slice(0, -1));
}

/** Whether AWS forbids scoping `action` to a resource. */
function isUnscopable(action: string): boolean {
  return UNSCOPABLE_ACTION_PATTERNS.some((pattern) => actionCoveredBy(action, pattern));
}

/**
 * IAM2: an Allow statement with `Resource: "*"` (or `NotResource`) may only contain actions that
 * cannot be scoped ({@link UNSCOPABLE_ACTION_PATTERNS}). KMS key policies are not checked (there "*"
 * means the key itself).
 */
export const iamNoWildcardResourceForScopableActions: PolicyRule = {
  id: "IAM2",
  name: "IamNoWildcardResourceForScopableActions",
  level: "error",
  explanation:
    "Resource \"*\" grants an action on every resource of the account, including other tenants' data; actions that support resource-level permissions must name their ARNs.",
  fix: 'replace Resource "*" with the ARNs the actions need (e.g. the bucket ARN and "<bucket ARN>/*"), or move the unscopable actions into their own statement',
  resourceTypes: IAM_POLICY_TYPES,
  evaluate(resource: SynthResource): RuleResult {
    return evaluateAllowStatements(resource, (statement) => {
      const anyResource = (statement.resources ?? []).some((r) => r.trim() === ANY_RESOURCE);
      const resourceText = anyResource
        ? `${statement.resourceAttribute} ${show(statement.rawResources)}`
        : statement.notResources !== undefined
          ? `${statement.notResourceAttribute} ${show(statement.notResources)}`
          : undefined;
      if (resourceText === undefined) return [];
      if (statement.notActions !== undefined) {
        return [`${statement.location} allows ${statement.notActionAttribute} ${show(statement.notActions)} on ${resourceText}`];
      }
      const scopable = (statement.actions ?? []).filter((action) => !isUnscopable(action));
      return scopable.length > 0 ? [`${statement.location} allows scopable ${statement.actionAttribute} ${show(scopable)} on ${resourceText}`] : [];
    });
  },
};

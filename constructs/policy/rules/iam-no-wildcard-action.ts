import { IAM_POLICY_TYPES, evaluateAllowStatements } from "../iam-statements.js";
import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { show } from "../values.js";

/** Action values that grant every action of every service. */
const FULL_WILDCARD_ACTIONS: readonly string[] = ["*", "*:*"];

/**
 * IAM1: no Allow statement grants every action: `Action` (or `actions`) must not be `"*"` or
 * `"*:*"`, and Allow statements must not use `NotAction` (which grants everything not listed).
 * Policies given as Terraform expressions are not applicable here; the aws_iam_policy_document they
 * usually come from is checked directly.
 */
export const iamNoWildcardAction: PolicyRule = {
  id: "IAM1",
  name: "IamNoWildcardAction",
  level: "error",
  explanation: "Action \"*\" makes the principal an administrator of the account; least privilege requires listing the actions needed.",
  fix: 'replace Action "*" with the specific actions the principal needs (e.g. ["s3:GetObject"]); use Deny statements for NotAction patterns',
  resourceTypes: IAM_POLICY_TYPES,
  evaluate(resource: SynthResource): RuleResult {
    return evaluateAllowStatements(resource, (statement) => {
      const problems: string[] = [];
      const wildcard = (statement.actions ?? []).filter((a) => FULL_WILDCARD_ACTIONS.includes(a.trim()));
      if (wildcard.length > 0) {
        problems.push(`${statement.location} allows ${statement.actionAttribute} ${show(statement.rawActions)}`);
      }
      if (statement.notActions !== undefined) {
        problems.push(`${statement.location} allows ${statement.notActionAttribute} ${show(statement.notActions)}, i.e. every other action`);
      }
      return problems;
    });
  },
};

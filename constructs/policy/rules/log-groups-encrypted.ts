import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { fromProblems } from "../results.js";
import { asNumber, nonEmptyString, show } from "../values.js";

/**
 * LOG1: CloudWatch log groups are encrypted with a customer KMS key (`kms_key_id`) and expire
 * (`retention_in_days` > 0; absent or 0 means logs are kept forever).
 */
export const logGroupsEncrypted: PolicyRule = {
  id: "LOG1",
  name: "LogGroupsEncrypted",
  level: "error",
  explanation: "Logs carry request data and tokens; they need a customer key and a bounded retention.",
  fix: "set kmsKeyId to a customer managed KMS key ARN (whose key policy allows logs.<region>.amazonaws.com) and retentionInDays to a positive value such as 365",
  resourceTypes: ["aws_cloudwatch_log_group"],
  evaluate(resource: SynthResource): RuleResult {
    const problems: string[] = [];
    const keyId = resource.config["kms_key_id"];
    if (nonEmptyString(keyId) === undefined) problems.push(`kms_key_id is ${show(keyId)}`);
    const retention = resource.config["retention_in_days"];
    const days = asNumber(retention);
    if (days === undefined || days <= 0) problems.push(`retention_in_days is ${show(retention)} (must be > 0)`);
    return fromProblems(problems);
  },
};

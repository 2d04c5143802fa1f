import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { compliant, nonCompliant } from "../results.js";
import { nonEmptyString, show } from "../values.js";

/** SM1: Secrets Manager secrets are encrypted with a customer managed KMS key (`kms_key_id` set). */
export const secretsManagerCustomerKey: PolicyRule = {
  id: "SM1",
  name: "SecretsManagerCustomerKey",
  level: "error",
  explanation: "Secrets encrypted with the AWS managed aws/secretsmanager key cannot be shared across accounts or restricted by key policy.",
  fix: "set kmsKeyId to the ARN of a customer managed aws_kms_key with rotation enabled",
  resourceTypes: ["aws_secretsmanager_secret"],
  evaluate(resource: SynthResource): RuleResult {
    const keyId = resource.config["kms_key_id"];
    return nonEmptyString(keyId) !== undefined
      ? compliant()
      : nonCompliant(`kms_key_id is ${show(keyId)} (the AWS managed aws/secretsmanager key is used)`);
  },
};

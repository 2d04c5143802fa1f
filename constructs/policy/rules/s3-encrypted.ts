import type { StackIndex } from "../index-of-stack.js";
import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { compliant, nonCompliant } from "../results.js";
import { bucketConfigurations } from "../s3-links.js";
import { blocks, firstBlock, nonEmptyString, show } from "../values.js";

/** SSE algorithms that use a KMS key. */
const KMS_SSE_ALGORITHMS: readonly string[] = ["aws:kms", "aws:kms:dsse"];

/**
 * S3-2: every bucket has an aws_s3_bucket_server_side_encryption_configuration referencing it whose
 * default encryption is `aws:kms` or `aws:kms:dsse` with a `kms_master_key_id`.
 */
export const s3Encrypted: PolicyRule = {
  id: "S3-2",
  name: "S3Encrypted",
  level: "error",
  explanation: "SSE-KMS with a customer key makes object access auditable in CloudTrail and revocable by key policy.",
  fix: 'add an S3BucketServerSideEncryptionConfigurationA with bucket: <bucket>.id and rule { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: <key arn> } }',
  resourceTypes: ["aws_s3_bucket"],
  evaluate(resource: SynthResource, index: StackIndex): RuleResult {
    const configs = bucketConfigurations(index, "aws_s3_bucket_server_side_encryption_configuration", resource);
    if (configs.length === 0) {
      return nonCompliant("no aws_s3_bucket_server_side_encryption_configuration references this bucket");
    }
    const problems: string[] = [];
    for (const config of configs) {
      const rules = blocks(config.config["rule"]);
      if (rules.length === 0) problems.push(`${config.address} rule is absent`);
      for (const [i, rule] of rules.entries()) {
        const byDefault = firstBlock(rule["apply_server_side_encryption_by_default"]);
        const algorithm = byDefault?.["sse_algorithm"];
        const keyId = nonEmptyString(byDefault?.["kms_master_key_id"]);
        if (typeof algorithm === "string" && KMS_SSE_ALGORITHMS.includes(algorithm) && keyId !== undefined) return compliant();
        const where = `${config.address} rule[${i}].apply_server_side_encryption_by_default`;
        if (typeof algorithm !== "string" || !KMS_SSE_ALGORITHMS.includes(algorithm)) {
          problems.push(`${where}.sse_algorithm is ${show(algorithm)} (must be one of ${show(KMS_SSE_ALGORITHMS)})`);
        }
        if (keyId === undefined) problems.push(`${where}.kms_master_key_id is ${show(byDefault?.["kms_master_key_id"])}`);
      }
    }
    return nonCompliant(problems.join("; "));
  },
};

import type { StackIndex } from "../index-of-stack.js";
import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { compliant, nonCompliant } from "../results.js";
import { bucketConfigurations } from "../s3-links.js";
import { firstBlock, show } from "../values.js";

/** The versioning status that keeps prior object versions. */
const VERSIONING_ENABLED = "Enabled";

/** S3-3: every bucket has an aws_s3_bucket_versioning referencing it with `versioning_configuration.status` "Enabled". */
export const s3Versioned: PolicyRule = {
  id: "S3-3",
  name: "S3Versioned",
  level: "error",
  explanation: "Versioning protects against accidental or malicious overwrite and deletion of objects.",
  fix: 'add an S3BucketVersioningA with bucket: <bucket>.id and versioningConfiguration: { status: "Enabled" }',
  resourceTypes: ["aws_s3_bucket"],
  evaluate(resource: SynthResource, index: StackIndex): RuleResult {
    const configs = bucketConfigurations(index, "aws_s3_bucket_versioning", resource);
    if (configs.length === 0) return nonCompliant("no aws_s3_bucket_versioning references this bucket");
    const problems: string[] = [];
    for (const config of configs) {
      const status = firstBlock(config.config["versioning_configuration"])?.["status"];
      if (status === VERSIONING_ENABLED) return compliant();
      problems.push(`${config.address} versioning_configuration.status is ${show(status)} (must be "${VERSIONING_ENABLED}")`);
    }
    return nonCompliant(problems.join("; "));
  },
};

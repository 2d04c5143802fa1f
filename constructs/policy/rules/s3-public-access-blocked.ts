import type { StackIndex } from "../index-of-stack.js";
import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { compliant, nonCompliant } from "../results.js";
import { bucketConfigurations } from "../s3-links.js";
import { isTrue, show } from "../values.js";

/** The four aws_s3_bucket_public_access_block flags that must all be true. */
const PUBLIC_ACCESS_FLAGS: readonly string[] = [
  "block_public_acls",
  "block_public_policy",
  "ignore_public_acls",
  "restrict_public_buckets",
];

/** S3-1: every bucket has an aws_s3_bucket_public_access_block referencing it with all four flags true. */
export const s3PublicAccessBlocked: PolicyRule = {
  id: "S3-1",
  name: "S3PublicAccessBlocked",
  level: "error",
  explanation: "Without a public access block, one ACL or bucket policy mistake makes tenant data public.",
  fix: "add an S3BucketPublicAccessBlock with bucket: <bucket>.id and blockPublicAcls, blockPublicPolicy, ignorePublicAcls, restrictPublicBuckets all true",
  resourceTypes: ["aws_s3_bucket"],
  evaluate(resource: SynthResource, index: StackIndex): RuleResult {
    const blocksOfBucket = bucketConfigurations(index, "aws_s3_bucket_public_access_block", resource);
    if (blocksOfBucket.length === 0) return nonCompliant("no aws_s3_bucket_public_access_block references this bucket");
    const problems: string[] = [];
    for (const block of blocksOfBucket) {
      const off = PUBLIC_ACCESS_FLAGS.filter((flag) => !isTrue(block.config[flag]));
      if (off.length === 0) return compliant();
      problems.push(...off.map((flag) => `${block.address} ${flag} is ${show(block.config[flag])} (must be true)`));
    }
    return nonCompliant(problems.join("; "));
  },
};

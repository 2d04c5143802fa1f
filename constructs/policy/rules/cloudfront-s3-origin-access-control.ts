import type { StackIndex } from "../index-of-stack.js";
import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { fromProblems } from "../results.js";
import { blocks, firstBlock, nonEmptyString, show } from "../values.js";

/**
 * CF-2: every S3 origin of a CloudFront distribution (an origin without `custom_origin_config`) is
 * reached through an origin access control, never a legacy origin access identity or the bucket's
 * public endpoint: the bucket then admits CloudFront for this one distribution (SigV4, and SSE-KMS
 * objects), and stays private.
 */
export const cloudFrontS3OriginAccessControl: PolicyRule = {
  id: "CF-2",
  name: "CloudFrontS3OriginAccessControl",
  level: "error",
  explanation: "An S3 origin without origin access control is a public bucket or a legacy identity that cannot read KMS-encrypted objects or be scoped to one distribution.",
  fix: 'add a CloudfrontOriginAccessControl { originAccessControlOriginType: "s3", signingBehavior: "always", signingProtocol: "sigv4" }, set the origin\'s originAccessControlId to it, and allow only cloudfront.amazonaws.com with AWS:SourceArn = the distribution in the bucket policy',
  resourceTypes: ["aws_cloudfront_distribution"],
  evaluate(resource: SynthResource, index: StackIndex): RuleResult {
    const problems: string[] = [];
    for (const [i, origin] of blocks(resource.config["origin"]).entries()) {
      if (firstBlock(origin["custom_origin_config"]) || firstBlock(origin["vpc_origin_config"])) continue;
      const where = `origin[${i}] (${show(origin["origin_id"])})`;
      const identity = nonEmptyString(firstBlock(origin["s3_origin_config"])?.["origin_access_identity"]);
      if (identity !== undefined) problems.push(`${where}.s3_origin_config.origin_access_identity is ${show(identity)} (a legacy identity: use an origin access control)`);
      const control = origin["origin_access_control_id"];
      const resolved = index.resolve(control, "aws_cloudfront_origin_access_control");
      if (nonEmptyString(control) === undefined) problems.push(`${where}.origin_access_control_id is ${show(control)}`);
      else if (resolved && resolved.config["signing_behavior"] !== "always") {
        problems.push(`${resolved.address} signing_behavior is ${show(resolved.config["signing_behavior"])} (must be "always")`);
      }
    }
    return fromProblems(problems);
  },
};

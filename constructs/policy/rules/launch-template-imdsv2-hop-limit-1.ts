import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { fromProblems, nonCompliant } from "../results.js";
import { asNumber, firstBlock, show } from "../values.js";

/** `http_tokens` value that enforces IMDSv2 session tokens. */
const IMDSV2_REQUIRED = "required";
/** Hop limit that keeps instance credentials away from containers (pods are one hop further). */
const REQUIRED_HOP_LIMIT = 1;
/** `http_endpoint` value that turns the metadata service off entirely (then there is nothing to protect). */
const IMDS_DISABLED = "disabled";

/**
 * EC2-1: launch templates and instances require IMDSv2 (`metadata_options.http_tokens` "required")
 * with `http_put_response_hop_limit` 1, so pods cannot reach the node role's credentials.
 * A disabled metadata endpoint is compliant.
 */
export const launchTemplateImdsv2HopLimit1: PolicyRule = {
  id: "EC2-1",
  name: "LaunchTemplateImdsv2HopLimit1",
  level: "error",
  explanation:
    "IMDSv1 is vulnerable to SSRF credential theft, and a hop limit above 1 lets every pod on a node read the node IAM role's credentials.",
  fix: 'set metadataOptions { httpTokens: "required", httpPutResponseHopLimit: 1, httpEndpoint: "enabled" }',
  resourceTypes: ["aws_launch_template", "aws_instance"],
  evaluate(resource: SynthResource): RuleResult {
    const options = firstBlock(resource.config["metadata_options"]);
    if (options === undefined) {
      return nonCompliant('metadata_options is absent (http_tokens defaults to "optional", i.e. IMDSv1 allowed)');
    }
    if (options["http_endpoint"] === IMDS_DISABLED) return fromProblems([]);
    const problems: string[] = [];
    if (options["http_tokens"] !== IMDSV2_REQUIRED) {
      problems.push(`metadata_options.http_tokens is ${show(options["http_tokens"])} (must be "${IMDSV2_REQUIRED}")`);
    }
    if (asNumber(options["http_put_response_hop_limit"]) !== REQUIRED_HOP_LIMIT) {
      problems.push(
        `metadata_options.http_put_response_hop_limit is ${show(options["http_put_response_hop_limit"])} (must be ${REQUIRED_HOP_LIMIT})`,
      );
    }
    return fromProblems(problems);
  },
};

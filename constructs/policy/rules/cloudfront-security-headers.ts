import type { StackIndex } from "../index-of-stack.js";
import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { fromProblems, nonCompliant } from "../results.js";
import { asNumber, firstBlock, isTrue, nonEmptyString, show } from "../values.js";

/** HSTS shorter than a year is not honoured by the browsers' preload lists and leaves gaps. */
export const MIN_HSTS_MAX_AGE_SECONDS = 31_536_000;

/**
 * CF-3: the default behaviour of a CloudFront distribution (what a browser loads as a page) has a
 * response headers policy of this stack that sets a content security policy, HSTS of a year or more
 * and frame options, each overriding whatever the origin sent.
 */
export const cloudFrontSecurityHeaders: PolicyRule = {
  id: "CF-3",
  name: "CloudFrontSecurityHeaders",
  level: "error",
  explanation: "Pages served without a content security policy, HSTS and frame options can run injected script, be downgraded or be framed.",
  fix: "attach a CloudfrontResponseHeadersPolicy with securityHeadersConfig { contentSecurityPolicy, strictTransportSecurity (accessControlMaxAgeSec >= 31536000), frameOptions }, each with override: true, as the default behaviour's responseHeadersPolicyId",
  resourceTypes: ["aws_cloudfront_distribution"],
  evaluate(resource: SynthResource, index: StackIndex): RuleResult {
    const id = firstBlock(resource.config["default_cache_behavior"])?.["response_headers_policy_id"];
    const policy = index.resolve(id, "aws_cloudfront_response_headers_policy");
    if (!policy) return nonCompliant(`default_cache_behavior.response_headers_policy_id is ${show(id)} (must reference an aws_cloudfront_response_headers_policy of this stack)`);
    const security = firstBlock(policy.config["security_headers_config"]);
    const problems: string[] = [];
    const csp = firstBlock(security?.["content_security_policy"]);
    if (nonEmptyString(csp?.["content_security_policy"]) === undefined || !isTrue(csp?.["override"])) problems.push(`${policy.address} security_headers_config.content_security_policy is ${show(csp)} (a policy, with override true)`);
    const hsts = firstBlock(security?.["strict_transport_security"]);
    const maxAge = asNumber(hsts?.["access_control_max_age_sec"]);
    if (maxAge === undefined || maxAge < MIN_HSTS_MAX_AGE_SECONDS || !isTrue(hsts?.["override"])) {
      problems.push(`${policy.address} security_headers_config.strict_transport_security is ${show(hsts)} (access_control_max_age_sec >= ${MIN_HSTS_MAX_AGE_SECONDS}, override true)`);
    }
    const frames = firstBlock(security?.["frame_options"]);
    if (!["DENY", "SAMEORIGIN"].includes(String(frames?.["frame_option"])) || !isTrue(frames?.["override"])) problems.push(`${policy.address} security_headers_config.frame_options is ${show(frames)} (DENY or SAMEORIGIN, override true)`);
    return fromProblems(problems);
  },
};

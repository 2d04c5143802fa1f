import type { StackIndex } from "../index-of-stack.js";
import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { fromProblems } from "../results.js";
import { asStringArray, blocks, firstBlock, isTrue, show } from "../values.js";

/** Viewer security policies that admit TLS 1.2 and later only, with forward-secret ciphers. */
export const CLOUDFRONT_MODERN_VIEWER_POLICIES: readonly string[] = ["TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"];
/** What a behaviour may do with plain HTTP: redirect it, or refuse it. */
const HTTPS_VIEWER_POLICIES: readonly string[] = ["redirect-to-https", "https-only"];

/**
 * CF-1: a CloudFront distribution speaks TLS 1.2 or later on both sides: its own certificate (the
 * default `*.cloudfront.net` one still admits TLS 1.0) with a `TLSv1.2_2021`-or-newer security
 * policy, every behaviour redirecting or refusing plain HTTP, and every custom origin reached over
 * HTTPS only with TLS 1.2 (no SSLv3, TLS 1.0 or 1.1).
 */
export const cloudFrontTlsOnly: PolicyRule = {
  id: "CF-1",
  name: "CloudFrontTlsOnly",
  level: "error",
  explanation: "Tokens and the console's session travel through CloudFront: plain HTTP or TLS before 1.2 on either side exposes them.",
  fix: 'set viewerCertificate { acmCertificateArn, sslSupportMethod: "sni-only", minimumProtocolVersion: "TLSv1.2_2021" }, viewerProtocolPolicy "redirect-to-https" or "https-only" on every behaviour, and customOriginConfig { originProtocolPolicy: "https-only", originSslProtocols: ["TLSv1.2"] }',
  resourceTypes: ["aws_cloudfront_distribution"],
  evaluate(resource: SynthResource, _index: StackIndex): RuleResult {
    const problems: string[] = [];
    const certificate = firstBlock(resource.config["viewer_certificate"]);
    if (isTrue(certificate?.["cloudfront_default_certificate"])) problems.push("viewer_certificate.cloudfront_default_certificate is true (its policy admits TLS 1.0)");
    const minimum = certificate?.["minimum_protocol_version"];
    if (typeof minimum !== "string" || !CLOUDFRONT_MODERN_VIEWER_POLICIES.includes(minimum)) {
      problems.push(`viewer_certificate.minimum_protocol_version is ${show(minimum)} (must be one of ${show(CLOUDFRONT_MODERN_VIEWER_POLICIES)})`);
    }
    const behaviours = [
      ["default_cache_behavior", firstBlock(resource.config["default_cache_behavior"])],
      ...blocks(resource.config["ordered_cache_behavior"]).map((b, i) => [`ordered_cache_behavior[${i}] (${show(b["path_pattern"])})`, b] as const),
    ] as const;
    for (const [where, behaviour] of behaviours) {
      const policy = behaviour?.["viewer_protocol_policy"];
      if (typeof policy !== "string" || !HTTPS_VIEWER_POLICIES.includes(policy)) problems.push(`${where}.viewer_protocol_policy is ${show(policy)} (must be one of ${show(HTTPS_VIEWER_POLICIES)})`);
    }
    for (const [i, origin] of blocks(resource.config["origin"]).entries()) {
      const custom = firstBlock(origin["custom_origin_config"]);
      if (!custom) continue;
      const where = `origin[${i}] (${show(origin["origin_id"])}).custom_origin_config`;
      if (custom["origin_protocol_policy"] !== "https-only") problems.push(`${where}.origin_protocol_policy is ${show(custom["origin_protocol_policy"])} (must be "https-only")`);
      const protocols = asStringArray(custom["origin_ssl_protocols"]);
      const old = protocols.filter((p) => p !== "TLSv1.2");
      if (protocols.length === 0 || old.length > 0) problems.push(`${where}.origin_ssl_protocols is ${show(custom["origin_ssl_protocols"])} (must be ["TLSv1.2"])`);
    }
    return fromProblems(problems);
  },
};

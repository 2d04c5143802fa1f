/**
 * The pack's CloudFront rules (CF-1 TLS only, CF-2 S3 origins through origin access control, CF-3
 * the page's security headers): a compliant and a non-compliant case each, the console's own
 * distribution compliant in every environment, and the insecure fixture failing all three.
 */
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES } from "../../config/index.js";
import { evaluatePolicy } from "../../constructs/policy/index.js";
import { cloudFrontS3OriginAccessControl } from "../../constructs/policy/rules/cloudfront-s3-origin-access-control.js";
import { cloudFrontSecurityHeaders } from "../../constructs/policy/rules/cloudfront-security-headers.js";
import { cloudFrontTlsOnly } from "../../constructs/policy/rules/cloudfront-tls-only.js";
import { evaluateRule, reasonOf, stackJson, type Elements } from "../policy/helpers.js";
import { stackOf } from "../support/synth.js";

const DISTRIBUTION = "aws_cloudfront_distribution.cdn";
const OAC = "${aws_cloudfront_origin_access_control.oac.id}";
const HEADERS = "${aws_cloudfront_response_headers_policy.headers.id}";

/** A compliant distribution with its OAC and headers policy; `change` edits the distribution's attributes. */
function stack(change: (d: Record<string, any>) => void = () => {}, headers: Record<string, unknown> = {}): ReturnType<typeof stackJson> {
  const distribution: Record<string, any> = {
    origin: [
      { origin_id: "assets", domain_name: "${aws_s3_bucket.assets.bucket_regional_domain_name}", origin_access_control_id: OAC },
      { origin_id: "api", domain_name: "lb.example.com", custom_origin_config: { origin_protocol_policy: "https-only", origin_ssl_protocols: ["TLSv1.2"], http_port: 80, https_port: 443 } },
    ],
    default_cache_behavior: { target_origin_id: "assets", viewer_protocol_policy: "redirect-to-https", response_headers_policy_id: HEADERS },
    ordered_cache_behavior: [{ path_pattern: "/v1/*", target_origin_id: "api", viewer_protocol_policy: "https-only" }],
    viewer_certificate: { acm_certificate_arn: "arn:aws:acm:us-east-1:123456789012:certificate/x", ssl_support_method: "sni-only", minimum_protocol_version: "TLSv1.2_2021" },
  };
  change(distribution);
  const elements: Elements = {
    aws_cloudfront_distribution: { cdn: distribution },
    aws_cloudfront_origin_access_control: { oac: { origin_access_control_origin_type: "s3", signing_behavior: "always", signing_protocol: "sigv4" } },
    aws_cloudfront_response_headers_policy: {
      headers: {
        security_headers_config: {
          content_security_policy: { content_security_policy: "default-src 'none'", override: true },
          strict_transport_security: { access_control_max_age_sec: 63_072_000, include_subdomains: true, preload: true, override: true },
          frame_options: { frame_option: "DENY", override: true },
          ...headers,
        },
      },
    },
  };
  return stackJson(elements);
}

describe("CF-1 CloudFrontTlsOnly", () => {
  it("accepts TLSv1.2_2021 with its own certificate, HTTPS behaviours and an HTTPS-only TLS 1.2 origin", () => {
    expect(evaluateRule(cloudFrontTlsOnly, stack(), DISTRIBUTION)).toEqual({ status: "compliant" });
  });

  it("refuses the default certificate, an old policy, plain HTTP to viewers and to the origin, naming each", () => {
    const reason = reasonOf(
      evaluateRule(
        cloudFrontTlsOnly,
        stack((d) => {
          d.viewer_certificate = { cloudfront_default_certificate: true, minimum_protocol_version: "TLSv1" };
          d.ordered_cache_behavior[0].viewer_protocol_policy = "allow-all";
          d.origin[1].custom_origin_config = { origin_protocol_policy: "match-viewer", origin_ssl_protocols: ["TLSv1.1", "TLSv1.2"] };
        }),
        DISTRIBUTION,
      ),
    );
    expect(reason).toContain("viewer_certificate.cloudfront_default_certificate is true");
    expect(reason).toContain('viewer_certificate.minimum_protocol_version is "TLSv1"');
    expect(reason).toContain('ordered_cache_behavior[0] ("/v1/*").viewer_protocol_policy is "allow-all"');
    expect(reason).toContain('origin[1] ("api").custom_origin_config.origin_protocol_policy is "match-viewer"');
    expect(reason).toContain('origin_ssl_protocols is ["TLSv1.1","TLSv1.2"]');
  });
});

describe("CF-2 CloudFrontS3OriginAccessControl", () => {
  it("accepts a bucket origin through an origin access control that signs every request", () => {
    expect(evaluateRule(cloudFrontS3OriginAccessControl, stack(), DISTRIBUTION)).toEqual({ status: "compliant" });
  });

  it("refuses a bucket origin without one, or through a legacy identity", () => {
    const bare = reasonOf(evaluateRule(cloudFrontS3OriginAccessControl, stack((d) => delete d.origin[0].origin_access_control_id), DISTRIBUTION));
    expect(bare).toContain('origin[0] ("assets").origin_access_control_id is absent');
    const legacy = reasonOf(
      evaluateRule(
        cloudFrontS3OriginAccessControl,
        stack((d) => (d.origin[0].s3_origin_config = { origin_access_identity: "origin-access-identity/cloudfront/E2QWRUHAPOMQZL" })),
        DISTRIBUTION,
      ),
    );
    expect(legacy).toContain("s3_origin_config.origin_access_identity");
  });
});

describe("CF-3 CloudFrontSecurityHeaders", () => {
  it("accepts a default behaviour whose headers policy sets a CSP, two years of HSTS and frame options, overriding the origin", () => {
    expect(evaluateRule(cloudFrontSecurityHeaders, stack(), DISTRIBUTION)).toEqual({ status: "compliant" });
  });

  it("refuses a default behaviour without a policy of the stack, or one without a CSP or with a short HSTS", () => {
    expect(reasonOf(evaluateRule(cloudFrontSecurityHeaders, stack((d) => delete d.default_cache_behavior.response_headers_policy_id), DISTRIBUTION))).toContain(
      "default_cache_behavior.response_headers_policy_id is absent",
    );
    const weak = reasonOf(
      evaluateRule(cloudFrontSecurityHeaders, stack(undefined, { content_security_policy: undefined, strict_transport_security: { access_control_max_age_sec: 300, override: true } }), DISTRIBUTION),
    );
    expect(weak).toContain("content_security_policy is absent");
    expect(weak).toContain("strict_transport_security");
  });
});

describe.each(ENVIRONMENT_NAMES)("%s-workloads", (env) => {
  it("the console's distribution passes CF-1, CF-2 and CF-3", () => {
    const findings = evaluatePolicy(stackOf(env, "workloads").json as never).filter((f) => f.ruleId.startsWith("CF-"));
    expect(findings).toEqual([]);
    expect(stackOf(env, "workloads").text).toContain("aws_cloudfront_distribution");
  });
});

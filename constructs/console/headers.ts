/**
 * The console's response headers (CloudFront response headers policy of its behaviour): the
 * content security policy of console/contract.ts for the environment's identity origin, HSTS
 * (two years, subdomains, preload), `X-Frame-Options: DENY`, and every header of
 * `CONSOLE_SECURITY_HEADERS`. CloudFront sets the security headers it knows (CSP, HSTS, frame
 * options, content-type options, referrer policy) only through its typed fields and refuses them as
 * custom headers, so each header of the contract goes where CloudFront takes it. A pure builder:
 * the tests read the result back against the contract.
 */
import type { CloudfrontResponseHeadersPolicyConfig } from "@cdktf/provider-aws/lib/cloudfront-response-headers-policy/index.js";
import { CONSOLE_SECURITY_HEADERS, consoleContentSecurityPolicy } from "../../console/contract.js";
import { propFail } from "../core/validation.js";
import { HSTS_MAX_AGE_SECONDS } from "./names.js";

/** Referrer policies CloudFront's `referrer_policy` accepts. */
const CLOUDFRONT_REFERRER_POLICIES: readonly string[] = [
  "no-referrer",
  "no-referrer-when-downgrade",
  "origin",
  "origin-when-cross-origin",
  "same-origin",
  "strict-origin",
  "strict-origin-when-cross-origin",
  "unsafe-url",
];

/** The headers CloudFront sets only through `security_headers_config` (lower case). */
const TYPED_SECURITY_HEADERS: readonly string[] = ["content-security-policy", "strict-transport-security", "x-frame-options", "x-content-type-options", "referrer-policy", "x-xss-protection"];

export type ConsoleResponseHeaders = Pick<CloudfrontResponseHeadersPolicyConfig, "securityHeadersConfig" | "customHeadersConfig">;

/**
 * The response headers policy's headers for a console whose users sign in at `identityOrigin`
 * (`https://<domains.auth>`). Every header overrides what the origin sent: the assets come from a
 * bucket, and nothing there decides the page's policy.
 */
export function consoleResponseHeaders(identityOrigin: string, extra: Readonly<Record<string, string>> = CONSOLE_SECURITY_HEADERS): ConsoleResponseHeaders {
  const fail = propFail("consoleResponseHeaders");
  let referrerPolicy: string | undefined;
  let contentTypeOptions = false;
  const custom: { header: string; value: string; override: boolean }[] = [];
  for (const [header, value] of Object.entries(extra)) {
    const name = header.toLowerCase();
    if (name === "x-content-type-options") {
      if (value !== "nosniff") fail(`headers.${header}`, value, "is not nosniff, the only value CloudFront sets", 'use "nosniff"');
      contentTypeOptions = true;
    } else if (name === "referrer-policy") {
      if (!CLOUDFRONT_REFERRER_POLICIES.includes(value)) fail(`headers.${header}`, value, "is not a referrer policy CloudFront sets", `use one of ${CLOUDFRONT_REFERRER_POLICIES.join(", ")}`);
      referrerPolicy = value;
    } else if (TYPED_SECURITY_HEADERS.includes(name)) {
      fail(`headers.${header}`, value, "is set by the console's own policy (CSP, HSTS, frame options)", "change it in constructs/console/headers.ts, not in the extra headers");
    } else {
      custom.push({ header, value, override: true });
    }
  }
  return {
    securityHeadersConfig: {
      contentSecurityPolicy: { contentSecurityPolicy: consoleContentSecurityPolicy(identityOrigin), override: true },
      strictTransportSecurity: { accessControlMaxAgeSec: HSTS_MAX_AGE_SECONDS, includeSubdomains: true, preload: true, override: true },
      frameOptions: { frameOption: "DENY", override: true },
      ...(contentTypeOptions ? { contentTypeOptions: { override: true } } : {}),
      ...(referrerPolicy ? { referrerPolicy: { referrerPolicy, override: true } } : {}),
    },
    ...(custom.length > 0 ? { customHeadersConfig: { items: custom } } : {}),
  };
}

/**
 * The web console's delivery (constructs/console), read back from every environment's synthesized
 * workloads stack: a private bucket reachable only through this distribution's origin access
 * control, the contract's content security policy, API paths passed to the gateway uncached with
 * every viewer header, TLS minimums, the runtime configuration from the environment's values, the
 * API host's DNS taken over from the gateway, and refusals that name the bad field.
 */
import { Route53Record } from "@cdktf/provider-aws/lib/route53-record/index.js";
import { App, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { describe, expect, it } from "vitest";
import { CONSOLE_RUNTIME_CONFIG_PATH, CONSOLE_SECURITY_HEADERS, consoleContentSecurityPolicy, parseConsoleRuntimeConfig } from "../../console/contract.js";
import { ConfigError, ENVIRONMENT_NAMES, loadEnvironment, RAW_ENVIRONMENTS, validateEnvironment, type EnvironmentName } from "../../config/index.js";
import {
  CLOUDFRONT_CERTIFICATE_REGION,
  CLOUDFRONT_MANAGED_POLICIES,
  CONSOLE_API_PATH_PATTERNS,
  CONSOLE_ASSETS_OUTPUT,
  CONSOLE_VIEWER_MINIMUM_PROTOCOL,
  GATEWAY_API_HOST_PATH_REGEXES,
  HSTS_MAX_AGE_SECONDS,
  pathPrefixesOf,
  WebConsole,
  type WebConsoleProps,
} from "../../constructs/console/index.js";
import { ValidationError } from "../../constructs/core/validation.js";
import { NATS_CLIENT_URL } from "../../constructs/nats/names.js";
import { PORTS } from "../../constructs/platform-interfaces.js";
import { issuerUrl, WEB_CLIENT_ID } from "../../services/keycloak-realm/index.js";
import { addEnvironment } from "../../stacks/app.js";
import { GATEWAY_API_HOST_RECORD_ADDRESS } from "../../stacks/workloads-stack.js";
import { resourcesOf, stackOf, synthApp, type SynthesizedStack } from "../support/synth.js";

type Json = Record<string, any>;
interface Statement {
  Sid: string;
  Effect: string;
  Principal: unknown;
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

const only = (stack: SynthesizedStack, type: string, idPart: string): [string, Json] => {
  const entries = Object.entries(resourcesOf(stack, type)).filter(([id]) => id.includes(idPart));
  expect(entries, `${type} ${idPart}`).toHaveLength(1);
  return entries[0] as [string, Json];
};
const ref = (type: string, id: string, attr: string) => `\${${type}.${id}.${attr}}`;
const statements = (policy: string): Statement[] => (JSON.parse(policy) as { Statement: Statement[] }).Statement;

describe.each(ENVIRONMENT_NAMES)("%s-workloads: the web console", (env) => {
  const config = loadEnvironment(env);
  const stack = stackOf(env, "workloads");
  const [distributionId, distribution] = only(stack, "aws_cloudfront_distribution", "console_distribution");
  const distributionArn = ref("aws_cloudfront_distribution", distributionId, "arn");
  const [assetsId, assets] = only(stack, "aws_s3_bucket", "console_assets");
  const [logsId] = only(stack, "aws_s3_bucket", "console_logs");
  const [keyId, key] = only(stack, "aws_kms_key", "console_key");
  const ofBucket = (type: string, bucketId: string) => {
    const list = Object.values(resourcesOf(stack, type)).filter((r) => r["bucket"] === ref("aws_s3_bucket", bucketId, "id"));
    expect(list, `${type} of ${bucketId}`).toHaveLength(1);
    return list[0] as Json;
  };

  describe("the assets bucket is private and reachable only through this distribution's origin access control", () => {
    it("blocks every kind of public access, has ACLs disabled, is versioned and encrypted with the console's key", () => {
      expect(assets.bucket).toBe(`enchanted-${env}-console-${config.aws.accountId}`);
      expect(ofBucket("aws_s3_bucket_public_access_block", assetsId)).toMatchObject({ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true });
      expect(ofBucket("aws_s3_bucket_ownership_controls", assetsId).rule).toEqual({ object_ownership: "BucketOwnerEnforced" });
      expect(ofBucket("aws_s3_bucket_versioning", assetsId).versioning_configuration).toEqual({ status: "Enabled" });
      expect(ofBucket("aws_s3_bucket_server_side_encryption_configuration", assetsId).rule).toEqual([
        { apply_server_side_encryption_by_default: { sse_algorithm: "aws:kms", kms_master_key_id: ref("aws_kms_key", keyId, "arn") }, bucket_key_enabled: true },
      ]);
      expect(Object.values(resourcesOf(stack, "aws_s3_bucket_acl")).map((acl) => acl["bucket"])).toEqual([ref("aws_s3_bucket", logsId, "id")]);
    });

    it("its policy refuses plain HTTP, then allows only CloudFront's s3:GetObject for this distribution", () => {
      const [deny, ...allows] = statements(ofBucket("aws_s3_bucket_policy", assetsId).policy as string);
      expect(deny).toMatchObject({ Effect: "Deny", Principal: "*", Action: "s3:*", Condition: { Bool: { "aws:SecureTransport": "false" } } });
      expect(deny?.Resource).toEqual([ref("aws_s3_bucket", assetsId, "arn"), `${ref("aws_s3_bucket", assetsId, "arn")}/*`]);
      expect(allows).toEqual([
        {
          Sid: "CloudFrontReadsThroughOriginAccessControl",
          Effect: "Allow",
          Principal: { Service: "cloudfront.amazonaws.com" },
          Action: "s3:GetObject",
          Resource: `${ref("aws_s3_bucket", assetsId, "arn")}/*`,
          Condition: { StringEquals: { "AWS:SourceArn": distributionArn } },
        },
      ]);
    });

    it("the distribution reaches it through an origin access control that signs every request, never an identity or the public endpoint", () => {
      const [oacId, oac] = only(stack, "aws_cloudfront_origin_access_control", "console_origin-access-control");
      expect(oac).toMatchObject({ origin_access_control_origin_type: "s3", signing_behavior: "always", signing_protocol: "sigv4" });
      const s3Origins = (distribution.origin as Json[]).filter((o) => o.custom_origin_config === undefined);
      expect(s3Origins).toEqual([
        { origin_id: "console-assets", domain_name: ref("aws_s3_bucket", assetsId, "bucket_regional_domain_name"), origin_access_control_id: ref("aws_cloudfront_origin_access_control", oacId, "id") },
      ]);
      expect(resourcesOf(stack, "aws_cloudfront_origin_access_identity")).toEqual({});
      expect(resourcesOf(stack, "aws_s3_bucket_website_configuration")).toEqual({});
    });

    it("the console's key decrypts for CloudFront only on this distribution's behalf (and lets it write its logs)", () => {
      const list = statements(key.policy as string);
      expect(list.find((s) => s.Sid === "CloudFrontDecryptsTheConsoleAssetsForItsDistribution")).toEqual({
        Sid: "CloudFrontDecryptsTheConsoleAssetsForItsDistribution",
        Effect: "Allow",
        Principal: { Service: "cloudfront.amazonaws.com" },
        Action: "kms:Decrypt",
        Resource: "*",
        Condition: { StringEquals: { "AWS:SourceArn": distributionArn } },
      });
      expect(list.find((s) => s.Sid === "CloudFrontDeliversAccessLogs")).toMatchObject({ Principal: { Service: "delivery.logs.amazonaws.com" }, Action: "kms:GenerateDataKey*" });
      expect(key.enable_key_rotation).toBe(true);
    });
  });

  describe("headers", () => {
    const [headersId, headers] = only(stack, "aws_cloudfront_response_headers_policy", "console_headers");
    const security = headers.security_headers_config as Json;

    it("the console's behaviour carries the contract's content security policy for the environment's identity origin", () => {
      expect(distribution.default_cache_behavior.response_headers_policy_id).toBe(ref("aws_cloudfront_response_headers_policy", headersId, "id"));
      expect(security.content_security_policy).toEqual({ content_security_policy: consoleContentSecurityPolicy(`https://${config.domains.auth}`), override: true });
      expect(security.content_security_policy.content_security_policy).toContain(`connect-src 'self' https://${config.domains.auth}`);
    });

    it("and HSTS (two years, subdomains, preload), X-Frame-Options DENY and every header of CONSOLE_SECURITY_HEADERS", () => {
      expect(security.strict_transport_security).toEqual({ access_control_max_age_sec: HSTS_MAX_AGE_SECONDS, include_subdomains: true, preload: true, override: true });
      expect(HSTS_MAX_AGE_SECONDS).toBe(2 * 365 * 24 * 3600);
      expect(security.frame_options).toEqual({ frame_option: "DENY", override: true });
      const sent: Record<string, string> = {
        ...Object.fromEntries((headers.custom_headers_config?.items ?? []).map((h: Json) => [h.header, h.value])),
        ...(security.content_type_options ? { "X-Content-Type-Options": "nosniff" } : {}),
        ...(security.referrer_policy ? { "Referrer-Policy": security.referrer_policy.referrer_policy } : {}),
      };
      expect(sent).toEqual(CONSOLE_SECURITY_HEADERS);
    });
  });

  describe("the API paths go to the gateway, never cached, with every viewer header", () => {
    const behaviours = distribution.ordered_cache_behavior as Json[];
    const [lbId] = Object.keys(stack.json.data?.["aws_lb"] ?? {});

    it("one behaviour per API path pattern: all methods, caching disabled, Authorization and Host forwarded (AllViewer), HTTPS only, no function", () => {
      expect(behaviours.map((b) => b.path_pattern)).toEqual([...CONSOLE_API_PATH_PATTERNS]);
      for (const b of behaviours) {
        expect(b).toEqual({
          path_pattern: b.path_pattern,
          target_origin_id: "api-gateway",
          viewer_protocol_policy: "https-only",
          allowed_methods: ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
          cached_methods: ["GET", "HEAD"],
          cache_policy_id: CLOUDFRONT_MANAGED_POLICIES.cachingDisabled,
          origin_request_policy_id: CLOUDFRONT_MANAGED_POLICIES.allViewer,
          compress: false,
        });
      }
    });

    it("the gateway is reached by its load balancer's own name, over TLS 1.2 only", () => {
      const api = (distribution.origin as Json[]).find((o) => o.origin_id === "api-gateway");
      expect(api?.domain_name).toBe(`\${data.aws_lb.${lbId}.dns_name}`);
      expect(api?.domain_name).not.toContain(config.domains.api);
      expect(api?.custom_origin_config).toMatchObject({ origin_protocol_policy: "https-only", https_port: 443, origin_ssl_protocols: ["TLSv1.2"], origin_read_timeout: 60 });
    });

    it("covers every path the gateway publishes on the API host", () => {
      const prefixes = pathPrefixesOf(CONSOLE_API_PATH_PATTERNS);
      for (const regex of GATEWAY_API_HOST_PATH_REGEXES) {
        const literal = regex.replace(/^\^/, "").replace(/\\\./g, ".");
        expect(prefixes.some((p) => literal.startsWith(p)), regex).toBe(true);
      }
    });

    it("the console's own behaviour serves the bucket, cached, with the client-side routes function and no error page rewriting", () => {
      const [fnId] = only(stack, "aws_cloudfront_function", "console_spa-routes");
      expect(distribution.default_cache_behavior).toMatchObject({
        target_origin_id: "console-assets",
        cache_policy_id: CLOUDFRONT_MANAGED_POLICIES.cachingOptimized,
        allowed_methods: ["GET", "HEAD"],
        function_association: [{ event_type: "viewer-request", function_arn: ref("aws_cloudfront_function", fnId, "arn") }],
      });
      expect(distribution.custom_error_response).toBeUndefined();
      expect(distribution.default_root_object).toBe("index.html");
    });
  });

  describe("TLS", () => {
    it("viewers need TLS 1.2 (TLSv1.2_2021, SNI) with the API host's us-east-1 certificate; plain HTTP is redirected for the console", () => {
      const [certId, cert] = only(stack, "aws_acm_certificate", "console_certificate");
      const [validationId, validation] = only(stack, "aws_acm_certificate_validation", "console_certificate-validation");
      expect(cert).toMatchObject({ region: CLOUDFRONT_CERTIFICATE_REGION, domain_name: config.domains.api, validation_method: "DNS" });
      expect(validation).toMatchObject({ region: CLOUDFRONT_CERTIFICATE_REGION, certificate_arn: ref("aws_acm_certificate", certId, "arn") });
      expect(distribution.viewer_certificate).toEqual({
        acm_certificate_arn: ref("aws_acm_certificate_validation", validationId, "certificate_arn"),
        ssl_support_method: "sni-only",
        minimum_protocol_version: CONSOLE_VIEWER_MINIMUM_PROTOCOL,
      });
      expect(CONSOLE_VIEWER_MINIMUM_PROTOCOL).toBe("TLSv1.2_2021");
      expect(distribution.default_cache_behavior.viewer_protocol_policy).toBe("redirect-to-https");
      expect(distribution.aliases).toEqual([config.domains.api]);
    });

    it("logs every request to the log bucket, which expires them after the environment's retention", () => {
      expect(distribution.logging_config).toEqual({ bucket: ref("aws_s3_bucket", logsId, "bucket_domain_name"), prefix: "cloudfront/", include_cookies: false });
      const lifecycle = ofBucket("aws_s3_bucket_lifecycle_configuration", logsId).rule[0] as Json;
      expect(lifecycle.expiration).toEqual([{ days: config.console.accessLogRetentionDays }]);
      expect(ofBucket("aws_s3_bucket_public_access_block", logsId)).toMatchObject({ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true });
      expect(distribution.price_class).toBe(config.console.priceClass);
    });
  });

  it("writes /config.json from the environment's values, never cached", () => {
    const [, object] = only(stack, "aws_s3_object", "console_runtime-config");
    expect(object).toMatchObject({ key: CONSOLE_RUNTIME_CONFIG_PATH.slice(1), bucket: ref("aws_s3_bucket", assetsId, "id"), content_type: "application/json", cache_control: "no-cache", server_side_encryption: "aws:kms" });
    const natsServers = config.nats.external ? [`tls://${config.nats.external.hostname}:${PORTS.natsClient}`] : [NATS_CLIENT_URL];
    expect(parseConsoleRuntimeConfig(JSON.parse(object.content as string))).toEqual({ issuer: issuerUrl(config.domains.auth), clientId: WEB_CLIENT_ID, environment: env, natsServers });
  });

  it("without a zone: the API host's target and the certificate's validation record are outputs, and the gateway's output names the auth host only", () => {
    const outputs = stack.json.output as Json;
    expect(outputs[CONSOLE_ASSETS_OUTPUT]?.value).toEqual({ bucket: ref("aws_s3_bucket", assetsId, "bucket"), distributionId: ref("aws_cloudfront_distribution", distributionId, "id"), url: `https://${config.domains.api}` });
    const host = Object.entries(outputs).find(([id]) => id.startsWith("console_host-records"))?.[1] as Json;
    expect(host.value).toMatchObject({ name: config.domains.api, target: ref("aws_cloudfront_distribution", distributionId, "domain_name") });
    expect(Object.keys(outputs).some((id) => id.startsWith("console_certificate-validation-records"))).toBe(true);
    const gateway = Object.entries(outputs).find(([id]) => id.startsWith("kong_gateway-host-records"))?.[1] as Json;
    expect(gateway.value.names).toEqual([config.domains.auth]);
  });
});

describe("with the environment's zone", () => {
  const ZONE = "Z0123456789ABCDEFGHIJ";
  const raw = RAW_ENVIRONMENTS.staging as Json;
  const config = validateEnvironment({ ...raw, domains: { ...raw.domains, hostedZoneId: ZONE } }, "staging");
  const workloads = synthApp((app) => void addEnvironment(app, config))["staging-workloads"] as SynthesizedStack;
  const records = resourcesOf(workloads, "aws_route53_record");

  it("the API host's A and AAAA records alias the distribution; the gateway's NLB keeps only the auth host", () => {
    const [distributionId] = only(workloads, "aws_cloudfront_distribution", "console_distribution");
    for (const type of ["A", "AAAA"]) {
      const [, record] = only(workloads, "aws_route53_record", `console_host-record-${type.toLowerCase()}_`);
      expect(record).toMatchObject({ zone_id: ZONE, name: config.domains.api, type });
      expect(record.alias).toEqual({ name: ref("aws_cloudfront_distribution", distributionId, "domain_name"), zone_id: ref("aws_cloudfront_distribution", distributionId, "hosted_zone_id"), evaluate_target_health: false });
    }
    const gatewayHosts = Object.entries(records).filter(([id]) => id.startsWith("kong_"));
    expect(gatewayHosts.map(([, r]) => r.name)).toEqual([config.domains.auth]);
  });

  it("takes the API host's record over from the gateway with a moved block: an in-place update, not a delete racing a create", () => {
    const [recordId] = only(workloads, "aws_route53_record", "console_host-record-a_");
    expect((workloads.json as Json).moved).toEqual([{ from: GATEWAY_API_HOST_RECORD_ADDRESS, to: `aws_route53_record.${recordId}` }]);
    expect(Object.keys(records)).not.toContain(GATEWAY_API_HOST_RECORD_ADDRESS.split(".")[1]);
    // The address is the one cdktf gave the gateway's record ("kong" / "api-host-record") before.
    const stack = new TerraformStack(new App({ outdir: "/tmp" }), "probe");
    const record = new Route53Record(new Construct(stack, "kong"), "api-host-record", { zoneId: ZONE, name: "x", type: "A" });
    expect(`aws_route53_record.${stack.getLogicalId(record)}`).toBe(GATEWAY_API_HOST_RECORD_ADDRESS);
  });

  it("validates the certificate with a record in the zone and waits for it", () => {
    const [, validation] = only(workloads, "aws_route53_record", "console_certificate-validation-records");
    expect(validation).toMatchObject({ zone_id: ZONE, allow_overwrite: true });
    const [, wait] = only(workloads, "aws_acm_certificate_validation", "console_certificate-validation");
    expect(wait.validation_record_fqdns).toMatch(/aws_route53_record\.console_certificate-validation-records/);
  });
});

describe("a bad value fails synth naming the field", () => {
  const raw = RAW_ENVIRONMENTS.prod as Json;
  const refuse = (console: Json, name: EnvironmentName = "prod"): string => {
    try {
      validateEnvironment({ ...raw, console: { ...raw.console, ...console } }, name);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error("accepted");
  };

  it("in the environment's config: the console section's fields, each with its fix", () => {
    expect(refuse({ accessLogRetentionDays: 0 })).toMatch(/console\.accessLogRetentionDays = 0: out of range \[1, 3653\]\. Fix: keep the access logs 1 day to 10 years/);
    expect(refuse({ priceClass: "PriceClass_Cheap" })).toMatch(/console\.priceClass = "PriceClass_Cheap".*Fix: use "PriceClass_100"/);
    expect(refuse({ webAclArn: "arn:aws:wafv2:eu-west-1:777788889999:regional/webacl/x/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d" })).toMatch(/console\.webAclArn = .*CLOUDFRONT-scope/);
    expect(refuse({ webAclArn: "arn:aws:wafv2:us-east-1:111122223333:global/webacl/x/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d" })).toMatch(/console\.webAclArn = .* is in account 111122223333, not this environment's \(777788889999\)/);
    const { console: _dropped, ...withoutConsole } = raw;
    expect(() => validateEnvironment(withoutConsole, "prod")).toThrow(/console/);
  });

  const PROPS: WebConsoleProps = {
    name: "enchanted-test",
    accountId: "123456789012",
    apiDomain: "api.example.com",
    authDomain: "auth.example.com",
    apiOriginDomain: "k8s-kong-proxy-0123456789.elb.eu-west-1.amazonaws.com",
    runtimeConfig: { issuer: "https://auth.example.com/realms/enchanted", clientId: WEB_CLIENT_ID, environment: "test", natsServers: ["tls://nats.example.com:4222"] },
  };
  const build = (props: Partial<WebConsoleProps>) => () => new WebConsole(new TerraformStack(new App({ outdir: "/tmp" }), "console-test"), "console", { ...PROPS, ...props });

  it("in the construct's props: the prop, the value and the fix, with the construct's path", () => {
    expect(build({})).not.toThrow();
    expect(build({ runtimeConfig: { ...PROPS.runtimeConfig, issuer: "http://auth.example.com/realms/enchanted" } })).toThrow(ValidationError);
    expect(build({ runtimeConfig: { ...PROPS.runtimeConfig, issuer: "http://auth.example.com/realms/enchanted" } })).toThrow(/console-test\/console: runtimeConfig\.issuer = "http:\/\/auth\.example\.com\/realms\/enchanted" is refused by the console/);
    expect(build({ runtimeConfig: { ...PROPS.runtimeConfig, natsServers: ["http://nats"] } })).toThrow(/runtimeConfig\.natsServers/);
    expect(build({ apiOriginDomain: "api.example.com" })).toThrow(/apiOriginDomain = "api\.example\.com" is the distribution's own host.*Fix: pass the gateway load balancer's own DNS name/);
    expect(build({ authDomain: "Auth.Example.com" })).toThrow(/authDomain = "Auth\.Example\.com"/);
    expect(build({ accessLogRetentionDays: 0 })).toThrow(/accessLogRetentionDays = 0 is not a whole number of days from 1 to 3653/);
    expect(build({ webAclArn: "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/x/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d" })).toThrow(/webAclArn = .*CLOUDFRONT-scope/);
  });
});

/**
 * The web console on the API's own origin (`https://<domains.api>`): one CloudFront distribution
 * for the API host whose default behaviour serves the console's static assets from a private S3
 * bucket (Origin Access Control; the bucket admits this distribution only), and whose ordered
 * behaviours pass `/v1/*` and `/.well-known/*` to the gateway's load balancer over HTTPS, uncached,
 * with every viewer header (Authorization and Host included). The browser therefore never makes a
 * cross-origin API call, and the realm's default web origin (`https://<domains.api>`) is right.
 *
 * - TLS: an ACM certificate of the API host in us-east-1 (CloudFront's region; the resource's own
 *   `region`), validated by DNS in the environment's zone (or an output for the zone's owner);
 *   viewers need TLS 1.2 (`TLSv1.2_2021`), plain HTTP is redirected (the console) or refused (the API).
 * - Headers: the console's behaviour carries the content security policy of console/contract.ts for
 *   the identity origin, HSTS and the contract's other headers (headers.ts).
 * - Client-side routes: a CloudFront Function on the console's behaviour only (spa-function.ts).
 * - `/config.json`: written here from the environment's values (console/contract.ts's
 *   `ConsoleRuntimeConfig`), `Cache-Control: no-cache`; the deploy workflow syncs every other asset
 *   (`npm run console:build`) and never this one.
 * - Logs: CloudFront's standard access logs into a log bucket of their own (SSE-KMS, expiring).
 * - DNS: the API host's alias records (A and AAAA) point at the distribution; the gateway's load
 *   balancer keeps its own DNS name as this distribution's origin, and the auth host.
 */
import { AcmCertificate } from "@cdktf/provider-aws/lib/acm-certificate/index.js";
import { AcmCertificateValidation } from "@cdktf/provider-aws/lib/acm-certificate-validation/index.js";
import { CloudfrontDistribution, type CloudfrontDistributionOrderedCacheBehavior } from "@cdktf/provider-aws/lib/cloudfront-distribution/index.js";
import { CloudfrontFunction } from "@cdktf/provider-aws/lib/cloudfront-function/index.js";
import { CloudfrontOriginAccessControl } from "@cdktf/provider-aws/lib/cloudfront-origin-access-control/index.js";
import { CloudfrontResponseHeadersPolicy } from "@cdktf/provider-aws/lib/cloudfront-response-headers-policy/index.js";
import { DataAwsCanonicalUserId } from "@cdktf/provider-aws/lib/data-aws-canonical-user-id/index.js";
import { DataAwsCloudfrontLogDeliveryCanonicalUserId } from "@cdktf/provider-aws/lib/data-aws-cloudfront-log-delivery-canonical-user-id/index.js";
import { Route53Record } from "@cdktf/provider-aws/lib/route53-record/index.js";
import { S3BucketAcl } from "@cdktf/provider-aws/lib/s3-bucket-acl/index.js";
import { S3Object } from "@cdktf/provider-aws/lib/s3-object/index.js";
import { TerraformOutput, Token } from "cdktf";
import { certificateValidationRecords } from "../certificate-dns-validation.js";
import { Construct } from "constructs";
import { CONSOLE_RUNTIME_CONFIG_PATH, parseConsoleRuntimeConfig, type ConsoleRuntimeConfig } from "../../console/contract.js";
import { propFail, type PropFail } from "../core/validation.js";
import { KmsKey } from "../kms-key.js";
import { addBucketPolicy, addPrivateBucket, encryptBucket, type PrivateBucket } from "./buckets.js";
import { consoleResponseHeaders } from "./headers.js";
import {
  API_ORIGIN_READ_TIMEOUT_SECONDS,
  CLOUDFRONT_CERTIFICATE_REGION,
  CLOUDFRONT_MANAGED_POLICIES,
  CONSOLE_ASSETS_OUTPUT,
  CONSOLE_API_PATH_PATTERNS,
  CONSOLE_ORIGIN_SSL_PROTOCOLS,
  CONSOLE_VIEWER_MINIMUM_PROTOCOL,
  objectKeyOf,
} from "./names.js";
import { pathPrefixesOf, SPA_FUNCTION_RUNTIME, spaRewriteFunctionCode } from "./spa-function.js";

/** CloudFront's edge location sets (`console.priceClass`). */
export type CloudFrontPriceClass = "PriceClass_100" | "PriceClass_200" | "PriceClass_All";

export interface WebConsoleProps {
  /** Name prefix of the AWS resources, e.g. `enchanted-prod`. */
  readonly name: string;
  /** The environment's account: the buckets' names end with it, and it administers the key. */
  readonly accountId: string;
  /** The API host (`domains.api`): the console's origin, the distribution's alias and its certificate's name. */
  readonly apiDomain: string;
  /** The identity provider's host (`domains.auth`): the content security policy admits its origin. */
  readonly authDomain: string;
  /**
   * The gateway's load balancer, by its own DNS name: CloudFront's origin of the API paths. Its
   * listener's certificate names the API host, and CloudFront forwards the viewer's Host (the API
   * host), which is what it then checks the certificate against (and what Kong routes on).
   */
  readonly apiOriginDomain: string;
  /** What `/config.json` tells the browser (issuer, client, environment, NATS servers). */
  readonly runtimeConfig: ConsoleRuntimeConfig;
  /**
   * Public Route 53 zone of the API host: the certificate's validation record and the host's alias
   * records are created there.
   * @default - none: the validation record and the host's target are Terraform outputs for the zone's owner
   */
  readonly hostedZoneId?: string;
  /**
   * The Terraform address the API host's A record had before this construct owned it (the
   * gateway's `api` record): a `moved` block turns the hand-over into an in-place update of one
   * record instead of a delete and a create that race for the same name.
   * @default - none
   */
  readonly hostRecordMovedFrom?: string;
  /** CloudFront's edge locations. @default "PriceClass_100" */
  readonly priceClass?: CloudFrontPriceClass;
  /** Days the access logs are kept. @default 90 */
  readonly accessLogRetentionDays?: number;
  /** Days a replaced or deleted asset's previous version is kept. @default 30 */
  readonly previousVersionRetentionDays?: number;
  /** A CLOUDFRONT-scope WAF web ACL to attach. @default - none */
  readonly webAclArn?: string;
  /** Delete the buckets' objects with them (ephemeral environments). @default false */
  readonly forceDestroy?: boolean;
}

const DEFAULT_PRICE_CLASS: CloudFrontPriceClass = "PriceClass_100";
const DEFAULT_ACCESS_LOG_RETENTION_DAYS = 90;
const DEFAULT_PREVIOUS_VERSION_RETENTION_DAYS = 30;
/** How long a deploy waits for the certificate when the zone's owner creates its validation record. */
const CERTIFICATE_VALIDATION_TIMEOUT = "2h";
/** S3 lifecycle bounds (days) this construct accepts. */
const MAX_ACCESS_LOG_RETENTION_DAYS = 3_653;
const MAX_PREVIOUS_VERSION_RETENTION_DAYS = 365;
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const WEB_ACL_ARN = /^arn:aws:wafv2:us-east-1:\d{12}:global\/webacl\/[\w-]{1,128}\/[0-9a-f-]{36}$/;
/** The distribution's origins. */
const ASSETS_ORIGIN = "console-assets";
const API_ORIGIN = "api-gateway";
/** Prefix of CloudFront's log objects in the log bucket. */
const ACCESS_LOG_PREFIX = "cloudfront/";

/**
 * The console's distribution, its buckets, key, certificate, function, response headers policy,
 * runtime configuration and DNS records. Outputs `console_assets` ({@link CONSOLE_ASSETS_OUTPUT}: the
 * bucket and the distribution id, what the deploy workflow syncs and invalidates).
 */
export class WebConsole extends Construct {
  readonly distribution: CloudfrontDistribution;
  readonly assets: PrivateBucket;
  readonly logs: PrivateBucket;
  readonly key: KmsKey;
  readonly certificate: AcmCertificate;
  /** `https://<apiDomain>`: where the console (and the API) answer. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: WebConsoleProps) {
    super(scope, id);
    const fail = propFail(this);
    const priceClass = props.priceClass ?? DEFAULT_PRICE_CLASS;
    const accessLogRetentionDays = props.accessLogRetentionDays ?? DEFAULT_ACCESS_LOG_RETENTION_DAYS;
    const previousVersionRetentionDays = props.previousVersionRetentionDays ?? DEFAULT_PREVIOUS_VERSION_RETENTION_DAYS;

    // --- Props ------------------------------------------------------------------------------------
    for (const field of ["apiDomain", "authDomain"] as const) {
      if (!DNS_NAME.test(props[field])) fail(field, props[field], "is not a lower-case fully qualified domain name", 'pass the environment\'s domains, e.g. "api.example.com"');
    }
    if (props.apiDomain === props.authDomain) fail("authDomain", props.authDomain, "is the API host", "serve the identity provider on a host of its own (domains.auth)");
    if (!Token.isUnresolved(props.apiOriginDomain)) {
      if (!DNS_NAME.test(props.apiOriginDomain)) fail("apiOriginDomain", props.apiOriginDomain, "is not a DNS name", "pass the gateway load balancer's DNS name");
      if (props.apiOriginDomain === props.apiDomain) {
        fail("apiOriginDomain", props.apiOriginDomain, "is the distribution's own host: every API call would come back to CloudFront", "pass the gateway load balancer's own DNS name");
      }
    }
    const checkDays = (field: string, value: number, max: number) => {
      if (!Number.isInteger(value) || value < 1 || value > max) fail(field, value, `is not a whole number of days from 1 to ${max}`, `use 1 to ${max} days`);
    };
    checkDays("accessLogRetentionDays", accessLogRetentionDays, MAX_ACCESS_LOG_RETENTION_DAYS);
    checkDays("previousVersionRetentionDays", previousVersionRetentionDays, MAX_PREVIOUS_VERSION_RETENTION_DAYS);
    if (props.webAclArn !== undefined && !WEB_ACL_ARN.test(props.webAclArn)) {
      fail("webAclArn", props.webAclArn, "is not the ARN of a CLOUDFRONT-scope web ACL (us-east-1, global/webacl/...)", "create the web ACL with scope CLOUDFRONT and pass its ARN, or leave it out");
    }
    const runtimeConfig = checkedRuntimeConfig(props.runtimeConfig, fail);
    this.url = `https://${props.apiDomain}`;

    // --- Buckets ------------------------------------------------------------------------------------
    // Their key comes after the distribution: its policy lets CloudFront decrypt for this
    // distribution only, so it names the distribution, which needs the assets bucket.
    const bucketPrefix = `${props.name}-console`;
    this.assets = addPrivateBucket(this, "assets", {
      bucketName: `${bucketPrefix}-${props.accountId}`,
      previousVersionRetentionDays,
      ...(props.forceDestroy ? { forceDestroy: true } : {}),
    });
    // CloudFront's standard logs are delivered by ACL (the awslogsdelivery account): ACLs stay on here.
    this.logs = addPrivateBucket(this, "logs", {
      bucketName: `${bucketPrefix}-logs-${props.accountId}`,
      previousVersionRetentionDays: 1,
      expirationDays: accessLogRetentionDays,
      objectOwnership: "BucketOwnerPreferred",
      ...(props.forceDestroy ? { forceDestroy: true } : {}),
    });
    const owner = new DataAwsCanonicalUserId(this, "account-canonical-user");
    const logDelivery = new DataAwsCloudfrontLogDeliveryCanonicalUserId(this, "cloudfront-log-delivery");
    new S3BucketAcl(this, "logs-acl", {
      bucket: this.logs.bucket.id,
      accessControlPolicy: {
        owner: { id: owner.id },
        grant: [
          { grantee: { type: "CanonicalUser", id: owner.id }, permission: "FULL_CONTROL" },
          { grantee: { type: "CanonicalUser", id: logDelivery.id }, permission: "FULL_CONTROL" },
        ],
      },
      dependsOn: [this.logs.ownership],
    });

    // --- TLS ----------------------------------------------------------------------------------------
    this.certificate = new AcmCertificate(this, "certificate", {
      region: CLOUDFRONT_CERTIFICATE_REGION,
      domainName: props.apiDomain,
      validationMethod: "DNS",
      keyAlgorithm: "EC_prime256v1",
      lifecycle: { createBeforeDestroy: true },
      tags: { Name: `${props.apiDomain} (CloudFront)` },
    });
    const validation = this.validateCertificate(props);

    // --- Behaviours ----------------------------------------------------------------------------------
    const spa = new CloudfrontFunction(this, "spa-routes", {
      name: `${props.name}-console-spa-routes`,
      runtime: SPA_FUNCTION_RUNTIME,
      comment: "The console's client-side routes: extensionless paths serve /index.html; API paths never",
      code: spaRewriteFunctionCode(pathPrefixesOf(CONSOLE_API_PATH_PATTERNS)),
      publish: true,
    });
    const headers = new CloudfrontResponseHeadersPolicy(this, "headers", {
      name: `${props.name}-console-headers`,
      comment: "The console's content security policy, HSTS and security headers (console/contract.ts)",
      ...consoleResponseHeaders(`https://${props.authDomain}`),
    });
    const oac = new CloudfrontOriginAccessControl(this, "origin-access-control", {
      name: `${props.name}-console-assets`,
      description: "CloudFront signs every request to the console's assets bucket (SigV4)",
      originAccessControlOriginType: "s3",
      signingBehavior: "always",
      signingProtocol: "sigv4",
    });
    const apiBehaviours: CloudfrontDistributionOrderedCacheBehavior[] = CONSOLE_API_PATH_PATTERNS.map((pathPattern) => ({
      pathPattern,
      targetOriginId: API_ORIGIN,
      // An API client sent to http:// gets a refusal, not a redirect that would drop its body.
      viewerProtocolPolicy: "https-only",
      allowedMethods: ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
      cachedMethods: ["GET", "HEAD"],
      cachePolicyId: CLOUDFRONT_MANAGED_POLICIES.cachingDisabled,
      originRequestPolicyId: CLOUDFRONT_MANAGED_POLICIES.allViewer,
      compress: false,
    }));

    this.distribution = new CloudfrontDistribution(this, "distribution", {
      comment: `${props.name}: the web console and the API on ${props.apiDomain}`,
      enabled: true,
      isIpv6Enabled: true,
      httpVersion: "http2and3",
      priceClass,
      aliases: [props.apiDomain],
      defaultRootObject: "index.html",
      origin: [
        { originId: ASSETS_ORIGIN, domainName: this.assets.bucket.bucketRegionalDomainName, originAccessControlId: oac.id },
        {
          originId: API_ORIGIN,
          domainName: props.apiOriginDomain,
          customOriginConfig: {
            httpPort: 80,
            httpsPort: 443,
            originProtocolPolicy: "https-only",
            originSslProtocols: [...CONSOLE_ORIGIN_SSL_PROTOCOLS],
            originReadTimeout: API_ORIGIN_READ_TIMEOUT_SECONDS,
          },
        },
      ],
      defaultCacheBehavior: {
        targetOriginId: ASSETS_ORIGIN,
        viewerProtocolPolicy: "redirect-to-https",
        allowedMethods: ["GET", "HEAD"],
        cachedMethods: ["GET", "HEAD"],
        compress: true,
        cachePolicyId: CLOUDFRONT_MANAGED_POLICIES.cachingOptimized,
        responseHeadersPolicyId: headers.id,
        functionAssociation: [{ eventType: "viewer-request", functionArn: spa.arn }],
      },
      orderedCacheBehavior: apiBehaviours,
      viewerCertificate: {
        acmCertificateArn: validation.certificateArn,
        sslSupportMethod: "sni-only",
        minimumProtocolVersion: CONSOLE_VIEWER_MINIMUM_PROTOCOL,
      },
      restrictions: { geoRestriction: { restrictionType: "none" } },
      loggingConfig: { bucket: this.logs.bucket.bucketDomainName, prefix: ACCESS_LOG_PREFIX, includeCookies: false },
      ...(props.webAclArn ? { webAclId: props.webAclArn } : {}),
      tags: { Name: `${props.name}-console` },
    });

    // --- Key, encryption and bucket policies --------------------------------------------------------
    // CloudFront may read (and decrypt) the assets for this distribution alone, and write its logs.
    const fromThisDistribution = { StringEquals: { "AWS:SourceArn": this.distribution.arn } };
    this.key = new KmsKey(this, "key", {
      alias: `${props.name}-console`,
      description: `The web console's assets and access logs in ${props.name}`,
      accountId: props.accountId,
      statements: [
        {
          Sid: "CloudFrontDecryptsTheConsoleAssetsForItsDistribution",
          Effect: "Allow",
          Principal: { Service: "cloudfront.amazonaws.com" },
          Action: "kms:Decrypt",
          Resource: "*",
          Condition: fromThisDistribution,
        },
        {
          Sid: "CloudFrontDeliversAccessLogs",
          Effect: "Allow",
          Principal: { Service: "delivery.logs.amazonaws.com" },
          Action: "kms:GenerateDataKey*",
          Resource: "*",
        },
      ],
    });
    const assetsEncryption = encryptBucket(this, "assets-encryption", this.assets, this.key);
    encryptBucket(this, "logs-encryption", this.logs, this.key);
    addBucketPolicy(this, "assets-policy", this.assets, [
      {
        Sid: "CloudFrontReadsThroughOriginAccessControl",
        Effect: "Allow",
        Principal: { Service: "cloudfront.amazonaws.com" },
        Action: "s3:GetObject",
        Resource: `${this.assets.bucket.arn}/*`,
        Condition: fromThisDistribution,
      },
    ]);
    addBucketPolicy(this, "logs-policy", this.logs, []);

    // --- The runtime configuration ---------------------------------------------------------------------
    new S3Object(this, "runtime-config", {
      bucket: this.assets.bucket.id,
      key: objectKeyOf(CONSOLE_RUNTIME_CONFIG_PATH),
      content: `${JSON.stringify(runtimeConfig, null, 2)}\n`,
      contentType: "application/json",
      cacheControl: "no-cache",
      serverSideEncryption: "aws:kms",
      kmsKeyId: this.key.keyArn,
      bucketKeyEnabled: true,
      dependsOn: [assetsEncryption],
    });

    // --- DNS and outputs ---------------------------------------------------------------------------------
    if (props.hostedZoneId) {
      for (const type of ["A", "AAAA"] as const) {
        const record = new Route53Record(this, `host-record-${type.toLowerCase()}`, {
          zoneId: props.hostedZoneId,
          name: props.apiDomain,
          type,
          alias: { name: this.distribution.domainName, zoneId: this.distribution.hostedZoneId, evaluateTargetHealth: false },
        });
        if (type === "A" && props.hostRecordMovedFrom) record.moveFromId(props.hostRecordMovedFrom);
      }
    } else {
      new TerraformOutput(this, "host-records", {
        description: `Point ${props.apiDomain} at the console's CloudFront distribution (alias A and AAAA records) in the public zone`,
        value: { name: props.apiDomain, target: this.distribution.domainName, targetZoneId: this.distribution.hostedZoneId },
      });
    }
    // A fixed name: the deploy workflow reads it (`terraform output -json console_assets`).
    new TerraformOutput(this, "assets-output", {
      description: "Where the deploy workflow puts the console's build (aws s3 sync) and what it invalidates",
      value: { bucket: this.assets.bucket.bucket, distributionId: this.distribution.id, url: this.url },
    }).overrideLogicalId(CONSOLE_ASSETS_OUTPUT);
  }

  /**
   * The certificate's DNS validation: the record in the zone and a wait for it, or, without a zone,
   * an output of the record for the zone's owner and a wait (up to two hours) while they create it.
   */
  private validateCertificate(props: WebConsoleProps): AcmCertificateValidation {
    const timeouts = { create: CERTIFICATE_VALIDATION_TIMEOUT };
    if (!props.hostedZoneId) {
      new TerraformOutput(this, "certificate-validation-records", {
        description: `DNS record that validates the console's us-east-1 certificate of ${props.apiDomain}; create it in the public zone (the deploy waits for it)`,
        value: this.certificate.domainValidationOptions,
      });
      return new AcmCertificateValidation(this, "certificate-validation", { region: CLOUDFRONT_CERTIFICATE_REGION, certificateArn: this.certificate.arn, timeouts });
    }
    return new AcmCertificateValidation(this, "certificate-validation", {
      region: CLOUDFRONT_CERTIFICATE_REGION,
      certificateArn: this.certificate.arn,
      validationRecordFqdns: certificateValidationRecords(this, this.certificate, props.hostedZoneId),
      timeouts,
    });
  }
}

/** The runtime configuration as the console will parse it; a refusal names the field (`runtimeConfig.issuer`). */
function checkedRuntimeConfig(config: ConsoleRuntimeConfig, fail: PropFail): ConsoleRuntimeConfig {
  try {
    return parseConsoleRuntimeConfig(config);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // The contract's messages read "/config.json: <field> ...".
    const field = /^\S+: (\w+) /.exec(message)?.[1] ?? "";
    const value = (config as unknown as Record<string, unknown>)[field];
    return fail(field ? `runtimeConfig.${field}` : "runtimeConfig", field ? value : config, `is refused by the console (${message})`, "pass the realm's issuer URL, the web client's id, the environment's name and the agents' NATS URLs");
  }
}

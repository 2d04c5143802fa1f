/**
 * The console's private S3 buckets (assets and access logs): all public access blocked, SSE-KMS
 * (bucket keys on), versioned, a lifecycle that expires previous versions,
 * and a bucket policy that refuses every request over plain HTTP before it allows anything else.
 */
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket/index.js";
import { S3BucketLifecycleConfiguration, type S3BucketLifecycleConfigurationRule } from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration/index.js";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls/index.js";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy/index.js";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block/index.js";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration/index.js";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning/index.js";
import type { Construct } from "constructs";
import type { IKmsKey } from "../kms-key.js";

/** A bucket policy statement, as IAM JSON. */
export interface BucketPolicyStatement {
  readonly Sid: string;
  readonly Effect: "Allow" | "Deny";
  readonly Principal: "*" | Readonly<Record<string, string | readonly string[]>>;
  readonly Action: string | readonly string[];
  readonly Resource: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

export interface PrivateBucketProps {
  readonly bucketName: string;
  /** Days a replaced or deleted object's previous version is kept. */
  readonly previousVersionRetentionDays: number;
  /** Days after which current objects expire (a log bucket). @default - never */
  readonly expirationDays?: number;
  /**
   * Object ownership. `BucketOwnerPreferred` keeps ACLs working, for writers that still deliver by
   * ACL (CloudFront's standard logs). @default "BucketOwnerEnforced" (ACLs disabled)
   */
  readonly objectOwnership?: "BucketOwnerEnforced" | "BucketOwnerPreferred";
  /** Delete the objects with the bucket (ephemeral environments). @default false */
  readonly forceDestroy?: boolean;
}

/** What {@link addPrivateBucket} created. */
export interface PrivateBucket {
  readonly bucket: S3Bucket;
  readonly ownership: S3BucketOwnershipControls;
  readonly publicAccessBlock: S3BucketPublicAccessBlock;
}

/**
 * Adds `<id>` (the bucket) and its configuration (`<id>-public-access-block`, `-ownership`,
 * `-versioning`, `-lifecycle`) to `scope`. Its default encryption is {@link encryptBucket}'s: the
 * key may be made later (the console's key policy names the distribution, which needs the bucket).
 */
export function addPrivateBucket(scope: Construct, id: string, props: PrivateBucketProps): PrivateBucket {
  const bucket = new S3Bucket(scope, id, { bucket: props.bucketName, forceDestroy: props.forceDestroy ?? false, tags: { Name: props.bucketName } });
  const publicAccessBlock = new S3BucketPublicAccessBlock(scope, `${id}-public-access-block`, {
    bucket: bucket.id,
    blockPublicAcls: true,
    blockPublicPolicy: true,
    ignorePublicAcls: true,
    restrictPublicBuckets: true,
  });
  const ownership = new S3BucketOwnershipControls(scope, `${id}-ownership`, {
    bucket: bucket.id,
    rule: { objectOwnership: props.objectOwnership ?? "BucketOwnerEnforced" },
  });
  const versioning = new S3BucketVersioningA(scope, `${id}-versioning`, { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } });
  const rules: S3BucketLifecycleConfigurationRule[] = [
    {
      id: "previous-versions",
      status: "Enabled",
      filter: [{ prefix: "" }],
      noncurrentVersionExpiration: [{ noncurrentDays: props.previousVersionRetentionDays }],
      abortIncompleteMultipartUpload: [{ daysAfterInitiation: 1 }],
      // A delete marker with no version left behind it serves nothing: remove it.
      expiration: props.expirationDays === undefined ? [{ expiredObjectDeleteMarker: true }] : [{ days: props.expirationDays }],
    },
  ];
  new S3BucketLifecycleConfiguration(scope, `${id}-lifecycle`, { bucket: bucket.id, rule: rules, dependsOn: [versioning] });
  return { bucket, ownership, publicAccessBlock };
}

/** Adds `<id>`: the bucket's default encryption, SSE-KMS with `key` and S3 bucket keys (one KMS call per object batch, not per object). */
export function encryptBucket(scope: Construct, id: string, bucket: PrivateBucket, key: IKmsKey): S3BucketServerSideEncryptionConfigurationA {
  return new S3BucketServerSideEncryptionConfigurationA(scope, id, {
    bucket: bucket.bucket.id,
    rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.keyArn }, bucketKeyEnabled: true }],
  });
}

/** Refuses every request that did not come over TLS (the first statement of every policy here). */
export function denyInsecureTransport(bucketArn: string): BucketPolicyStatement {
  return {
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: [bucketArn, `${bucketArn}/*`],
    Condition: { Bool: { "aws:SecureTransport": "false" } },
  };
}

/** Adds `<id>`: the bucket's policy, TLS only, then `statements`. Written after the public access block (a policy is checked against it). */
export function addBucketPolicy(scope: Construct, id: string, bucket: PrivateBucket, statements: readonly BucketPolicyStatement[]): S3BucketPolicy {
  return new S3BucketPolicy(scope, id, {
    bucket: bucket.bucket.id,
    policy: JSON.stringify({ Version: "2012-10-17", Statement: [denyInsecureTransport(bucket.bucket.arn), ...statements] }),
    dependsOn: [bucket.publicAccessBlock],
  });
}

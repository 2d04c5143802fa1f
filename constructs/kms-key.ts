import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias/index.js";
import { KmsKey as AwsKmsKey } from "@cdktf/provider-aws/lib/kms-key/index.js";
import { propFail } from "./core/validation.js";
import { Construct } from "constructs";

/** What other constructs need to know of a customer-managed KMS key. */
export interface IKmsKey {
  readonly keyArn: string;
  readonly aliasName: string;
}

/** A key policy statement, as IAM JSON. */
export interface PolicyStatement {
  readonly Sid: string;
  readonly Effect: "Allow" | "Deny";
  readonly Principal: Readonly<Record<string, string | readonly string[]>>;
  readonly Action: string | readonly string[];
  readonly Resource: string;
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

export interface KmsKeyProps {
  /** Alias without the `alias/` prefix, e.g. `enchanted-prod-eks-secrets`. */
  readonly alias: string;
  readonly description: string;
  /** Account that owns the key; its root principal administers the key through IAM. */
  readonly accountId: string;
  /** Extra key policy statements (service principals, service-linked roles). @default - none */
  readonly statements?: readonly PolicyStatement[];
  /** Days a deleted key waits before it is destroyed. @default 30 */
  readonly deletionWindowDays?: number;
  /** Days between automatic rotations of the key material. @default 365 */
  readonly rotationPeriodDays?: number;
}

const DEFAULT_DELETION_WINDOW_DAYS = 30;
const DEFAULT_ROTATION_PERIOD_DAYS = 365;

/**
 * A symmetric customer-managed key with automatic rotation, an alias and an explicit key policy.
 * Only the account root (delegating to IAM) and the statements passed in can use it.
 */
export class KmsKey extends Construct implements IKmsKey {
  readonly keyArn: string;
  readonly aliasName: string;

  constructor(scope: Construct, id: string, props: KmsKeyProps) {
    super(scope, id);
    const deletionWindowDays = props.deletionWindowDays ?? DEFAULT_DELETION_WINDOW_DAYS;
    const rotationPeriodDays = props.rotationPeriodDays ?? DEFAULT_ROTATION_PERIOD_DAYS;
    const fail = propFail(this);
    if (deletionWindowDays < 7 || deletionWindowDays > 30) fail("deletionWindowDays", deletionWindowDays, "is outside 7-30", "use 7 to 30 days (AWS limits)");
    if (rotationPeriodDays < 90 || rotationPeriodDays > 2560) fail("rotationPeriodDays", rotationPeriodDays, "is outside 90-2560", "use 90 to 2560 days (AWS limits)");
    if (!/^[a-zA-Z0-9/_-]{1,250}$/.test(props.alias) || props.alias.startsWith("aws/")) {
      fail("alias", props.alias, "is not a valid customer alias", 'use letters, digits, "/", "_" and "-", not starting with "aws/"');
    }

    const policy = {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "AccountRootAdministersThroughIam",
          Effect: "Allow",
          Principal: { AWS: `arn:aws:iam::${props.accountId}:root` },
          Action: "kms:*",
          Resource: "*",
        },
        ...(props.statements ?? []),
      ],
    };

    const key = new AwsKmsKey(this, "key", {
      description: props.description,
      enableKeyRotation: true,
      rotationPeriodInDays: rotationPeriodDays,
      deletionWindowInDays: deletionWindowDays,
      keyUsage: "ENCRYPT_DECRYPT",
      customerMasterKeySpec: "SYMMETRIC_DEFAULT",
      policy: JSON.stringify(policy),
    });
    this.aliasName = `alias/${props.alias}`;
    new KmsAlias(this, "alias", { name: this.aliasName, targetKeyId: key.keyId });
    this.keyArn = key.arn;
  }
}

/** Actions a service needs to encrypt and decrypt with a key (no administration). */
export const KMS_USE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"] as const;

import { EcrLifecyclePolicy } from "@cdktf/provider-aws/lib/ecr-lifecycle-policy/index.js";
import { EcrRepository } from "@cdktf/provider-aws/lib/ecr-repository/index.js";
import { propFail } from "./core/validation.js";
import { Construct } from "constructs";
import type { IKmsKey } from "./kms-key.js";

export interface ContainerRegistryProps {
  /** Repository names are `<namePrefix>/<service>`. */
  readonly namePrefix: string;
  /** One repository per service the platform builds. */
  readonly repositories: readonly string[];
  readonly key: IKmsKey;
  /** Tagged images kept per repository; older ones expire. @default 50 */
  readonly keepTaggedImages?: number;
  /** Days an untagged image (a failed or superseded push) is kept. @default 7 */
  readonly untaggedExpiryDays?: number;
}

const DEFAULT_KEEP_TAGGED_IMAGES = 50;
const DEFAULT_UNTAGGED_EXPIRY_DAYS = 7;

/**
 * ECR repositories for the platform's own services: immutable tags (an image tag names one
 * build forever), scan on push, KMS encryption and a lifecycle policy.
 */
export class ContainerRegistry extends Construct {
  /** Repository URL by service name. */
  readonly repositoryUrls: Readonly<Record<string, string>>;
  readonly repositoryArns: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: ContainerRegistryProps) {
    super(scope, id);
    const keepTagged = props.keepTaggedImages ?? DEFAULT_KEEP_TAGGED_IMAGES;
    const untaggedDays = props.untaggedExpiryDays ?? DEFAULT_UNTAGGED_EXPIRY_DAYS;
    const fail = propFail(this);
    if (!Number.isInteger(keepTagged) || keepTagged < 1) fail("keepTaggedImages", keepTagged, "must be a positive integer", "keep at least 1 image so a rollback target exists");
    if (!Number.isInteger(untaggedDays) || untaggedDays < 1) fail("untaggedExpiryDays", untaggedDays, "must be a positive integer", "use 1 or more days");
    const urls: Record<string, string> = {};
    const arns: Record<string, string> = {};
    for (const service of props.repositories) {
      const repo = new EcrRepository(this, service, {
        name: `${props.namePrefix}/${service}`,
        imageTagMutability: "IMMUTABLE",
        imageScanningConfiguration: { scanOnPush: true },
        encryptionConfiguration: [{ encryptionType: "KMS", kmsKey: props.key.keyArn }],
        forceDelete: false,
      });
      new EcrLifecyclePolicy(this, `${service}-lifecycle`, {
        repository: repo.name,
        policy: JSON.stringify(lifecyclePolicy(keepTagged, untaggedDays)),
      });
      urls[service] = repo.repositoryUrl;
      arns[service] = repo.arn;
    }
    this.repositoryUrls = urls;
    this.repositoryArns = arns;
  }
}

/** The ECR lifecycle policy document: expire untagged images first, then keep the newest tagged. */
export function lifecyclePolicy(keepTaggedImages: number, untaggedExpiryDays: number) {
  return {
    rules: [
      {
        rulePriority: 1,
        description: `Expire untagged images after ${untaggedExpiryDays} days`,
        selection: { tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "days", countNumber: untaggedExpiryDays },
        action: { type: "expire" },
      },
      {
        rulePriority: 2,
        description: `Keep the newest ${keepTaggedImages} images`,
        selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: keepTaggedImages },
        action: { type: "expire" },
      },
    ],
  };
}

import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { S3Backend, TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import type { EnvironmentConfig } from "../config/index.js";
import { TERRAFORM_REQUIRED_VERSION } from "../config/index.js";
import { applyPolicyPack, takeValidatedTerraform } from "../constructs/policy/index.js";
import { assertReferencesResolve } from "./references.js";

/** The stacks every environment has, in deployment order. */
export const STACK_KINDS = ["foundation", "platform", "workloads"] as const;
export type StackKind = (typeof STACK_KINDS)[number];

/** `<env>-<kind>`: the name `cdktf deploy` and `cdktf.out/stacks/` know the stack by. */
export function stackName(env: string, kind: StackKind): string {
  return `${env}-${kind}`;
}

/** The state object of one stack: one key per stack, never shared. */
export function stateKey(config: EnvironmentConfig, kind: StackKind): string {
  return `${config.stateBackend.keyPrefix}/${stackName(config.name, kind)}.tfstate`;
}

export interface EnvironmentStackProps {
  readonly config: EnvironmentConfig;
  readonly kind: StackKind;
}

/**
 * Base of every environment stack: its own S3 remote state (encrypted with the state key,
 * locked with S3's native lock file), the AWS provider pinned to the environment's account
 * with default tags, a minimum Terraform version, and the policy pack run at synth.
 */
export class EnvironmentStack extends TerraformStack {
  readonly config: EnvironmentConfig;
  readonly aws: AwsProvider;

  constructor(scope: Construct, props: EnvironmentStackProps) {
    const id = stackName(props.config.name, props.kind);
    super(scope, id);
    this.config = props.config;
    const c = props.config;

    const backend = new S3Backend(this, {
      bucket: c.stateBackend.bucket,
      key: stateKey(c, props.kind),
      region: c.stateBackend.region,
      encrypt: true,
      kmsKeyId: c.stateBackend.kmsKeyArn,
    });
    // S3-native state locking (Terraform >= 1.10); cdktf 0.21 has no typed prop for it.
    backend.addOverride("use_lockfile", true);
    this.addOverride("terraform.required_version", TERRAFORM_REQUIRED_VERSION);

    this.aws = new AwsProvider(this, "aws", {
      region: c.aws.region,
      allowedAccountIds: [c.aws.accountId],
      defaultTags: [
        {
          tags: {
            "enchanted.io/environment": c.name,
            "enchanted.io/stack": id,
            "enchanted.io/managed-by": "cdktf",
          },
        },
      ],
    });
    applyPolicyPack(this);
  }

  /**
   * Reuses the JSON the policy validation resolved moments before, instead of resolving twice,
   * and refuses a stack with a reference to a resource it does not declare.
   */
  override toTerraform(): Record<string, unknown> {
    // JSON the validation already resolved was checked when it was resolved (through this method).
    const validated = takeValidatedTerraform(this);
    if (validated) return validated;
    const json = super.toTerraform() as Record<string, unknown>;
    assertReferencesResolve(json, this.node.id);
    return json;
  }
}

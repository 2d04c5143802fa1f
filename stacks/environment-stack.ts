import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { DefaultTokenResolver, S3Backend, StringConcat, TerraformElement, TerraformStack, Token, Tokenization } from "cdktf";
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
   * cdktf's prepare phase resolves every element's whole body once more, with `preparing` set, so
   * that a token referring to another stack's resource registers that stack's output and this
   * stack's remote state. Only a token can do that, so this resolves, in the same way and order,
   * only the values that hold one ({@link tokenBearingValues}), not the tens of thousands of
   * plain values around them: the same outputs and data sources are registered (the synthesized
   * JSON is byte-identical, test/stacks.test.ts), in a fifth of the time.
   */
  override prepareStack(): void {
    this.ensureBackendExists();
    for (const element of elementsOf(this)) {
      for (const value of tokenBearingValues(element.toTerraform())) Tokenization.resolve(value, { scope: this, preparing: true, resolver: PREPARE_RESOLVER });
    }
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

/** The resolver cdktf's own prepare phase uses (stateless: a new instance behaves the same). */
const PREPARE_RESOLVER = new DefaultTokenResolver(new StringConcat());

/** The Terraform elements of a stack, in cdktf's order (depth first), not those of nested stacks. */
function elementsOf(node: Construct, into: TerraformElement[] = []): TerraformElement[] {
  if (TerraformElement.isTerraformElement(node)) into.push(node);
  for (const child of node.node.children) if (!TerraformStack.isStack(child)) elementsOf(child, into);
  return into;
}

/** cdktf's encoded tokens: `${TfToken[…]}` (string), `#{TfToken[…]}` (list element), `&{TfToken[…]}` (map key). */
const ENCODED_TOKEN = "{TfToken[";
/** A number token written into a string (cdktf's own test for one; harmless when it matches a plain string). */
const NUMBER_IN_STRING = /[-|\d|.+]+(e[-|\d|.|e|E|+]+)/;

/**
 * The parts of an element's body that can hold a token, as cdktf's resolver would meet them: a
 * string with an encoded token (or what may be a number token), an unresolved number, a
 * resolvable object, and whole lists and maps whose elements or keys are encoded list, number
 * or map tokens (cdktf resolves those as one value).
 */
export function tokenBearingValues(value: unknown, out: unknown[] = []): unknown[] {
  if (typeof value === "string") {
    if (value.includes(ENCODED_TOKEN) || NUMBER_IN_STRING.test(value)) out.push(value);
  } else if (typeof value === "number") {
    if (Token.isUnresolved(value)) out.push(value);
  } else if (value !== null && typeof value === "object") {
    if (Tokenization.isResolvable(value)) out.push(value);
    else if (Array.isArray(value)) {
      if (value.some((x) => (typeof x === "string" && x.includes(`#${ENCODED_TOKEN}`)) || (typeof x === "number" && Token.isUnresolved(x)))) out.push(value);
      else for (const x of value) tokenBearingValues(x, out);
    } else if (Object.keys(value).some((k) => k.includes(ENCODED_TOKEN))) out.push(value);
    else for (const x of Object.values(value)) tokenBearingValues(x, out);
  }
  return out;
}

import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { Aspects, DefaultTokenResolver, S3Backend, StringConcat, TerraformElement, TerraformStack, Token, Tokenization, type ResolveOptions } from "cdktf";
import { Construct } from "constructs";
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
   * plain values around them, and of those only the ones that can reach another stack
   * ({@link onlyLocalReferences}): the same outputs and data sources are registered (the
   * synthesized JSON is byte-identical, test/stacks.test.ts), in a fraction of the time.
   */
  override prepareStack(): void {
    this.ensureBackendExists();
    const bodies = new Map<TerraformElement, unknown>();
    for (const element of elementsOf(this)) {
      const body = element.toTerraform();
      bodies.set(element, body);
      for (const value of tokenBearingValues(body)) {
        if (onlyLocalReferences(value, this)) continue;
        Tokenization.resolve(value, { scope: this, preparing: true, resolver: PREPARE_RESOLVER });
      }
    }
    PREPARED_BODIES.set(this, bodies);
  }

  /**
   * Reuses the JSON the policy validation resolved moments before, instead of resolving twice,
   * and refuses a stack with a reference to a resource it does not declare.
   *
   * cdktf's own `toTerraform` resolves every element's body, then the merged whole once more,
   * each time walking every plain value (tens of thousands per stack) through its token machinery.
   * While it runs here, each of those resolutions hands cdktf only the parts that hold a token
   * ({@link resolveTokenBearing}) and copies the plain rest as cdktf's resolve would: the same
   * JSON (byte-identical, test/stacks.test.ts), in a fraction of the time. The elements' bodies
   * the prepare phase built moments before are reused ({@link takePreparedBodies}).
   */
  override toTerraform(): Record<string, unknown> {
    // JSON the validation already resolved was checked when it was resolved (through this method).
    const validated = takeValidatedTerraform(this);
    if (validated) return validated;
    const bodies = takePreparedBodies(this);
    const json = withTokenBearingResolution(() => withBodies(bodies, () => super.toTerraform() as Record<string, unknown>));
    assertReferencesResolve(json, this.node.id);
    return json;
  }
}

/** Each element's unresolved body as the prepare phase built it, for the `toTerraform` that follows. */
const PREPARED_BODIES = new WeakMap<EnvironmentStack, Map<TerraformElement, unknown>>();

/**
 * The bodies `stack`'s prepare phase built, handed out once, or none when an aspect is attached
 * anywhere in the app: cdktf invokes aspects after the prepare phase, and an aspect may change an
 * element. Nothing else changes an element's body between the two: the prepare phase only adds
 * elements (cross-stack outputs, remote states), and those are built afresh.
 */
function takePreparedBodies(stack: EnvironmentStack): Map<TerraformElement, unknown> | undefined {
  const bodies = PREPARED_BODIES.get(stack);
  PREPARED_BODIES.delete(stack);
  if (bodies === undefined) return undefined;
  const root = stack.node.root;
  return root.node.findAll().some((c) => Aspects.of(c).all.length > 0) ? undefined : bodies;
}

/** Runs `fn` with each element in `bodies` answering `toTerraform()` with its prepared body. Restored after. */
function withBodies<T>(bodies: ReadonlyMap<TerraformElement, unknown> | undefined, fn: () => T): T {
  if (bodies === undefined) return fn();
  for (const [element, body] of bodies) Object.defineProperty(element, "toTerraform", { value: () => body, configurable: true, writable: true });
  try {
    return fn();
  } finally {
    for (const element of bodies.keys()) delete (element as { toTerraform?: unknown }).toTerraform;
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
const ENCODED_LIST_TOKEN = `#${ENCODED_TOKEN}`;
/** A number token written into a string (cdktf's own test for one; harmless when it matches a plain string). */
const NUMBER_IN_STRING = /[-|\d|.+]+(e[-|\d|.|e|E|+]+)/;

/**
 * Whether `value` may hold a number token written into a string. A token's double (see
 * {@link NUMBER_TOKEN_MAGNITUDE}) is written with a positive exponent ("…e+298"), so only a string
 * with "e+" gets cdktf's regular expression, the costly part of looking at every plain string.
 */
function mayHoldNumberToken(value: string): boolean {
  return value.includes("e+") && NUMBER_IN_STRING.test(value);
}
/**
 * cdktf encodes a number token (and a number-list element) as a double whose top 16 bits are a
 * marker (0xfdff / 0xfbff): magnitudes near 1e289 and above. Every number that large is handed to
 * cdktf, which tells the tokens from the (unlikely) plain ones.
 */
const NUMBER_TOKEN_MAGNITUDE = 1e280;

function mayBeTokenString(value: string): boolean {
  return value.includes(ENCODED_TOKEN) || value === Token.STRING_MAP_TOKEN_VALUE || value === Token.ANY_MAP_TOKEN_VALUE || mayHoldNumberToken(value);
}

function mayBeTokenNumber(value: number): boolean {
  return !(Math.abs(value) < NUMBER_TOKEN_MAGNITUDE) || value === Token.NUMBER_MAP_TOKEN_VALUE;
}

/** A list cdktf resolves as one value: it holds an encoded list element (string or number). */
function isTokenList(value: readonly unknown[]): boolean {
  return value.some((x) => (typeof x === "string" && x.includes(ENCODED_LIST_TOKEN)) || (typeof x === "number" && mayBeTokenNumber(x)));
}

/** An object cdktf resolves as one value: a token, a construct (cdktf refuses it), or a map with an encoded key. */
function isTokenObject(value: object, keys: readonly string[]): boolean {
  return Tokenization.isResolvable(value) || Construct.isConstruct(value) || keys.some((k) => k.includes(ENCODED_TOKEN));
}

/**
 * Whether resolving `value` while preparing does nothing but compute a string: every token in it
 * is a reference within `stack` or a `depends_on` entry ({@link isInertWhilePreparing}), which is
 * what almost every token here is. Only a reference into another stack registers anything (an
 * output there, a remote state here). Anything else (a function call, a lazy value, a number or
 * list token, a token cdktf's reverse lookup does not find) answers false, and is resolved as
 * cdktf's own prepare phase would.
 */
export function onlyLocalReferences(value: unknown, stack: TerraformStack): boolean {
  let tokens: readonly unknown[];
  if (typeof value === "string") {
    if (!value.includes(ENCODED_TOKEN) || mayHoldNumberToken(value)) return false;
    const fragments = Tokenization.reverseString(value);
    if (fragments.intrinsic.length > 0) return false;
    tokens = fragments.tokens;
  } else if (Tokenization.isResolvable(value)) tokens = [value];
  else return false;
  return tokens.length > 0 && tokens.every((token) => isInertWhilePreparing(token, stack));
}

/**
 * cdktf's two token classes (tfExpression.ts) whose `resolve` only computes a string when the
 * reference stays in `stack`: a `Reference` (`ref()`: a resource's or data source's attribute)
 * registers a cross-stack reference only when its `originStack` is another stack, and a
 * `Dependable` (`depends_on`) returns its element's address. Recognized by class name and shape,
 * so a cdktf that renames or reshapes them falls back to resolving.
 */
function isInertWhilePreparing(token: unknown, stack: TerraformStack): boolean {
  if (token === null || typeof token !== "object") return false;
  const t = token as { readonly identifier?: unknown; readonly originStack?: unknown; readonly crossStackIdentifier?: unknown; readonly dependable?: unknown };
  switch (token.constructor?.name) {
    case "Reference":
      return typeof t.identifier === "string" && typeof t.crossStackIdentifier === "object" && (t.originStack === undefined || t.originStack === stack);
    case "Dependable":
      return typeof t.dependable === "object" && t.dependable !== null && "fqn" in t.dependable;
    default:
      return false;
  }
}

/**
 * The parts of an element's body that can hold a token, as cdktf's resolver would meet them: a
 * string with an encoded token (or what may be a number token), an unresolved number, a
 * resolvable object, and whole lists and maps whose elements or keys are encoded list, number
 * or map tokens (cdktf resolves those as one value).
 */
export function tokenBearingValues(value: unknown, out: unknown[] = []): unknown[] {
  if (typeof value === "string") {
    if (mayBeTokenString(value)) out.push(value);
  } else if (typeof value === "number") {
    if (mayBeTokenNumber(value)) out.push(value);
  } else if (typeof value === "function") out.push(value);
  else if (value !== null && typeof value === "object" && !(value instanceof Date)) {
    if (Array.isArray(value)) {
      if (isTokenList(value)) out.push(value);
      else for (const x of value) tokenBearingValues(x, out);
    } else {
      const keys = Object.keys(value);
      if (isTokenObject(value, keys)) out.push(value);
      else for (const key of keys) tokenBearingValues((value as Record<string, unknown>)[key], out);
    }
  }
  return out;
}

/**
 * What cdktf's `resolve` makes of `value`, with cdktf (`resolveOne`) resolving only the parts
 * {@link tokenBearingValues} would collect. Everything else is what cdktf's resolve does to a plain
 * value: strings, numbers, booleans and dates as they are, arrays and objects copied without
 * their `undefined` entries. (A part resolved on its own resolves as it would in place: cdktf's
 * context only carries the path, for error messages, down a plain container.)
 */
export function resolveTokenBearing(value: unknown, resolveOne: (part: unknown) => unknown): unknown {
  if (value === undefined || value === null) return value;
  switch (typeof value) {
    case "string":
      return mayBeTokenString(value) ? resolveOne(value) : value;
    case "number":
      return mayBeTokenNumber(value) ? resolveOne(value) : value;
    case "function":
      return resolveOne(value);
    case "object":
      break;
    default:
      return value;
  }
  if (value instanceof Date) return value;
  if (Array.isArray(value)) {
    if (isTokenList(value)) return resolveOne(value);
    const out: unknown[] = [];
    for (const x of value) {
      const resolved = resolveTokenBearing(x, resolveOne);
      if (resolved !== undefined) out.push(resolved);
    }
    return out;
  }
  const keys = Object.keys(value);
  if (isTokenObject(value, keys)) return resolveOne(value);
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const resolved = resolveTokenBearing((value as Record<string, unknown>)[key], resolveOne);
    if (resolved !== undefined) out[key] = resolved;
  }
  return out;
}

/**
 * Runs `fn` with every `Tokenization.resolve` call (cdktf's `toTerraform` makes one per element,
 * one per element's metadata and one for the whole stack) going through
 * {@link resolveTokenBearing}, with the same options for each token-bearing part. Restored after.
 */
function withTokenBearingResolution<T>(fn: () => T): T {
  const resolve = Tokenization.resolve;
  Tokenization.resolve = (obj: unknown, options: ResolveOptions): unknown => resolveTokenBearing(obj, (part) => resolve.call(Tokenization, part, options));
  try {
    return fn();
  } finally {
    Tokenization.resolve = resolve;
  }
}

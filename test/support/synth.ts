/** Synthesizes whole environments the way `npm run synth` does, into a temporary directory. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, TerraformStack } from "cdktf";
import { collectSuppressions, type PolicySuppression } from "../../constructs/policy/index.js";
import type { Construct } from "constructs";
import { ENVIRONMENT_NAMES, type EnvironmentName } from "../../config/index.js";
import { addAllEnvironments } from "../../stacks/app.js";
import { STACK_KINDS, stackName, type StackKind } from "../../stacks/environment-stack.js";

/** A synthesized stack: the parsed `cdk.tf.json` and its text (what cdktf's matchers take). */
export interface SynthesizedStack {
  readonly name: string;
  readonly json: TerraformJson;
  readonly text: string;
  /** Policy suppressions recorded in code on the stack's constructs (with their reasons). */
  readonly suppressions: readonly PolicySuppression[];
}

export interface TerraformJson {
  readonly resource?: Record<string, Record<string, Record<string, unknown>>>;
  readonly data?: Record<string, Record<string, Record<string, unknown>>>;
  readonly provider?: Record<string, unknown[]>;
  readonly terraform?: { backend?: Record<string, Record<string, unknown>>; required_version?: string };
  readonly output?: Record<string, unknown>;
}

/** Runs `build` in a fresh App, synthesizes it with validations on, and returns every stack. */
export function synthApp(build: (app: Construct) => void): Record<string, SynthesizedStack> {
  const outdir = mkdtempSync(join(tmpdir(), "enchanted-synth-"));
  try {
    const app = new App({ outdir, stackTraces: false });
    build(app);
    app.synth();
    const manifest = JSON.parse(readFileSync(join(outdir, "manifest.json"), "utf8")) as {
      stacks: Record<string, { synthesizedStackPath: string }>;
    };
    const byName = new Map(app.node.findAll().filter(TerraformStack.isStack).map((s) => [s.node.id, s]));
    const stacks: Record<string, SynthesizedStack> = {};
    for (const [name, entry] of Object.entries(manifest.stacks)) {
      const text = readFileSync(join(outdir, entry.synthesizedStackPath), "utf8");
      const stack = byName.get(name);
      stacks[name] = { name, text, json: JSON.parse(text) as TerraformJson, suppressions: stack ? collectSuppressions(stack) : [] };
    }
    return stacks;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

let cached: Record<string, SynthesizedStack> | undefined;

/** Every environment's stacks, synthesized once per test file. */
export function synthAllEnvironments(): Record<string, SynthesizedStack> {
  cached ??= synthApp((app) => addAllEnvironments(app));
  return cached;
}

export function stackOf(env: EnvironmentName, kind: StackKind): SynthesizedStack {
  const s = synthAllEnvironments()[stackName(env, kind)];
  if (!s) throw new Error(`stack ${stackName(env, kind)} was not synthesized`);
  return s;
}

/** Every resource of a type, keyed by logical id. */
export function resourcesOf(stack: SynthesizedStack, type: string): Record<string, Record<string, unknown>> {
  return stack.json.resource?.[type] ?? {};
}

/** The values (first values document, parsed) of the stack's Helm release of `chart`; fails naming the stack when there is none. */
export function helmValuesOf(stack: SynthesizedStack, chart: string): Record<string, any> {
  const release = Object.values(resourcesOf(stack, "helm_release")).find((r) => r.chart === chart) as { values: string[] } | undefined;
  if (!release) throw new Error(`${stack.name}: no ${chart} release`);
  return JSON.parse(release.values[0] as string) as Record<string, any>;
}

/** Resolves `${aws_subnet.x.id}`-style references to the logical id of a resource of `type`. */
export function referencedId(ref: unknown, type: string): string | undefined {
  if (typeof ref !== "string") return undefined;
  const m = new RegExp(`^\\$\\{${type}\\.([^.}]+)\\.`).exec(ref);
  return m?.[1];
}

export const ALL_STACKS: readonly [EnvironmentName, StackKind][] = ENVIRONMENT_NAMES.flatMap((env) =>
  STACK_KINDS.map((kind) => [env, kind] as [EnvironmentName, StackKind]),
);

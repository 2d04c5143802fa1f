/**
 * The credential-free synth diff behind `npm run diff`: synthesizes a base (a git ref, through a
 * temporary worktree, or an existing cdktf.out) and a head (the working tree, another ref, or an
 * existing cdktf.out), and reports per stack what was added, removed and changed, with a policy
 * impact section for changes to tenant isolation, rate limits and quotas, encryption and public
 * exposure. No terraform, no cloud credentials, no state.
 */
import { join } from "node:path";
import { classify } from "./classify.js";
import { diffSynthOutputs, loadSynthOutput, type SynthOutput } from "./load.js";
import { DiffError, type DiffReport, type SurfaceChange } from "./model.js";
import { environmentOfStack, renderSurface, surfaceLineDiff, type SurfaceStack } from "./surface.js";
import { gitTopLevel, synthDirectory, synthRef, tempDir, type SynthOptions } from "./synth.js";

export * from "./model.js";
export { classify, classifyStack } from "./classify.js";
export { diffStack, diffSynthOutputs, loadSynthOutput, stackItems } from "./load.js";
export { isSecretKey, MASK, maskText, maskValue } from "./mask.js";
export { COMMENT_MARKER, renderMarkdown, renderText } from "./render.js";
export { diffValues } from "./structural.js";
export { environmentOfStack, renderSurface, surfaceFacts, surfaceLineDiff, SURFACE_SECTIONS, type SurfaceSection, type SurfaceStack } from "./surface.js";
export { resolveRef, synthDirectory, synthRef } from "./synth.js";

/** The stacks of a synth output, grouped by environment (`prod-workloads` → prod). */
function byEnvironment(output: SynthOutput): Map<string, SurfaceStack[]> {
  const out = new Map<string, SurfaceStack[]>();
  for (const [name, json] of output) {
    const env = environmentOfStack(name);
    out.set(env, [...(out.get(env) ?? []), { name, json: json as SurfaceStack["json"] }]);
  }
  return out;
}

/** Per environment, the surface lines the head removes and adds (environments whose surface is unchanged are left out). */
export function surfaceChanges(base: SynthOutput, head: SynthOutput): SurfaceChange[] {
  const b = byEnvironment(base);
  const h = byEnvironment(head);
  const changes: SurfaceChange[] = [];
  for (const env of [...new Set([...b.keys(), ...h.keys()])].sort()) {
    const { removed, added } = surfaceLineDiff(b.has(env) ? renderSurface(env, b.get(env) ?? []) : "", h.has(env) ? renderSurface(env, h.get(env) ?? []) : "");
    if (removed.length + added.length > 0) changes.push({ environment: env, removed, added });
  }
  return changes;
}

/** Compares two synth output directories (cdktf.out). */
export function diffDirectories(baseDir: string, headDir: string, labels: { base?: string; head?: string } = {}): DiffReport {
  const base = loadSynthOutput(baseDir);
  const head = loadSynthOutput(headDir);
  const stacks = diffSynthOutputs(base, head);
  return { baseLabel: labels.base ?? baseDir, headLabel: labels.head ?? headDir, stacks, impacts: classify(stacks), surface: surfaceChanges(base, head) };
}

export interface RunDiffOptions extends SynthOptions {
  /** The repository (any directory inside it); default: the current directory. */
  readonly repo?: string;
  /** Git ref of the base (synthesized in a temporary worktree). */
  readonly base?: string;
  /** An existing synth output to use as the base instead. */
  readonly baseDir?: string;
  /** Git ref of the head; default: the working tree as it is (uncommitted changes included). */
  readonly head?: string;
  /** An existing synth output to use as the head instead. */
  readonly headDir?: string;
}

function refLabel(ref: string, commit: string): string {
  return commit.startsWith(ref) ? commit.slice(0, 7) : `${ref} (${commit.slice(0, 7)})`;
}

/** Synthesizes what needs synthesizing and compares. */
export async function runDiff(options: RunDiffOptions): Promise<DiffReport> {
  if ((options.base === undefined) === (options.baseDir === undefined)) {
    throw new DiffError("name exactly one base: --base <git ref> or --base-dir <cdktf.out directory>", "e.g. `npm run diff -- --base origin/main`");
  }
  if (options.head !== undefined && options.headDir !== undefined) {
    throw new DiffError("name at most one head: --head <git ref> or --head-dir <directory>", "leave both out to compare against the working tree");
  }
  const needsRepo = options.base !== undefined || options.headDir === undefined;
  const repo = needsRepo ? gitTopLevel(options.repo ?? process.cwd()) : (options.repo ?? process.cwd());
  const out = tempDir("enchanted-diff-out-");
  try {
    const base =
      options.base !== undefined
        ? synthRef(repo, options.base, join(out.dir, "base"), options).then(({ commit, dir }) => ({ dir, label: refLabel(options.base as string, commit) }))
        : Promise.resolve({ dir: options.baseDir as string, label: options.baseDir as string });
    const head =
      options.headDir !== undefined ? Promise.resolve({ dir: options.headDir, label: options.headDir })
      : options.head !== undefined ? synthRef(repo, options.head, join(out.dir, "head"), options).then(({ commit, dir }) => ({ dir, label: refLabel(options.head as string, commit) }))
      : synthDirectory(repo, join(out.dir, "head"), "the working tree", options).then((dir) => ({ dir, label: "working tree" }));
    const [b, h] = await Promise.allSettled([base, head]);
    if (b.status === "rejected") throw b.reason;
    if (h.status === "rejected") throw h.reason;
    return diffDirectories(b.value.dir, h.value.dir, { base: b.value.label, head: h.value.label });
  } finally {
    out.remove();
  }
}

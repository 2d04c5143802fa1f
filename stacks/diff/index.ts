/**
 * The credential-free synth diff behind `npm run diff`: synthesizes a base (a git ref, through a
 * temporary worktree, or an existing cdktf.out) and a head (the working tree, another ref, or an
 * existing cdktf.out), and reports per stack what was added, removed and changed, with a policy
 * impact section for changes to tenant isolation, rate limits and quotas, encryption and public
 * exposure. No terraform, no cloud credentials, no state.
 */
import { join } from "node:path";
import { classify } from "./classify.js";
import { diffSynthOutputs, loadSynthOutput } from "./load.js";
import { DiffError, type DiffReport } from "./model.js";
import { gitTopLevel, synthDirectory, synthRef, tempDir, type SynthOptions } from "./synth.js";

export * from "./model.js";
export { classify, classifyStack } from "./classify.js";
export { diffStack, diffSynthOutputs, loadSynthOutput, stackItems } from "./load.js";
export { isSecretKey, MASK, maskText, maskValue } from "./mask.js";
export { COMMENT_MARKER, renderMarkdown, renderText } from "./render.js";
export { diffValues } from "./structural.js";
export { resolveRef, synthDirectory, synthRef } from "./synth.js";

/** Compares two synth output directories (cdktf.out). */
export function diffDirectories(baseDir: string, headDir: string, labels: { base?: string; head?: string } = {}): DiffReport {
  const stacks = diffSynthOutputs(loadSynthOutput(baseDir), loadSynthOutput(headDir));
  return { baseLabel: labels.base ?? baseDir, headLabel: labels.head ?? headDir, stacks, impacts: classify(stacks) };
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

/**
 * Synthesizes a git ref or a working tree into a directory, without touching the checkout's
 * own `cdktf.out`: the base goes through a temporary `git worktree` that borrows the checkout's
 * node_modules (a symlink; nothing is installed), and is removed afterwards even on failure.
 */
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DiffError } from "./model.js";

function git(repo: string, args: readonly string[]): { ok: boolean; stdout: string; stderr: string } {
  const r = spawnSync("git", args, { cwd: repo, encoding: "utf8" });
  if (r.error) throw new DiffError(`git could not run (${r.error.message})`, "install git and run the diff inside a clone of the repository");
  return { ok: r.status === 0, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

/** The top of the git repository that holds `dir`. */
export function gitTopLevel(dir: string): string {
  const r = git(dir, ["rev-parse", "--show-toplevel"]);
  if (!r.ok) throw new DiffError(`${dir} is not inside a git repository (${r.stderr})`, "run `npm run diff` inside a clone of the repository, or compare two synth outputs with --base-dir and --head-dir");
  return r.stdout;
}

/** The commit a ref names; a DiffError that says how to get it when it names none. */
export function resolveRef(repo: string, ref: string): string {
  const r = git(repo, ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]);
  if (!r.ok || !/^[0-9a-f]{40,64}$/.test(r.stdout)) {
    const shallow = git(repo, ["rev-parse", "--is-shallow-repository"]).stdout === "true";
    throw new DiffError(
      `unknown git ref "${ref}": it names no commit in ${repo}${shallow ? " (this is a shallow clone)" : ""}`,
      ref.includes("/")
        ? `fetch it first, e.g. \`git fetch origin ${ref.replace(/^origin\//, "")}\`${shallow ? " (or `git fetch --unshallow`; in GitHub Actions check out with fetch-depth: 0)" : ""}, or pass an existing branch, tag or commit`
        : `pass an existing branch, tag or commit (\`git branch -a\`, \`git log --oneline\`), e.g. --base main or --base origin/main`,
    );
  }
  return r.stdout;
}

export interface SynthOptions {
  /** Limits the synth to some environments (ENCHANTED_ENVIRONMENTS), e.g. "dev". */
  readonly environments?: string;
  /** Extra environment variables for the synth. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Runs the checkout's own synth script (`npm run synth`) in `dir`, writing to `outDir`
 * (CDKTF_OUTDIR). Returns the directory that holds the output.
 */
export async function synthDirectory(dir: string, outDir: string, label: string, options: SynthOptions = {}): Promise<string> {
  const pkgFile = join(dir, "package.json");
  const script = existsSync(pkgFile) ? (JSON.parse(readFileSync(pkgFile, "utf8")) as { scripts?: Record<string, string> }).scripts?.synth : undefined;
  if (!script) throw new DiffError(`${label} has no "synth" script in package.json`, "compare refs that have `npm run synth` (or synthesize them yourself and use --base-dir/--head-dir)");
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, CDKTF_OUTDIR: outDir };
  if (options.environments) env.ENCHANTED_ENVIRONMENTS = options.environments;
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const { code, output } = await new Promise<{ code: number | null; output: string }>((done, fail) => {
    const child = spawn(npm, ["run", "--silent", "synth"], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", fail);
    child.on("close", (c) => done({ code: c, output }));
  });
  if (code !== 0) {
    const tail = output.split("\n").filter((l) => l.trim() && !/^npm warn/i.test(l)).slice(-30).join("\n");
    throw new DiffError(`synth of ${label} failed (exit code ${code}):\n${tail}`, `run \`npm run synth\` in ${label === "the working tree" ? "the working tree" : `a checkout of ${label}`} and fix what it reports`);
  }
  if (existsSync(join(outDir, "stacks"))) return outDir;
  // An app that ignores CDKTF_OUTDIR writes cdktf.json's "output" (cdktf.out).
  const fallback = join(dir, "cdktf.out");
  if (existsSync(join(fallback, "stacks"))) {
    cpSync(fallback, outDir, { recursive: true });
    return outDir;
  }
  throw new DiffError(`synth of ${label} wrote no stacks (looked in ${outDir} and ${fallback})`, "check that `npm run synth` writes cdktf.out/stacks/<stack>/cdk.tf.json");
}

/** Temporary directories and worktrees to remove on exit, even on Ctrl-C. */
const cleanups = new Set<() => void>();
let handlersInstalled = false;
function onExit(cleanup: () => void): () => void {
  cleanups.add(cleanup);
  if (!handlersInstalled) {
    handlersInstalled = true;
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      process.once(signal, () => {
        for (const c of cleanups) c();
        process.exit(130);
      });
    }
    process.once("exit", () => {
      for (const c of cleanups) c();
    });
  }
  return () => cleanups.delete(cleanup);
}

/** A fresh temporary directory, removed by the returned function (and on exit). */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const unregister = onExit(remove);
  return {
    dir,
    remove: () => {
      remove();
      unregister();
    },
  };
}

/**
 * Synthesizes a commit of `repo` into `outDir` through a temporary detached worktree that
 * borrows `repo`'s node_modules. The worktree is removed afterwards, whatever happens.
 */
export async function synthRef(repo: string, ref: string, outDir: string, options: SynthOptions = {}): Promise<{ commit: string; dir: string }> {
  const commit = resolveRef(repo, ref);
  const modules = join(repo, "node_modules");
  if (!existsSync(modules)) throw new DiffError(`${modules} does not exist`, "install the dependencies once with `npm ci` in the checkout; the base worktree borrows them");
  const work = tempDir("enchanted-diff-worktree-");
  const tree = join(work.dir, "tree");
  const remove = () => {
    git(repo, ["worktree", "remove", "--force", tree]);
    work.remove();
    git(repo, ["worktree", "prune"]);
  };
  const unregister = onExit(remove);
  try {
    const added = git(repo, ["worktree", "add", "--detach", "--quiet", tree, commit]);
    if (!added.ok) throw new DiffError(`could not create a worktree of ${ref} (${added.stderr})`, "check that the repository is writable and `git worktree list` has no stale entry (`git worktree prune`)");
    symlinkSync(resolve(modules), join(tree, "node_modules"), "dir");
    const dir = await synthDirectory(tree, outDir, `${ref} (${commit.slice(0, 7)})`, options);
    return { commit, dir };
  } finally {
    remove();
    unregister();
  }
}

/**
 * A throwaway clone of this repository for the diff tests: real commits, a real worktree, the
 * real synth (dev only, to stay fast), node_modules borrowed from this checkout by a symlink.
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

export interface Clone {
  readonly dir: string;
  git(...args: string[]): string;
  commitFile(path: string, edit: (text: string) => string, message: string): void;
  remove(): void;
}

/** A shallow clone of this repository's HEAD, with node_modules linked in. */
export function cloneRepo(): Clone {
  const parent = mkdtempSync(join(tmpdir(), "enchanted-diff-test-"));
  const dir = join(parent, "repo");
  execFileSync("git", ["clone", "--quiet", "--depth", "1", `file://${REPO_ROOT}`, dir], { stdio: "pipe" });
  symlinkSync(join(REPO_ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "user.name=diff test", "-c", "user.email=diff-test@example.invalid", "-c", "commit.gpgsign=false", ...args], { cwd: dir, encoding: "utf8", stdio: "pipe" }).trim();
  return {
    dir,
    git,
    commitFile(path, edit, message) {
      const file = join(dir, path);
      writeFileSync(file, edit(readFileSync(file, "utf8")));
      git("commit", "--quiet", "-am", message);
    },
    remove: () => rmSync(parent, { recursive: true, force: true }),
  };
}

/** Runs the clone's own synth for dev into a fresh directory. */
export function synthDev(dir: string, outDir: string): string {
  execFileSync("npm", ["run", "--silent", "synth"], { cwd: dir, env: { ...process.env, CDKTF_OUTDIR: outDir, ENCHANTED_ENVIRONMENTS: "dev" }, stdio: "pipe" });
  if (!existsSync(join(outDir, "stacks", "dev-foundation", "cdk.tf.json"))) throw new Error(`synth wrote nothing to ${outDir}`);
  return outDir;
}

/** Copies a synth output and edits one stack's JSON. */
export function editedCopy(from: string, to: string, edits: Record<string, (json: Record<string, any>) => void>): string {
  cpSync(from, to, { recursive: true });
  for (const [stack, edit] of Object.entries(edits)) {
    const file = join(to, "stacks", stack, "cdk.tf.json");
    const json = JSON.parse(readFileSync(file, "utf8")) as Record<string, any>;
    edit(json);
    writeFileSync(file, JSON.stringify(json, null, 2));
  }
  return to;
}

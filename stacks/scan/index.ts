/**
 * `npm run scan`: checkov (a second opinion beside the policy pack in constructs/policy) over
 * every synthesized stack, compared with the committed baseline. checkov is pinned in
 * .ci/checkov-version and installed by `bash .ci/install-system-deps` into a cached virtualenv.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compareWithBaseline, findingsOfReport, parseBaseline, prepareForCheckov, ScanError, type Comparison, type Finding } from "./compare.js";

export * from "./compare.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const BASELINE_FILE = join(ROOT, "stacks", "scan", "checkov-baseline.json");
const VERSION_FILE = join(ROOT, ".ci", "checkov-version");

/** The pinned checkov version (.ci/checkov-version, its one home). */
export function pinnedCheckovVersion(): string {
  return readFileSync(VERSION_FILE, "utf8").trim();
}

/** Where .ci/install-system-deps puts checkov: a virtualenv outside the repository. */
export function checkovVenv(version = pinnedCheckovVersion(), env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(cache, "enchanted", `checkov-${version}`);
}

/** The checkov executable: ENCHANTED_CHECKOV, else the pinned version's cached virtualenv. */
export function findCheckov(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ENCHANTED_CHECKOV) {
    if (!existsSync(env.ENCHANTED_CHECKOV)) throw new ScanError(`ENCHANTED_CHECKOV=${env.ENCHANTED_CHECKOV} does not exist`, "unset it to use the pinned checkov of `bash .ci/install-system-deps`");
    return env.ENCHANTED_CHECKOV;
  }
  const version = pinnedCheckovVersion();
  const executable = join(checkovVenv(version, env), "bin", "checkov");
  if (!existsSync(executable)) {
    throw new ScanError(`checkov ${version} is not installed (looked for ${executable})`, "install it with `bash .ci/install-system-deps` (a virtualenv outside the repository; 1 to 2 minutes the first time)");
  }
  return executable;
}

/** The stacks of a synth output: `<dir>/stacks/<stack>/cdk.tf.json`. */
export function loadStacks(dir: string): Map<string, Record<string, unknown>> {
  const stacksDir = join(dir, "stacks");
  if (!existsSync(stacksDir)) throw new ScanError(`no synth output in ${dir}`, "run `npm run synth` first");
  const stacks = new Map<string, Record<string, unknown>>();
  for (const name of readdirSync(stacksDir).sort()) {
    const file = join(stacksDir, name, "cdk.tf.json");
    if (existsSync(file)) stacks.set(name, JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>);
  }
  if (stacks.size === 0) throw new ScanError(`no stacks in ${stacksDir}`, "run `npm run synth` first");
  return stacks;
}

export interface ScanOptions {
  /** The synth output (default: cdktf.out at the repository root). */
  readonly dir?: string;
  /** The baseline file (default: stacks/scan/checkov-baseline.json). */
  readonly baseline?: string;
  /** Pass --skip-download: no guideline download (checkov then reports no guideline URLs). */
  readonly offline?: boolean;
}

export interface ScanResult {
  readonly stacks: readonly string[];
  readonly findings: readonly Finding[];
  readonly comparison: Comparison;
  readonly checkovVersion: string;
}

/** Runs checkov once over every stack's cdk.tf.json (a prepared copy, see prepareForCheckov). */
export function runCheckov(stacks: ReadonlyMap<string, Record<string, unknown>>, options: { offline?: boolean; env?: NodeJS.ProcessEnv } = {}): { findings: Finding[]; version: string } {
  const checkov = findCheckov(options.env);
  const work = mkdtempSync(join(tmpdir(), "enchanted-scan-"));
  try {
    const files: string[] = [];
    for (const [name, json] of stacks) {
      mkdirSync(join(work, name));
      const file = join(work, name, "cdk.tf.json");
      writeFileSync(file, JSON.stringify(prepareForCheckov(json), null, 2));
      files.push(file);
    }
    const args = ["--framework", "terraform_json", "--output", "json", "--quiet", "--compact", ...(options.offline ? ["--skip-download"] : []), "-f", ...files];
    const run = spawnSync(checkov, args, { cwd: work, encoding: "utf8", maxBuffer: 256 * 1024 * 1024, env: { ...process.env, ...options.env, LOG_LEVEL: "ERROR" } });
    if (run.error) throw new ScanError(`could not run ${checkov}: ${run.error.message}`, "reinstall it with `bash .ci/install-system-deps`");
    // checkov exits 1 when a check failed; anything else is an error of checkov itself.
    if (run.status !== 0 && run.status !== 1) {
      throw new ScanError(`checkov exited with ${run.status}:\n${(run.stderr || run.stdout).trim().split("\n").slice(-20).join("\n")}`, "run the printed checkov command by hand to see the whole error");
    }
    let output: unknown;
    try {
      output = JSON.parse(run.stdout);
    } catch {
      throw new ScanError(`checkov printed no JSON report:\n${run.stdout.slice(0, 2000)}${run.stderr.slice(-2000)}`, "run checkov by hand with the same arguments");
    }
    const reports = (Array.isArray(output) ? output : [output]) as { summary?: { checkov_version?: string } }[];
    const version = reports.find((r) => r?.summary?.checkov_version)?.summary?.checkov_version ?? "unknown";
    return { findings: findingsOfReport(output, stacks), version };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function loadBaseline(file = BASELINE_FILE) {
  if (!existsSync(file)) throw new ScanError(`baseline ${file} does not exist`, 'create it: {"entries": []}');
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new ScanError(`baseline ${file} is not valid JSON (${(error as Error).message})`, "fix the JSON");
  }
  return parseBaseline(value, file);
}

export function runScan(options: ScanOptions = {}): ScanResult {
  const baseline = loadBaseline(options.baseline);
  const stacks = loadStacks(options.dir ?? join(ROOT, "cdktf.out"));
  const { findings, version } = runCheckov(stacks, { offline: options.offline ?? false });
  const pinned = pinnedCheckovVersion();
  if (!process.env.ENCHANTED_CHECKOV && version !== pinned) {
    throw new ScanError(`checkov ${version} ran, ${pinned} is pinned in .ci/checkov-version`, "reinstall with `bash .ci/install-system-deps`");
  }
  return { stacks: [...stacks.keys()], findings, comparison: compareWithBaseline(findings, baseline), checkovVersion: version };
}

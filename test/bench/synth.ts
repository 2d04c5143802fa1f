/**
 * `npm run bench:synth`: how long and how much memory synthesizing every environment takes,
 * against the floor of a bare `node -e "require('cdktf')"` measured in the same run.
 *
 * Each measurement is a fresh process running exactly cdktf.json's "app" command (what
 * `npx cdktf synth` runs), into a temporary output directory. One untimed warm-up of each
 * comes first (it fills the OS file cache and builds the compiled app once, as any second
 * synth on a machine finds it); then RUNS timed runs, synth and floor interleaved so machine
 * noise hits both alike. Prints the median wall time and peak RSS of each; the last line is
 * one JSON object: {"synth_s", "synth_rss_mb", "floor_s", "ratio"}.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ENVIRONMENT_NAMES } from "../../config/index.js";
import { STACK_KINDS, stackName } from "../../stacks/environment-stack.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const hook = join(root, "test", "bench", "rss-hook.cjs");

/** cdktf.json's app command, e.g. "node stacks/synth.cjs", split into node arguments. */
function appArgs(): string[] {
  const app = (JSON.parse(readFileSync(join(root, "cdktf.json"), "utf8")) as { app: string }).app;
  const [program, ...args] = app.split(/\s+/);
  if (program !== "node") throw new Error(`cdktf.json app = "${app}": the benchmark expects "node <script>". Fix: keep the app a node command.`);
  return args;
}

interface Sample {
  seconds: number;
  rssMiB: number;
}

function measure(args: string[], check?: (outdir: string) => void): Sample {
  const work = mkdtempSync(join(tmpdir(), "bench-synth-"));
  const rssFile = join(work, "rss");
  const outdir = join(work, "out");
  try {
    const start = process.hrtime.bigint();
    const result = spawnSync(process.execPath, ["--require", hook, ...args], {
      cwd: root,
      env: { ...process.env, BENCH_RSS_FILE: rssFile, CDKTF_OUTDIR: outdir },
      encoding: "utf8",
    });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (result.status !== 0) throw new Error(`node ${args.join(" ")} exited ${result.status}:\n${result.stderr}`);
    check?.(outdir);
    return { seconds, rssMiB: Number(readFileSync(rssFile, "utf8")) / 1024 };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function checkEveryStackWritten(outdir: string): void {
  const written = readdirSync(join(outdir, "stacks")).sort();
  const expected = ENVIRONMENT_NAMES.flatMap((e) => STACK_KINDS.map((k) => stackName(e, k))).sort();
  if (JSON.stringify(written) !== JSON.stringify(expected)) {
    throw new Error(`synth wrote ${written.join(", ")}; expected ${expected.join(", ")}`);
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

const synthArgs = appArgs();
const floorArgs = ["-e", "require('cdktf')"];
measure(synthArgs, checkEveryStackWritten);
measure(floorArgs);
const synth: Sample[] = [];
const floor: Sample[] = [];
for (let i = 0; i < RUNS; i++) {
  synth.push(measure(synthArgs, checkEveryStackWritten));
  floor.push(measure(floorArgs));
}

const round = (n: number, digits: number) => Number(n.toFixed(digits));
const row = (name: string, samples: Sample[]) =>
  `${name.padEnd(34)} ${median(samples.map((s) => s.seconds)).toFixed(3).padStart(8)} s ${median(samples.map((s) => s.rssMiB)).toFixed(1).padStart(8)} MiB   runs: ${samples.map((s) => s.seconds.toFixed(3)).join(" ")}`;
console.log(`synth of ${ENVIRONMENT_NAMES.length} environments (${ENVIRONMENT_NAMES.length * STACK_KINDS.length} stacks), median of ${RUNS} fresh processes`);
console.log(row(`node ${synthArgs.join(" ")}`, synth));
console.log(row(`node -e "require('cdktf')"`, floor));
const synthS = median(synth.map((s) => s.seconds));
const floorS = median(floor.map((s) => s.seconds));
console.log(
  JSON.stringify({
    synth_s: round(synthS, 3),
    synth_rss_mb: round(median(synth.map((s) => s.rssMiB)), 1),
    floor_s: round(floorS, 3),
    ratio: round(synthS / floorS, 2),
  }),
);

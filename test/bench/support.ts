/**
 * What every `npm run bench:*` script shares: progress lines, the nearest-rank percentile, a child
 * process's memory from /proc, and running `main` with an exit status.
 */
import { readFileSync } from "node:fs";

/** A progress printer: `[bench:<name>] <text>`. */
export function progressOf(name: string): (text: string) => void {
  return (text) => console.log(`[bench:${name}] ${text}`);
}

/** The nearest-rank percentile `p` (0-100) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

/** A process's resident memory in bytes from /proc: `VmRSS` now, or `VmHWM` (its peak). NaN when unreadable. */
export function processMemoryBytes(pid: number | undefined, field: "VmRSS" | "VmHWM" = "VmRSS"): number {
  try {
    const status = readFileSync(`/proc/${pid ?? 0}/status`, "utf8");
    return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024;
  } catch {
    return NaN;
  }
}

/** Runs a benchmark's `main`: exit 0 when it resolves (open handles or not), 1 with the error printed. */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

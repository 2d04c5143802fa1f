/**
 * Timed steps with dependencies: each step runs only when the steps it needs succeeded; otherwise
 * it is recorded `ok: false` with "skipped: <the step that failed> failed", naming the first step
 * that actually failed, not the skipped one between them.
 */

export interface StepRecord {
  readonly name: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly detail?: string;
}

export interface JourneyResult {
  readonly steps: readonly StepRecord[];
  readonly ok: boolean;
}

/** A step's outcome: its value when it succeeded, else the step whose failure stopped it. */
export interface Outcome<T> {
  readonly name: string;
  readonly ok: boolean;
  readonly value: T | undefined;
  /** The first failed step this one did not run (or failed) because of: itself when it failed. */
  readonly cause: string | undefined;
}

/** What a step function answers: its value and a short line on what it saw. */
export interface Done<T> {
  readonly value: T;
  readonly detail: string;
}

/** The value of a step that succeeded (only called inside steps that list it as a dependency). */
export function valueOf<T>(o: Outcome<T>): T {
  if (!o.ok || o.value === undefined) throw new Error(`step "${o.name}" has no value (it did not succeed)`);
  return o.value;
}

export class StepRunner {
  readonly records: StepRecord[] = [];

  constructor(private readonly log: (line: string) => void) {}

  async step<T>(name: string, needs: readonly Outcome<unknown>[], run: () => Promise<Done<T>>): Promise<Outcome<T>> {
    const blocked = needs.find((n) => !n.ok);
    if (blocked) {
      const cause = blocked.cause ?? blocked.name;
      this.record({ name, ok: false, ms: 0, detail: `skipped: ${cause} failed` });
      return { name, ok: false, value: undefined, cause };
    }
    this.log(`… ${name}`);
    const started = performance.now();
    try {
      const done = await run();
      this.record({ name, ok: true, ms: Math.round(performance.now() - started), detail: done.detail });
      return { name, ok: true, value: done.value, cause: undefined };
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      this.record({ name, ok: false, ms: Math.round(performance.now() - started), detail });
      return { name, ok: false, value: undefined, cause: name };
    }
  }

  result(): JourneyResult {
    return { steps: [...this.records], ok: this.records.length > 0 && this.records.every((s) => s.ok) };
  }

  private record(r: StepRecord): void {
    this.records.push(r);
    const skipped = !r.ok && r.detail?.startsWith("skipped: ");
    this.log(`${r.ok ? "ok  " : skipped ? "skip" : "FAIL"} ${r.name}${skipped ? "" : ` (${r.ms} ms)`}${r.detail ? `: ${r.detail}` : ""}`);
  }
}

/**
 * The comparison behind `npm run scan`: checkov's failed checks of each synthesized stack against
 * the committed baseline (stacks/scan/checkov-baseline.json). Pure functions on JSON values, no
 * checkov and no files, so the tests run them on small fixtures.
 *
 * A baseline entry accepts ONE check id on ONE resource address, in the stacks it lists by name
 * (no wildcards), with a one-line reason. The scan fails on
 *   - a finding that no entry accepts (new), and on
 *   - an entry, or one of its stacks, that matches no finding any more (stale): the baseline
 *     cannot keep accepting what is gone.
 */

/** One failed check of checkov in one stack. */
export interface Finding {
  /** e.g. CKV_AWS_39 */
  readonly checkId: string;
  /** checkov's name of the check. */
  readonly checkName: string;
  /** The stack directory under cdktf.out/stacks, e.g. dev-foundation. */
  readonly stack: string;
  /** The Terraform address, e.g. aws_eks_cluster.cluster_A4C38409. */
  readonly resource: string;
  /** checkov's guideline URL for the check (empty when checkov gave none). */
  readonly guideline: string;
}

export interface BaselineEntry {
  readonly check: string;
  readonly resource: string;
  readonly stacks: readonly string[];
  readonly reason: string;
}

export interface Baseline {
  readonly entries: readonly BaselineEntry[];
}

export interface StaleEntry {
  readonly entry: BaselineEntry;
  /** The listed stacks in which the entry matched no finding. */
  readonly stacks: readonly string[];
}

export interface Comparison {
  /** Findings no baseline entry accepts: each fails the scan. */
  readonly unaccepted: readonly Finding[];
  /** Findings a baseline entry accepts. */
  readonly accepted: readonly Finding[];
  /** Entries (and their stacks) that matched nothing: each fails the scan. */
  readonly stale: readonly StaleEntry[];
}

export class ScanError extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
    this.name = "ScanError";
  }
}

/** checkov's own list of its Terraform checks, for when it could not download its guideline URLs. */
export const POLICY_INDEX = "https://www.checkov.io/5.Policy%20Index/terraform.html";

const CHECK_ID = /^[A-Z][A-Z0-9]*_[A-Z0-9_]+$/;
const WILDCARD = /[*?]/;

/** Validates the parsed baseline file; the message names the entry and what is wrong with it. */
export function parseBaseline(value: unknown, source = "baseline"): Baseline {
  const entries = (value as { entries?: unknown } | null)?.entries;
  if (!Array.isArray(entries)) throw new ScanError(`${source}: no "entries" array`, 'the file is {"entries": [{"check", "resource", "stacks", "reason"}, ...]}');
  const seen = new Set<string>();
  const parsed = entries.map((raw: unknown, index): BaselineEntry => {
    const e = (raw ?? {}) as Record<string, unknown>;
    const where = `${source}: entry ${index}${typeof e.check === "string" ? ` (${e.check} on ${String(e.resource)})` : ""}`;
    const problem = (what: string): never => {
      throw new ScanError(`${where}: ${what}`, "one entry per check id and resource address, its stacks by name and a one-line reason");
    };
    if (typeof e.check !== "string" || !CHECK_ID.test(e.check)) problem('"check" must be one checkov check id, e.g. CKV_AWS_39');
    if (typeof e.resource !== "string" || !/^[a-z0-9_]+\.[^\s.]+/i.test(e.resource) || WILDCARD.test(e.resource)) problem('"resource" must be one Terraform address, e.g. aws_eks_cluster.cluster_A4C38409 (no wildcard)');
    if (!Array.isArray(e.stacks) || e.stacks.length === 0 || e.stacks.some((s) => typeof s !== "string" || s === "" || WILDCARD.test(s))) problem('"stacks" must list the stacks by name, e.g. ["dev-foundation"] (no wildcard)');
    const stacks = e.stacks as string[];
    if (new Set(stacks).size !== stacks.length) problem('"stacks" lists a stack twice');
    if (typeof e.reason !== "string" || e.reason.trim() === "" || e.reason.includes("\n")) problem('"reason" must be one line: what compensates, or why the check does not apply');
    const key = `${e.check as string} ${e.resource as string}`;
    if (seen.has(key)) problem("a second entry for the same check id and resource address: list its stacks in one entry");
    seen.add(key);
    return { check: e.check as string, resource: e.resource as string, stacks, reason: e.reason as string };
  });
  return { entries: parsed };
}

interface CheckovCheck {
  check_id?: unknown;
  check_name?: unknown;
  resource?: unknown;
  guideline?: unknown;
  file_abs_path?: unknown;
  file_path?: unknown;
}

interface CheckovReport {
  check_type?: unknown;
  results?: { failed_checks?: unknown; parsing_errors?: unknown };
  summary?: { parsing_errors?: unknown };
}

type StackJson = Record<string, unknown>;

/**
 * A stack as checkov is given it. checkov 3.3.30's terraform_json parser raises on a plain value in
 * the `terraform` block ("this method receives only dicts") and then scans nothing; cdktf writes
 * `terraform.required_version` there. Only those values are dropped (the block's backend and
 * required_providers stay): checkov has no check on them, and test/stacks.test.ts pins them.
 */
export function prepareForCheckov(json: StackJson): StackJson {
  const terraform = json.terraform;
  if (!terraform || typeof terraform !== "object" || Array.isArray(terraform)) return json;
  const kept = Object.fromEntries(Object.entries(terraform as Record<string, unknown>).filter(([, v]) => v !== null && typeof v === "object"));
  return { ...json, terraform: kept };
}

/**
 * The Terraform address of checkov's `resource`. checkov's terraform_json runner names a resource
 * `resource.<name>` or a data source `data.<name>` for its Python checks (the type is left out) and
 * `<type>.<name>` for its graph checks; cdktf's names are unique in a stack (a hash suffix), so the
 * stack's JSON gives the type back.
 */
export function resolveAddress(resource: string, stack: StackJson): string {
  const lookup = (block: "resource" | "data", name: string): string | undefined => {
    const types = Object.entries((stack[block] ?? {}) as Record<string, Record<string, unknown>>)
      .filter(([, byName]) => byName && Object.prototype.hasOwnProperty.call(byName, name))
      .map(([type]) => type);
    if (types.length > 1) throw new ScanError(`${block} name ${name} is used by several types (${types.join(", ")})`, "give the constructs distinct ids");
    return types[0];
  };
  const match = /^(resource|data)\.([^.]+)$/.exec(resource);
  if (!match) return resource;
  const [, block, name] = match as unknown as [string, "resource" | "data", string];
  const type = lookup(block, name);
  if (type === undefined) return resource;
  return block === "data" ? `data.${type}.${name}` : `${type}.${name}`;
}

/** The stack a checkov result belongs to: the directory that holds its cdk.tf.json. */
function stackOfPath(path: string): string {
  const parts = path.split(/[\\/]/).filter((p) => p !== "");
  return parts[parts.length - 2] ?? "";
}

/**
 * The failed checks of checkov's `--output json` over the given stacks (each scanned as
 * `<dir>/<stack>/cdk.tf.json`). checkov prints one report object for one framework, an array for
 * several, and a bare summary when it scanned nothing, which is an error here (every stack has
 * resources), as is any parsing error: an unparsed stack would pass silently.
 */
export function findingsOfReport(output: unknown, stacks: ReadonlyMap<string, StackJson>): Finding[] {
  const reports: CheckovReport[] = Array.isArray(output) ? (output as CheckovReport[]) : [output as CheckovReport];
  if (!reports.some((r) => r && typeof r === "object" && r.results)) {
    throw new ScanError("checkov scanned nothing (its report has no results)", "check that every stack's cdk.tf.json exists and that checkov runs with --framework terraform_json");
  }
  const findings: Finding[] = [];
  for (const report of reports) {
    const errors = report?.results?.parsing_errors;
    const errorCount = Number(report?.summary?.parsing_errors ?? 0);
    if ((Array.isArray(errors) && errors.length > 0) || errorCount > 0) {
      throw new ScanError(
        `checkov could not parse ${Array.isArray(errors) && errors.length > 0 ? errors.join(", ") : `${errorCount} file(s)`}`,
        "run checkov on the file by hand (its log names the error); a cdktf construct checkov's parser cannot read needs a step in prepareForCheckov",
      );
    }
    const failed = report?.results?.failed_checks;
    if (!Array.isArray(failed)) continue;
    for (const check of failed as CheckovCheck[]) {
      const path = String(check.file_abs_path ?? check.file_path ?? "");
      const stack = stackOfPath(path);
      const json = stacks.get(stack);
      if (!json) throw new ScanError(`checkov reported ${String(check.check_id)} on ${path}, which is none of the scanned stacks`, "scan the stacks of one synth output");
      findings.push({
        checkId: String(check.check_id),
        checkName: typeof check.check_name === "string" ? check.check_name : "",
        stack,
        resource: resolveAddress(String(check.resource), json),
        guideline: typeof check.guideline === "string" ? check.guideline : "",
      });
    }
  }
  return dedupe(findings);
}

function dedupe(findings: readonly Finding[]): Finding[] {
  const byKey = new Map<string, Finding>();
  for (const f of findings) byKey.set(`${f.stack} ${f.checkId} ${f.resource}`, f);
  return [...byKey.values()];
}

/** Splits the findings into accepted and unaccepted, and names the baseline entries that matched nothing. */
export function compareWithBaseline(findings: readonly Finding[], baseline: Baseline): Comparison {
  const entryOf = new Map<string, BaselineEntry>();
  for (const entry of baseline.entries) entryOf.set(`${entry.check} ${entry.resource}`, entry);
  const matched = new Map<BaselineEntry, Set<string>>();
  const accepted: Finding[] = [];
  const unaccepted: Finding[] = [];
  for (const finding of sortFindings(dedupe(findings))) {
    const entry = entryOf.get(`${finding.checkId} ${finding.resource}`);
    if (entry && entry.stacks.includes(finding.stack)) {
      accepted.push(finding);
      if (!matched.has(entry)) matched.set(entry, new Set());
      matched.get(entry)!.add(finding.stack);
    } else {
      unaccepted.push(finding);
    }
  }
  const stale: StaleEntry[] = [];
  for (const entry of baseline.entries) {
    const stacks = entry.stacks.filter((s) => !matched.get(entry)?.has(s));
    if (stacks.length > 0) stale.push({ entry, stacks });
  }
  return { unaccepted, accepted, stale };
}

export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort((a, b) => a.stack.localeCompare(b.stack) || a.checkId.localeCompare(b.checkId, "en", { numeric: true }) || a.resource.localeCompare(b.resource));
}

/** The scan's verdict as text: every unaccepted finding and every stale entry, then a summary line. */
export function renderComparison(comparison: Comparison, stacks: readonly string[]): string {
  const lines: string[] = [];
  for (const f of comparison.unaccepted) {
    lines.push(`NEW ${f.checkId} ${f.checkName}`);
    lines.push(`    resource:  ${f.resource}`);
    lines.push(`    stack:     ${f.stack}`);
    lines.push(`    guideline: ${f.guideline || `(checkov downloads its guideline URLs at run time and could not: look ${f.checkId} up in ${POLICY_INDEX})`}`);
  }
  for (const s of comparison.stale) {
    lines.push(`STALE baseline entry ${s.entry.check} on ${s.entry.resource}: no such finding in ${s.stacks.join(", ")}`);
    lines.push(`    reason was: ${s.entry.reason}`);
  }
  const failed = comparison.unaccepted.length > 0 || comparison.stale.length > 0;
  if (comparison.unaccepted.length > 0) {
    lines.push(
      "",
      "Fix each NEW finding in the construct that creates the resource, or, where it does not apply or something else compensates,",
      'accept it in stacks/scan/checkov-baseline.json: {"check", "resource", "stacks": [...], "reason": "<one line>"}.',
    );
  }
  if (comparison.stale.length > 0) lines.push("", "Remove each STALE entry (or the stacks it no longer matches) from stacks/scan/checkov-baseline.json.");
  lines.push(
    "",
    `scan: ${stacks.length} stack(s), ${comparison.accepted.length + comparison.unaccepted.length} failed check(s): ${comparison.accepted.length} in the baseline, ` +
      `${comparison.unaccepted.length} new; ${comparison.stale.length} stale baseline entr${comparison.stale.length === 1 ? "y" : "ies"}` +
      (failed ? " - FAILED" : " - ok"),
  );
  return lines.join("\n");
}

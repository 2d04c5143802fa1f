/**
 * Renders a DiffReport as terminal text or as Markdown for a pull-request comment.
 * Values arrive masked (mask.ts); rendering only shortens and escapes them.
 */
import { describeLeaf, short } from "./classify.js";
import { MASK } from "./mask.js";
import { CATEGORY_TITLES, isEmptyDiff, POLICY_CATEGORIES, type DiffReport, type ItemDiff, type PolicyImpact, type PropertyChange, type StackDiff, type SurfaceChange } from "./model.js";

/** The hidden marker by which CI finds (and updates) its one PR comment. */
export const COMMENT_MARKER = "<!-- enchanted-synth-diff -->";

/** Leaves listed for an added or removed item before "… N more". */
const LEAVES_SHOWN = 15;

const SYMBOL = { added: "+", removed: "-", changed: "~" } as const;

function counts(stack: StackDiff): { added: number; removed: number; changed: number } {
  const c = { added: 0, removed: 0, changed: 0 };
  for (const i of stack.items) c[i.change]++;
  return c;
}

function describeChange(change: PropertyChange): string[] {
  const path = change.path || "(value)";
  if (change.lines) {
    return [`${path}: text changed (${change.lines.removed.length} line(s) removed, ${change.lines.added.length} added)`, ...change.lines.removed.map((l) => `  - ${cut(l)}`), ...change.lines.added.map((l) => `  + ${cut(l)}`)];
  }
  if (change.masked && change.kind === "changed") return [`${path}: ${MASK} → ${MASK} (secret value changed)`];
  if (change.kind === "added") return [`+ ${path}: ${short(change.new)}`];
  if (change.kind === "removed") return [`- ${path}: ${short(change.old)}`];
  return [`${path}: ${short(change.old)} → ${short(change.new)}`];
}

function cut(line: string, max = 400): string {
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function itemLines(item: ItemDiff): string[] {
  const head = `${SYMBOL[item.change]} ${item.address}${item.constructPath ? `  (${item.constructPath})` : ""}`;
  const body: string[] = [];
  if (item.change === "changed") {
    for (const c of item.changes) body.push(...describeChange(c));
  } else {
    for (const c of item.changes.slice(0, LEAVES_SHOWN)) body.push(describeLeaf(c));
    if (item.changes.length > LEAVES_SHOWN) body.push(`… ${item.changes.length - LEAVES_SHOWN} more properties`);
  }
  return [head, ...body.map((l) => `    ${l}`)];
}

function impactLines(impact: PolicyImpact): { head: string; body: readonly string[] } {
  const head = `${SYMBOL[impact.change]} ${impact.stack}  ${impact.item.address}  [${impact.subject}]`;
  const body: readonly string[] = impact.property ? describeChange(impact.property) : (impact.details ?? []);
  return { head, body };
}

function groupImpacts(report: DiffReport): Array<[string, PolicyImpact[]]> {
  return POLICY_CATEGORIES.map((c) => [CATEGORY_TITLES[c], report.impacts.filter((i) => i.category === c)] as [string, PolicyImpact[]]).filter(([, list]) => list.length > 0);
}

function summaryLine(report: DiffReport): string {
  const changed = report.stacks.filter((s) => s.status !== "unchanged");
  const lines = report.surface.reduce((n, c) => n + c.removed.length + c.added.length, 0);
  return `${report.stacks.length} stack(s) compared, ${changed.length} with changes; isolation and rate-limit surface: ${lines === 0 ? "unchanged" : `${lines} line(s) changed`}; policy impact: ${report.impacts.length === 0 ? "none" : `${report.impacts.length} change(s)`}`;
}

/** The surface's changed lines of one environment, in the snapshot files' format (test/surface/<env>.txt). */
function surfaceLines(change: SurfaceChange): string[] {
  return [...change.removed.map((l) => `- ${l}`), ...change.added.map((l) => `+ ${l}`)];
}

const SURFACE_TITLE = "ISOLATION AND RATE-LIMIT SURFACE (who may reach what, how fast: stacks/diff/surface.ts)";

/** Plain text for a terminal. */
export function renderText(report: DiffReport): string {
  const out: string[] = [`Synth diff: ${report.baseLabel} → ${report.headLabel}`, summaryLine(report), ""];
  if (isEmptyDiff(report)) {
    out.push("No changes: every stack synthesizes to the same Terraform JSON.", "");
    return out.join("\n");
  }
  out.push(report.surface.length === 0 ? `${SURFACE_TITLE}: unchanged` : SURFACE_TITLE);
  for (const change of report.surface) {
    out.push(`  ${change.environment}: ${change.removed.length} line(s) removed, ${change.added.length} added`);
    for (const l of surfaceLines(change)) out.push(`    ${cut(l)}`);
  }
  out.push("");
  out.push(report.impacts.length === 0 ? "POLICY IMPACT: none" : `POLICY IMPACT (${report.impacts.length}): changes to tenant isolation, rate limits, encryption or public exposure`);
  for (const [title, list] of groupImpacts(report)) {
    out.push(`  ${title} (${list.length})`);
    for (const impact of list) {
      const { head, body } = impactLines(impact);
      out.push(`    ${head}`);
      for (const l of body) out.push(`        ${l}`);
      for (const w of impact.warnings) out.push(`        ! ${w}`);
    }
  }
  out.push("");
  for (const stack of report.stacks) {
    const c = counts(stack);
    if (stack.status === "unchanged") {
      out.push(`== ${stack.stack}: unchanged`, "");
      continue;
    }
    out.push(`== ${stack.stack}${stack.status === "added" ? " (new stack)" : stack.status === "removed" ? " (stack removed)" : ""}: ${c.added} added, ${c.removed} removed, ${c.changed} changed`);
    for (const item of stack.items) out.push(...itemLines(item).map((l) => `  ${l}`));
    out.push("");
  }
  return out.join("\n");
}

/** Inline code that survives any value: no backticks, no line breaks. */
function code(text: string): string {
  return `\`${text.replace(/`/g, "ˋ").replace(/\r?\n/g, " ⏎ ")}\``;
}

/** A fenced block's content: nothing that closes the fence. */
function fenced(lines: readonly string[]): string {
  return lines.map((l) => l.replace(/```/g, "ˋˋˋ")).join("\n");
}

function markdownImpact(impact: PolicyImpact): string {
  const warn = impact.warnings.length > 0 ? ` ⚠️ **${impact.warnings.join("; ")}**` : "";
  const where = `_${impact.change}_ **${impact.stack}** ${code(impact.item.address)} (${impact.subject})`;
  const p = impact.property;
  if (p && !p.lines) {
    const value =
      p.masked && p.kind === "changed" ? `${code(MASK)} → ${code(MASK)} (secret value changed)`
      : p.kind === "added" ? `added ${code(short(p.new))}`
      : p.kind === "removed" ? `removed ${code(short(p.old))}`
      : `${code(short(p.old))} → ${code(short(p.new))}`;
    return `- ${where}: ${code(p.path || "(value)")}: ${value}${warn}`;
  }
  const lines = p ? describeChange(p) : (impact.details ?? []);
  return `- ${where}${warn}\n  <details><summary>${lines.length} line(s)</summary>\n\n  \`\`\`\n${fenced(lines.map((l) => `  ${l}`))}\n  \`\`\`\n  </details>`;
}

export interface MarkdownOptions {
  /** GitHub refuses comments over 65,536 characters: per-stack details are cut to fit this. */
  readonly maxLength?: number;
}

/** Markdown for the pull-request comment (starts with COMMENT_MARKER). */
export function renderMarkdown(report: DiffReport, options: MarkdownOptions = {}): string {
  const maxLength = options.maxLength ?? 60_000;
  const head: string[] = [COMMENT_MARKER, `## Synth diff: ${code(report.baseLabel)} → ${code(report.headLabel)}`, "", summaryLine(report), ""];
  if (isEmptyDiff(report)) {
    head.push("**No changes**: every stack synthesizes to the same Terraform JSON.", "");
    return head.join("\n");
  }
  head.push("### Isolation and rate-limit surface", "");
  if (report.surface.length === 0) head.push("Unchanged in every environment.", "");
  for (const change of report.surface) {
    head.push(`**${change.environment}**: ${change.removed.length} line(s) removed, ${change.added.length} added`, "", "```diff", fenced(surfaceLines(change).map((l) => cut(l))), "```", "");
  }
  if (report.impacts.length > 0) {
    head.push("> [!WARNING]", `> **Policy impact: ${report.impacts.length} change(s)** touch tenant isolation, rate limits and quotas, encryption or public exposure. Review them before merging.`, "");
    head.push("### Policy impact", "");
    for (const [title, list] of groupImpacts(report)) {
      head.push(`#### ${title} (${list.length})`, "");
      for (const impact of list) head.push(markdownImpact(impact));
      head.push("");
    }
  } else {
    head.push("### Policy impact", "", "None: no change touches tenant isolation, rate limits and quotas, encryption or public exposure.", "");
  }
  head.push("### Changes by stack", "", "| stack | added | removed | changed |", "|---|---:|---:|---:|");
  for (const s of report.stacks) {
    const c = counts(s);
    head.push(`| ${s.stack}${s.status === "added" ? " (new)" : s.status === "removed" ? " (removed)" : ""} | ${c.added} | ${c.removed} | ${c.changed} |`);
  }
  head.push("");
  let text = head.join("\n");
  const tail = "\n_Cut to fit a comment: run `npm run diff -- --base <base branch>` for the whole diff._\n";
  for (const s of report.stacks.filter((st) => st.items.length > 0)) {
    const c = counts(s);
    const section = `<details><summary><b>${s.stack}</b>: ${c.added} added, ${c.removed} removed, ${c.changed} changed</summary>\n\n\`\`\`diff\n${fenced(s.items.flatMap(itemLines))}\n\`\`\`\n</details>\n`;
    if (text.length + section.length + tail.length > maxLength) {
      text += tail;
      return text;
    }
    text += `\n${section}`;
  }
  if (text.length > maxLength) text = `${text.slice(0, maxLength - tail.length - 1)}\n${tail}`;
  return text;
}

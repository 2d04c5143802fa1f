/**
 * Structural diff of two JSON values: changed property paths with old and new values.
 *
 * - Objects are compared key by key; arrays by a longest-common-subsequence alignment of their
 *   elements, so an inserted rule shows as one added element, not as every later one changed.
 * - Strings that hold JSON (IAM policies, NATS claims, Helm values) are parsed and compared
 *   structurally (`policy<json>.Statement[0].Action`); strings the context says are YAML (Helm
 *   values, `*.yaml` keys) likewise. Other multi-line strings (SQL, Lua, XML) are compared by line.
 * - Secret material is masked before it is stored (mask.ts); a secret that changed shows as
 *   `«masked» → «masked»`.
 */
import { parse as parseYaml } from "yaml";
import { isSecretKey, MASK, maskText, maskValue, parseJsonObject } from "./mask.js";
import { formatPath, type ChangeKind, type PropertyChange, type Segment } from "./model.js";

/** Where YAML strings are expected: Helm values, and keys named like YAML files. */
function yamlContext(segments: readonly Segment[], itemType: string): boolean {
  const last = segments[segments.length - 1];
  const keys = segments.filter((s): s is { key: string } => "key" in s).map((s) => s.key);
  if (itemType === "helm_release" && keys[0] === "values") return true;
  return last !== undefined && "key" in last && /\.ya?ml$/i.test(last.key);
}

function parseEmbedded(text: string, segments: readonly Segment[], itemType: string): { value: object; kind: "json" | "yaml" } | undefined {
  const json = parseJsonObject(text);
  if (json !== undefined) return { value: json, kind: "json" };
  if (!yamlContext(segments, itemType)) return undefined;
  try {
    const parsed: unknown = parseYaml(text);
    return parsed && typeof parsed === "object" ? { value: parsed, kind: "yaml" } : undefined;
  } catch {
    return undefined;
  }
}

function lastKey(segments: readonly Segment[]): string | undefined {
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i] as Segment;
    if ("key" in s) return s.key;
    if ("embedded" in s) continue;
    return undefined; // the element of an array: judged by the array's key, already checked
  }
  return undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Stable JSON with sorted keys, to compare values and array elements. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (isPlainObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "undefined";
}

function change(kind: ChangeKind, segments: readonly Segment[], extra: Omit<PropertyChange, "kind" | "segments" | "path">): PropertyChange {
  return { kind, segments: [...segments], path: formatPath(segments), ...extra };
}

/** The changes that turn `before` into `after`, with every value masked. */
export function diffValues(before: unknown, after: unknown, itemType = "", segments: readonly Segment[] = []): PropertyChange[] {
  const out: PropertyChange[] = [];
  walk(before, after, segments, itemType, false, out);
  return out;
}

function walk(a: unknown, b: unknown, segments: readonly Segment[], itemType: string, secretAbove: boolean, out: PropertyChange[]): void {
  const key = lastKey(segments);
  const secret = secretAbove || (key !== undefined && isSecretKey(key));
  if (secret) {
    if (canonical(a) !== canonical(b)) {
      const kind: ChangeKind = a === undefined ? "added" : b === undefined ? "removed" : "changed";
      out.push(change(kind, segments, { ...(a === undefined ? {} : { old: MASK }), ...(b === undefined ? {} : { new: MASK }), masked: true }));
    }
    return;
  }
  if (a === b) return;
  if (typeof a === "string" && typeof b === "string") return diffStrings(a, b, segments, itemType, out);
  if (Array.isArray(a) && Array.isArray(b)) return diffArrays(a, b, segments, itemType, out);
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      const next = [...segments, { key: k }];
      if (!(k in b)) out.push(...leafChanges("removed", a[k], next, itemType));
      else if (!(k in a)) out.push(...leafChanges("added", b[k], next, itemType));
      else walk(a[k], b[k], next, itemType, false, out);
    }
    return;
  }
  if (canonical(a) === canonical(b)) return;
  out.push(change("changed", segments, { old: maskValue(a), new: maskValue(b) }));
}

function diffStrings(a: string, b: string, segments: readonly Segment[], itemType: string, out: PropertyChange[]): void {
  const pa = parseEmbedded(a, segments, itemType);
  const pb = parseEmbedded(b, segments, itemType);
  if (pa && pb && pa.kind === pb.kind) {
    walk(pa.value, pb.value, [...segments, { embedded: pa.kind }], itemType, false, out);
    return;
  }
  const ma = maskText(a);
  const mb = maskText(b);
  if (a.includes("\n") || b.includes("\n")) {
    const lines = lineDiff(ma.split("\n"), mb.split("\n"));
    if (lines.removed.length === 0 && lines.added.length === 0) {
      out.push(change("changed", segments, { old: MASK, new: MASK, masked: true }));
    } else {
      out.push(change("changed", segments, { lines }));
    }
    return;
  }
  if (ma === mb) out.push(change("changed", segments, { old: ma, new: mb, masked: true }));
  else out.push(change("changed", segments, { old: ma, new: mb }));
}

/** Longest common subsequence of two sequences of keys: pairs of matching indexes, in order. */
export function lcs(a: readonly string[], b: readonly string[]): Array<[number, number]> {
  // Trim the common prefix and suffix first: most changes touch a few elements of long sequences.
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < start; i++) pairs.push([i, i]);
  const n = endA - start;
  const m = endB - start;
  if (n > 0 && m > 0 && n * m <= 25_000_000) {
    const width = m + 1;
    const table = new Uint32Array((n + 1) * width);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        table[i * width + j] = a[start + i] === b[start + j] ? (table[(i + 1) * width + j + 1] as number) + 1 : Math.max(table[(i + 1) * width + j] as number, table[i * width + j + 1] as number);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (a[start + i] === b[start + j]) {
        pairs.push([start + i, start + j]);
        i++;
        j++;
      } else if ((table[(i + 1) * width + j] as number) >= (table[i * width + j + 1] as number)) i++;
      else j++;
    }
  }
  for (let k = 0; endA + k < a.length; k++) pairs.push([endA + k, endB + k]);
  return pairs;
}

/** Removed and added lines of a text (no context lines: the path already says where). */
export function lineDiff(a: readonly string[], b: readonly string[]): { removed: string[]; added: string[] } {
  const pairs = lcs(a, b);
  const keptA = new Set(pairs.map(([i]) => i));
  const keptB = new Set(pairs.map(([, j]) => j));
  return { removed: a.filter((_, i) => !keptA.has(i)), added: b.filter((_, j) => !keptB.has(j)) };
}

function diffArrays(a: readonly unknown[], b: readonly unknown[], segments: readonly Segment[], itemType: string, out: PropertyChange[]): void {
  const ka = a.map(canonical);
  const kb = b.map(canonical);
  const pairs = lcs(ka, kb);
  let i = 0;
  let j = 0;
  const flush = (untilA: number, untilB: number) => {
    // Between two matches: pair up replaced elements of the same shape, the rest are removed/added.
    while (i < untilA && j < untilB && sameShape(a[i], b[j], [...segments, { index: j }], itemType)) {
      walk(a[i], b[j], [...segments, { index: j }], itemType, false, out);
      i++;
      j++;
    }
    for (; i < untilA; i++) out.push(...leafChanges("removed", a[i], [...segments, { index: i }], itemType, true));
    for (; j < untilB; j++) out.push(...leafChanges("added", b[j], [...segments, { index: j }], itemType, true));
  };
  for (const [pa, pb] of pairs) {
    flush(pa, pb);
    i = pa + 1;
    j = pb + 1;
  }
  flush(a.length, b.length);
}

/** Elements worth comparing inside rather than listing as removed and added. */
function sameShape(x: unknown, y: unknown, segments: readonly Segment[], itemType: string): boolean {
  if (isPlainObject(x) && isPlainObject(y)) return true;
  if (Array.isArray(x) && Array.isArray(y)) return true;
  if (typeof x === "string" && typeof y === "string") {
    // Documents in strings (Helm values, JSON, multi-line text): compare what is inside.
    if (x.includes("\n") && y.includes("\n")) return true;
    return parseEmbedded(x, segments, itemType) !== undefined && parseEmbedded(y, segments, itemType) !== undefined;
  }
  return false;
}

/**
 * A value that appeared or disappeared as a whole. Scalars and small objects stay one change
 * (`ingress[2]: {...}`); when `split` is false (an object's property) nested objects are listed
 * leaf by leaf so each path can be classified.
 */
export function leafChanges(kind: "added" | "removed", value: unknown, segments: readonly Segment[], itemType: string, keepWhole = false): PropertyChange[] {
  const key = lastKey(segments);
  if (key !== undefined && isSecretKey(key)) {
    return [change(kind, segments, { [kind === "added" ? "new" : "old"]: MASK, masked: true })];
  }
  if (typeof value === "string" && !keepWhole) {
    const parsed = parseEmbedded(value, segments, itemType);
    if (parsed) {
      const inner = leafChanges(kind, parsed.value, [...segments, { embedded: parsed.kind }], itemType);
      if (inner.length > 0) return inner;
    }
  }
  if (keepWhole || !(isPlainObject(value) || Array.isArray(value))) {
    return [change(kind, segments, { [kind === "added" ? "new" : "old"]: maskValue(value) })];
  }
  const out: PropertyChange[] = [];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...leafChanges(kind, v, [...segments, { index: i }], itemType, typeof v !== "string")));
  else for (const [k, v] of Object.entries(value)) out.push(...leafChanges(kind, v, [...segments, { key: k }], itemType));
  if (out.length === 0) out.push(change(kind, segments, { [kind === "added" ? "new" : "old"]: maskValue(value) }));
  return out;
}

/** Every leaf of an item's body, as added or removed properties (an item that appeared or went away). */
export function bodyChanges(kind: "added" | "removed", body: unknown, itemType: string): PropertyChange[] {
  if (!isPlainObject(body)) return leafChanges(kind, body, [], itemType);
  const out: PropertyChange[] = [];
  for (const [k, v] of Object.entries(body)) {
    if (typeof v === "string" && !isSecretKey(k)) {
      const parsed = parseEmbedded(v, [{ key: k }], itemType);
      if (parsed && isPlainObject(parsed.value)) {
        for (const [k2, v2] of Object.entries(parsed.value)) out.push(...leafChanges(kind, v2, [{ key: k }, { embedded: parsed.kind }, { key: k2 }], itemType));
        continue;
      }
    }
    out.push(...leafChanges(kind, v, [{ key: k }], itemType));
  }
  return out;
}

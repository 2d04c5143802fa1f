/**
 * Reads synth output (`cdktf.out`) and compares two of them stack by stack, item by item.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { bodyChanges, canonical, diffValues } from "./structural.js";
import { DiffError, type ItemDiff, type ItemRef, type StackDiff } from "./model.js";

export type SynthOutput = ReadonlyMap<string, Record<string, unknown>>;

/**
 * The stacks of a synth output directory: `<dir>/stacks/<stack>/cdk.tf.json` (a cdktf.out
 * directory), or `<dir>/<stack>/cdk.tf.json` (its `stacks` directory).
 */
export function loadSynthOutput(dir: string): SynthOutput {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new DiffError(`synth output directory ${dir} does not exist`, "pass a directory that `npm run synth` wrote (cdktf.out), or run `npm run synth` first");
  }
  const stacksDir = existsSync(join(dir, "stacks")) ? join(dir, "stacks") : dir;
  const stacks = new Map<string, Record<string, unknown>>();
  for (const name of readdirSync(stacksDir).sort()) {
    const file = join(stacksDir, name, "cdk.tf.json");
    if (!existsSync(file)) continue;
    try {
      stacks.set(name, JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>);
    } catch (error) {
      throw new DiffError(`${file} is not valid JSON (${(error as Error).message})`, "synthesize again: `npm run synth`");
    }
  }
  if (stacks.size === 0) {
    throw new DiffError(`no stacks in ${dir} (expected ${join(dir, "stacks", "<stack>", "cdk.tf.json")})`, "pass the cdktf.out directory that `npm run synth` wrote");
  }
  return stacks;
}

interface Item {
  readonly ref: ItemRef;
  readonly body: unknown;
}

function metadataOf(body: unknown): { constructPath?: string } {
  const meta = (body as { "//"?: { metadata?: { path?: unknown } } } | undefined)?.["//"]?.metadata;
  return typeof meta?.path === "string" ? { constructPath: meta.path } : {};
}

/** Drops cdktf's `//` metadata (construct path, unique id): it is not Terraform configuration. */
function withoutMetadata(body: unknown): unknown {
  if (!body || typeof body !== "object" || Array.isArray(body)) return body;
  const { "//": _meta, ...rest } = body as Record<string, unknown>;
  return rest;
}

function manifestInfo(type: string, body: unknown): { manifestKind?: string; apiVersion?: string } {
  if (type !== "kubernetes_manifest") return {};
  const manifest = (body as { manifest?: { kind?: unknown; apiVersion?: unknown } } | undefined)?.manifest;
  return {
    ...(typeof manifest?.kind === "string" ? { manifestKind: manifest.kind } : {}),
    ...(typeof manifest?.apiVersion === "string" ? { apiVersion: manifest.apiVersion } : {}),
  };
}

/** Every Terraform block of a stack as an addressable item. */
export function stackItems(json: Record<string, unknown>): Map<string, Item> {
  const items = new Map<string, Item>();
  const add = (ref: ItemRef, body: unknown) => items.set(ref.address, { ref, body: withoutMetadata(body) });
  for (const [block, content] of Object.entries(json)) {
    if (block === "//" || content === undefined) continue;
    if (!content || typeof content !== "object") {
      add({ block, type: "", name: "", address: block }, content);
      continue;
    }
    const entries = Object.entries(content as Record<string, unknown>);
    if (block === "resource" || block === "data") {
      for (const [type, byName] of entries) {
        for (const [name, body] of Object.entries((byName ?? {}) as Record<string, unknown>)) {
          const address = `${block === "data" ? "data." : ""}${type}.${name}`;
          add({ block, type, name, address, ...metadataOf(body), ...manifestInfo(type, body) }, body);
        }
      }
    } else if (block === "provider") {
      for (const [type, configs] of entries) {
        const list = Array.isArray(configs) ? configs : [configs];
        list.forEach((body, i) => {
          const alias = (body as { alias?: unknown } | undefined)?.alias;
          const address = typeof alias === "string" ? `provider.${type}.${alias}` : list.length > 1 ? `provider.${type}[${i}]` : `provider.${type}`;
          add({ block, type, name: typeof alias === "string" ? alias : "", address, ...metadataOf(body) }, body);
        });
      }
    } else if (block === "output" || block === "variable" || block === "module" || block === "locals") {
      for (const [name, body] of entries) add({ block, type: "", name, address: `${block}.${name}`, ...metadataOf(body) }, body);
    } else {
      // The terraform block (backend, required providers and version) and anything else: one item each.
      add({ block, type: "", name: "", address: block }, content);
    }
  }
  return items;
}

const ORDER = ["terraform", "provider", "resource", "data", "module", "variable", "locals", "output"];
function blockOrder(block: string): number {
  const i = ORDER.indexOf(block);
  return i < 0 ? ORDER.length : i;
}

/** Compares two stacks' Terraform JSON. */
export function diffStack(stack: string, base: Record<string, unknown> | undefined, head: Record<string, unknown> | undefined): StackDiff {
  const before = base ? stackItems(base) : new Map<string, Item>();
  const after = head ? stackItems(head) : new Map<string, Item>();
  const items: ItemDiff[] = [];
  for (const address of [...new Set([...before.keys(), ...after.keys()])]) {
    const a = before.get(address);
    const b = after.get(address);
    if (a && !b) items.push({ ...a.ref, change: "removed", changes: bodyChanges("removed", a.body, a.ref.type) });
    else if (!a && b) items.push({ ...b.ref, change: "added", changes: bodyChanges("added", b.body, b.ref.type) });
    else if (a && b && canonical(a.body) !== canonical(b.body)) {
      const changes = diffValues(a.body, b.body, b.ref.type);
      if (changes.length > 0) items.push({ ...b.ref, change: "changed", changes });
    }
  }
  items.sort((x, y) => blockOrder(x.block) - blockOrder(y.block) || x.address.localeCompare(y.address));
  const status = !base ? "added" : !head ? "removed" : items.length > 0 ? "changed" : "unchanged";
  return { stack, status, items };
}

/** Compares two synth outputs; stacks in name order. */
export function diffSynthOutputs(base: SynthOutput, head: SynthOutput): StackDiff[] {
  const names = [...new Set([...base.keys(), ...head.keys()])].sort(compareStackNames);
  return names.map((name) => diffStack(name, base.get(name), head.get(name)));
}

const ENV_ORDER = ["dev", "staging", "prod"];
const KIND_ORDER = ["foundation", "platform", "workloads"];
/** dev before staging before prod; foundation before platform before workloads; others by name. */
function compareStackNames(x: string, y: string): number {
  const rank = (name: string) => {
    const [env = "", kind = ""] = name.split(/-(?=[^-]+$)/);
    const e = ENV_ORDER.indexOf(env);
    const k = KIND_ORDER.indexOf(kind);
    return [e < 0 ? ENV_ORDER.length : e, k < 0 ? KIND_ORDER.length : k] as const;
  };
  const [ex, kx] = rank(x);
  const [ey, ky] = rank(y);
  return ex - ey || kx - ky || x.localeCompare(y);
}

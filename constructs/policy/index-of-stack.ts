/**
 * An index over one synthesized stack: resources and data sources by type and by address, and a
 * resolver from Terraform reference strings (`${aws_subnet.private_0_ABC.id}`, possibly embedded in a
 * longer string or nested in arrays/objects) to the elements they reference, so rules can follow
 * references between resources.
 */
import type { SynthElementKind, SynthResource, SynthesizedElements, SynthesizedStackJson } from "./types.js";
import { isRecord } from "./values.js";

/** The key cdktf uses for per-element metadata inside a resource body. */
const METADATA_KEY = "//";

/** Matches each `${ ... }` interpolation; the capture is the expression inside. Nested braces are not supported (Terraform JSON from cdktf does not produce them in references). */
const INTERPOLATION = /\$\{([^}]*)\}/g;

/**
 * Matches a reference traversal inside an expression: optional `data.`, a type, and a logical id.
 * Logical ids from cdktf may contain letters, digits, underscores and hyphens.
 */
const TRAVERSAL = /(?<![A-Za-z0-9_.-])(data\.)?([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_-]*)/g;

/** Builds the Terraform address of an element. */
export function addressOf(kind: SynthElementKind, type: string, name: string): string {
  return kind === "data" ? `data.${type}.${name}` : `${type}.${name}`;
}

/** The construct path recorded in an element's `"//".metadata.path`, or `""`. */
function metadataPath(body: Record<string, unknown>): string {
  const meta = body[METADATA_KEY];
  if (!isRecord(meta)) return "";
  const inner = meta["metadata"];
  if (!isRecord(inner)) return "";
  const path = inner["path"];
  return typeof path === "string" ? path : "";
}

/** Collects every string found anywhere in a value (strings, arrays, objects). */
function collectStrings(value: unknown, into: string[]): void {
  if (typeof value === "string") into.push(value);
  else if (Array.isArray(value)) for (const v of value) collectStrings(v, into);
  else if (isRecord(value)) for (const v of Object.values(value)) collectStrings(v, into);
}

/** Index over one synthesized stack. Construct once per stack JSON; all lookups are pure. */
export class StackIndex {
  /** Every resource and data source, in synthesized order (resources first). */
  public readonly all: readonly SynthResource[];
  private readonly byAddress = new Map<string, SynthResource>();
  private readonly byType = new Map<string, SynthResource[]>();

  constructor(public readonly json: SynthesizedStackJson) {
    const all: SynthResource[] = [];
    const add = (kind: SynthElementKind, elements: unknown): void => {
      if (!isRecord(elements)) return;
      for (const [type, instances] of Object.entries(elements as SynthesizedElements)) {
        if (!isRecord(instances)) continue;
        for (const [name, body] of Object.entries(instances)) {
          if (!isRecord(body)) continue;
          const config: Record<string, unknown> = {};
          for (const [key, value] of Object.entries(body)) if (key !== METADATA_KEY) config[key] = value;
          const element: SynthResource = {
            kind,
            type,
            name,
            address: addressOf(kind, type, name),
            path: metadataPath(body),
            config,
          };
          all.push(element);
          this.byAddress.set(element.address, element);
          const typeKey = kind === "data" ? `data.${type}` : type;
          const list = this.byType.get(typeKey) ?? [];
          list.push(element);
          this.byType.set(typeKey, list);
        }
      }
    };
    add("resource", json.resource);
    add("data", json.data);
    this.all = all;
  }

  /** Managed resources of a Terraform type (e.g. `aws_subnet`). */
  resources(type: string): readonly SynthResource[] {
    return this.byType.get(type) ?? [];
  }

  /** Data sources of a Terraform type (e.g. `aws_iam_policy_document`, without the `data.` prefix). */
  dataSources(type: string): readonly SynthResource[] {
    return this.byType.get(`data.${type}`) ?? [];
  }

  /** Elements of a type key as used in `PolicyRule.resourceTypes` (`aws_vpc` or `data.aws_iam_policy_document`). */
  elementsOfTypeKey(typeKey: string): readonly SynthResource[] {
    return this.byType.get(typeKey) ?? [];
  }

  /** The element at a Terraform address (`aws_vpc.vpc_ABC` or `data.aws_iam_policy_document.doc`). */
  get(address: string): SynthResource | undefined {
    return this.byAddress.get(address);
  }

  /**
   * Every element of this stack referenced anywhere in `value` (a string such as
   * `"arn:${aws_s3_bucket.b_1.arn}/*"`, or arrays/objects containing such strings), in order of
   * appearance, without duplicates. References to things not in this stack (variables, locals,
   * other stacks' remote state) are ignored. When `type` is given, only elements of that type are
   * returned.
   */
  resolveAll(value: unknown, type?: string): SynthResource[] {
    const strings: string[] = [];
    collectStrings(value, strings);
    const found: SynthResource[] = [];
    const seen = new Set<string>();
    for (const text of strings) {
      for (const interpolation of text.matchAll(INTERPOLATION)) {
        const expression = interpolation[1] ?? "";
        for (const traversal of expression.matchAll(TRAVERSAL)) {
          const isData = traversal[1] !== undefined;
          const refType = traversal[2] ?? "";
          const refName = traversal[3] ?? "";
          const element = this.byAddress.get(addressOf(isData ? "data" : "resource", refType, refName));
          if (element === undefined || seen.has(element.address)) continue;
          if (type !== undefined && element.type !== type) continue;
          seen.add(element.address);
          found.push(element);
        }
      }
    }
    return found;
  }

  /** The first element referenced in `value` (optionally of `type`), or undefined. */
  resolve(value: unknown, type?: string): SynthResource | undefined {
    return this.resolveAll(value, type)[0];
  }

  /** Whether `value` contains a reference to `target`. */
  references(value: unknown, target: SynthResource): boolean {
    return this.resolveAll(value, target.type).some((e) => e.address === target.address);
  }

  /**
   * Managed resources of `type` whose `attribute` references `target`, e.g. the
   * `aws_s3_bucket_versioning` resources whose `bucket` references a given bucket.
   */
  referrers(type: string, attribute: string, target: SynthResource): SynthResource[] {
    return this.resources(type).filter((r) => this.references(r.config[attribute], target));
  }
}

/**
 * The data model of a synth diff: what `npm run diff` computes before it renders anything.
 * Every value in it is already masked (see mask.ts): a renderer cannot leak a secret.
 */

/** One step of a property path: an object key, an array index, or "the string holds JSON/YAML". */
export type Segment = { readonly key: string } | { readonly index: number } | { readonly embedded: "json" | "yaml" };

export type ChangeKind = "added" | "removed" | "changed";

/** One changed property (or, for a multi-line text, one changed block of lines). */
export interface PropertyChange {
  readonly kind: ChangeKind;
  readonly segments: readonly Segment[];
  /** The segments as one readable path: `spec.ingress[1].from[0].ip_block.cidr`, `policy<json>.Statement[0].Action`. */
  readonly path: string;
  /** Old value (masked); absent when the property was added. */
  readonly old?: unknown;
  /** New value (masked); absent when the property was removed. */
  readonly new?: unknown;
  /** The property holds secret material: both values are shown as the mask. */
  readonly masked?: boolean;
  /** A multi-line text that changed: its removed and added lines (masked). */
  readonly lines?: { readonly removed: readonly string[]; readonly added: readonly string[] };
}

/** A Terraform block of a stack: a resource, data source, output, provider, module, variable, or the terraform block. */
export interface ItemRef {
  /** `resource` | `data` | `output` | `provider` | `module` | `variable` | `locals` | `terraform` */
  readonly block: string;
  /** Resource/data type (`aws_iam_role`), provider name, or "" for outputs, variables and the terraform block. */
  readonly type: string;
  /** Logical id (`cluster_node-role_681EE9FE`), or "" for the terraform block. */
  readonly name: string;
  /** `aws_iam_role.cluster_node-role_681EE9FE`, `data.aws_availability_zones.x`, `output.y`, `provider.aws`, `terraform`. */
  readonly address: string;
  /** The construct path cdktf records (`dev-foundation/cluster/node-role`), when it has one. */
  readonly constructPath?: string;
  /** For kubernetes_manifest: the manifest's kind (NetworkPolicy, KongClusterPlugin, ...). */
  readonly manifestKind?: string;
  /** For kubernetes_manifest: the manifest's apiVersion. */
  readonly apiVersion?: string;
}

export interface ItemDiff extends ItemRef {
  readonly change: ChangeKind;
  /**
   * For a changed item, its changed properties. For an added or removed item, every leaf
   * property of its body (as added or removed), so that it can be read and classified the same way.
   */
  readonly changes: readonly PropertyChange[];
}

export interface StackDiff {
  readonly stack: string;
  /** The stack exists only in the head (added), only in the base (removed), or in both. */
  readonly status: "added" | "removed" | "changed" | "unchanged";
  readonly items: readonly ItemDiff[];
}

export const POLICY_CATEGORIES = ["tenant-isolation", "rate-limits", "encryption", "public-exposure"] as const;
export type PolicyCategory = (typeof POLICY_CATEGORIES)[number];

export const CATEGORY_TITLES: Readonly<Record<PolicyCategory, string>> = {
  "tenant-isolation": "Tenant isolation (NATS, ClickHouse access, NetworkPolicies, security groups, IAM)",
  "rate-limits": "Rate limits and quotas",
  encryption: "Encryption",
  "public-exposure": "Public exposure",
};

/** One entry of the "Policy impact" section. */
export interface PolicyImpact {
  readonly category: PolicyCategory;
  readonly stack: string;
  readonly item: ItemRef;
  readonly change: ChangeKind;
  /** What the rule recognised: "NetworkPolicy", "IAM policy", "Kong rate limit", "ClickHouse quota", ... */
  readonly subject: string;
  /** The property change it is about; absent for a whole item added or removed. */
  readonly property?: PropertyChange;
  /** For a whole item added or removed: its most relevant properties, `path: value` (masked). */
  readonly details?: readonly string[];
  /** Why a reviewer should look twice: "IAM wildcard", "open to 0.0.0.0/0", "limit raised 5 → 6", ... */
  readonly warnings: readonly string[];
}

/** One environment's isolation and rate-limit surface (surface.ts): the fact lines removed and added. */
export interface SurfaceChange {
  readonly environment: string;
  readonly removed: readonly string[];
  readonly added: readonly string[];
}

export interface DiffReport {
  /** What was compared, for the heading: e.g. `origin/main (1a2b3c4)` and `working tree`. */
  readonly baseLabel: string;
  readonly headLabel: string;
  readonly stacks: readonly StackDiff[];
  readonly impacts: readonly PolicyImpact[];
  /** Per environment whose surface changed, the lines that did (empty: the surface is unchanged). */
  readonly surface: readonly SurfaceChange[];
}

/** True when the head synthesizes exactly what the base does. */
export function isEmptyDiff(report: DiffReport): boolean {
  return report.stacks.every((s) => s.status === "unchanged");
}

/** `a.b[0]["weird/key"]<json>.c` */
export function formatPath(segments: readonly Segment[]): string {
  let out = "";
  for (const s of segments) {
    if ("index" in s) out += `[${s.index}]`;
    else if ("embedded" in s) out += `<${s.embedded}>`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(s.key)) out += out === "" ? s.key : `.${s.key}`;
    else out += `[${JSON.stringify(s.key)}]`;
  }
  return out;
}

/** The object keys of a path, lower-cased (indexes and embedding markers dropped). */
export function pathKeys(segments: readonly Segment[]): string[] {
  const keys: string[] = [];
  for (const s of segments) if ("key" in s) keys.push(s.key);
  return keys;
}

/** An error for people: what went wrong and how to fix it. */
export class DiffError extends Error {
  constructor(
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${problem}\nFix: ${fix}`);
    this.name = "DiffError";
  }
}

/**
 * The policy-impact classifier: which changes touch tenant isolation, rate limits and quotas,
 * encryption, or public exposure. Rules look at the item (resource type, manifest kind, what it
 * belongs to) and at each changed property's path and values; they were written against the
 * stacks this repo synthesizes (see the list in README "The PR diff") and err on the side of
 * listing a change: a reviewer can skip a line, not see a missing one.
 */
import { PREVIEW_TENANT } from "../../services/nats-auth/tenant-accounts.js";
import { keyWords, MASK } from "./mask.js";
import { pathKeys, type ItemDiff, type PolicyCategory, type PolicyImpact, type PropertyChange, type StackDiff } from "./model.js";

interface Hit {
  readonly category: PolicyCategory;
  readonly subject: string;
}

const NETWORK_POLICY_KINDS = new Set(["NetworkPolicy", "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy", "AuthorizationPolicy"]);
const RBAC_KINDS = new Set(["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"]);
const TLS_KINDS = new Set(["Certificate", "Issuer", "ClusterIssuer"]);
const EXPOSURE_KINDS = new Set(["Ingress", "Gateway", "HTTPRoute", "TCPRoute", "TLSRoute", "IngressRoute"]);

/** Rules that hold for every property of an item, from its type or kind alone. */
function itemHits(item: ItemDiff): Hit[] {
  const t = item.type;
  const kind = item.manifestKind ?? "";
  const hits: Hit[] = [];
  const add = (category: PolicyCategory, subject: string) => hits.push({ category, subject });
  if (/^kubernetes_network_policy(_v1)?$/.test(t) || NETWORK_POLICY_KINDS.has(kind)) add("tenant-isolation", "NetworkPolicy");
  if (/^aws_(default_)?security_group(_rule)?$/.test(t) || /^aws_vpc_security_group_(ingress|egress)_rule$/.test(t)) add("tenant-isolation", "security group");
  if (/^aws_(default_)?network_acl(_rule|_association)?$/.test(t)) add("tenant-isolation", "network ACL");
  if (/^aws_iam_/.test(t)) add("tenant-isolation", "IAM");
  if (/^aws_eks_(access_entry|access_policy_association)$/.test(t)) add("tenant-isolation", "EKS access entry");
  if (t === "aws_eks_pod_identity_association") add("tenant-isolation", "Pod Identity");
  if (/^aws_(s3_bucket|secretsmanager_secret|kms_key|ecr_repository|sqs_queue|sns_topic)_policy$/.test(t)) add("tenant-isolation", "resource policy");
  if (/^kubernetes_(cluster_)?role(_binding)?(_v1)?$/.test(t) || RBAC_KINDS.has(kind)) add("tenant-isolation", "Kubernetes RBAC");
  if (/^aws_(vpc_peering_connection|ec2_transit_gateway|vpc_endpoint_service)/.test(t)) add("tenant-isolation", "network path");
  if (kind === "Account" && /nats/i.test(item.apiVersion ?? "")) add("tenant-isolation", "NATS account");
  if (/^kubernetes_(resource_quota|limit_range)(_v1)?$/.test(t) || kind === "ResourceQuota" || kind === "LimitRange") {
    add("rate-limits", /limit_range|LimitRange/.test(t + kind) ? "LimitRange" : "ResourceQuota");
  }
  if (/^aws_kms_/.test(t)) add("encryption", "KMS key");
  if (/^aws_(ebs_encryption_by_default|s3_bucket_server_side_encryption_configuration(_v2)?)$/.test(t)) add("encryption", "encryption at rest");
  if (t === "aws_acm_certificate" || TLS_KINDS.has(kind)) add("encryption", "TLS certificate");
  if (/^aws_(lb|alb|elb)(_listener(_rule)?)?$/.test(t) || /^aws_(internet_gateway|eip|cloudfront_distribution|s3_bucket_public_access_block|apigatewayv2_|api_gateway_)/.test(t)) {
    add("public-exposure", t.replace(/^aws_/, "").replace(/_/g, " "));
  }
  if (/^kubernetes_ingress(_v1)?$/.test(t) || EXPOSURE_KINDS.has(kind)) add("public-exposure", "Ingress");
  return hits;
}

const ENCRYPTION_WORDS = new Set(["encrypt", "encrypted", "encryption", "kms", "sse", "tls", "ssl", "cipher", "ciphers", "certificate", "cert", "rotation", "mtls"]);
const EXPOSURE_WORDS = new Set(["public", "publicly", "internet", "scheme", "nodeport", "hostport", "hostnetwork", "loadbalancer"]);
const RATE_WORDS = new Set(["rate", "ratelimit", "ratelimiting", "limit", "limits", "quota", "quotas", "throttle", "throttling", "burst"]);
/** Limits that are not about tenants' usage: retries, history, grace periods. */
const NOT_RATE_WORDS = new Set(["backoff", "retry", "retries", "history", "revision", "termination", "grace", "timeout", "failure", "success", "restart"]);
const TENANT_WORDS = new Set(["tenant", "tenants", "isolation"]);
const ISOLATION_KEYS = new Set(["allow", "deny", "allowed", "denied", "permission", "permissions", "grant", "grants", "principal", "principals", "notprincipal"]);
const PRIVILEGE_WORDS = new Set(["privileged", "privilege", "escalation", "capabilities", "hostpid", "hostipc"]);
const NATS_ISOLATION_KEYS = new Set([
  "signing_keys", "template", "pub", "sub", "allow", "deny", "permissions", "imports", "exports", "accounts", "users",
  "authorization", "resolver_preload", "operator", "system_account", "trusted_keys", "disallow_bearer", "bearer_token",
  "allowed_connection_types", "subjects", "filter_subject", "filter_subjects", "deliver_subject", "account", "role", "kind", "scope",
  "revocations", "token_req", "token", "subject_transform", "subjectTransform", "deny_purge", "denyPurge", "deny_delete", "denyDelete",
]);
const NATS_LIMIT_KEYS = new Set([
  "limits", "subs", "payload", "max_payload", "data", "conn", "leaf", "mem_storage", "disk_storage", "streams", "consumer",
  "max_ack_pending", "maxsize", "max_connections", "max_subscriptions", "max_pending", "max_control_line",
  "maxMsgsPerSubject", "discard", "discardPerSubject", "discard_new_per_subject",
]);
const KONG_RATE_KEYS = new Set(["second", "minute", "hour", "day", "month", "year", "tiers", "max_body_kib", "allowed_payload_size", "size_unit", "policy", "limit_by", "local_dict", "key_prefix"]);

function isNats(item: ItemDiff): boolean {
  return /nats|jetstream/i.test(`${item.address} ${item.constructPath ?? ""} ${item.apiVersion ?? ""}`);
}
function isClickHouse(item: ItemDiff): boolean {
  return /clickhouse/i.test(`${item.address} ${item.constructPath ?? ""} ${item.apiVersion ?? ""}`);
}
function isKongPlugin(item: ItemDiff): boolean {
  return /^Kong(Cluster)?Plugin$/.test(item.manifestKind ?? "");
}

/** Rules that depend on the changed property's path. */
function propertyHits(item: ItemDiff, change: PropertyChange): Hit[] {
  const hits: Hit[] = [];
  const add = (category: PolicyCategory, subject: string) => hits.push({ category, subject });
  const keys = pathKeys(change.segments);
  const lower = keys.map((k) => k.toLowerCase());
  const words = new Set(keys.flatMap(keyWords));
  const containerResources = lower.some((k, i) => k === "resources" && (lower[i + 1] === "limits" || lower[i + 1] === "requests"));

  if (isKongPlugin(item)) {
    if (lower.some((k) => KONG_RATE_KEYS.has(k)) || [...words].some((w) => RATE_WORDS.has(w))) add("rate-limits", "Kong rate limit");
    else add("tenant-isolation", `Kong plugin ${pluginName(item)}`);
  }
  if (isNats(item)) {
    // Inside a document (the claims JSON, Helm values), only its own keys count: not the ConfigMap's `data`.
    const lastEmbedded = change.segments.map((s) => "embedded" in s).lastIndexOf(true);
    const inner = pathKeys(change.segments.slice(lastEmbedded + 1)).map((k) => k.toLowerCase());
    if (inner.some((k) => NATS_LIMIT_KEYS.has(k) || /^max_/.test(k))) add("rate-limits", "NATS limits");
    else if (inner.some((k) => NATS_ISOLATION_KEYS.has(k))) add("tenant-isolation", "NATS permissions");
  }
  if (isClickHouse(item)) {
    const joined = keys.join("/").toLowerCase();
    if (/(^|\/)users(\/|$)|grants|networks|access_management|row_polic/.test(joined) || joined.includes("access_control")) add("tenant-isolation", "ClickHouse users and grants");
    if (/(^|\/)(profiles|quotas)(\/|$)/.test(joined)) add("rate-limits", "ClickHouse profiles and quotas");
  }
  if (item.manifestKind === "ScaledObject" && lower.some((k) => k === "maxreplicacount" || k === "minreplicacount")) add("rate-limits", "KEDA replica cap");
  if (keys.some((k) => k.startsWith("pod-security.kubernetes.io/"))) add("tenant-isolation", "Pod Security admission");
  if (lower.some((k) => k === "policy" || k === "assume_role_policy" || k === "inline_policy") && change.segments.some((s) => "embedded" in s)) add("tenant-isolation", "IAM policy");
  if (!containerResources && [...words].some((w) => RATE_WORDS.has(w)) && ![...words].some((w) => NOT_RATE_WORDS.has(w))) add("rate-limits", "limit");
  if ([...words].some((w) => TENANT_WORDS.has(w)) || lower.some((k) => ISOLATION_KEYS.has(k))) add("tenant-isolation", "tenant scoping and permissions");
  if ([...words].some((w) => PRIVILEGE_WORDS.has(w))) add("tenant-isolation", "pod privileges");
  if ([...words].some((w) => ENCRYPTION_WORDS.has(w))) add("encryption", "encryption setting");
  if ([...words].some((w) => EXPOSURE_WORDS.has(w))) add("public-exposure", "public access");
  const values = [change.old, change.new, ...(change.lines?.removed ?? []), ...(change.lines?.added ?? [])];
  if (values.some((v) => mentions(v, /(^|[^\d.])0\.0\.0\.0\/0|::\/0|internet-facing/))) add("public-exposure", "open CIDR / internet-facing");
  if (lower[lower.length - 1] === "type" && values.some((v) => v === "LoadBalancer" || v === "NodePort")) add("public-exposure", "Service type");
  return hits;
}

function pluginName(item: ItemDiff): string {
  const m = /plugin-([\w-]+?)(_[0-9A-F]{8})?$/.exec(item.name);
  return m?.[1] ?? item.name;
}

function mentions(value: unknown, pattern: RegExp): boolean {
  if (typeof value === "string") return pattern.test(value);
  if (Array.isArray(value)) return value.some((v) => mentions(v, pattern));
  if (value && typeof value === "object") return Object.values(value).some((v) => mentions(v, pattern));
  return false;
}

const SQL_ISOLATION = /\b(CREATE|ALTER|DROP)\s+(OR\s+REPLACE\s+)?(USER|ROLE|ROW\s+POLICY|POLICY)\b|\bGRANT\b|\bREVOKE\b/i;
const SQL_QUOTA = /\b(CREATE|ALTER|DROP)\s+(OR\s+REPLACE\s+)?(QUOTA|SETTINGS\s+PROFILE|PROFILE)\b/i;

/** For a changed text: its SQL access-control and quota statements, as separate changes. */
function sqlHits(change: PropertyChange): Array<{ hit: Hit; change: PropertyChange }> {
  if (!change.lines) return [];
  const out: Array<{ hit: Hit; change: PropertyChange }> = [];
  const pick = (pattern: RegExp, hit: Hit) => {
    const removed = change.lines!.removed.filter((l) => pattern.test(l));
    const added = change.lines!.added.filter((l) => pattern.test(l));
    if (removed.length + added.length > 0) out.push({ hit, change: { ...change, lines: { removed, added } } });
  };
  pick(SQL_QUOTA, { category: "rate-limits", subject: "ClickHouse quota / settings profile" });
  pick(SQL_ISOLATION, { category: "tenant-isolation", subject: "ClickHouse users, roles, row policies, grants" });
  return out;
}

/** Warnings for one change: what makes it worth a second look. */
function warningsFor(item: ItemDiff, change: PropertyChange, category: PolicyCategory): string[] {
  const w: string[] = [];
  const keys = pathKeys(change.segments);
  const last = keys[keys.length - 1] ?? "";
  const added = change.kind !== "removed";
  if (added && keys.some((k) => /^(Not)?(Action|Resource)$/.test(k)) && hasWildcard(change.new)) w.push(`IAM wildcard in ${keys.find((k) => /^(Not)?(Action|Resource)$/.test(k))}`);
  if (added && keys.includes("Statement") && isStatementWithWildcard(change.new)) w.push("IAM statement with a wildcard");
  if (added && /Principal/.test(keys.join("/")) && hasWildcard(change.new)) w.push('IAM Principal "*"');
  if (added && mentions(change.new, /(^|[^\d.])0\.0\.0\.0\/0|::\/0/) && !mentions(change.old, /(^|[^\d.])0\.0\.0\.0\/0|::\/0/)) w.push("opens to any address (0.0.0.0/0 or ::/0)");
  if (added && mentions(change.new, /internet-facing/) && !mentions(change.old, /internet-facing/)) w.push("internet-facing load balancer");
  if (last === "endpoint_public_access" && change.new === true) w.push("EKS API endpoint public");
  if (/^(publicly_accessible|map_public_ip_on_launch|associate_public_ip_address)$/.test(last) && change.new === true) w.push(`${last} = true`);
  if (category === "tenant-isolation" && /NetworkPolicy|security group/.test(networkSubject(item)) && change.kind === "added" && keys.some((k) => /^(ingress|egress|from|to|cidr_ipv4|cidr_ipv6|cidr_blocks)$/.test(k))) {
    w.push("new allow rule");
  }
  if (category === "encryption" && (change.new === false || change.new === "false") && change.old !== false) w.push("encryption or rotation turned off");
  if (change.kind === "changed" && !change.masked) {
    const before = toNumber(change.old);
    const after = toNumber(change.new);
    if (before !== undefined && after !== undefined && before !== after && category === "rate-limits") w.push(after > before ? "limit raised" : "limit lowered");
  }
  // A tenant account's template names its tenant literally; the synthesized preview shows it for an example tenant.
  if (added && keys.includes("allow") && mentions(change.new, /^>$|^\*$|\.>$/) && category === "tenant-isolation" && isNats(item) && !mentions(change.new, /\{\{/) && !mentions(change.new, new RegExp(`\\.${PREVIEW_TENANT.tenantId}\\.`))) {
    w.push("NATS allow without a tenant template");
  }
  return w;
}

function networkSubject(item: ItemDiff): string {
  return itemHits(item).map((h) => h.subject).join(" ");
}

function hasWildcard(value: unknown): boolean {
  if (typeof value === "string") return value === "*" || /(^|:)\*$/.test(value);
  if (Array.isArray(value)) return value.some(hasWildcard);
  return false;
}

function isStatementWithWildcard(value: unknown): boolean {
  if (!value || typeof value !== "object" || Array.isArray(value)) return false;
  const s = value as Record<string, unknown>;
  return s.Effect !== "Deny" && (hasWildcard(s.Action) || hasWildcard(s.Resource) || hasWildcard(s.NotAction));
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return undefined;
}

function dedupe(hits: readonly Hit[]): Hit[] {
  const seen = new Map<PolicyCategory, Hit>();
  for (const h of hits) if (!seen.has(h.category)) seen.set(h.category, h);
  return [...seen.values()];
}

const NOISE_KEYS = new Set(["depends_on", "tags", "tags_all", "lifecycle", "timeouts", "provider", "count", "for_each"]);

/** Every policy impact of one stack's changes. */
export function classifyStack(stack: StackDiff): PolicyImpact[] {
  const impacts: PolicyImpact[] = [];
  for (const item of stack.items) {
    // Reading another stack's state changes nothing by itself.
    if (item.block === "data" && item.type === "terraform_remote_state") continue;
    const base = itemHits(item);
    if (item.change === "changed") {
      for (const change of item.changes) {
        const first = pathKeys(change.segments)[0] ?? "";
        const sql = sqlHits(change);
        for (const { hit, change: part } of sql) {
          impacts.push({ category: hit.category, stack: stack.stack, item: refOf(item), change: "changed", subject: hit.subject, property: part, warnings: warningsFor(item, part, hit.category) });
        }
        if (NOISE_KEYS.has(first)) continue;
        const sqlCategories = new Set(sql.map((s) => s.hit.category));
        for (const hit of dedupe([...base, ...propertyHits(item, change)])) {
          if (sqlCategories.has(hit.category)) continue;
          impacts.push({ category: hit.category, stack: stack.stack, item: refOf(item), change: change.kind, subject: hit.subject, property: change, warnings: warningsFor(item, change, hit.category) });
        }
      }
    } else {
      // A whole item added or removed: one entry per category, with its relevant properties.
      const byCategory = new Map<PolicyCategory, { hit: Hit; changes: PropertyChange[]; warnings: Set<string> }>();
      const note = (hit: Hit, change: PropertyChange) => {
        const entry = byCategory.get(hit.category) ?? { hit, changes: [], warnings: new Set<string>() };
        byCategory.set(hit.category, entry);
        if (entry.changes.includes(change)) return;
        entry.changes.push(change);
        for (const w of warningsFor(item, change, hit.category)) entry.warnings.add(w);
      };
      for (const change of item.changes) {
        const first = pathKeys(change.segments)[0] ?? "";
        if (NOISE_KEYS.has(first)) continue;
        for (const { hit, change: part } of sqlHits(change)) note(hit, part);
        for (const hit of base) note(hit, change);
        for (const hit of dedupe(propertyHits(item, change))) note(hit, change);
      }
      for (const { hit, changes, warnings } of byCategory.values()) {
        if (item.change === "removed" && hit.subject === "NetworkPolicy") warnings.add("NetworkPolicy removed: traffic it restricted may now flow");
        impacts.push({
          category: hit.category,
          stack: stack.stack,
          item: refOf(item),
          change: item.change,
          subject: hit.subject,
          details: changes.slice(0, 12).map(describeLeaf).concat(changes.length > 12 ? [`… ${changes.length - 12} more properties`] : []),
          warnings: [...warnings],
        });
      }
    }
  }
  return impacts;
}

function refOf(item: ItemDiff): PolicyImpact["item"] {
  const { change: _c, changes: _ch, ...ref } = item;
  return ref;
}

/** `path: value` of a leaf of an added or removed item (values already masked). */
export function describeLeaf(change: PropertyChange): string {
  if (change.lines) return `${change.path}: ${[...change.lines.removed.map((l) => `- ${l}`), ...change.lines.added.map((l) => `+ ${l}`)].join(" ⏎ ")}`;
  const value = change.kind === "removed" ? change.old : change.new;
  return `${change.path || "(value)"}: ${change.masked ? MASK : short(value)}`;
}

/** A value on one line, cut at `max` characters. */
export function short(value: unknown, max = 240): string {
  const text = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Every policy impact of a diff, in stack order. */
export function classify(stacks: readonly StackDiff[]): PolicyImpact[] {
  return stacks.flatMap(classifyStack);
}

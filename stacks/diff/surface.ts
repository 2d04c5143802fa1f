/**
 * The isolation and rate-limit surface of an environment: who may reach what, and how fast, as a
 * reviewer reads it. Extracted from the synthesized Terraform JSON of the environment's stacks,
 * sorted, one fact per line, each line saying what it is about:
 *
 *   nats      tenant account templates per tier (imports, user permission templates, limits), the
 *             platform accounts' limits and exports
 *   jetstream streams' and consumers' limits, subjects, purge/delete rights
 *   clickhouse users (networks, grants, profile, quota), settings profiles and their constraints,
 *             quotas, access-control settings, and the migration's access SQL (roles, row policies,
 *             grants, quotas, profiles)
 *   netpol    every NetworkPolicy rule as `namespace/name [pods] from → to : ports`
 *   sg        every security-group opening (inline rules and rule resources)
 *   iam       every IAM statement with a wildcard in Action, Resource or Principal
 *   gateway   every gateway route (host, path, backend, auth plugin) and the gate plugins' limits per tier
 *   scaling   KEDA ScaledObject and HPA replica bounds
 *   quota     ResourceQuotas and LimitRanges of the namespaces
 *
 * One home: `npm run diff` prints this surface's diff first (render.ts), and
 * test/surface.test.ts keeps one snapshot file per environment (test/surface/<env>.txt), so a
 * change to isolation or a limit is a small diff of the lines that changed. The classifier
 * (classify.ts) still lists every changed property with a policy impact; this is the part of
 * the picture a reviewer reads whole.
 */
import { PREVIEW_TENANT } from "../../services/nats-auth/tenant-accounts.js";

/** What the surface reads of one stack: its resources (cdktf's `cdk.tf.json`). */
export interface SurfaceStack {
  readonly name: string;
  readonly json: { readonly resource?: Record<string, Record<string, Record<string, unknown>>> };
}

export const SURFACE_SECTIONS = ["nats", "jetstream", "clickhouse", "netpol", "sg", "iam", "gateway", "scaling", "quota"] as const;
export type SurfaceSection = (typeof SURFACE_SECTIONS)[number];

const SECTION_TITLES: Readonly<Record<SurfaceSection, string>> = {
  nats: "NATS accounts, user permission templates and limits",
  jetstream: "JetStream streams and consumers",
  clickhouse: "ClickHouse users, grants, row policies, settings profiles and quotas",
  netpol: "NetworkPolicies (from → to : ports)",
  sg: "Security-group openings",
  iam: "IAM statements with wildcards",
  gateway: "Gateway routes and per-tier limits",
  scaling: "Replica caps (KEDA, HPA)",
  quota: "ResourceQuotas and LimitRanges",
};

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** A value on one line: strings bare, the rest as JSON with sorted keys. */
function show(v: unknown): string {
  if (typeof v === "string") return v;
  return JSON.stringify(sortKeys(v));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isObject(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  return v;
}

/** `${aws_security_group.keycloak_security-group_C1FC6925.id}` → `aws_security_group.keycloak_security-group`; remote state outputs → `remote:<what>`. */
function reference(v: string): string {
  return v
    .replace(/\$\{data\.terraform_remote_state\.[^.}]+\.outputs\.cross-stack-output-([^}]+)\}/g, (_m, out: string) => `\${remote:${out.replace(/_[0-9A-F]{8}/g, "")}}`)
    .replace(/\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+?)_[0-9A-F]{8}\.([a-z_]+)\}/g, "${$1.$2.$3}");
}

/** Resources of a type, with their cdktf construct path (`prod-platform/kong/netpol-allow-dns`) when recorded. */
function resources(stack: SurfaceStack, type: string): Array<{ id: string; body: Json; path: string }> {
  const of = stack.json.resource?.[type] ?? {};
  return Object.entries(of).map(([id, body]) => {
    const meta = (body["//"] as { metadata?: { path?: string } } | undefined)?.metadata;
    return { id, body, path: meta?.path ?? id };
  });
}

function manifests(stack: SurfaceStack, kind: string): Json[] {
  return resources(stack, "kubernetes_manifest")
    .map((r) => r.body["manifest"])
    .filter((m): m is Json => isObject(m) && m["kind"] === kind);
}

function nameOf(meta: unknown): string {
  if (!isObject(meta)) return "?";
  return meta["namespace"] ? `${String(meta["namespace"])}/${String(meta["name"])}` : String(meta["name"]);
}

// ---- NATS ------------------------------------------------------------------------------------

/** The preview tenant's id in a template stands for every tenant. */
function templated(v: unknown): unknown {
  const id = PREVIEW_TENANT.tenantId;
  if (typeof v === "string") return v.split(id).join("{tenant}");
  if (Array.isArray(v)) return v.map(templated);
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, templated(x)]));
  return v;
}

function natsFacts(stack: SurfaceStack, out: string[]): void {
  for (const cm of manifests(stack, "ConfigMap")) {
    const data = cm["data"];
    if (!isObject(data)) continue;
    for (const [file, text] of Object.entries(data)) {
      const m = /^(account-(.+)|tenant-account-(.+))\.json$/.exec(file);
      if (!m || typeof text !== "string") continue;
      let claims: Json;
      try {
        claims = JSON.parse(text) as Json;
      } catch {
        continue;
      }
      const nats = claims["nats"];
      if (!isObject(nats)) continue;
      const who = m[2] !== undefined ? `account ${m[2]}` : `tier ${m[3]} tenant account`;
      const n = templated(nats) as Json;
      for (const [k, v] of Object.entries(isObject(n["limits"]) ? n["limits"] : {})) out.push(`nats ${who} limit ${k} = ${show(v)}`);
      for (const e of Array.isArray(n["exports"]) ? n["exports"] : []) {
        if (!isObject(e)) continue;
        out.push(`nats ${who} export ${String(e["name"] ?? "")} ${String(e["type"] ?? "")} ${String(e["subject"] ?? "")}${e["token_req"] ? " token_req" : ""}${e["response_type"] ? ` response=${String(e["response_type"])}` : ""}`);
      }
      for (const i of Array.isArray(n["imports"]) ? n["imports"] : []) {
        if (!isObject(i)) continue;
        out.push(`nats ${who} import ${String(i["name"] ?? "")} ${String(i["type"] ?? "")} ${String(i["subject"] ?? "")}${i["to"] ? ` → ${String(i["to"])}` : ""}${i["token"] ? " (activation token)" : ""}`);
      }
      for (const key of Array.isArray(n["signing_keys"]) ? n["signing_keys"] : []) {
        if (!isObject(key) || !isObject(key["template"])) continue;
        const role = String(key["role"] ?? "");
        const t = key["template"];
        for (const dir of ["pub", "sub"] as const) {
          const p = t[dir];
          if (!isObject(p)) continue;
          for (const effect of ["allow", "deny"] as const) for (const s of Array.isArray(p[effect]) ? p[effect] : []) out.push(`nats ${who} user(${role}) ${dir} ${effect} ${String(s)}`);
        }
        if (isObject(t["resp"])) out.push(`nats ${who} user(${role}) resp = ${show(t["resp"])}`);
        for (const [k, v] of Object.entries(t)) if (!["pub", "sub", "resp"].includes(k)) out.push(`nats ${who} user(${role}) ${k} = ${show(v)}`);
      }
    }
  }
}

const STREAM_KEYS = ["subjects", "retention", "storage", "replicas", "maxBytes", "maxAge", "maxMsgs", "maxMsgSize", "maxMsgsPerSubject", "maxConsumers", "discard", "discardPerSubject", "denyDelete", "denyPurge", "allowRollup", "duplicateWindow", "subjectTransform", "preventDelete", "preventUpdate"];
const CONSUMER_KEYS = ["streamName", "filterSubject", "filterSubjects", "ackPolicy", "ackWait", "maxAckPending", "maxDeliver", "deliverPolicy", "preventDelete"];

function jetstreamFacts(stack: SurfaceStack, out: string[]): void {
  for (const s of manifests(stack, "Stream")) {
    const spec = isObject(s["spec"]) ? s["spec"] : {};
    for (const k of STREAM_KEYS) if (spec[k] !== undefined) out.push(`jetstream stream ${String(spec["name"])} ${k} = ${show(spec[k])}`);
  }
  for (const c of manifests(stack, "Consumer")) {
    const spec = isObject(c["spec"]) ? c["spec"] : {};
    for (const k of CONSUMER_KEYS) if (spec[k] !== undefined) out.push(`jetstream consumer ${String(spec["durableName"])} ${k} = ${show(spec[k])}`);
  }
}

// ---- ClickHouse ------------------------------------------------------------------------------

const SQL_ACCESS = /^\s*(CREATE|ALTER|DROP)\s+(OR\s+REPLACE\s+)?(USER|ROLE|ROW\s+POLICY|POLICY|QUOTA|SETTINGS\s+PROFILE|PROFILE)\b|^\s*(GRANT|REVOKE)\b/i;

function clickhouseFacts(stack: SurfaceStack, out: string[]): void {
  for (const chi of manifests(stack, "ClickHouseInstallation")) {
    const conf = isObject(chi["spec"]) && isObject(chi["spec"]["configuration"]) ? chi["spec"]["configuration"] : {};
    for (const [section, label] of [["users", "user"], ["profiles", "profile"], ["quotas", "quota"], ["settings", "setting"]] as const) {
      const entries = isObject(conf[section]) ? conf[section] : {};
      for (const [key, value] of Object.entries(entries)) {
        if (/\/password(_sha256_hex)?$/.test(key)) continue; // where a secret comes from is not a permission
        const values = Array.isArray(value) ? value : [value];
        for (const v of values) out.push(`clickhouse ${label} ${key} = ${show(v)}`);
      }
    }
  }
  for (const type of ["kubernetes_config_map_v1", "kubernetes_config_map"]) {
    for (const { body } of resources(stack, type)) {
      const data = isObject(body["data"]) ? body["data"] : {};
      for (const [file, text] of Object.entries(data)) {
        if (!file.endsWith(".sql") || typeof text !== "string") continue;
        for (const statement of text.split(/;\s*(?:\n|$)/)) {
          const oneLine = statement.replace(/--[^\n]*/g, "").replace(/\s+/g, " ").trim();
          if (SQL_ACCESS.test(oneLine)) out.push(`clickhouse sql ${oneLine}`);
        }
      }
    }
  }
}

// ---- NetworkPolicies -------------------------------------------------------------------------

function selector(s: unknown): string {
  if (!isObject(s)) return "";
  const labels = isObject(s["match_labels"]) ? s["match_labels"] : isObject(s["matchLabels"]) ? s["matchLabels"] : {};
  const parts = Object.keys(labels).sort().map((k) => `${k}=${String(labels[k])}`);
  const exprs = Array.isArray(s["match_expressions"]) ? s["match_expressions"] : Array.isArray(s["matchExpressions"]) ? s["matchExpressions"] : [];
  for (const e of exprs) if (isObject(e)) parts.push(`${String(e["key"])} ${String(e["operator"])} ${show(e["values"] ?? [])}`);
  return parts.join(",");
}

function peer(p: unknown, namespace: string): string {
  if (!isObject(p)) return "?";
  const ipBlock = p["ip_block"] ?? p["ipBlock"];
  if (isObject(ipBlock)) {
    const except = ipBlock["except"];
    return `${String(ipBlock["cidr"])}${Array.isArray(except) && except.length > 0 ? ` except ${except.join(",")}` : ""}`;
  }
  const ns = p["namespace_selector"] ?? p["namespaceSelector"];
  const pods = p["pod_selector"] ?? p["podSelector"];
  const nsText = ns === undefined ? `ns ${namespace}` : selector(ns) === "" ? "any namespace" : `ns[${selector(ns)}]`;
  const podText = pods === undefined || selector(pods) === "" ? "any pod" : `pods[${selector(pods)}]`;
  return `${nsText} ${podText}`.replace(/^ns\[kubernetes\.io\/metadata\.name=([^\],]+)\]/, "ns $1");
}

function ports(list: unknown): string {
  if (!Array.isArray(list) || list.length === 0) return "any port";
  return list
    .map((p) => (isObject(p) ? `${p["port"] === undefined ? "any" : String(p["port"])}${p["end_port"] ?? p["endPort"] ? `-${String(p["end_port"] ?? p["endPort"])}` : ""}/${String(p["protocol"] ?? "TCP")}` : "?"))
    .sort()
    .join(",");
}

function networkPolicyFacts(stack: SurfaceStack, out: string[]): void {
  const policies: Json[] = [];
  for (const type of ["kubernetes_network_policy_v1", "kubernetes_network_policy"]) for (const { body } of resources(stack, type)) policies.push(body);
  for (const m of manifests(stack, "NetworkPolicy")) policies.push({ metadata: m["metadata"], spec: m["spec"] });
  for (const np of policies) {
    const meta = isObject(np["metadata"]) ? np["metadata"] : {};
    const namespace = String(meta["namespace"] ?? "default");
    const spec = isObject(np["spec"]) ? np["spec"] : {};
    const pods = selector(spec["pod_selector"] ?? spec["podSelector"]);
    const head = `netpol ${nameOf(meta)} [${pods === "" ? "all pods" : pods}]`;
    const types = (Array.isArray(spec["policy_types"]) ? spec["policy_types"] : Array.isArray(spec["policyTypes"]) ? spec["policyTypes"] : []) as string[];
    const ingress = Array.isArray(spec["ingress"]) ? spec["ingress"] : [];
    const egress = Array.isArray(spec["egress"]) ? spec["egress"] : [];
    if (types.includes("Ingress") && ingress.length === 0) out.push(`${head} ingress: deny all`);
    if (types.includes("Egress") && egress.length === 0) out.push(`${head} egress: deny all`);
    for (const rule of ingress) {
      if (!isObject(rule)) continue;
      const from = Array.isArray(rule["from"]) && rule["from"].length > 0 ? rule["from"] : [undefined];
      for (const f of from) out.push(`${head} ingress from ${f === undefined ? "anywhere" : peer(f, namespace)} : ${ports(rule["ports"])}`);
    }
    for (const rule of egress) {
      if (!isObject(rule)) continue;
      const to = Array.isArray(rule["to"]) && rule["to"].length > 0 ? rule["to"] : [undefined];
      for (const t of to) out.push(`${head} egress to ${t === undefined ? "anywhere" : peer(t, namespace)} : ${ports(rule["ports"])}`);
    }
  }
}

// ---- security groups -------------------------------------------------------------------------

function portRange(from: unknown, to: unknown, protocol: unknown): string {
  const proto = String(protocol ?? "");
  if (proto === "-1" || proto === "all") return "all traffic";
  return from === to || to === undefined ? `${proto}/${String(from)}` : `${proto}/${String(from)}-${String(to)}`;
}

function securityGroupFacts(stack: SurfaceStack, out: string[]): void {
  const groupName = (ref: unknown): string => (typeof ref === "string" ? reference(ref) : "?");
  for (const type of ["aws_security_group", "aws_default_security_group"]) {
    for (const { body } of resources(stack, type)) {
      const name = String(body["name"] ?? (isObject(body["tags"]) ? body["tags"]["Name"] : "") ?? "?");
      for (const dir of ["ingress", "egress"] as const) {
        const rules = Array.isArray(body[dir]) ? body[dir] : [];
        if (type === "aws_default_security_group" && rules.length === 0) out.push(`sg ${name} (default) ${dir}: none`);
        for (const r of rules) {
          if (!isObject(r)) continue;
          const sources = [...((r["cidr_blocks"] as string[] | null) ?? []), ...((r["ipv6_cidr_blocks"] as string[] | null) ?? []), ...((r["security_groups"] as string[] | null) ?? []).map(groupName), ...(r["self"] ? ["self"] : [])];
          for (const s of sources.length > 0 ? sources : ["(none)"]) out.push(`sg ${name} ${dir} ${portRange(r["from_port"], r["to_port"], r["protocol"])} ${dir === "ingress" ? "from" : "to"} ${reference(s)}`);
        }
      }
    }
  }
  for (const dir of ["ingress", "egress"] as const) {
    for (const { body } of resources(stack, `aws_vpc_security_group_${dir}_rule`)) {
      const other = body["cidr_ipv4"] ?? body["cidr_ipv6"] ?? body["referenced_security_group_id"] ?? body["prefix_list_id"];
      out.push(`sg ${groupName(body["security_group_id"])} ${dir} ${portRange(body["from_port"], body["to_port"], body["ip_protocol"])} ${dir === "ingress" ? "from" : "to"} ${reference(String(other))}`);
    }
  }
  for (const { body } of resources(stack, "aws_security_group_rule")) {
    const sources = [...((body["cidr_blocks"] as string[] | undefined) ?? []), ...(body["source_security_group_id"] ? [groupName(body["source_security_group_id"])] : [])];
    for (const s of sources) out.push(`sg ${groupName(body["security_group_id"])} ${String(body["type"])} ${portRange(body["from_port"], body["to_port"], body["protocol"])} ${body["type"] === "ingress" ? "from" : "to"} ${reference(s)}`);
  }
}

// ---- IAM -------------------------------------------------------------------------------------

function hasWildcard(v: unknown): boolean {
  if (typeof v === "string") return v.includes("*");
  if (Array.isArray(v)) return v.some(hasWildcard);
  if (isObject(v)) return Object.values(v).some(hasWildcard);
  return false;
}

function iamFacts(stack: SurfaceStack, out: string[]): void {
  const documents: Array<{ where: string; text: unknown }> = [];
  for (const { body, path } of resources(stack, "aws_iam_role_policy")) documents.push({ where: `role ${reference(String(body["role"]))} policy ${String(body["name"] ?? path)}`, text: body["policy"] });
  for (const { body, path } of resources(stack, "aws_iam_policy")) documents.push({ where: `policy ${String(body["name"] ?? path)}`, text: body["policy"] });
  for (const { body, path } of resources(stack, "aws_iam_role")) documents.push({ where: `role ${reference(String(body["name"] ?? path))} trust`, text: body["assume_role_policy"] });
  for (const type of ["aws_s3_bucket_policy", "aws_kms_key", "aws_secretsmanager_secret_policy", "aws_ecr_repository_policy"]) {
    for (const { body, path } of resources(stack, type)) if (body["policy"] !== undefined) documents.push({ where: `${type.replace(/^aws_/, "")} ${path.split("/").slice(1).join("/")}`, text: body["policy"] });
  }
  for (const { where, text } of documents) {
    if (typeof text !== "string") continue;
    let doc: Json;
    try {
      doc = JSON.parse(text) as Json;
    } catch {
      continue; // a Terraform expression, not a document
    }
    const statements = Array.isArray(doc["Statement"]) ? doc["Statement"] : [doc["Statement"]];
    for (const s of statements) {
      if (!isObject(s)) continue;
      const wild = ["Action", "NotAction", "Resource", "NotResource", "Principal"].filter((k) => hasWildcard(s[k]));
      if (wild.length === 0) continue;
      const fields = ["Action", "NotAction", "Resource", "NotResource", "Principal", "Condition"].filter((k) => s[k] !== undefined).map((k) => `${k}=${reference(show(s[k]))}`);
      out.push(`iam ${where} ${String(s["Effect"] ?? "Allow")}${s["Sid"] ? ` ${String(s["Sid"])}` : ""}: ${fields.join(" ")}`);
    }
  }
}

// ---- gateway ---------------------------------------------------------------------------------

const GATE_LIMIT_KEYS = ["second", "minute", "hour", "day", "month", "max_body_kib"];

function gatewayFacts(stack: SurfaceStack, out: string[]): void {
  for (const type of ["kubernetes_ingress_v1", "kubernetes_ingress"]) {
    for (const { body } of resources(stack, type)) {
      const meta = isObject(body["metadata"]) ? body["metadata"] : {};
      const annotations = isObject(meta["annotations"]) ? meta["annotations"] : {};
      const auth = String(annotations["konghq.com/plugins"] ?? "none");
      const priority = annotations["konghq.com/regex-priority"] !== undefined ? ` priority ${String(annotations["konghq.com/regex-priority"])}` : "";
      const spec = isObject(body["spec"]) ? body["spec"] : {};
      for (const rule of Array.isArray(spec["rule"]) ? spec["rule"] : []) {
        if (!isObject(rule) || !isObject(rule["http"])) continue;
        for (const p of Array.isArray(rule["http"]["path"]) ? rule["http"]["path"] : []) {
          if (!isObject(p)) continue;
          const svc = isObject(p["backend"]) && isObject(p["backend"]["service"]) ? p["backend"]["service"] : {};
          const port = isObject(svc["port"]) ? (svc["port"]["number"] ?? svc["port"]["name"]) : "?";
          out.push(`gateway route ${String(rule["host"] ?? "*")} ${String(p["path"])} → ${String(meta["namespace"] ?? "")}/${String(svc["name"])}:${String(port)} plugins=${auth}${priority}`);
        }
      }
    }
  }
  for (const kind of ["KongClusterPlugin", "KongPlugin"]) {
    for (const plugin of manifests(stack, kind)) {
      const name = String(isObject(plugin["metadata"]) ? plugin["metadata"]["name"] : "?");
      const config = isObject(plugin["config"]) ? plugin["config"] : {};
      const global = isObject(plugin["metadata"]) && isObject(plugin["metadata"]["labels"]) && plugin["metadata"]["labels"]["global"] === "true";
      out.push(`gateway plugin ${name} = ${String(plugin["plugin"])}${global ? " (global)" : ""}`);
      if (config["mode"] !== undefined) out.push(`gateway plugin ${name} mode = ${show(config["mode"])} audience = ${show(config["audience"])} algorithms = ${show(config["algorithms"])}`);
      for (const k of ["roles", "required_realm_roles", "max_lifetime_seconds", "allowed_payload_size"]) if (config[k] !== undefined) out.push(`gateway plugin ${name} ${k} = ${show(config[k])}`);
      const tiers = isObject(config["tiers"]) ? config["tiers"] : {};
      for (const [tier, limits] of Object.entries(tiers)) {
        if (!isObject(limits)) continue;
        for (const k of GATE_LIMIT_KEYS) if (limits[k] !== undefined) out.push(`gateway plugin ${name} tier ${tier} ${k} = ${show(limits[k])}`);
      }
      for (const k of ["second", "minute", "hour", "day"]) if (config[k] !== undefined) out.push(`gateway plugin ${name} ${k} = ${show(config[k])}`);
    }
  }
}

// ---- scaling and quotas ----------------------------------------------------------------------

function scalingFacts(stack: SurfaceStack, out: string[]): void {
  for (const so of manifests(stack, "ScaledObject")) {
    const spec = isObject(so["spec"]) ? so["spec"] : {};
    out.push(`scaling keda ${nameOf(so["metadata"])} replicas ${String(spec["minReplicaCount"] ?? 0)}..${String(spec["maxReplicaCount"] ?? 100)}`);
    for (const t of Array.isArray(spec["triggers"]) ? spec["triggers"] : []) {
      if (isObject(t) && isObject(t["metadata"]) && t["metadata"]["lagThreshold"] !== undefined) out.push(`scaling keda ${nameOf(so["metadata"])} ${String(t["type"])} lagThreshold = ${String(t["metadata"]["lagThreshold"])}`);
    }
  }
  for (const hpa of manifests(stack, "HorizontalPodAutoscaler")) {
    const spec = isObject(hpa["spec"]) ? hpa["spec"] : {};
    out.push(`scaling hpa ${nameOf(hpa["metadata"])} replicas ${String(spec["minReplicas"] ?? 1)}..${String(spec["maxReplicas"])}`);
  }
}

function quotaFacts(stack: SurfaceStack, out: string[]): void {
  for (const type of ["kubernetes_resource_quota_v1", "kubernetes_resource_quota"]) {
    for (const { body } of resources(stack, type)) {
      const hard = isObject(body["spec"]) && isObject(body["spec"]["hard"]) ? body["spec"]["hard"] : {};
      for (const [k, v] of Object.entries(hard)) out.push(`quota ${nameOf(body["metadata"])} ${k} = ${show(v)}`);
    }
  }
  for (const type of ["kubernetes_limit_range_v1", "kubernetes_limit_range"]) {
    for (const { body } of resources(stack, type)) {
      const limits = isObject(body["spec"]) && Array.isArray(body["spec"]["limit"]) ? body["spec"]["limit"] : [];
      for (const l of limits) {
        if (!isObject(l)) continue;
        for (const k of ["default", "default_request", "max", "min"]) if (isObject(l[k])) for (const [r, v] of Object.entries(l[k])) out.push(`quota limitrange ${nameOf(body["metadata"])} ${String(l["type"])} ${k} ${r} = ${show(v)}`);
      }
    }
  }
}

const EXTRACTORS: Readonly<Record<SurfaceSection, (stack: SurfaceStack, out: string[]) => void>> = {
  nats: natsFacts,
  jetstream: jetstreamFacts,
  clickhouse: clickhouseFacts,
  netpol: networkPolicyFacts,
  sg: securityGroupFacts,
  iam: iamFacts,
  gateway: gatewayFacts,
  scaling: scalingFacts,
  quota: quotaFacts,
};

/** Every fact of some stacks (one environment's), by section, each section sorted and without duplicates. */
export function surfaceFacts(stacks: readonly SurfaceStack[]): Record<SurfaceSection, string[]> {
  const facts = {} as Record<SurfaceSection, string[]>;
  for (const section of SURFACE_SECTIONS) {
    const out: string[] = [];
    for (const stack of stacks) EXTRACTORS[section](stack, out);
    facts[section] = [...new Set(out.map((l) => l.replace(/\s+/g, " ").trim()))].sort();
  }
  return facts;
}

/** The surface as the text a person reads (and the snapshot stores): a header per section, one fact per line. */
export function renderSurface(environment: string, stacks: readonly SurfaceStack[]): string {
  const facts = surfaceFacts(stacks);
  const lines = [`# Isolation and rate-limit surface of ${environment} (${stacks.map((s) => s.name).sort().join(", ")})`, "# Generated from the synthesized Terraform JSON by stacks/diff/surface.ts: one fact per line, sorted."];
  for (const section of SURFACE_SECTIONS) {
    lines.push("", `## ${SECTION_TITLES[section]} (${facts[section].length})`, ...facts[section]);
  }
  return `${lines.join("\n")}\n`;
}

/** The environment a stack belongs to: `prod-workloads` → `prod`. */
export function environmentOfStack(stack: string): string {
  const dash = stack.lastIndexOf("-");
  return dash > 0 ? stack.slice(0, dash) : stack;
}

/** Lines removed and added between two renderings (order kept; a line counts as many times as it occurs). */
export function surfaceLineDiff(before: string, after: string): { removed: string[]; added: string[] } {
  const count = (text: string) => {
    const m = new Map<string, number>();
    for (const l of text.split("\n")) if (l !== "" && !l.startsWith("#")) m.set(l, (m.get(l) ?? 0) + 1);
    return m;
  };
  const b = count(before);
  const a = count(after);
  const removed: string[] = [];
  const added: string[] = [];
  for (const [l, n] of b) for (let i = a.get(l) ?? 0; i < n; i++) removed.push(l);
  for (const [l, n] of a) for (let i = b.get(l) ?? 0; i < n; i++) added.push(l);
  return { removed: removed.sort(), added: added.sort() };
}

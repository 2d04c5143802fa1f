/**
 * The events API's workload, synthesized: its Deployment, Service, autoscaler, disruption budget,
 * ServiceAccount and role, the tier readers' passwords, its NetworkPolicy and its dashboard (the
 * construct alone), and the same in every environment's workloads stack with the replica bounds of
 * the environment's `eventsApi` section.
 */
import { readdirSync, readFileSync } from "node:fs";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider/index.js";
import { TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, loadEnvironment, PLAN_TIER_NAMES, RAW_ENVIRONMENTS, validateEnvironment } from "../config/index.js";
import { clickhouseSecrets } from "../constructs/clickhouse/index.js";
import { ValidationError } from "../constructs/core/validation.js";
import { EventsApi, EVENTS_API_ENDPOINT, EVENTS_API_METRIC_NAMES, type EventsApiProps } from "../constructs/events-api/index.js";
import { evaluateStack } from "../constructs/policy/index.js";
import { readerUserName } from "../services/clickhouse-schema/index.js";
import { EVENTS_API_ENV_VARS, EVENTS_API_HTTP_PATHS, EVENTS_API_METRIC_LABELS, EVENTS_API_READER_ENV } from "../services/events-api/contract.js";
import { runtimeImports } from "./support/imports.js";
import { resourcesOf, stackOf, synthApp } from "./support/synth.js";

const ACCOUNT_ID = "123456789012";
const REGION = "eu-west-1";
const IMAGE = "images.example.internal/enchanted/events-api:1.4.2";
const FDB_CIDR = "10.200.0.0/16";
const PRIVATE_CIDRS = ["10.0.0.0/19", "10.0.32.0/19"];
const TENANT_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555";
const CLICKHOUSE_PREFIX = "enchanted/dev/clickhouse";
const PROVISIONING_LABELS = { "app.kubernetes.io/name": "provisioning", "app.kubernetes.io/part-of": "enchanted" };

const readers = Object.fromEntries(PLAN_TIER_NAMES.map((tier) => [tier, { username: readerUserName(tier), ...clickhouseSecrets(CLICKHOUSE_PREFIX).readers[tier] }])) as EventsApiProps["clickhouse"]["readers"];

const baseProps: EventsApiProps = {
  image: IMAGE,
  name: "enchanted-dev",
  accountId: ACCOUNT_ID,
  region: REGION,
  clusterName: "enchanted-dev",
  secretStore: { storeName: "aws-secrets-manager", storeKind: "ClusterSecretStore" },
  clickhouse: { url: "http://clickhouse-events.clickhouse.svc.cluster.local:8123", readers },
  provisioning: { url: "http://provisioning.platform.svc.cluster.local:8080", peer: { namespace: "platform", podLabels: PROVISIONING_LABELS }, port: 8080 },
  tokenIssuer: "https://api.example.com",
  dataKeys: {
    tenantKey: { keyArn: TENANT_KEY_ARN, aliasName: "alias/enchanted-dev-tenant-data-keys" },
    foundationDb: { destinationCidrs: [FDB_CIDR], ports: [4500, 4501], clusterFileNamespaces: ["platform"] },
    kmsEndpointCidrs: PRIVATE_CIDRS,
  },
  metricsScraper: { namespace: "monitoring", podLabels: { "app.kubernetes.io/name": "prometheus" } },
  minReplicas: 3,
  maxReplicas: 12,
};

// Synthesized JSON, navigated freely; the assertions give it its shape.
type Obj = Record<string, any>;

function synth(props: EventsApiProps = baseProps) {
  let policyFindings: readonly { ruleId: string; suppressed?: string }[] = [];
  const stacks = synthApp((app) => {
    const stack = new TerraformStack(app, "test");
    new AwsProvider(stack, "aws", { region: REGION });
    new KubernetesProvider(stack, "k8s", {});
    new EventsApi(stack, "events-api", props);
    policyFindings = evaluateStack(stack);
  });
  const stack = stacks["test"];
  if (!stack) throw new Error("stack not synthesized");
  const resources = Object.entries(resourcesOf(stack, "kubernetes_manifest")).map(([id, r]) => ({ id, resource: r as Obj, manifest: r.manifest as Obj }));
  const manifests = resources.map((r) => r.manifest);
  const byKind = (kind: string): Obj[] => manifests.filter((m) => m.kind === kind);
  const one = (kind: string): Obj => {
    const found = byKind(kind);
    expect(found, kind).toHaveLength(1);
    return found[0] as Obj;
  };
  const networkPolicies = Object.values(resourcesOf(stack, "kubernetes_network_policy_v1")) as Obj[];
  const policies = Object.values(resourcesOf(stack, "aws_iam_role_policy")).map((p) => ({ role: p.role as string, doc: JSON.parse(p.policy as string) as Obj }));
  const roles = Object.entries(resourcesOf(stack, "aws_iam_role")).map(([id, r]) => ({ id, name: r.name as string, trust: JSON.parse(r.assume_role_policy as string) as Obj }));
  return { stack, resources, manifests, byKind, one, networkPolicies, policies, roles, policyFindings };
}

const out = synth();
const deployment = out.one("Deployment");
const pod = deployment.spec.template.spec as Obj;
const container = pod.containers[0] as Obj;
const env = new Map((container.env as Obj[]).map((e) => [e.name as string, e]));
const value = (name: string) => env.get(name)?.value as string | undefined;
const volumes = new Map((pod.volumes as Obj[]).map((v) => [v.name as string, v]));
const mounts = new Map((container.volumeMounts as Obj[]).map((m) => [m.name as string, m]));

describe("EventsApi", () => {
  it("passes the policy pack", () => {
    expect(out.policyFindings.filter((f) => f.suppressed === undefined)).toEqual([]);
  });

  it("runs non-root with a read-only root filesystem, every capability dropped, its own ServiceAccount and no API token", () => {
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe("events-api");
    expect(out.one("ServiceAccount")).toMatchObject({ metadata: { name: "events-api", namespace: "platform" }, automountServiceAccountToken: false });
    expect(container.image).toBe(IMAGE);
    expect(mounts.get("tmp")?.mountPath).toBe("/tmp");
  });

  it("probes the contract's paths on its port, requests resources, spreads over zones and nodes", () => {
    expect(container.ports).toEqual([{ name: "http", containerPort: EVENTS_API_ENDPOINT.port, protocol: "TCP" }]);
    expect(container.startupProbe.httpGet).toEqual({ path: EVENTS_API_HTTP_PATHS.health, port: "http" });
    expect(container.livenessProbe.httpGet).toEqual({ path: EVENTS_API_HTTP_PATHS.health, port: "http" });
    expect(container.readinessProbe.httpGet).toEqual({ path: EVENTS_API_HTTP_PATHS.ready, port: "http" });
    expect(deployment.spec.template.metadata.annotations).toEqual({ "prometheus.io/scrape": "true", "prometheus.io/port": String(EVENTS_API_ENDPOINT.port), "prometheus.io/path": EVENTS_API_HTTP_PATHS.metrics });
    expect(container.resources).toEqual({ requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "512Mi" } });
    expect(value("NODE_OPTIONS")).toBe("--max-old-space-size=358");
    expect((pod.topologySpreadConstraints as Obj[]).map((s) => s.topologyKey)).toEqual(["topology.kubernetes.io/zone", "kubernetes.io/hostname"]);
    expect(Number(value("EVENTS_API_SHUTDOWN_TIMEOUT_MS")) / 1000).toBeLessThan(pod.terminationGracePeriodSeconds as number);
  });

  it("is the Service the gateway's events Ingress resolves to", () => {
    const service = out.one("Service");
    expect(service.metadata).toMatchObject({ name: EVENTS_API_ENDPOINT.service, namespace: EVENTS_API_ENDPOINT.namespace });
    expect(service.spec.ports).toEqual([{ name: "http", port: EVENTS_API_ENDPOINT.port, targetPort: "http", protocol: "TCP" }]);
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.metadata.namespace).toBe(EVENTS_API_ENDPOINT.namespace);
  });

  it("sets only variables of the service's contract: every tier's reader, the token issuer and the provisioning service's key set, the data keys; no literal secret", () => {
    const known = new Set<string>(EVENTS_API_ENV_VARS);
    for (const name of env.keys()) if (name !== "NODE_OPTIONS") expect(known, name).toContain(name);
    expect(value("EVENTS_API_HTTP_PORT")).toBe(String(EVENTS_API_ENDPOINT.port));
    expect(value("EVENTS_API_LOG_LEVEL")).toBe("info");
    expect(value("EVENTS_API_CLICKHOUSE_URL")).toBe("http://clickhouse-events.clickhouse.svc.cluster.local:8123");
    for (const tier of PLAN_TIER_NAMES) {
      expect(value(EVENTS_API_READER_ENV[tier].user)).toBe(readerUserName(tier));
      expect(value(EVENTS_API_READER_ENV[tier].passwordFile)).toBe(`/var/run/secrets/clickhouse-${tier}/password`);
    }
    expect(value("EVENTS_API_QUERY_TIMEOUT_MS")).toBe("30000");
    expect(value("EVENTS_API_TOKEN_ISSUER")).toBe("https://api.example.com");
    expect(value("EVENTS_API_JWKS_URL")).toBe("http://provisioning.platform.svc.cluster.local:8080/.well-known/jwks.json");
    expect(value("EVENTS_API_PROVISIONING_URL")).toBe("http://provisioning.platform.svc.cluster.local:8080");
    expect(value("EVENTS_API_FDB_CLUSTER_FILE")).toBe("/var/run/secrets/foundationdb/fdb.cluster");
    expect(value("EVENTS_API_KMS_KEY_ID")).toBe(TENANT_KEY_ARN);
    expect(value("EVENTS_API_AWS_REGION")).toBe(REGION);
    expect(value("EVENTS_API_SHUTDOWN_TIMEOUT_MS")).toBe("15000");
    // Never the development-only stores.
    expect(env.has("EVENTS_API_LMDB_PATH")).toBe(false);
    expect(env.has("EVENTS_API_LOCAL_KEK_FILE")).toBe(false);
    for (const e of env.values()) expect(e.valueFrom, e.name as string).toBeUndefined();
    expect(out.stack.text).not.toMatch(/"kind": "Secret"|stringData/);
  });

  it("syncs every tier reader's password from its Secrets Manager secret and mounts each as a file; the pods wait for them", () => {
    const deploymentResource = out.resources.find((r) => r.manifest.kind === "Deployment")?.resource as Obj;
    for (const tier of PLAN_TIER_NAMES) {
      const secret = clickhouseSecrets(CLICKHOUSE_PREFIX).readers[tier];
      const sync = out.resources.find((r) => r.manifest.kind === "ExternalSecret" && r.manifest.metadata.name === secret.secretName);
      expect(sync?.manifest.metadata.namespace).toBe("platform");
      expect(sync?.manifest.spec.secretStoreRef).toEqual({ name: "aws-secrets-manager", kind: "ClusterSecretStore" });
      expect(sync?.manifest.spec.data).toEqual([{ secretKey: "password", remoteRef: { key: `${CLICKHOUSE_PREFIX}/reader-${tier}-password` } }]);
      expect(sync?.resource.wait).toEqual({ condition: [{ type: "Ready", status: "True" }] });
      expect(deploymentResource.depends_on).toContain(`kubernetes_manifest.${sync?.id}`);
      expect(volumes.get(`clickhouse-${tier}`)?.secret).toEqual({ secretName: secret.secretName, defaultMode: 0o440, items: [{ key: "password", path: "password" }] });
      expect(mounts.get(`clickhouse-${tier}`)).toEqual({ name: `clickhouse-${tier}`, mountPath: `/var/run/secrets/clickhouse-${tier}`, readOnly: true });
    }
    expect(volumes.get("foundationdb")?.secret).toEqual({ secretName: "foundationdb-cluster-file", defaultMode: 0o440, items: [{ key: "fdb.cluster", path: "fdb.cluster" }] });
    expect(out.byKind("ExternalSecret")).toHaveLength(PLAN_TIER_NAMES.length);
  });

  it("gives the pod's role kms:Decrypt on the tenant-key CMK only for a tenant's key (context tenant_id alone), through Pod Identity", () => {
    expect(out.roles).toHaveLength(1);
    const role = out.roles[0] as { id: string; name: string; trust: Obj };
    expect(role.name).toBe("enchanted-dev-events-api");
    expect(role.trust.Statement).toEqual([
      { Effect: "Allow", Principal: { Service: "pods.eks.amazonaws.com" }, Action: ["sts:AssumeRole", "sts:TagSession"], Condition: { StringEquals: { "aws:SourceAccount": ACCOUNT_ID } } },
    ]);
    expect(out.policies).toHaveLength(1);
    expect(out.policies[0]?.role).toBe(`\${aws_iam_role.${role.id}.name}`);
    expect(out.policies[0]?.doc.Statement).toEqual([
      {
        Sid: "UnwrapTenantDataKeys",
        Effect: "Allow",
        Action: ["kms:Decrypt"],
        Resource: TENANT_KEY_ARN,
        Condition: { "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": ["tenant_id"] }, Null: { "kms:EncryptionContext:tenant_id": "false" } },
      },
    ]);
    expect(Object.values(resourcesOf(out.stack, "aws_eks_pod_identity_association"))).toEqual([
      expect.objectContaining({ cluster_name: "enchanted-dev", namespace: "platform", service_account: "events-api", role_arn: `\${aws_iam_role.${role.id}.arn}` }),
    ]);
    expect(Object.keys(resourcesOf(out.stack, "aws_kms_key"))).toHaveLength(0);
    expect(out.stack.text).not.toMatch(/secretsmanager:|kms:GenerateDataKey|kms:\*/);
  });

  it("allows egress only to DNS, ClickHouse's HTTP port, the provisioning service, FoundationDB, the KMS endpoint and the Pod Identity Agent; ingress only from what it admits", () => {
    expect(out.networkPolicies).toHaveLength(1);
    const policy = out.networkPolicies[0] as Obj;
    expect(policy.metadata).toMatchObject({ name: "events-api", namespace: "platform" });
    expect(policy.spec.pod_selector).toEqual({ match_labels: deployment.spec.selector.matchLabels });
    expect(policy.spec.policy_types).toEqual(["Ingress", "Egress"]);
    const ns = (name: string) => ({ namespace_selector: { match_labels: { "kubernetes.io/metadata.name": name } } });
    expect(policy.spec.egress).toEqual([
      { to: [{ ...ns("kube-system"), pod_selector: { match_labels: { "k8s-app": "kube-dns" } } }], ports: [{ port: "53", protocol: "UDP" }, { port: "53", protocol: "TCP" }] },
      { to: [ns("clickhouse")], ports: [{ port: "8123", protocol: "TCP" }] },
      { to: [{ ...ns("platform"), pod_selector: { match_labels: PROVISIONING_LABELS } }], ports: [{ port: "8080", protocol: "TCP" }] },
      { to: [{ ip_block: { cidr: FDB_CIDR } }], ports: [{ port: "4500", protocol: "TCP" }, { port: "4501", protocol: "TCP" }] },
      { to: PRIVATE_CIDRS.map((cidr) => ({ ip_block: { cidr } })), ports: [{ port: "443", protocol: "TCP" }] },
      { to: [{ ip_block: { cidr: "169.254.170.23/32" } }], ports: [{ port: "80", protocol: "TCP" }] },
    ]);
    // The scraper (the gateway is admitted by the stack: eventsApi.allowFrom(kong.peer)).
    expect(policy.spec.ingress).toEqual([{ from: [{ ...ns("monitoring"), pod_selector: { match_labels: { "app.kubernetes.io/name": "prometheus" } } }], ports: [{ port: "8080", protocol: "TCP" }] }]);
    const labels = deployment.spec.template.metadata.labels as Obj;
    expect(labels["enchanted.io/foundationdb-client"]).toBe("true");
    // ClickHouse and NATS are not reached by label: ClickHouse admits the service on its HTTP port by name.
    expect(labels["enchanted.io/clickhouse-client"]).toBeUndefined();
    expect(labels["enchanted.io/nats-client"]).toBeUndefined();
  });

  it("scales on CPU between the given bounds and keeps one replica through disruptions", () => {
    const hpa = out.one("HorizontalPodAutoscaler");
    expect(hpa.apiVersion).toBe("autoscaling/v2");
    expect(hpa.spec).toEqual({
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name },
      minReplicas: 3,
      maxReplicas: 12,
      metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } }],
      behavior: { scaleDown: { stabilizationWindowSeconds: 300 } },
    });
    expect(deployment.spec.replicas).toBeUndefined();
    expect(out.one("PodDisruptionBudget").spec).toEqual({ selector: { matchLabels: deployment.spec.selector.matchLabels }, minAvailable: 1 });
    expect(synth({ ...baseProps, minReplicas: 1, maxReplicas: 2 }).one("PodDisruptionBudget").spec).toMatchObject({ maxUnavailable: 1 });
  });

  it("without data keys: no role, no FoundationDB, no KMS, and no egress beyond DNS, ClickHouse and the provisioning service", () => {
    const { dataKeys: _unused, ...rest } = baseProps;
    const plain = synth(rest);
    expect(plain.roles).toEqual([]);
    expect(Object.keys(resourcesOf(plain.stack, "aws_eks_pod_identity_association"))).toHaveLength(0);
    const names = ((plain.one("Deployment").spec.template.spec.containers[0].env as Obj[]).map((e) => e.name as string));
    for (const name of ["EVENTS_API_FDB_CLUSTER_FILE", "EVENTS_API_KMS_KEY_ID", "EVENTS_API_AWS_REGION"]) expect(names).not.toContain(name);
    expect((plain.one("Deployment").spec.template.spec.volumes as Obj[]).map((v) => v.name)).not.toContain("foundationdb");
    expect((plain.networkPolicies[0]?.spec.egress as Obj[]).map((e) => e.ports[0].port)).toEqual(["53", "8123", "8080"]);
    expect(plain.one("Deployment").spec.template.metadata.labels["enchanted.io/foundationdb-client"]).toBeUndefined();
  });

  it("ships a dashboard with query latency p50 and p99 by route, request rate and errors by status, using only the contract's metric names", () => {
    const cm = out.one("ConfigMap");
    expect(cm.metadata).toMatchObject({ name: "events-api-dashboard", namespace: "platform", labels: { grafana_dashboard: "1" } });
    const dashboard = JSON.parse(cm.data["events-api.json"] as string) as Obj;
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.uid).toBe("enchanted-events-api");
    const panels = dashboard.panels as Obj[];
    const exprs = panels.flatMap((p) => (p.targets ?? []) as Obj[]).map((t) => t.expr as string);
    const metrics = Object.values(EVENTS_API_METRIC_NAMES);
    const allowed = new Set(metrics.flatMap((m) => (m.type === "histogram" ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name])));
    const used = new Set<string>();
    for (const expr of exprs) {
      const names = [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{[]/g), ...expr.matchAll(/\b(events_api_[a-z0-9_]+)/g)].map((m) => m[1] as string);
      expect(names.length, expr).toBeGreaterThan(0);
      for (const name of names) {
        expect(allowed, `${name} in ${expr}`).toContain(name);
        used.add(name.replace(/_(bucket|sum|count)$/, ""));
      }
    }
    for (const m of metrics) expect(used, m.name).toContain(m.name);
    // Every label a query groups or filters by is one the series carries.
    const labels = new Set(Object.values(EVENTS_API_METRIC_LABELS).flat());
    for (const expr of exprs) for (const m of expr.matchAll(/by \(([^)]*)\)/g)) for (const l of (m[1] as string).split(",").map((s) => s.trim())) if (l !== "le") expect(labels, `${l} in ${expr}`).toContain(l);
    const q = EVENTS_API_METRIC_NAMES.queryDuration.name;
    const has = (pattern: RegExp) => exprs.some((e) => pattern.test(e));
    expect(has(new RegExp(`histogram_quantile\\(0\\.5, sum by \\(le, route\\) \\(rate\\(${q}_bucket`))).toBe(true);
    expect(has(new RegExp(`histogram_quantile\\(0\\.99, sum by \\(le, route\\) \\(rate\\(${q}_bucket`))).toBe(true);
    const requests = EVENTS_API_METRIC_NAMES.requests.name;
    expect(has(new RegExp(`sum by \\(route\\) \\(rate\\(${requests}\\{`))).toBe(true);
    expect(has(new RegExp(`sum by \\(status\\) \\(rate\\(${requests}\\{`))).toBe(true);
    expect(has(new RegExp(`${requests}\\{[^}]*status=~"\\[45\\]\\.\\."`))).toBe(true);
    // Panel ids are unique (Grafana keys panels by them).
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
  });

  it("refuses what the service's contract would refuse, and crossing or missing pieces, naming the prop and the fix", () => {
    let error: unknown;
    try {
      synth({ ...baseProps, image: `${IMAGE.split(":")[0]}:latest` });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/^test\/events-api: image = .*latest.*Fix: deploy an exact tag/);
    expect(() => synth({ ...baseProps, minReplicas: 5, maxReplicas: 2 })).toThrow(/maxReplicas = 2 is below minReplicas = 5/);
    expect(() => synth({ ...baseProps, tokenIssuer: "https://api.example.com/v1" })).toThrow(/tokenIssuer = "https:\/\/api\.example\.com\/v1" is not an https origin.*Fix: pass tenantTokenIssuer/);
    expect(() => synth({ ...baseProps, clickhouse: { ...baseProps.clickhouse, url: "clickhouse:8123" } })).toThrow(/clickhouse\.url = "clickhouse:8123" .*EVENTS_API_CLICKHOUSE_URL.*Fix: pass an http\(s\) URL/);
    expect(() => synth({ ...baseProps, queryTimeoutMs: 50 })).toThrow(/queryTimeoutMs = 50 is not a whole number from 100 to 300000, the service's bounds/);
    expect(() => synth({ ...baseProps, logLevel: "loud" as never })).toThrow(/logLevel = "loud" is not a pino level/);
    const { pro: _pro, ...twoReaders } = readers;
    expect(() => synth({ ...baseProps, clickhouse: { ...baseProps.clickhouse, readers: twoReaders as never } })).toThrow(/clickhouse\.readers\.pro = \(missing\)|clickhouse\.readers\.pro .*is missing/);
    const dataKeys = baseProps.dataKeys as NonNullable<EventsApiProps["dataKeys"]>;
    expect(() => synth({ ...baseProps, dataKeys: { ...dataKeys, foundationDb: { ...dataKeys.foundationDb, clusterFileNamespaces: ["elsewhere"] } } })).toThrow(/clusterFileNamespaces .*Fix: add "platform"/);
    expect(() => synth({ ...baseProps, dataKeys: { ...dataKeys, kmsEndpointCidrs: [] } })).toThrow(/dataKeys\.kmsEndpointCidrs = \[\] is empty/);
    expect(() => synth({ ...baseProps, dataKeys: { ...dataKeys, tenantKey: { keyArn: "tenant-key", aliasName: "x" } } })).toThrow(/dataKeys\.tenantKey\.keyArn = "tenant-key" is not a KMS key/);
  });

  it("builds from the service's contract, never from the service's code", () => {
    const contract = runtimeImports("services/events-api/contract.ts");
    expect(contract.packages).toEqual([]);
    for (const file of contract.files) expect(file, file).not.toMatch(/\/src\//);
    const dir = new URL("../constructs/events-api/", import.meta.url);
    const sources = readdirSync(dir).filter((f) => f.endsWith(".ts")).map((f) => readFileSync(new URL(f, dir), "utf8"));
    for (const source of sources) expect(source).not.toMatch(/services\/events-api\/src\//);
    expect(sources.some((source) => source.includes("services/events-api/contract.js"))).toBe(true);
  });
});

describe.each(ENVIRONMENT_NAMES)("%s events API", (env) => {
  const config = loadEnvironment(env);
  const manifests = () => Object.values(resourcesOf(stackOf(env, "workloads"), "kubernetes_manifest")).map((r) => r.manifest as Obj);
  const named = (kind: string) => manifests().find((m) => m.kind === kind && m.metadata.name === EVENTS_API_ENDPOINT.service);

  it("scales between the environment's eventsApi bounds and runs the environment's image", () => {
    expect(named("HorizontalPodAutoscaler")?.spec).toMatchObject({ minReplicas: config.eventsApi.minReplicas, maxReplicas: config.eventsApi.maxReplicas });
    // The foundation stack's repository of the image (its URL through remote state) and the configured tag.
    expect(named("Deployment")?.spec.template.spec.containers[0].image).toMatch(new RegExp(`aws_ecr_repositoryregistry_${config.images.eventsApi.repository}_[0-9A-F]{8}repository_url\\}:${config.images.eventsApi.tag.replace(/\./g, "\\.")}$`));
    expect(config.ecr.repositories).toContain(config.images.eventsApi.repository);
  });

  it("reads ClickHouse as each tier's reader, whose passwords come from the environment's ClickHouse prefix", () => {
    const syncs = manifests().filter((m) => m.kind === "ExternalSecret" && m.metadata.namespace === EVENTS_API_ENDPOINT.namespace && /^clickhouse-reader-/.test(m.metadata.name));
    expect(syncs.map((s) => s.spec.data[0].remoteRef.key).sort()).toEqual(PLAN_TIER_NAMES.map((t) => clickhouseSecrets(config.clickhouse.secretPrefix).readers[t].remoteKey).sort());
    const env = new Map((named("Deployment")?.spec.template.spec.containers[0].env as Obj[]).map((e) => [e.name as string, e.value as string]));
    expect(env.get("EVENTS_API_TOKEN_ISSUER")).toBe(`https://${config.domains.api}`);
    for (const tier of PLAN_TIER_NAMES) expect(env.get(EVENTS_API_READER_ENV[tier].user)).toBe(readerUserName(tier));
  });
});

describe("the eventsApi section of the environment config", () => {
  const withEventsApi = (env: "dev" | "staging", eventsApi: unknown) => ({ ...(structuredClone(RAW_ENVIRONMENTS[env]) as Record<string, unknown>), eventsApi });

  it("refuses bounds that cross, naming the field and the fix", () => {
    expect(() => validateEnvironment(withEventsApi("dev", { minReplicas: 4, maxReplicas: 2 }), "dev")).toThrow(/eventsApi\.maxReplicas = 2: is below eventsApi\.minReplicas \(4\).*Fix: raise eventsApi\.maxReplicas or lower eventsApi\.minReplicas/s);
  });

  it("refuses a single replica outside dev", () => {
    expect(() => validateEnvironment(withEventsApi("staging", { minReplicas: 1, maxReplicas: 4 }), "staging")).toThrow(/eventsApi\.minReplicas = 1: staging must keep serving .*Fix: run at least 2 replicas/s);
    expect(validateEnvironment(withEventsApi("dev", { minReplicas: 1, maxReplicas: 1 }), "dev").eventsApi).toEqual({ minReplicas: 1, maxReplicas: 1 });
  });

  it("requires the section and whole numbers in range", () => {
    const raw = structuredClone(RAW_ENVIRONMENTS.dev) as Record<string, unknown>;
    delete raw.eventsApi;
    expect(() => validateEnvironment(raw, "dev")).toThrow(/eventsApi = \(missing\)/);
    expect(() => validateEnvironment(withEventsApi("dev", { minReplicas: 0, maxReplicas: 2 }), "dev")).toThrow(/eventsApi\.minReplicas = 0/);
    expect(() => validateEnvironment(withEventsApi("dev", { minReplicas: 1, maxReplicas: 2.5 }), "dev")).toThrow(/eventsApi\.maxReplicas = 2\.5/);
  });
});

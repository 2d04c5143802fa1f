/** The worker Deployments: one per pooled tier, from the runtime's contract, in the synthesized JSON. */
import { readFileSync } from "node:fs";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider/index.js";
import { TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { loadTierCatalog, PLAN_TIER_NAMES } from "../../config/index.js";
import { ValidationError } from "../../constructs/core/validation.js";
import { NATS_CLIENT_URL } from "../../constructs/nats/index.js";
import { CLICKHOUSE_CLIENT_PORTS, NAMESPACES } from "../../constructs/platform-interfaces.js";
import { evaluateStack } from "../../constructs/policy/index.js";
import { WORKER_DEPLOYMENT, workerNamespace, type WorkerPool } from "../../constructs/worker-pools.js";
import { Workers, type WorkersProps } from "../../constructs/workers.js";
import { WORKER_ENV, WORKER_ENV_VARS, WORKER_HTTP_PATHS, WORKER_HTTP_PORT } from "../../services/worker/contract.js";
import { runtimeImports } from "../support/imports.js";
import { resourcesOf, stackOf, synthApp } from "../support/synth.js";

const tiers = loadTierCatalog();
const IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/enchanted/worker:1.4.2";
const POOLS: WorkerPool[] = [...PLAN_TIER_NAMES.map((tier) => ({ pool: tier, namespace: workerNamespace(tier), tier })), { pool: "acme-corp", namespace: "tenant-acme-corp", tier: "enterprise" }];
const PROVISIONING_LABELS = { "app.kubernetes.io/name": "provisioning", "app.kubernetes.io/part-of": "enchanted" };

const baseProps: WorkersProps = {
  image: IMAGE,
  tiers,
  pools: POOLS,
  nats: {
    clientUrl: NATS_CLIENT_URL,
    issuer: { issuerName: "internal-ca", issuerKind: "ClusterIssuer" },
    credsRemoteKeys: { free: "enchanted/dev/nats/cluster/workers-free-creds", pro: "enchanted/dev/nats/cluster/workers-pro-creds", enterprise: "enchanted/dev/nats/cluster/workers-enterprise-creds" },
  },
  provisioning: { url: "http://provisioning.platform.svc.cluster.local:8080", peer: { namespace: NAMESPACES.platform, podLabels: PROVISIONING_LABELS }, port: 8080 },
  clickhouse: { url: "http://clickhouse-events.clickhouse.svc.cluster.local:8123", passwordRemoteKey: "enchanted/dev/clickhouse/workers-password" },
  secretStore: { storeName: "aws-secrets-manager", storeKind: "ClusterSecretStore" },
  scheduling: { nodeSelector: { "enchanted.io/pool": "workers" }, tolerations: [{ key: "enchanted.io/pool", operator: "Equal", value: "workers", effect: "NoSchedule" }] },
};

// Synthesized JSON, navigated freely; the assertions give it its shape.
type Obj = Record<string, any>;

function synth(props: WorkersProps = baseProps) {
  let findings: readonly { ruleId: string }[] = [];
  const stacks = synthApp((app) => {
    const stack = new TerraformStack(app, "test");
    new KubernetesProvider(stack, "k8s", {});
    new Workers(stack, "workers", props).allowFrom({ namespace: "monitoring", podLabels: { "app.kubernetes.io/name": "prometheus" } });
    findings = evaluateStack(stack);
  });
  const stack = stacks["test"];
  if (!stack) throw new Error("stack not synthesized");
  const manifests = Object.values(resourcesOf(stack, "kubernetes_manifest")).map((r) => r.manifest as Obj);
  const policies = Object.values(resourcesOf(stack, "kubernetes_network_policy_v1")) as Obj[];
  return { text: stack.text, manifests, policies, findings };
}

const out = synth();
const deployments = out.manifests.filter((m) => m.kind === "Deployment");
const deploymentOf = (tier: string) => deployments.find((d) => d.metadata.namespace === workerNamespace(tier as never)) as Obj;
const containerOf = (tier: string) => deploymentOf(tier).spec.template.spec.containers[0] as Obj;
const envOf = (tier: string) => new Map((containerOf(tier).env as Obj[]).map((e) => [e.name as string, e]));

describe("Workers", () => {
  it("creates one Deployment named WORKER_DEPLOYMENT per pooled tier, in the tier's namespace (none for silo pools), with no replica count", () => {
    expect(deployments.map((d) => `${d.metadata.namespace}/${d.metadata.name}`).sort()).toEqual(PLAN_TIER_NAMES.map((t) => `workers-${t}/${WORKER_DEPLOYMENT}`).sort());
    // KEDA's ScaledObject owns the count (WorkerPoolScaling targets this name).
    for (const d of deployments) expect(d.spec.replicas).toBeUndefined();
    expect(out.findings).toEqual([]);
  });

  it("sets every variable of WORKER_ENV, and only those (besides V8's heap), from the contract", () => {
    for (const tier of PLAN_TIER_NAMES) {
      const env = envOf(tier);
      expect([...env.keys()].filter((n) => n !== "NODE_OPTIONS").sort(), tier).toEqual([...WORKER_ENV_VARS].sort());
      const value = (name: string) => env.get(name)?.value as string | undefined;
      expect(value(WORKER_ENV.tier)).toBe(tier);
      expect(value(WORKER_ENV.natsUrl)).toBe(NATS_CLIENT_URL);
      expect(value(WORKER_ENV.natsCredsFile)).toBe("/var/run/secrets/nats/workers.creds");
      expect(value(WORKER_ENV.natsCaFile)).toBe("/var/run/secrets/nats-ca/ca.crt");
      expect(value(WORKER_ENV.provisioningUrl)).toBe("http://provisioning.platform.svc.cluster.local:8080");
      expect(value(WORKER_ENV.clickhouseUrl)).toBe(baseProps.clickhouse.url);
      expect(value(WORKER_ENV.clickhouseUser)).toBe("swarm_workers");
      expect(value(WORKER_ENV.clickhousePasswordFile)).toBe("/var/run/secrets/clickhouse/password");
      expect(value(WORKER_ENV.httpPort)).toBe(String(WORKER_HTTP_PORT));
      expect(value(WORKER_ENV.shutdownTimeoutMs)).toBe("30000");
    }
  });

  it("keeps secrets in read-only mounted files synced by External Secrets: no literal secret, no Secret object", () => {
    for (const tier of PLAN_TIER_NAMES) {
      const pod = deploymentOf(tier).spec.template.spec as Obj;
      const mounts = new Map((containerOf(tier).volumeMounts as Obj[]).map((m) => [m.name as string, m]));
      const volumes = new Map((pod.volumes as Obj[]).map((v) => [v.name as string, v]));
      for (const name of ["nats-creds", "nats-ca", "clickhouse-password"]) expect(mounts.get(name)?.readOnly, name).toBe(true);
      expect(volumes.get("nats-creds")?.secret).toEqual({ secretName: "workers-nats-creds", defaultMode: 0o440, items: [{ key: "workers.creds", path: "workers.creds" }] });
      expect(volumes.get("clickhouse-password")?.secret.secretName).toBe("clickhouse-workers");
      for (const e of containerOf(tier).env as Obj[]) expect(e.valueFrom, e.name).toBeUndefined();
      const external = out.manifests.filter((m) => m.kind === "ExternalSecret" && m.metadata.namespace === workerNamespace(tier));
      expect(external.find((e) => e.metadata.name === "workers-nats-creds")?.spec.data).toEqual([{ secretKey: "workers.creds", remoteRef: { key: `enchanted/dev/nats/cluster/workers-${tier}-creds` } }]);
      expect(external.find((e) => e.metadata.name === "clickhouse-workers")?.spec.data).toEqual([{ secretKey: "password", remoteRef: { key: "enchanted/dev/clickhouse/workers-password" } }]);
      const cert = out.manifests.find((m) => m.kind === "Certificate" && m.metadata.namespace === workerNamespace(tier));
      expect(cert?.spec.issuerRef).toMatchObject({ name: "internal-ca", kind: "ClusterIssuer" });
      expect(volumes.get("nats-ca")?.secret.secretName).toBe(cert?.spec.secretName);
    }
    expect(out.text).not.toMatch(/"kind": "Secret"|stringData|-----BEGIN|S[OAU][A-Z2-7]{56}/);
  });

  it("runs restricted: non-root, read-only root filesystem, every capability dropped, no API token", () => {
    for (const tier of PLAN_TIER_NAMES) {
      const pod = deploymentOf(tier).spec.template.spec as Obj;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
      expect(containerOf(tier).securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(containerOf(tier).image).toBe(IMAGE);
    }
  });

  it("probes the contract's paths on its port, is scraped on /metrics, is sized by the tier and runs on the worker nodes", () => {
    for (const tier of PLAN_TIER_NAMES) {
      const c = containerOf(tier);
      expect(c.ports).toEqual([{ name: "http", containerPort: WORKER_HTTP_PORT, protocol: "TCP" }]);
      expect(c.livenessProbe.httpGet).toEqual({ path: WORKER_HTTP_PATHS.health, port: "http" });
      expect(c.readinessProbe.httpGet).toEqual({ path: WORKER_HTTP_PATHS.ready, port: "http" });
      expect(deploymentOf(tier).spec.template.metadata.annotations).toEqual({ "prometheus.io/scrape": "true", "prometheus.io/port": String(WORKER_HTTP_PORT), "prometheus.io/path": WORKER_HTTP_PATHS.metrics });
      const k = tiers[tier].workers.container;
      expect(c.resources).toEqual({ requests: { cpu: `${k.defaultRequestCpuMillicores}m`, memory: `${k.defaultRequestMemoryMiB}Mi` }, limits: { memory: `${k.defaultLimitMemoryMiB}Mi` } });
      const pod = deploymentOf(tier).spec.template.spec as Obj;
      expect(pod.nodeSelector).toEqual({ "enchanted.io/pool": "workers" });
      expect(pod.tolerations).toEqual([{ key: "enchanted.io/pool", operator: "Equal", value: "workers", effect: "NoSchedule" }]);
    }
  });

  it("lets the workers out to DNS, NATS, provisioning and ClickHouse only, and in only from what allowFrom admits", () => {
    expect(out.policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort()).toEqual(PLAN_TIER_NAMES.map((t) => `workers-${t}/workers`).sort());
    for (const p of out.policies) {
      expect(p.spec.policy_types).toEqual(["Ingress", "Egress"]);
      const egress = (p.spec.egress as Obj[]).map((r) => ({ to: r.to, ports: (r.ports as Obj[]).map((x) => x.port) }));
      expect(egress).toEqual([
        { to: [{ namespace_selector: { match_labels: { "kubernetes.io/metadata.name": "kube-system" } }, pod_selector: { match_labels: { "k8s-app": "kube-dns" } } }], ports: ["53", "53"] },
        { to: [{ namespace_selector: { match_labels: { "kubernetes.io/metadata.name": NAMESPACES.nats } } }], ports: ["4222"] },
        { to: [{ namespace_selector: { match_labels: { "kubernetes.io/metadata.name": NAMESPACES.platform } }, pod_selector: { match_labels: PROVISIONING_LABELS } }], ports: ["8080"] },
        { to: [{ namespace_selector: { match_labels: { "kubernetes.io/metadata.name": NAMESPACES.clickhouse } } }], ports: CLICKHOUSE_CLIENT_PORTS.map(String) },
      ]);
      expect(p.spec.ingress).toEqual([{ from: [{ namespace_selector: { match_labels: { "kubernetes.io/metadata.name": "monitoring" } }, pod_selector: { match_labels: { "app.kubernetes.io/name": "prometheus" } } }], ports: [{ port: "8080", protocol: "TCP" }] }]);
    }
  });

  it("refuses a bad image, an out-of-bounds setting and a tier without creds, naming the field and the fix", () => {
    expect(() => synth({ ...baseProps, image: "worker:latest" })).toThrow(ValidationError);
    expect(() => synth({ ...baseProps, image: `${IMAGE.split(":")[0]}:latest` })).toThrow(/image = .*uses the mutable tag latest\. Fix:/);
    expect(() => synth({ ...baseProps, concurrency: 0 })).toThrow(/concurrency = 0 is outside the worker's bounds \[1, 256\] \(WORKER_CONCURRENCY\)\. Fix:/);
    expect(() => synth({ ...baseProps, nats: { ...baseProps.nats, credsRemoteKeys: { ...baseProps.nats.credsRemoteKeys, pro: "" } } })).toThrow(/nats\.credsRemoteKeys\.pro .*Fix: pass Nats\.secretNames\.cluster\.workerCreds/);
  });

  it("builds from the runtime's contract and loads none of its code at synth", () => {
    const construct = readFileSync(new URL("../../constructs/workers.ts", import.meta.url), "utf8");
    expect(construct).toContain("services/worker/contract.js");
    expect(construct).not.toMatch(/services\/worker\/src\//);
    expect(construct).not.toMatch(/"WORKER_[A-Z_]+"/);
    expect(runtimeImports("services/worker/contract.ts").packages).toEqual([]);
  });
});

describe("Workers in every environment's workloads stack", () => {
  it.each(["dev", "staging", "prod"] as const)("%s: a worker Deployment per tier with the environment's image, and the owners admit them", (env) => {
    const stack = stackOf(env, "workloads");
    const manifests = Object.values(resourcesOf(stack, "kubernetes_manifest")).map((r) => r.manifest as Obj);
    const workers = manifests.filter((m) => m.kind === "Deployment" && m.metadata.name === WORKER_DEPLOYMENT);
    expect(workers.map((d) => d.metadata.namespace).sort()).toEqual(PLAN_TIER_NAMES.map(workerNamespace).sort());
    for (const d of workers) expect(d.spec.template.spec.containers[0].image).toMatch(/registry_worker_[A-F0-9]+repository_url\}:/);
    // KEDA's ScaledObjects target exactly these Deployments.
    const scaled = manifests.filter((m) => m.kind === "ScaledObject" && m.metadata.namespace?.startsWith("workers-"));
    for (const s of scaled) expect(s.spec.scaleTargetRef.name).toBe(WORKER_DEPLOYMENT);
    const policies = Object.values(resourcesOf(stack, "kubernetes_network_policy_v1")) as Obj[];
    const ingressFrom = (name: string, namespace: string) => JSON.stringify(policies.find((p) => p.metadata.name === name && p.metadata.namespace === namespace)?.spec.ingress ?? []);
    for (const tier of PLAN_TIER_NAMES) {
      expect(ingressFrom("provisioning", NAMESPACES.platform), tier).toContain(`"kubernetes.io/metadata.name":"workers-${tier}"`);
      expect(ingressFrom("allow-clickhouse", NAMESPACES.clickhouse), tier).toContain(`"kubernetes.io/metadata.name":"workers-${tier}"`);
      expect(ingressFrom("allow-nats", NAMESPACES.nats), tier).toContain(`"kubernetes.io/metadata.name":"workers-${tier}"`);
    }
  });
});

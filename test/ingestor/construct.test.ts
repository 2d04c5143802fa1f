import { readFileSync } from "node:fs";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider/index.js";
import { TerraformLocal, TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { Ingestor, INGESTOR_METRIC_NAMES, type IngestorProps } from "../../constructs/ingestor.js";
import { ValidationError } from "../../constructs/core/validation.js";
import { nackConsumerSpec, NATS_CLIENT_URL, NATS_MONITORING_ENDPOINT, NATS_NAMES } from "../../constructs/nats/index.js";
import { NAMESPACES, POLICY_LABELS } from "../../constructs/platform-interfaces.js";
import { INGESTOR_ENV, INGESTOR_REMOVED_ENV } from "../../services/ingestor/contract.js";
import { ingestorConsumerConfig } from "../../services/nats-auth/consumers.js";
import { STREAM_NAMES } from "../../services/nats-auth/jetstream-names.js";
import { loadIngestorConfig, prefetchMessages } from "../../services/ingestor/src/config.js";
import { runtimeImports } from "../support/imports.js";
import { resourcesOf, synthApp, type SynthesizedStack } from "../support/synth.js";

const ACCOUNT = "ACZ4Y5WTEJ6PGEEJYMEXAMPLEACCOUNTKEYEXAMPLEKEYEXAMPLE00";
const IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ingestor:1.4.2";
const PASSWORD_SECRET = "clickhouse-ingestor";

const baseProps: IngestorProps = {
  image: IMAGE,
  clickhouse: { url: "http://clickhouse-events.clickhouse.svc.cluster.local:8123", username: "swarm_ingestor", secretName: PASSWORD_SECRET, passwordKey: "password", namespaces: ["platform"] },
  nats: { clientUrl: NATS_CLIENT_URL, credsRemoteKey: "enchanted/dev/nats/cluster/platform-creds", issuer: { issuerName: "internal-ca", issuerKind: "ClusterIssuer" } },
  secretStore: { storeName: "aws-secrets-manager", storeKind: "ClusterSecretStore" },
  natsMonitoringEndpoint: NATS_MONITORING_ENDPOINT,
  natsAccount: ACCOUNT,
  consumer: "swarm-ingestor",
  minReplicas: 3,
  maxReplicas: 12,
  lagThreshold: 20_000,
};

// Synthesized JSON, navigated freely; the assertions give it its shape.
type Obj = Record<string, any>;

function synth(props: IngestorProps = baseProps) {
  const stacks = synthApp((app) => {
    const stack = new TerraformStack(app, "test");
    new KubernetesProvider(stack, "k8s", {});
    new Ingestor(stack, "ingestor", props);
  });
  const stack = stacks["test"];
  if (!stack) throw new Error("stack not synthesized");
  const manifests = Object.values(resourcesOf(stack, "kubernetes_manifest")).map((r) => r.manifest as Obj);
  const byKind = (kind: string): Obj => {
    const found = manifests.filter((m) => m.kind === kind);
    expect(found, kind).toHaveLength(1);
    return found[0] as Obj;
  };
  return { text: stack.text, manifests, byKind };
}

const out = synth();
const deployment = out.byKind("Deployment");
const pod = deployment.spec.template.spec as Obj;
const container = pod.containers[0] as Obj;
const env = new Map((container.env as Obj[]).map((e) => [e.name as string, e]));

describe("Ingestor", () => {
  it("runs non-root with a read-only root filesystem and every capability dropped", () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(container.image).toBe(IMAGE);
  });

  it("probes liveness on /healthz and readiness on /readyz on the service's HTTP port", () => {
    expect(container.ports).toEqual([{ name: "http", containerPort: 8080, protocol: "TCP" }]);
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(env.get("INGESTOR_HTTP_PORT")?.value).toBe("8080");
  });

  it("sets requests and a memory limit, and sizes V8's heap below the limit", () => {
    expect(container.resources).toEqual({ requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "512Mi" } });
    expect(env.get("NODE_OPTIONS")?.value).toBe("--max-old-space-size=384");
  });

  it("gives the pod longer than the service's shutdown bound to drain", () => {
    const shutdownMs = Number(env.get("INGESTOR_SHUTDOWN_TIMEOUT_MS")?.value);
    expect(shutdownMs).toBe(15_000);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(shutdownMs / 1000 + 10);
  });

  it("labels pods as NATS and ClickHouse clients, spreads them over zones and has them scraped", () => {
    const meta = deployment.spec.template.metadata as Obj;
    expect(meta.labels[POLICY_LABELS.natsClient]).toBe("true");
    expect(meta.labels[POLICY_LABELS.clickhouseClient]).toBe("true");
    expect(meta.annotations).toEqual({ "prometheus.io/scrape": "true", "prometheus.io/port": "8080", "prometheus.io/path": "/metrics" });
    expect(pod.topologySpreadConstraints).toContainEqual(expect.objectContaining({ topologyKey: "topology.kubernetes.io/zone", maxSkew: 1 }));
    expect(out.byKind("Service").spec.ports).toEqual([{ name: "http-metrics", port: 8080, targetPort: "http", protocol: "TCP" }]);
    // KEDA owns the replica count.
    expect(deployment.spec.replicas).toBeUndefined();
  });

  it("configures only variables the service reads, the password from a secretKeyRef and no literal secret", () => {
    // The service reads exactly the variables of its contract (src/config.ts reads each through INGESTOR_ENV).
    const read = new Set<string>(Object.values(INGESTOR_ENV));
    for (const name of env.keys()) if (name.startsWith("INGESTOR_")) expect(read, name).toContain(name);
    expect(env.get("INGESTOR_CLICKHOUSE_PASSWORD")).toEqual({ name: "INGESTOR_CLICKHOUSE_PASSWORD", valueFrom: { secretKeyRef: { name: PASSWORD_SECRET, key: "password" } } });
    expect(env.get("INGESTOR_CONSUMER")?.value).toBe("swarm-ingestor");
    expect(env.get("INGESTOR_NATS_URL")?.value).toBe(NATS_CLIENT_URL);
    expect(env.get("INGESTOR_NATS_CREDS")?.value).toBe("/var/run/secrets/nats/platform.creds");
    for (const e of env.values()) if (/PASSWORD|CREDS|TOKEN|SECRET/.test(e.name as string) && e.value !== undefined) expect(e.value).toMatch(/^\/var\/run\/secrets\//);
    expect(out.text).not.toMatch(/"kind": "Secret"|stringData/);
  });

  it("takes every variable name from the service's contract, which the service's config reads too (no second spelling)", () => {
    const configSource = readFileSync(new URL("../../services/ingestor/src/config.ts", import.meta.url), "utf8");
    expect(configSource).not.toMatch(/"INGESTOR_[A-Z_]+"/);
    expect(configSource).toContain('from "../contract.js"');
    // The contract loads no npm package and no service code: only other name modules.
    const contract = runtimeImports("services/ingestor/contract.ts");
    expect(contract.packages).toEqual([]);
    for (const file of contract.files) expect(file, file).not.toMatch(/\/src\//);
    // The construct builds from the contract and runs no service code at synth.
    const construct = readFileSync(new URL("../../constructs/ingestor.ts", import.meta.url), "utf8");
    expect(construct).not.toMatch(/services\/ingestor\/src\//);
    expect(construct).toContain("services/ingestor/contract.js");
  });

  it("syncs the NATS creds from Secrets Manager and mounts them with the internal CA", () => {
    const external = out.byKind("ExternalSecret");
    expect(external.spec.data).toEqual([{ secretKey: "platform.creds", remoteRef: { key: "enchanted/dev/nats/cluster/platform-creds" } }]);
    expect(out.byKind("Certificate").spec.issuerRef).toMatchObject({ name: "internal-ca", kind: "ClusterIssuer" });
    expect(env.get("NODE_EXTRA_CA_CERTS")?.value).toBe("/var/run/secrets/nats-ca/ca.crt");
    const volumes = new Map((pod.volumes as Obj[]).map((v) => [v.name as string, v]));
    expect(volumes.get("nats-creds")?.secret.secretName).toBe(external.spec.target.name);
    expect(volumes.get("nats-ca")?.secret.secretName).toBe(out.byKind("Certificate").spec.secretName);
  });

  it("keeps at least one replica up through voluntary disruptions", () => {
    expect(out.byKind("PodDisruptionBudget").spec).toEqual({ selector: { matchLabels: deployment.spec.selector.matchLabels }, minAvailable: 1 });
  });

  it("scales on the consumer's lag on SWARM_EVENTS with the given account, threshold and replica caps", () => {
    const spec = out.byKind("ScaledObject").spec as Obj;
    expect(spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name });
    expect(spec.minReplicaCount).toBe(3);
    expect(spec.maxReplicaCount).toBe(12);
    expect(spec.triggers).toHaveLength(1);
    expect(spec.triggers[0]).toMatchObject({
      type: "nats-jetstream",
      metadata: { natsServerMonitoringEndpoint: NATS_MONITORING_ENDPOINT, account: ACCOUNT, stream: STREAM_NAMES.events, consumer: "swarm-ingestor", lagThreshold: "20000" },
    });
  });

  it("sizes MaxAckPending so every replica up to the KEDA cap keeps its full prefetch in flight", () => {
    // MaxAckPending is the declared consumer's now (no longer a variable): read it from the NACK
    // Consumer, and the prefetch from the configuration the Deployment's variables give the service.
    const maxReplicas = (out.byKind("ScaledObject").spec as Obj).maxReplicaCount as number;
    const config = loadIngestorConfig(Object.fromEntries([...env.values()].filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string])));
    const maxAckPending = out.byKind("Consumer").spec.maxAckPending as number;
    expect(maxAckPending).toBe(maxReplicas * prefetchMessages(config.batch));
    expect(maxAckPending).toBe(12 * 30_000);
  });

  it("declares its durable consumer as a NACK Consumer from the one declaration, after the streams, and the service's env has no creation variable", () => {
    const consumer = out.byKind("Consumer");
    expect(consumer.metadata).toEqual({ name: "swarm-ingestor", namespace: NAMESPACES.nats });
    expect(consumer.spec).toEqual(nackConsumerSpec(ingestorConsumerConfig({ name: "swarm-ingestor", maxReplicas: 12 }), { account: NATS_NAMES.nackAccount, preventDelete: true }));
    expect(consumer.spec).toMatchObject({ streamName: STREAM_NAMES.events, durableName: "swarm-ingestor", filterSubject: "swarm.*.events", ackPolicy: "explicit", deliverPolicy: "all", ackWait: "30s", maxDeliver: -1 });
    // The KEDA trigger reads the lag of the same consumer.
    expect(out.byKind("ScaledObject").spec.triggers[0].metadata.consumer).toBe(consumer.spec.durableName);
    for (const name of Object.keys(INGESTOR_REMOVED_ENV)) expect(env.has(name), name).toBe(false);
    // With the Nats construct's streams and NACK account given, it waits for the streams.
    const withStreams = synthApp((app) => {
      const stack = new TerraformStack(app, "test");
      new KubernetesProvider(stack, "k8s", {});
      const streams = [new TerraformLocal(stack, "streams", "x")];
      new Ingestor(stack, "ingestor", { ...baseProps, nats: { ...baseProps.nats, nackAccount: "other", streamResources: streams } });
    })["test"];
    const resource = Object.values(resourcesOf(withStreams as SynthesizedStack, "kubernetes_manifest")).find((r) => (r.manifest as Obj).kind === "Consumer") as Obj;
    expect(resource.depends_on).toEqual(["local.streams"]);
    expect(resource.manifest.spec.account).toBe("other");
  });

  it("refuses a consumer name the service would refuse, naming the prop and the fix", () => {
    expect(() => synth({ ...baseProps, consumer: "swarm.ingestor" })).toThrow(ValidationError);
    expect(() => synth({ ...baseProps, consumer: "swarm.ingestor" })).toThrow(/^test\/ingestor: consumer = "swarm\.ingestor" is not a durable consumer name the ingestor accepts .*Fix: use 1-64 letters, digits, '_' or '-'\.$/);
  });

  it("ships a dashboard whose every query uses only the ingestor's metric names", () => {
    const cm = out.manifests.find((m) => m.kind === "ConfigMap" && m.metadata.labels?.grafana_dashboard === "1") as Obj;
    expect(cm).toBeDefined();
    const dashboard = JSON.parse(cm.data["ingestor.json"] as string) as Obj;
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const metrics = Object.values(INGESTOR_METRIC_NAMES);
    const allowed = new Set(metrics.flatMap((m) => (m.type === "histogram" ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name])));
    const exprs = (dashboard.panels as Obj[]).flatMap((p) => (p.targets ?? []) as Obj[]).map((t) => t.expr as string);
    expect(exprs.length).toBeGreaterThan(8);
    const used = new Set<string>();
    for (const expr of exprs) {
      // Every series selector (a name followed by `{` or `[`) and every ingestor_* token.
      const names = [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{[]/g), ...expr.matchAll(/\b(ingestor_[a-z0-9_]+)/g)].map((m) => m[1] as string);
      expect(names.length, expr).toBeGreaterThan(0);
      for (const name of names) {
        expect(allowed, `${name} in ${expr}`).toContain(name);
        used.add(name.replace(/_(bucket|sum|count)$/, ""));
      }
    }
    // Every metric the service will export is on the dashboard.
    for (const m of metrics) expect([...used].some((u) => u === m.name || u.startsWith(m.name)), m.name).toBe(true);
  });

  it("rejects a mutable image tag, naming the prop and the fix", () => {
    expect(() => synth({ ...baseProps, image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ingestor:latest" })).toThrow(/image = .*latest.*Fix: deploy an exact tag/);
    expect(() => synth({ ...baseProps, image: "ingestor" })).toThrow(/image = "ingestor" is not `<repository>:<tag>`/);
  });

  it("rejects replica caps that cross and a namespace the ClickHouse password is not synced into", () => {
    expect(() => synth({ ...baseProps, minReplicas: 5, maxReplicas: 2 })).toThrow(/maxReplicas = 2 is below minReplicas = 5/);
    expect(() => synth({ ...baseProps, namespace: "elsewhere" })).toThrow(/clickhouse\.namespaces .*Fix: add "elsewhere" to ClickHouse's ingestorNamespaces/);
  });

  it("requests the CPU its resources prop sets (the default stays 250m), and no CPU limit", () => {
    const c = synth({ ...baseProps, resources: { cpuRequestMillicores: 1_000 } }).byKind("Deployment").spec.template.spec.containers[0] as Obj;
    expect(c.resources).toEqual({ requests: { cpu: "1000m", memory: "256Mi" }, limits: { memory: "512Mi" } });
  });

  it("rejects a CPU request below 100 millicores or not a whole number, naming the prop and the fix", () => {
    expect(() => synth({ ...baseProps, resources: { cpuRequestMillicores: 1 } })).toThrow(ValidationError);
    expect(() => synth({ ...baseProps, resources: { cpuRequestMillicores: 1 } })).toThrow(
      /^test\/ingestor: resources\.cpuRequestMillicores = 1 is below 100 millicores \(the prop counts thousandths of a core: 1 is 1m\)\. Fix: request at least 100, e\.g\. 1000 for the one core per replica the capacity model counts\.$/,
    );
    expect(() => synth({ ...baseProps, resources: { cpuRequestMillicores: 0.5 } })).toThrow(/resources\.cpuRequestMillicores = 0\.5 is not a positive integer\. Fix: set resources\.cpuRequestMillicores to a whole number of at least 1/);
  });

  it("lets a single replica's node drain", () => {
    expect(synth({ ...baseProps, minReplicas: 1 }).byKind("PodDisruptionBudget").spec).toMatchObject({ maxUnavailable: 1 });
  });
});

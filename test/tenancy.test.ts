import { createAccount } from "@nats-io/nkeys";
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, loadEnvironment, loadTierCatalog, PLAN_TIER_NAMES, RAW_ENVIRONMENTS, validateEnvironment } from "../config/index.js";
import { kedaChartValues } from "../constructs/keda.js";
import { NAMESPACES, POLICY_LABELS } from "../constructs/platform-interfaces.js";
import { KONG_NAMESPACE } from "../constructs/gateway/index.js";
import { EVENTS_API_ENDPOINT } from "../constructs/events-api/index.js";
import { PROVISIONING_ENDPOINT } from "../constructs/provisioning/index.js";
import { siloNamespace, workerNamespace } from "../constructs/worker-pools.js";
import { addEnvironment } from "../stacks/app.js";
import { INGESTOR_ENV } from "../services/ingestor/contract.js";
import { resourcesOf, stackOf, synthApp, type SynthesizedStack } from "./support/synth.js";

const tiers = loadTierCatalog();

function byNamespace(stack: SynthesizedStack, type: string): Map<string, Record<string, unknown>[]> {
  const out = new Map<string, Record<string, unknown>[]>();
  for (const r of Object.values(resourcesOf(stack, type))) {
    const ns = (r.metadata as { namespace: string }).namespace;
    out.set(ns, [...(out.get(ns) ?? []), r]);
  }
  return out;
}

describe.each(ENVIRONMENT_NAMES)("%s tenancy", (env) => {
  const platform = () => stackOf(env, "platform");

  it("creates the platform and per-tier worker namespaces with Pod Security restricted enforced", () => {
    const namespaces = Object.values(resourcesOf(platform(), "kubernetes_namespace_v1")).map((n) => n.metadata as { name: string; labels: Record<string, string> });
    // The gateway's namespace is created by its construct (constructs/gateway/), with the same labels.
    expect(namespaces.map((n) => n.name).sort()).toEqual([...Object.values(NAMESPACES), ...PLAN_TIER_NAMES.map(workerNamespace), KONG_NAMESPACE].sort());
    for (const n of namespaces) {
      expect(n.labels).toMatchObject({
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
      });
    }
  });

  it("denies all ingress and egress by default in every namespace", () => {
    const policies = byNamespace(platform(), "kubernetes_network_policy_v1");
    const namespaces = Object.values(resourcesOf(platform(), "kubernetes_namespace_v1")).map((n) => (n.metadata as { name: string }).name);
    for (const ns of namespaces) {
      const deny = (policies.get(ns) ?? []).find((p) => (p.metadata as { name: string }).name === "default-deny");
      const spec = deny?.spec as { pod_selector: unknown; policy_types: string[]; ingress?: unknown[]; egress?: unknown[] };
      expect({ pod_selector: spec.pod_selector, policy_types: spec.policy_types }).toEqual({ pod_selector: {}, policy_types: ["Ingress", "Egress"] });
      expect([...(spec.ingress ?? []), ...(spec.egress ?? [])]).toEqual([]);
    }
  });

  it("lets worker pools reach only NATS (and DNS), and accepts no ingress into them", () => {
    const policies = byNamespace(platform(), "kubernetes_network_policy_v1");
    for (const tier of PLAN_TIER_NAMES) {
      const own = policies.get(workerNamespace(tier)) ?? [];
      const ingressRules = own.flatMap((p) => ((p.spec as { ingress?: unknown[] }).ingress ?? []));
      expect(ingressRules).toEqual([]);
      const destinations = own.flatMap((p) => ((p.spec as { egress?: { to?: unknown[] }[] }).egress ?? []).flatMap((e) => e.to ?? [{ anywhere: true }]));
      for (const d of destinations) {
        const ns = (d as { namespace_selector?: { match_labels?: Record<string, string> } }).namespace_selector?.match_labels?.["kubernetes.io/metadata.name"];
        expect(["kube-system", NAMESPACES.nats]).toContain(ns);
      }
    }
  });

  it("opens NATS client port only to labelled clients and worker pools", () => {
    // NATS's own policy (Nats.allowFrom), in the stack NATS is deployed by.
    const nats = (byNamespace(stackOf(env, "workloads"), "kubernetes_network_policy_v1").get(NAMESPACES.nats) ?? []).find(
      (p) => (p.metadata as { name: string }).name === "allow-nats",
    );
    const [clients] = (nats?.spec as { ingress: { from: Record<string, unknown>[]; ports: unknown[] }[] }).ingress;
    expect(clients?.ports).toEqual([{ port: "4222", protocol: "TCP" }]);
    expect(clients?.from).toContainEqual({ namespace_selector: {}, pod_selector: { match_labels: { [POLICY_LABELS.natsClient]: "true" } } });
    for (const tier of PLAN_TIER_NAMES) {
      expect(clients?.from).toContainEqual({ namespace_selector: { match_labels: { "kubernetes.io/metadata.name": workerNamespace(tier) } } });
    }
  });

  it("lets the gateway reach the provisioning API, the events API and Keycloak on their HTTP port, and no other platform pod (their owners admit it)", () => {
    const fromKong = { namespace_selector: { match_labels: { "kubernetes.io/metadata.name": KONG_NAMESPACE } } };
    const platformPolicies = [...(byNamespace(stackOf(env, "platform"), "kubernetes_network_policy_v1").get(NAMESPACES.platform) ?? []), ...(byNamespace(stackOf(env, "workloads"), "kubernetes_network_policy_v1").get(NAMESPACES.platform) ?? [])];
    const admitting = platformPolicies.filter((p) => ((p.spec as { ingress?: { from?: unknown[] }[] }).ingress ?? []).some((r) => (r.from ?? []).some((f) => JSON.stringify(f) === JSON.stringify(fromKong))));
    expect(admitting.map((p) => (p.metadata as { name: string }).name).sort()).toEqual(["events-api", "keycloak", "provisioning"]);
    for (const p of admitting) {
      const spec = p.spec as { pod_selector: { match_labels?: Record<string, string> }; ingress: { from?: unknown[]; ports?: unknown[] }[] };
      // Each selects only its own pods, and admits the gateway on 8080 alone.
      expect(Object.keys(spec.pod_selector.match_labels ?? {})).not.toHaveLength(0);
      const rule = spec.ingress.find((r) => (r.from ?? []).some((f) => JSON.stringify(f) === JSON.stringify(fromKong)));
      expect(rule?.ports).toEqual([{ port: "8080", protocol: "TCP" }]);
    }
  });

  it("lets the provisioning service and the events API reach ClickHouse on its HTTP port only (ClickHouse admits them), and the gateway reach both of its API backends", () => {
    const workloads = byNamespace(stackOf(env, "workloads"), "kubernetes_network_policy_v1");
    const clickhouse = (workloads.get(NAMESPACES.clickhouse) ?? []).find((p) => (p.metadata as { name: string }).name === "allow-clickhouse");
    const rules = (clickhouse?.spec as { ingress: { from?: Record<string, unknown>[]; ports?: unknown[] }[] }).ingress;
    const fromPlatform = (app: string) => ({ namespace_selector: { match_labels: { "kubernetes.io/metadata.name": NAMESPACES.platform } }, pod_selector: { match_labels: { "app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "enchanted" } } });
    for (const app of [PROVISIONING_ENDPOINT.service, EVENTS_API_ENDPOINT.service]) {
      const admitting = rules.filter((r) => (r.from ?? []).some((f) => JSON.stringify(f) === JSON.stringify(fromPlatform(app))));
      expect(admitting.map((r) => r.ports), app).toEqual([[{ port: "8123", protocol: "TCP" }]]);
    }
    // The events API's own policy: in only from the gateway, out only to DNS, ClickHouse's HTTP port,
    // the provisioning service, and (data keys) FoundationDB, the KMS endpoint and the Pod Identity Agent.
    const config = loadEnvironment(env);
    const events = (workloads.get(NAMESPACES.platform) ?? []).find((p) => (p.metadata as { name: string }).name === EVENTS_API_ENDPOINT.service);
    const spec = events?.spec as { pod_selector: unknown; ingress: unknown[]; egress: unknown[] };
    expect(spec.pod_selector).toEqual({ match_labels: { "app.kubernetes.io/name": EVENTS_API_ENDPOINT.service, "app.kubernetes.io/part-of": "enchanted" } });
    expect(spec.ingress).toEqual([{ from: [{ namespace_selector: { match_labels: { "kubernetes.io/metadata.name": KONG_NAMESPACE } } }], ports: [{ port: "8080", protocol: "TCP" }] }]);
    expect(spec.egress).toEqual([
      { to: [{ namespace_selector: { match_labels: { "kubernetes.io/metadata.name": "kube-system" } }, pod_selector: { match_labels: { "k8s-app": "kube-dns" } } }], ports: [{ port: "53", protocol: "UDP" }, { port: "53", protocol: "TCP" }] },
      { to: [{ namespace_selector: { match_labels: { "kubernetes.io/metadata.name": NAMESPACES.clickhouse } } }], ports: [{ port: "8123", protocol: "TCP" }] },
      { to: [fromPlatform(PROVISIONING_ENDPOINT.service)], ports: [{ port: String(PROVISIONING_ENDPOINT.port), protocol: "TCP" }] },
      { to: (config.foundationDb.peer.kind === "privatelink" ? config.network.subnets.private : [config.foundationDb.cidr]).map((cidr) => ({ ip_block: { cidr } })), ports: config.foundationDb.ports.map((p) => ({ port: String(p), protocol: "TCP" })) },
      { to: config.network.subnets.private.map((cidr) => ({ ip_block: { cidr } })), ports: [{ port: "443", protocol: "TCP" }] },
      { to: [{ ip_block: { cidr: "169.254.170.23/32" } }], ports: [{ port: "80", protocol: "TCP" }] },
    ]);
    // The provisioning service admits the events API (replays, the tenant tokens' key set).
    const provisioning = (workloads.get(NAMESPACES.platform) ?? []).find((p) => (p.metadata as { name: string }).name === PROVISIONING_ENDPOINT.service);
    const provisioningFrom = ((provisioning?.spec as { ingress: { from?: unknown[] }[] }).ingress ?? []).flatMap((r) => r.from ?? []);
    expect(provisioningFrom).toContainEqual(fromPlatform(EVENTS_API_ENDPOINT.service));
    // The gateway's own egress reaches both API backends' namespace and port.
    const kong = (byNamespace(platform(), "kubernetes_network_policy_v1").get(KONG_NAMESPACE) ?? []).find((p) => (p.metadata as { name: string }).name === "allow-gateway");
    const kongEgress = (kong?.spec as { egress: { to?: unknown[]; ports?: unknown[] }[] }).egress;
    for (const backend of [PROVISIONING_ENDPOINT, EVENTS_API_ENDPOINT]) {
      expect(kongEgress).toContainEqual({ to: [{ namespace_selector: { match_labels: { "kubernetes.io/metadata.name": backend.namespace } } }], ports: [{ port: String(backend.port), protocol: "TCP" }] });
    }
  });

  it("lets KEDA read the NATS monitoring port, and only that", () => {
    const nats = (byNamespace(stackOf(env, "workloads"), "kubernetes_network_policy_v1").get(NAMESPACES.nats) ?? []).find((p) => (p.metadata as { name: string }).name === "allow-nats");
    const rules = (nats?.spec as { ingress: { from?: { namespace_selector?: { match_labels?: Record<string, string> } }[]; ports?: unknown[] }[] }).ingress;
    const keda = rules.filter((r) => (r.from ?? []).some((f) => f.namespace_selector?.match_labels?.["kubernetes.io/metadata.name"] === NAMESPACES.keda));
    expect(keda.map((r) => r.ports)).toEqual([[{ port: "8222", protocol: "TCP" }]]);
  });

  it("gives every tier's worker namespace the tier's ResourceQuota and LimitRange, identical to the catalog", () => {
    for (const tier of PLAN_TIER_NAMES) {
      const q = tiers[tier].workers.quota;
      const c = tiers[tier].workers.container;
      const [quota] = byNamespace(platform(), "kubernetes_resource_quota_v1").get(workerNamespace(tier)) ?? [];
      expect((quota?.spec as { hard: unknown }).hard).toEqual({
        pods: String(q.pods),
        "requests.cpu": `${q.requestsCpuMillicores}m`,
        "requests.memory": `${q.requestsMemoryMiB}Mi`,
        "limits.cpu": `${q.limitsCpuMillicores}m`,
        "limits.memory": `${q.limitsMemoryMiB}Mi`,
      });
      const [limits] = byNamespace(platform(), "kubernetes_limit_range_v1").get(workerNamespace(tier)) ?? [];
      expect((limits?.spec as { limit: unknown[] }).limit[0]).toMatchObject({
        type: "Container",
        default_request: { cpu: `${c.defaultRequestCpuMillicores}m`, memory: `${c.defaultRequestMemoryMiB}Mi` },
        default: { cpu: `${c.defaultLimitCpuMillicores}m`, memory: `${c.defaultLimitMemoryMiB}Mi` },
      });
    }
  });

  it("lets only labelled pods in the client namespaces reach FoundationDB, on its ports", () => {
    const config = loadEnvironment(env);
    const policies = Object.values(resourcesOf(platform(), "kubernetes_network_policy_v1")).filter(
      (p) => (p.metadata as { name: string }).name === "allow-foundationdb",
    );
    expect(policies.map((p) => (p.metadata as { namespace: string }).namespace)).toEqual([NAMESPACES.platform]);
    expect(policies[0]?.spec).toEqual({
      pod_selector: { match_labels: { [POLICY_LABELS.foundationDbClient]: "true" } },
      policy_types: ["Egress"],
      egress: [
        {
          to: (config.foundationDb.peer.kind === "privatelink" ? config.network.subnets.private : [config.foundationDb.cidr]).map((cidr) => ({ ip_block: { cidr } })),
          ports: config.foundationDb.ports.map((p) => ({ port: String(p), protocol: "TCP" })),
        },
      ],
    });
  });

  it("routes the private subnets to FoundationDB through the configured peer", () => {
    const config = loadEnvironment(env);
    const routes = Object.values(resourcesOf(platform(), "aws_route"));
    expect(routes).toHaveLength(config.network.azCount);
    for (const r of routes) {
      expect(r.destination_cidr_block).toBe(config.foundationDb.cidr);
      expect(r.route_table_id).toMatch(/cross-stack-output-aws_route_table/);
      if (config.foundationDb.peer.kind === "vpc-peering") expect(r.vpc_peering_connection_id).toMatch(/^\$\{aws_vpc_peering_connection\./);
      if (config.foundationDb.peer.kind === "transit-gateway") expect(r.transit_gateway_id).toBe(config.foundationDb.peer.transitGatewayId);
    }
    const secret = Object.values(resourcesOf(platform(), "aws_secretsmanager_secret")).find((s) => s.name === config.foundationDb.clusterFileSecretName);
    expect(secret?.kms_key_id).toMatch(/cross-stack-output-aws_kms_keysecrets-key/);
  });

  it("syncs the cluster file into the namespaces that need it", () => {
    const config = loadEnvironment(env);
    const manifests = Object.values(resourcesOf(stackOf(env, "workloads"), "kubernetes_manifest")).map((m) => m.manifest as Record<string, any>);
    const sync = manifests.find((m) => m.kind === "ExternalSecret" && m.metadata.name === "foundationdb-cluster-file");
    expect(sync?.metadata.namespace).toBe(NAMESPACES.platform);
    expect(sync?.spec.data).toEqual([{ secretKey: "fdb.cluster", remoteRef: { key: config.foundationDb.clusterFileSecretName } }]);
  });
});

describe("FoundationDB over PrivateLink", () => {
  it("opens the endpoint's FoundationDB ports to the private subnets only", () => {
    const raw = structuredClone(RAW_ENVIRONMENTS.staging) as Record<string, any>;
    raw.foundationDb.peer = { kind: "privatelink", serviceName: "com.amazonaws.vpce.eu-west-1.vpce-svc-0a1b2c3d4e5f60718" };
    const config = validateEnvironment(raw, "staging");
    const platform = synthApp((app) => addEnvironment(app, config))["staging-platform"] as SynthesizedStack;
    const rules = Object.values(resourcesOf(platform, "aws_vpc_security_group_ingress_rule")).filter((r) => String(r.description).startsWith("FoundationDB"));
    expect(rules.map((r) => `${r.cidr_ipv4}:${r.from_port}-${r.to_port}`).sort()).toEqual(
      config.network.subnets.private.flatMap((c) => config.foundationDb.ports.map((p) => `${c}:${p}-${p}`)).sort(),
    );
    expect(Object.values(resourcesOf(platform, "aws_vpc_endpoint")).find((e) => e.service_name === raw.foundationDb.peer.serviceName)).toMatchObject({ vpc_endpoint_type: "Interface", service_name: raw.foundationDb.peer.serviceName });
    expect(resourcesOf(platform, "aws_route")).toEqual({});
  });
});

/** Well-formed public keys of a silo account and its signing key (fresh, throwaway). */
function siloKeys(): { account: string; signingKey: string } {
  return { account: createAccount().getPublicKey(), signingKey: createAccount().getPublicKey() };
}

describe("silo tenants", () => {
  it("give a siloed enterprise tenant its own worker namespace with enterprise limits, and nothing else per tenant", () => {
    const raw = structuredClone(RAW_ENVIRONMENTS.prod) as Record<string, any>;
    const base = synthApp((app) => addEnvironment(app, validateEnvironment(raw, "prod")))["prod-platform"] as SynthesizedStack;
    raw.nats.siloTenants = ["acme-corp"];
    raw.nats.publicKeys.silos = { "acme-corp": siloKeys() };
    const siloed = synthApp((app) => addEnvironment(app, validateEnvironment(raw, "prod")))["prod-platform"] as SynthesizedStack;
    const [quota] = byNamespace(siloed, "kubernetes_resource_quota_v1").get(siloNamespace("acme-corp")) ?? [];
    expect((quota?.spec as { hard: Record<string, string> }).hard.pods).toBe(String(tiers.enterprise.workers.quota.pods));
    const count = (s: SynthesizedStack) => Object.values(s.json.resource ?? {}).reduce((n, byId) => n + Object.keys(byId).length, 0);
    const perNamespace = (s: SynthesizedStack) => Object.values(resourcesOf(s, "kubernetes_namespace_v1")).length;
    expect(perNamespace(siloed) - perNamespace(base)).toBe(1);
    // One namespace, its four policies (default-deny, DNS, NATS clients, workers to NATS), its
    // quota and its limit range, the Secrets Manager secrets of its NATS account's two seeds and of
    // its three platform users' creds (NACK, ingestor, workers): a constant per silo tenant.
    expect(count(siloed) - count(base)).toBe(1 + 4 + 2 + 2 + 3);
  });

  it("give a silo tenant its own streams and consumers (NACK, as its account's platform user) and an ingestor of its own into the same tables", () => {
    const raw = structuredClone(RAW_ENVIRONMENTS.prod) as Record<string, any>;
    raw.nats.siloTenants = ["acme-corp"];
    const keys = siloKeys();
    raw.nats.publicKeys.silos = { "acme-corp": keys };
    const workloads = synthApp((app) => addEnvironment(app, validateEnvironment(raw, "prod")))["prod-workloads"] as SynthesizedStack;
    const all = Object.entries(resourcesOf(workloads, "kubernetes_manifest")).map(([id, r]) => ({ id, dependsOn: (r.depends_on ?? []) as string[], m: r.manifest as { kind: string; metadata: { name: string; namespace: string }; spec: any } }));
    const named = (kind: string, name: string) => all.find((r) => r.m.kind === kind && r.m.metadata.name === name);
    const account = named("Account", "silo-acme-corp");
    expect(account?.m.spec).toMatchObject({ name: "SILO-acme-corp", creds: { secret: { name: "silo-acme-corp-platform-creds" } } });
    const consumer = named("Consumer", "silo-acme-corp-swarm-ingestor");
    expect(consumer?.m.spec).toMatchObject({ account: "silo-acme-corp", streamName: "SWARM_EVENTS", durableName: "swarm-ingestor" });
    // The silo's ingestor: its own name beside the pooled one, the silo ingestor user's creds, the
    // silo's consumer (not a new one), KEDA reading the silo account's lag, one replica (the
    // enterprise tier's MaxAckPending leaves room for one prefetch).
    const deployment = named("Deployment", "ingestor-silo-acme-corp");
    expect(deployment?.m.metadata.namespace).toBe(NAMESPACES.platform);
    const env = Object.fromEntries((deployment?.m.spec.template.spec.containers[0].env as { name: string; value?: string }[]).map((e) => [e.name, e.value]));
    expect(env[INGESTOR_ENV.consumer]).toBe("swarm-ingestor");
    expect(deployment?.dependsOn).toContain(`kubernetes_manifest.${consumer?.id}`);
    const creds = named("ExternalSecret", "ingestor-silo-acme-corp-nats-creds");
    expect(creds?.m.spec.data[0].remoteRef.key).toBe("enchanted/prod/nats/cluster/silo-acme-corp-ingestor-creds");
    const scaled = named("ScaledObject", "ingestor-silo-acme-corp");
    expect(scaled?.m.spec).toMatchObject({ scaleTargetRef: { name: "ingestor-silo-acme-corp" }, minReplicaCount: 1, maxReplicaCount: 1, triggers: [{ metadata: { account: keys.account, consumer: "swarm-ingestor" } }] });
    // Selectors differ, so the pooled ingestor's Service and PDB never select the silo's pods.
    expect(deployment?.m.spec.selector.matchLabels["app.kubernetes.io/name"]).toBe("ingestor-silo-acme-corp");
    expect(named("Deployment", "ingestor")?.m.spec.selector.matchLabels["app.kubernetes.io/name"]).toBe("ingestor");
    // No new consumer in the SWARM account for it.
    expect(all.filter((r) => r.m.kind === "Consumer" && r.m.spec.durableName === "swarm-ingestor").map((r) => r.m.spec.account).sort()).toEqual(["silo-acme-corp", "swarm"]);
  });

  it("refuses a silo tenant without its NATS keys", () => {
    const raw = structuredClone(RAW_ENVIRONMENTS.prod) as Record<string, any>;
    raw.nats.siloTenants = ["acme-corp"];
    expect(() => validateEnvironment(raw, "prod")).toThrow("nats.publicKeys.silos.acme-corp = (missing): a silo tenant needs its account and signing key");
  });

  it("refuses a silo tenant id that is not a valid tenant id", () => {
    const raw = structuredClone(RAW_ENVIRONMENTS.prod) as Record<string, any>;
    raw.nats.siloTenants = ["acme.corp"];
    expect(() => validateEnvironment(raw, "prod")).toThrow(/nats\.siloTenants\[0\] = "acme\.corp": does not match/);
  });
});

describe("KEDA", () => {
  it("runs HA with restricted security contexts", () => {
    const values = kedaChartValues({ replicas: 2 }) as Record<string, any>;
    expect(values.operator.replicaCount).toBe(2);
    expect(values.podDisruptionBudget.operator).toEqual({ minAvailable: 1 });
    expect(values.securityContext.operator).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
    expect(values.podSecurityContext.operator).toMatchObject({ runAsNonRoot: true });
  });

  it("refuses a replica count of 0", () => {
    expect(() => kedaChartValues({ replicas: 0 })).toThrow("Keda: replicas = 0 must be a positive integer. Fix:");
  });
});

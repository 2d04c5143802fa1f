/** The NATS construct: chart values from config, streams and claims in the synthesized JSON, and no seed anywhere. */
import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { HelmProvider } from "@cdktf/provider-helm/lib/provider/index.js";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider/index.js";
import { TerraformStack, Testing } from "cdktf";
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, HELM_CHARTS, loadEnvironment, loadTierCatalog, PLAN_TIER_NAMES, type EnvironmentName } from "../../config/index.js";
import { Nats, NackController, nackChartValues, nackConsumerSpec, NATS_CLIENT_URL, NATS_EXTERNAL_SERVICE, NATS_MONITORING_ENDPOINT, NATS_NAMES, LOAD_BALANCER_READY_FIELD, NATS_SERVER_SELECTOR, natsChartValues, type NatsProps } from "../../constructs/nats/index.js";
import { workerConsumer } from "../../constructs/worker-pools.js";
import { ingestorConsumerConfig, workerConsumerConfig } from "../../services/nats-auth/consumers.js";
import { LOCAL_INGESTOR_REPLICAS, siloTopologyDeclarations, TOPOLOGY_STREAMS, topologyDeclarations } from "../../services/nats-auth/topology.js";
import { siloNackResourceName } from "../../constructs/nats/silo.js";
import { workerConsumerName } from "../../services/nats-auth/jetstream-names.js";
import { ValidationError } from "../../constructs/core/validation.js";
import { ENCRYPTED_STORAGE_CLASS, NAMESPACES } from "../../constructs/platform-interfaces.js";
import type { AccountClaims } from "../../services/nats-auth/claims.js";
import { AUTH_MOUNT_DIR, serverMaxPayloadBytes } from "../../services/nats-auth/server-config.js";
import { generateNatsSeeds, publicKeysOf } from "../../services/nats-auth/sign.js";
import { DEAD_LETTER_MAX_AGE_DAYS, DEAD_LETTER_MAX_BYTES, DEAD_LETTER_STREAM, DEAD_LETTER_SUBJECT_PREFIX, goDuration, JOB_DEAD_LETTER_STREAM, JOB_DEAD_LETTER_SUBJECT_PREFIX, parseGoDuration, STREAM_NAMES, swarmStreamConfigs, tenantBacklogMessages } from "../../services/nats-auth/streams.js";
import { resourcesOf, synthApp, type SynthesizedStack } from "../support/synth.js";

const tiers = loadTierCatalog();
const SILO = "acme-corp";
/** Any private nkey seed: operator, account or user. */
const SEED_PATTERN = /S[OAU][A-Z2-7]{56}/;

const issuer = { issuerName: "enchanted-internal-ca", issuerKind: "ClusterIssuer" as const };
const secretStore = { storeName: "aws-secrets-manager", storeKind: "ClusterSecretStore" as const };

function propsFor(env: EnvironmentName, overrides: Partial<NatsProps> = {}): NatsProps {
  const config = loadEnvironment(env);
  return { environment: env, nats: { ...config.nats, siloTenants: [SILO] }, tiers, issuer, secretStore, ...overrides };
}

function synthNats(props: NatsProps): SynthesizedStack {
  const stacks = synthApp((app) => {
    const stack = new TerraformStack(app, "nats-test");
    new KubernetesProvider(stack, "kubernetes", {});
    new HelmProvider(stack, "helm", {});
    // The external host's record and the NLB lookup are AWS resources.
    new AwsProvider(stack, "aws", { region: "eu-west-1" });
    new NackController(stack, "nack");
    new Nats(stack, "nats", props);
  });
  return stacks["nats-test"] as SynthesizedStack;
}

const manifests = (stack: SynthesizedStack, kind: string) =>
  Object.values(resourcesOf(stack, "kubernetes_manifest"))
    .map((r) => r.manifest as { kind: string; metadata: { name: string; namespace?: string }; spec?: Record<string, unknown>; data?: Record<string, string> })
    .filter((m) => m.kind === kind);

const releases = (stack: SynthesizedStack) => Object.values(resourcesOf(stack, "helm_release")) as { name: string; chart: string; version: string; repository: string; namespace: string; values: string[] }[];

describe.each(ENVIRONMENT_NAMES)("%s: natsChartValues", (env) => {
  const props = propsFor(env);
  const values = natsChartValues(props) as {
    config: Record<string, any>;
    container: Record<string, any>;
    reloader: Record<string, any>;
    podTemplate: Record<string, any>;
    [k: string]: any;
  };
  const n = props.nats;

  it("runs config.nats.replicas servers, clustered over TLS when more than one", () => {
    expect(values.config.cluster).toEqual({ enabled: n.replicas > 1, replicas: n.replicas, tls: { enabled: true, secretName: NATS_NAMES.tlsSecret } });
    expect(values.config.nats.tls).toEqual({ enabled: true, secretName: NATS_NAMES.tlsSecret });
    expect(values.tlsCA).toEqual({ enabled: true, secretName: NATS_NAMES.tlsSecret, key: "ca.crt" });
  });

  it("keeps JetStream in files on an encrypted gp3 volume of config.nats.storageGiB", () => {
    expect(values.config.jetstream).toMatchObject({
      enabled: true,
      fileStore: { enabled: true, pvc: { enabled: true, size: `${n.storageGiB}Gi`, storageClassName: ENCRYPTED_STORAGE_CLASS } },
      memoryStore: { enabled: false },
    });
    expect(values.config.resolver).toMatchObject({ enabled: true, pvc: { storageClassName: ENCRYPTED_STORAGE_CLASS }, merge: { type: "full", allow_delete: false } });
  });

  it("includes the auth file from the synced Secret and caps payloads at the largest tier's", () => {
    expect(values.config.merge).toEqual({ $include: "../nats-auth/auth.conf", max_payload: serverMaxPayloadBytes(tiers) });
    expect(values.container.patch).toEqual([{ op: "add", path: "/volumeMounts/-", value: { name: "nats-auth", mountPath: AUTH_MOUNT_DIR, readOnly: true } }]);
    expect(values.podTemplate.patch).toEqual([{ op: "add", path: "/spec/volumes/-", value: { name: "nats-auth", secret: { secretName: NATS_NAMES.authSecret } } }]);
  });

  it("monitors on 8222, spreads over zones and hosts, has a PDB and runs non-root", () => {
    expect(values.config.monitor).toEqual({ enabled: true, port: 8222 });
    expect(Object.keys(values.podTemplate.topologySpreadConstraints)).toEqual(["topology.kubernetes.io/zone", "kubernetes.io/hostname"]);
    expect(values.podDisruptionBudget).toEqual({ enabled: true });
    expect(values.podTemplate.merge.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } });
    for (const c of [values.container, values.reloader]) {
      expect(c.merge.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
    }
    expect(values.natsBox).toEqual({ enabled: false });
  });
});

describe("Nats construct", () => {
  const seeds = generateNatsSeeds([SILO]);
  const keys = publicKeysOf(seeds);
  const props = propsFor("prod", { publicKeys: keys });
  const stack = synthNats(props);

  it("installs the pinned NATS and NACK charts into the nats namespace with the pure values", () => {
    const [nack, nats] = [releases(stack).find((r) => r.chart === "nack"), releases(stack).find((r) => r.chart === "nats")];
    expect(nats).toMatchObject({ name: "nats", namespace: NAMESPACES.nats, repository: HELM_CHARTS.nats.repository, version: HELM_CHARTS.nats.version });
    expect(JSON.parse(nats?.values[0] ?? "{}")).toEqual(JSON.parse(JSON.stringify(natsChartValues(props))));
    expect(nack).toMatchObject({ namespace: NAMESPACES.nats, version: HELM_CHARTS.nack.version });
    expect(JSON.parse(nack?.values[0] ?? "{}")).toEqual(JSON.parse(JSON.stringify(nackChartValues())));
  });

  it("declares both streams and both dead-letter streams as NACK Stream resources from streams.ts in the SWARM account", () => {
    const streams = manifests(stack, "Stream").filter((m) => m.spec?.account === NATS_NAMES.nackAccount);
    const declared = swarmStreamConfigs(props.nats);
    expect(streams.map((s) => s.spec?.name).sort()).toEqual([declared.events.name, DEAD_LETTER_STREAM, declared.jobs.name, JOB_DEAD_LETTER_STREAM].sort());
    // Every stream of the topology's one declaration, and nothing else.
    expect(streams).toHaveLength(TOPOLOGY_STREAMS.length);
    expect(streams.map((s) => s.spec?.name).sort()).toEqual(topologyDeclarations({ nats: props.nats }).streams.map((s) => s.name).sort());
    // Failed jobs: replicated like the jobs, kept like the ingestor's dead letters.
    expect(streams.find((s) => s.spec?.name === JOB_DEAD_LETTER_STREAM)?.spec).toMatchObject({
      subjects: [`${JOB_DEAD_LETTER_SUBJECT_PREFIX}.*`],
      storage: "file",
      replicas: props.nats.streams.jobs.replicas,
      maxAge: `${DEAD_LETTER_MAX_AGE_DAYS * 24}h`,
      maxBytes: DEAD_LETTER_MAX_BYTES,
      retention: "limits",
      account: NATS_NAMES.nackAccount,
      preventDelete: true,
    });
    // Refused events: replicated like the events, kept 14 days, 1 GiB at most, never deleted with the stack.
    expect(streams.find((s) => s.spec?.name === DEAD_LETTER_STREAM)?.spec).toMatchObject({
      subjects: [`${DEAD_LETTER_SUBJECT_PREFIX}.*`],
      storage: "file",
      replicas: props.nats.streams.events.replicas,
      maxAge: `${DEAD_LETTER_MAX_AGE_DAYS * 24}h`,
      maxBytes: DEAD_LETTER_MAX_BYTES,
      retention: "limits",
      account: NATS_NAMES.nackAccount,
      preventDelete: true,
    });
    for (const key of ["events", "jobs"] as const) {
      const c = props.nats.streams[key];
      expect(streams.find((s) => s.spec?.name === declared[key].name)?.spec).toMatchObject({
        subjects: declared[key].subjects,
        storage: "file",
        replicas: c.replicas,
        maxAge: `${c.maxAgeHours}h`,
        maxBytes: c.maxBytesGiB * 1024 ** 3,
        duplicateWindow: `${c.duplicateWindowSeconds}s`,
        retention: key === "jobs" ? "workqueue" : "interest",
        maxMsgsPerSubject: tenantBacklogMessages(tiers),
        discard: "new",
        discardPerSubject: true,
        // Offboarding purges a tenant's messages (only the provisioning user may); no message delete.
        denyPurge: false,
        denyDelete: true,
        account: NATS_NAMES.nackAccount,
        preventDelete: true,
      });
    }
    expect(streams.find((s) => s.spec?.name === declared.events.name)?.spec?.subjectTransform).toEqual({ source: "swarm.*.*.events", dest: "swarm.{{wildcard(1)}}.events" });
    expect(manifests(stack, "Account")[0]?.spec).toMatchObject({ servers: ["nats://nats.nats.svc.cluster.local:4222"], creds: { secret: { name: NATS_NAMES.platformCredsSecret } } });
  });

  it("publishes the unsigned claims, so a diff shows every account limit and tier template, tenant accounts' too", () => {
    const data = manifests(stack, "ConfigMap").find((m) => m.metadata.name === NATS_NAMES.claimsConfigMap)?.data ?? {};
    expect(Object.keys(data).sort()).toEqual([`account-SILO-${SILO}.json`, "account-SWARM.json", "account-SYS.json", "operator.json", ...PLAN_TIER_NAMES.map((t) => `tenant-account-${t}.json`)].sort());
    const swarm = JSON.parse(data["account-SWARM.json"] ?? "{}") as AccountClaims;
    expect(swarm.sub).toBe(keys.swarmAccount);
    expect(swarm.nats.limits).toMatchObject({ conn: props.nats.account.maxConnections, disk_storage: props.nats.account.jetstreamMaxStorageGiB * 1024 ** 3 });
    expect(swarm.nats.exports?.map((e) => e.subject)).toEqual(["swarm.*.*.events", "swarm.*.jobs.*"]);
    for (const t of PLAN_TIER_NAMES) {
      const tenant = JSON.parse(data[`tenant-account-${t}.json`] ?? "{}") as AccountClaims;
      expect(tenant.iss).toBe(keys.tenantAccountSigningKey);
      expect(tenant.nats.limits).toMatchObject({ conn: tiers[t].bus.connections, subs: tiers[t].bus.subscriptions, payload: tiers[t].bus.maxPayloadBytes });
      expect(tenant.nats.signing_keys).toEqual([expect.objectContaining({ role: t, key: keys.swarmSigningKeys[t], template: expect.objectContaining({ subs: tiers[t].bus.subscriptions, payload: tiers[t].bus.maxPayloadBytes }) })]);
    }
  });

  it("syncs only the cluster artifacts from Secrets Manager, never a seed", () => {
    const remote = manifests(stack, "ExternalSecret").map((m) => (m.spec?.data as { remoteRef: { key: string } }[]).map((d) => d.remoteRef.key));
    expect(remote.flat().sort()).toEqual([`${props.nats.seedSecretPrefix}/cluster/auth-conf`, `${props.nats.seedSecretPrefix}/cluster/platform-creds`, `${props.nats.seedSecretPrefix}/cluster/silo-${SILO}-platform-creds`]);
  });

  it("gives each silo tenant its own streams and consumers through NACK, as the silo account's platform user", () => {
    const account = siloNackResourceName(SILO);
    const secret = manifests(stack, "ExternalSecret").find((m) => (m.spec?.data as { remoteRef: { key: string } }[])[0]?.remoteRef.key.endsWith(`silo-${SILO}-platform-creds`));
    const secretName = (secret?.spec?.target as { name: string }).name;
    expect(secretName).toBe(`${account}-platform-creds`);
    expect(manifests(stack, "Account").find((m) => (m.metadata as { name: string }).name === account)?.spec).toMatchObject({
      name: `SILO-${SILO}`,
      creds: { secret: { name: secretName }, file: NATS_NAMES.platformCredsKey },
    });
    const declared = siloTopologyDeclarations(SILO, { nats: props.nats, tiers });
    const ofSilo = (kind: string) => manifests(stack, kind).filter((m) => m.spec?.account === account).map((m) => m.spec?.name ?? m.spec?.durableName).sort();
    expect(ofSilo("Stream")).toEqual(declared.streams.map((s) => s.name).sort());
    expect(ofSilo("Consumer")).toEqual(declared.consumers.map((c) => c.durable_name).sort());
    // The Account waits for the servers and the creds Secret; nothing of the silo is synthesized without the tenant in siloTenants.
    const accountResource = Object.values(resourcesOf(stack, "kubernetes_manifest")).find((r) => (r.manifest as { kind: string; metadata: { name: string } }).kind === "Account" && (r.manifest as { metadata: { name: string } }).metadata.name === account);
    expect((accountResource?.depends_on as string[]).some((d) => d.startsWith("helm_release."))).toBe(true);
    expect((accountResource?.depends_on as string[]).some((d) => d.includes("silo-acme-corp-platform-creds"))).toBe(true);
    const pooled = synthNats(propsFor("prod", { nats: { ...props.nats, siloTenants: [] }, publicKeys: { ...keys, silos: {} } }));
    expect(manifests(pooled, "Account").map((m) => (m.metadata as { name: string }).name)).toEqual([NATS_NAMES.nackAccount]);
  });

  it("synthesizes no private key seed, although the keys it was given came from real seeds", () => {
    expect(stack.text).not.toMatch(SEED_PATTERN);
    const all = [seeds.operator, seeds.systemAccount, seeds.swarmAccount, seeds.tenantAccountSigningKey, seeds.tenantImportSigningKey, ...Object.values(seeds.swarmSigningKeys), ...Object.values(seeds.silos).flatMap((s) => [s.account, s.signingKey])];
    for (const s of all) expect(stack.text).not.toContain(s);
    expect(stack.text).toContain(keys.swarmAccount);
  });

  it("certifies the client service and every route host for the internal CA", () => {
    const cert = manifests(stack, "Certificate")[0]?.spec as { dnsNames: string[]; issuerRef: unknown; secretName: string };
    expect(cert.secretName).toBe(NATS_NAMES.tlsSecret);
    expect(cert.issuerRef).toEqual({ name: issuer.issuerName, kind: "ClusterIssuer", group: "cert-manager.io" });
    expect(cert.dnsNames).toEqual(expect.arrayContaining(["nats.nats.svc.cluster.local", "*.nats-headless", "*.nats-headless.nats.svc.cluster.local"]));
    expect(NATS_MONITORING_ENDPOINT).toBe("nats-headless.nats.svc.cluster.local:8222");
  });

  it("fails with the prop, the value and the fix", () => {
    const bad = (overrides: Partial<NatsProps>) => () => synthNats(propsFor("prod", overrides));
    const prod = loadEnvironment("prod").nats;
    expect(bad({ nats: { ...prod, replicas: 2 as 3 } })).toThrow(/nats\.replicas = 2 is not 1, 3, 5, 7\. Fix: use 1 server/);
    expect(bad({ nats: { ...prod, replicas: 9 as 3 } })).toThrow(/nats\.replicas = 9 is not 1, 3, 5, 7\. Fix: use 1 server \(dev\) or an odd quorum of 3, 5 or 7/);
    expect(bad({ nats: { ...prod, storageGiB: 100 } })).toThrow(/nats\.storageGiB = 100 .*Fix: raise nats\.storageGiB/);
    expect(bad({ publicKeys: { ...keys, swarmAccount: keys.operator } })).toThrow(/publicKeys\.swarmAccount = "O.*Fix: copy the public keys/);
    expect(bad({ publicKeys: { ...keys, silos: {} } })).toThrow(/publicKeys\.silos\.acme-corp/);
    // The constructs' one error class, its message starting with the construct's path.
    expect(bad({ memoryLimitMiB: 100 })).toThrow(ValidationError);
    expect(bad({ memoryLimitMiB: 100 })).toThrow(/^nats-test\/nats: memoryLimitMiB = 100 is below 512\. Fix: give each server at least 512 MiB\.$/);
  });

  it("uses placeholder keys in the claims until nats:bootstrap has run", () => {
    const placeholder = synthNats(propsFor("dev"));
    expect(placeholder.text).toContain("UNSET-swarm-account-run-nats-bootstrap");
    expect(placeholder.text).not.toMatch(SEED_PATTERN);
  });
});

describe("Nats external access", () => {
  const keys = publicKeysOf(generateNatsSeeds([SILO]));
  const external = { hostname: "nats.example.com", allowedCidrs: ["203.0.113.0/24", "198.51.100.0/24"], loadBalancerCidrs: ["10.30.0.0/24", "10.30.1.0/24"], clusterName: "enchanted-prod" };
  const stack = synthNats(propsFor("prod", { publicKeys: keys, external }));
  const services = manifests(stack, "Service") as unknown as { metadata: { name: string; namespace: string; annotations: Record<string, string> }; spec: Record<string, any> }[];
  const policy = () => Object.values(resourcesOf(stack, "kubernetes_network_policy_v1")).find((p) => (p.metadata as { name: string }).name === "allow-nats") as { spec: { ingress: { from?: { ip_block?: { cidr: string } }[]; ports?: { port: string }[] }[] } };

  it("puts an internet-facing NLB on the client port, passing TCP to the servers' TLS, open to the allowed ranges only", () => {
    expect(services).toHaveLength(1);
    const svc = services[0];
    expect(svc?.metadata).toMatchObject({ name: NATS_EXTERNAL_SERVICE, namespace: NAMESPACES.nats });
    expect(svc?.metadata.annotations).toMatchObject({
      "service.beta.kubernetes.io/aws-load-balancer-type": "external",
      "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
      "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
      "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "tcp",
    });
    // No listener certificate: TLS terminates at nats-server.
    expect(Object.keys(svc?.metadata.annotations ?? {}).some((k) => k.endsWith("ssl-cert"))).toBe(false);
    expect(svc?.spec).toMatchObject({ type: "LoadBalancer", loadBalancerSourceRanges: external.allowedCidrs, selector: NATS_SERVER_SELECTOR, ports: [{ name: "nats", port: 4222, targetPort: 4222, protocol: "TCP" }] });
    // The servers' TLS is on for clients, and their certificate names the external host.
    expect((natsChartValues(propsFor("prod")) as { config: { nats: { tls: { enabled: boolean } } } }).config.nats.tls.enabled).toBe(true);
    const cert = manifests(stack, "Certificate")[0]?.spec as { dnsNames: string[] };
    expect(cert.dnsNames).toContain("nats.example.com");
    expect(stack.suppressions).toEqual([]);
  });

  it("admits the NLB's addresses on the client port only, and says where agents connect", () => {
    const rule = policy().spec.ingress.find((r) => r.from?.some((f) => f.ip_block));
    expect(rule?.from?.map((f) => f.ip_block?.cidr)).toEqual(external.loadBalancerCidrs);
    expect(rule?.ports?.map((p) => p.port)).toEqual(["4222"]);
    const app = Testing.app();
    const build = (id: string, extra: Partial<NatsProps>) => new Nats(new TerraformStack(app, id), "nats", propsFor("prod", { publicKeys: keys, ...extra }));
    expect(build("t", { external }).publicUrl).toBe("tls://nats.example.com:4222");
    const inClusterNats = build("u", {});
    expect(inClusterNats.publicUrl).toBe(NATS_CLIENT_URL);
    expect(inClusterNats.externalService).toBeUndefined();
    const inCluster = synthNats(propsFor("prod", { publicKeys: keys }));
    expect(manifests(inCluster, "Service")).toEqual([]);
  });

  it("points the host at the NLB: an alias record in the zone, found by the controller's tags once the Service has its address", () => {
    const zoned = synthNats(propsFor("prod", { publicKeys: keys, external: { ...external, hostedZoneId: "Z0123456789ABC" } }));
    const service = Object.entries(resourcesOf(zoned, "kubernetes_manifest")).find(([, r]) => (r.manifest as { kind: string }).kind === "Service");
    expect(service?.[1].wait).toEqual({ fields: { [LOAD_BALANCER_READY_FIELD]: "^.+$" } });
    const lookups = Object.entries(zoned.json.data?.aws_lb ?? {});
    expect(lookups).toHaveLength(1);
    const [lbId, lb] = lookups[0] as [string, Record<string, unknown>];
    expect(lb.tags).toEqual({ "elbv2.k8s.aws/cluster": "enchanted-prod", "service.k8s.aws/stack": `${NAMESPACES.nats}/${NATS_EXTERNAL_SERVICE}` });
    // Read while applying, after the Service waited for its NLB (not at plan time, before it exists).
    expect(lb.depends_on).toEqual([`kubernetes_manifest.${service?.[0]}`]);
    const records = Object.values(resourcesOf(zoned, "aws_route53_record"));
    expect(records).toEqual([
      expect.objectContaining({ zone_id: "Z0123456789ABC", name: "nats.example.com", type: "A", alias: { name: `\${data.aws_lb.${lbId}.dns_name}`, zone_id: `\${data.aws_lb.${lbId}.zone_id}`, evaluate_target_health: true } }),
    ]);
    // Without a zone: no record, an output naming the host and the NLB for the zone's owner.
    expect(resourcesOf(stack, "aws_route53_record")).toEqual({});
    const outputs = Object.values(stack.json.output ?? {}) as { value: { names: string[]; target: string } }[];
    expect(outputs.find((o) => o.value?.names?.includes("nats.example.com"))?.value.target).toMatch(/^\$\{data\.aws_lb\..*\.dns_name\}$/);
  });

  it("refuses an empty range list, 0.0.0.0/0 without allowAnywhere, a bad range or host name, naming the field and the fix", () => {
    const bad = (e: Partial<typeof external> & { allowAnywhere?: boolean }) => () => synthNats(propsFor("prod", { publicKeys: keys, external: { ...external, ...e } }));
    expect(bad({ allowedCidrs: [] })).toThrow(/external\.allowedCidrs = \[\] is empty.*Fix: list the ranges agents connect from/);
    expect(bad({ allowedCidrs: ["203.0.113.0/24", "0.0.0.0/0"] })).toThrow(/external\.allowedCidrs\[1\] = "0\.0\.0\.0\/0" opens the NATS client port to the whole internet\. Fix: .*allowAnywhere: true/);
    expect(bad({ allowedCidrs: ["::/0"] })).toThrow(/external\.allowedCidrs\[0\] = "::\/0"/);
    expect(bad({ allowedCidrs: ["203.0.113.1/24"] })).toThrow(/external\.allowedCidrs\[0\] = "203\.0\.113\.1\/24" is not an IPv4 CIDR block/);
    expect(bad({ hostname: "NATS" })).toThrow(/external\.hostname = "NATS"/);
    expect(bad({ loadBalancerCidrs: [] })).toThrow(/external\.loadBalancerCidrs = \[\].*Fix: pass the public subnets/);
    expect(bad({ clusterName: "" })).toThrow(/external\.clusterName = "" is empty.*Fix: pass the EKS cluster's name/);
    expect(bad({ allowedCidrs: ["0.0.0.0/0"] })).toThrow(ValidationError);
  });

  it("accepts 0.0.0.0/0 with allowAnywhere: true, as a recorded NATS-1 suppression with its reason", () => {
    const open = synthNats(propsFor("prod", { publicKeys: keys, external: { ...external, allowedCidrs: ["0.0.0.0/0"], allowAnywhere: true } }));
    expect(open.suppressions).toEqual([expect.objectContaining({ ruleId: "NATS-1", reason: expect.stringContaining("allowAnywhere: true") })]);
  });
});

describe("NACK consumer specs", () => {
  it("writes a worker pool's declared consumer as NACK takes it, durations as Go writes them", () => {
    expect(nackConsumerSpec(workerConsumerConfig("pro", tiers), { account: NATS_NAMES.nackAccount, preventDelete: true })).toEqual({
      account: "swarm",
      streamName: STREAM_NAMES.jobs,
      durableName: workerConsumerName("pro"),
      filterSubject: "swarm.*.jobs.pro",
      ackPolicy: "explicit",
      deliverPolicy: "all",
      ackWait: "5m",
      maxDeliver: 5,
      maxAckPending: tiers.pro.bus.maxAckPending,
      preventDelete: true,
    });
    // One name for a tier's consumer: the declaration's is the one KEDA's trigger and the resource use.
    for (const tier of PLAN_TIER_NAMES) expect(workerConsumer(tier)).toBe(workerConsumerName(tier));
    expect(nackConsumerSpec(workerConsumerConfig("free", tiers, { ackWait: "90s", maxDeliver: -1 }), { account: "a", preventDelete: false })).toMatchObject({ ackWait: "90s", maxDeliver: -1 });
  });

  it("reads and writes Go durations of whole seconds, and refuses others naming the fix", () => {
    expect(parseGoDuration("5m", "ackWait")).toBe(300e9);
    expect(parseGoDuration("1h30m", "ackWait")).toBe(5_400e9);
    expect(goDuration(300e9, { minutes: true })).toBe("5m");
    expect(goDuration(300e9)).toBe("300s");
    expect(goDuration(7_200e9, { minutes: true })).toBe("2h");
    expect(goDuration(30e9, { minutes: true })).toBe("30s");
    expect(() => parseGoDuration("5 minutes", "ackWait")).toThrow(/ackWait = "5 minutes" is not a duration of whole seconds\. Fix: write it as Go does/);
    expect(() => workerConsumerConfig("free", tiers, { maxDeliver: 0 })).toThrow(/maxDeliver = 0 .*Fix:/);
  });
});

describe("the topology's one declaration", () => {
  it("is what NACK gets, capped and single-replica where createTopology runs on one server", () => {
    const nats = loadEnvironment("prod").nats;
    const full = topologyDeclarations({ nats, workers: { tiers } });
    expect(full.streams.map((s) => s.name)).toEqual([STREAM_NAMES.events, STREAM_NAMES.jobs, DEAD_LETTER_STREAM, JOB_DEAD_LETTER_STREAM]);
    expect(full.streams[0]).toEqual(swarmStreamConfigs(nats).events);
    expect(full.consumers.map((c) => `${c.stream}/${c.durable_name}`)).toEqual([
      `${STREAM_NAMES.events}/swarm-ingestor`,
      ...PLAN_TIER_NAMES.map((t) => `${STREAM_NAMES.jobs}/${workerConsumerName(t)}`),
    ]);
    expect(full.consumers[0]).toEqual(ingestorConsumerConfig({ maxReplicas: LOCAL_INGESTOR_REPLICAS }));
    const local = topologyDeclarations({ nats, replicas: 1, streams: ["events", "deadLetters"], maxBytes: { events: 1024 }, ingestor: { name: "local", ackWaitMs: 2_000 } });
    expect(local.streams.map((s) => [s.name, s.num_replicas, s.max_bytes])).toEqual([
      [STREAM_NAMES.events, 1, 1024],
      [DEAD_LETTER_STREAM, 1, DEAD_LETTER_MAX_BYTES],
    ]);
    expect(local.consumers).toEqual([{ ...ingestorConsumerConfig({ name: "local", maxReplicas: LOCAL_INGESTOR_REPLICAS }), ack_wait: 2_000_000_000 }]);
    expect(topologyDeclarations({ nats, ingestor: false }).consumers).toEqual([]);
  });

  it("declares the ingestor's consumer with what the ingestor needs, and refuses what it would refuse", () => {
    expect(ingestorConsumerConfig({ maxReplicas: 3 })).toEqual({
      stream: STREAM_NAMES.events,
      durable_name: "swarm-ingestor",
      filter_subject: "swarm.*.events",
      ack_policy: "explicit",
      deliver_policy: "all",
      ack_wait: 30e9,
      max_deliver: -1,
      max_ack_pending: 3 * 30_000,
    });
    expect(() => ingestorConsumerConfig({ name: "a.b", maxReplicas: 1 })).toThrow(/name = "a\.b" is not a durable consumer name the ingestor accepts\. Fix: use 1-64/);
    expect(() => ingestorConsumerConfig({ maxReplicas: 0 })).toThrow(/maxReplicas = 0 is not a positive whole number/);
    expect(() => ingestorConsumerConfig({ maxReplicas: 1, ackWaitMs: 1_500 })).toThrow(/ackWaitMs = 1500 is not a whole number of seconds/);
  });
});

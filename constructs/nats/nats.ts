/**
 * The NATS construct: the JetStream cluster of the event bus, its auth and its streams.
 */
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { NATS_CLUSTER_SIZES, type EnvironmentConfig } from "../../config/environment.js";
import { assertTenantId } from "../../config/tenancy.js";
import { PLAN_TIER_NAMES, type PlanTierName } from "../../config/tiers.js";
import { HELM_CHARTS } from "../../config/versions.js";
import { ACCOUNT_NAMES, natsAuthClaims, type NatsPublicKeys } from "../../services/nats-auth/claims.js";
import { tenantAccountPreview } from "../../services/nats-auth/tenant-accounts.js";
import { natsSecretNames, type NatsSecretNames, type SiloCredsNames } from "../../services/nats-auth/secret-names.js";
import { AUTH_INCLUDE_FILE, jetStreamMaxFileStoreMiB } from "../../services/nats-auth/server-config.js";
import { checkPublicKey } from "../../services/nats-auth/sign.js";
import { deadLetterStreamConfig, jobDeadLetterStreamConfig, STREAM_NAMES, swarmStreamConfigs, type SwarmStreamConfig } from "../../services/nats-auth/streams.js";
import { propFail, type PropFail } from "../core/validation.js";
import { SyncedSecret } from "../external-secrets.js";
import { WorkloadAccess, type NetworkPeer, type NetworkPort } from "../k8s/network-policy.js";
import { PinnedHelmRelease } from "../pinned-helm-release.js";
import { suppressPolicyRule } from "../policy/index.js";
import { PORTS, type ICertificateIssuer, type ISecretStore } from "../platform-interfaces.js";
import { DEFAULT_NATS_CPU_REQUEST_MILLICORES, DEFAULT_NATS_MEMORY_LIMIT_MIB, natsChartValues, type NatsChartValuesProps } from "./chart-values.js";
import { addNatsExternalService, ANYWHERE_CIDRS, checkExternalAccess, type NatsExternalAccess } from "./external.js";
import { addNackStream, NACK_API_VERSION } from "./jetstream.js";
import { SiloNackTopology, siloNackResourceName } from "./silo.js";
import { NATS_CLIENT_URL, NATS_HEADLESS_HOST, NATS_MONITORING_ENDPOINT, NATS_NAMES, NATS_NAMESPACE, NATS_SERVICE_HOST } from "./names.js";

const MIN_MEMORY_LIMIT_MIB = 512;
const MIN_CPU_REQUEST_MILLICORES = 100;
const CERTIFICATE_DURATION = "2160h";
const CERTIFICATE_RENEW_BEFORE = "360h";
const namespace = NATS_NAMESPACE;

export interface NatsProps extends NatsChartValuesProps {
  /** Environment name (the operator is `enchanted-<environment>`). */
  readonly environment: string;
  /** The environment's `nats` section. */
  readonly nats: EnvironmentConfig["nats"];
  /** Issues the servers' certificate (client and route TLS). */
  readonly issuer: ICertificateIssuer;
  /** Reads the auth include and the platform creds from Secrets Manager. */
  readonly secretStore: ISecretStore;
  /**
   * Public nkeys printed by `npm run nats:bootstrap` (`config.nats.publicKeys`); they put real
   * keys into the published claims and the SWARM account's key on {@link Nats.swarmAccountPublicKey}.
   * @default - claims are published with placeholder keys and swarmAccountPublicKey is undefined
   */
  readonly publicKeys?: NatsPublicKeys;
  /** Chart version from the environment's config (`charts.nats`). @default HELM_CHARTS.nats.version */
  readonly version?: string;
  /** Keep each JetStream stream when its `Stream` resource is deleted. @default true */
  readonly retainStreamsOnDelete?: boolean;
  /**
   * NATS reachable from outside the cluster through an internet-facing NLB (`config.nats.external`
   * and the NLB's subnets): see external.ts. @default - in-cluster only
   */
  readonly external?: NatsExternalAccess;
  /** Resources the release waits for. @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/** Stand-ins until `nats:bootstrap` has run: they make the published claims show their role. */
export function placeholderPublicKeys(siloTenants: readonly string[]): NatsPublicKeys {
  const unset = (role: string) => `UNSET-${role}-run-nats-bootstrap`;
  return {
    operator: unset("operator"),
    systemAccount: unset("system-account"),
    swarmAccount: unset("swarm-account"),
    tenantAccountSigningKey: unset("tenant-account-signing-key"),
    tenantImportSigningKey: unset("tenant-import-signing-key"),
    swarmSigningKeys: Object.fromEntries(PLAN_TIER_NAMES.map((t) => [t, unset(`swarm-signing-key-${t}`)])) as Record<PlanTierName, string>,
    silos: Object.fromEntries(siloTenants.map((t) => [t, { account: unset(`silo-${t}-account`), signingKey: unset(`silo-${t}-signing-key`) }])),
  };
}

/**
 * NATS JetStream, the event bus (workloads stack: it creates cert-manager, External Secrets and
 * NACK custom resources). The servers' certificate; the auth include and the platform creds
 * synced from Secrets Manager (no seed ever reaches Terraform: `nats:bootstrap` signs and stores
 * them); the NATS chart; NACK's `Account` and the `Stream`s declared in
 * services/nats-auth/streams.ts (the events, the jobs and both dead-letter streams); a ConfigMap with the unsigned account claims, so a diff shows
 * every limit and template. Consumers are declared by their owners (the Ingestor, the worker
 * pools) through {@link nackAccountName}, after {@link streamResources}.
 */
export class Nats extends Construct {
  /** `nats://…:4222`; the server requires TLS (CA: the internal CA, `ca.crt` of {@link tlsSecretName}). */
  readonly clientUrl = NATS_CLIENT_URL;
  /**
   * The URL agents outside the cluster connect to: `tls://<external hostname>:4222` when
   * {@link NatsProps.external} is set, else {@link clientUrl} (the in-cluster Service).
   */
  readonly publicUrl: string;
  /** The external Service (the NLB), when {@link NatsProps.external} is set. */
  readonly externalService: Manifest | undefined;
  /** KEDA's `natsServerMonitoringEndpoint`: `host:port` of the headless Service's monitoring port. */
  readonly monitoringEndpoint = NATS_MONITORING_ENDPOINT;
  /** The same endpoint as an URL (`/jsz`, `/healthz`). */
  readonly monitoringUrl = `http://${NATS_MONITORING_ENDPOINT}`;
  /** Public key of the SWARM account (KEDA's `account`), when {@link NatsProps.publicKeys} is set. */
  readonly swarmAccountPublicKey: string | undefined;
  readonly streamNames = STREAM_NAMES;
  /** The NACK `Account` resource's name: consumers declared elsewhere connect through it. */
  readonly nackAccountName = NATS_NAMES.nackAccount;
  /** The NACK `Stream` resources, for `dependsOn` of consumers on them. */
  readonly streamResources: Manifest[] = [];
  readonly tlsSecretName = NATS_NAMES.tlsSecret;
  /** Secrets Manager names (the stack creates them; other namespaces sync the platform creds from them). */
  readonly secretNames: NatsSecretNames;
  readonly helm: PinnedHelmRelease;
  /** The client port (4222) and the monitoring port (8222, `/jsz` for KEDA). */
  readonly ports = { client: PORTS.natsClient, monitoring: PORTS.natsMonitoring } as const;
  /** Each silo tenant's NACK topology (its account's streams and consumers), by tenant id. */
  readonly siloTopologies: Record<string, SiloNackTopology> = {};
  private readonly access: WorkloadAccess;

  constructor(scope: Construct, id: string, props: NatsProps) {
    super(scope, id);
    // Who may connect: the servers' routes and NACK inside the namespace; clients by allowFrom.
    this.access = new WorkloadAccess(this, "access", {
      name: "allow-nats",
      namespace,
      defaultPorts: [PORTS.natsClient],
      ownIngress: [{ peers: [{ namespace }] }],
      egress: [{ peers: [{ namespace }] }],
    });
    const siloTenants = [...props.nats.siloTenants];
    checkProps(propFail(this), props, siloTenants);
    if (props.external) checkExternalAccess(props.external, propFail(this));
    this.publicUrl = props.external ? `tls://${props.external.hostname}:${PORTS.natsClient}` : NATS_CLIENT_URL;
    const retainStreams = props.retainStreamsOnDelete ?? true;
    const keys = props.publicKeys ?? placeholderPublicKeys(siloTenants);
    this.swarmAccountPublicKey = props.publicKeys?.swarmAccount;
    this.secretNames = natsSecretNames(props.nats.seedSecretPrefix, siloTenants);

    const certificate = new Manifest(this, "certificate", {
      manifest: {
        apiVersion: "cert-manager.io/v1",
        kind: "Certificate",
        metadata: { name: NATS_NAMES.tlsSecret, namespace },
        spec: {
          secretName: NATS_NAMES.tlsSecret,
          commonName: NATS_SERVICE_HOST,
          dnsNames: [...certificateDnsNames(), ...(props.external ? [props.external.hostname] : [])],
          duration: CERTIFICATE_DURATION,
          renewBefore: CERTIFICATE_RENEW_BEFORE,
          // Routes are TLS clients of each other, so the servers' certificate serves both ways.
          usages: ["server auth", "client auth", "digital signature"],
          privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
          issuerRef: { name: props.issuer.issuerName, kind: props.issuer.issuerKind, group: "cert-manager.io" },
        },
      },
    });
    new SyncedSecret(this, "auth", {
      store: props.secretStore,
      namespace,
      secretName: NATS_NAMES.authSecret,
      remoteKey: this.secretNames.cluster.authConf,
      data: [{ secretKey: AUTH_INCLUDE_FILE }],
    });
    new SyncedSecret(this, "platform-creds", {
      store: props.secretStore,
      namespace,
      secretName: NATS_NAMES.platformCredsSecret,
      remoteKey: this.secretNames.cluster.platformCreds,
      data: [{ secretKey: NATS_NAMES.platformCredsKey }],
    });

    // Agents outside the cluster: the NLB, and the ingress policy admitting its addresses on the client port.
    this.externalService = props.external ? addNatsExternalService(this, props.external, [certificate]) : undefined;
    if (props.external) this.access.allowFrom(props.external.loadBalancerCidrs.map((cidr) => ({ cidr })), [PORTS.natsClient]);
    if (this.externalService && props.external?.allowAnywhere === true && props.external.allowedCidrs.some((c) => (ANYWHERE_CIDRS as readonly string[]).includes(c))) {
      suppressPolicyRule(this.externalService, "NATS-1", "external.allowAnywhere: true was set on purpose: the NATS client port is open to every address; connections still need TLS and a user JWT");
    }

    const claims = natsAuthClaims({ name: props.environment, nats: props.nats }, props.tiers, keys);
    new Manifest(this, "claims", {
      manifest: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: NATS_NAMES.claimsConfigMap, namespace, labels: { "enchanted.io/signed-by": "nats-bootstrap" } },
        data: Object.fromEntries([
          ["operator.json", JSON.stringify(claims.operator, null, 2)],
          ...claims.accounts.map((a) => [`account-${a.name}.json`, JSON.stringify(a, null, 2)]),
          // What provisioning signs for every pooled tenant of each tier (data, not synthesized per tenant).
          ...PLAN_TIER_NAMES.map((t) => [`tenant-account-${t}.json`, JSON.stringify(tenantAccountPreview(t, props.tiers, keys), null, 2)]),
        ]),
      },
    });

    this.helm = new PinnedHelmRelease(this, "chart", {
      chart: HELM_CHARTS.nats,
      ...(props.version ? { version: props.version } : {}),
      releaseName: NATS_NAMES.release,
      namespace,
      values: natsChartValues(props),
      dependsOn: [certificate, ...(props.dependsOn ?? [])],
    });

    // NACK (installed by NackController in the platform stack) manages the streams in the SWARM
    // account as the platform user, over TLS verified with the internal CA.
    const account = new Manifest(this, "nack-account", {
      manifest: {
        apiVersion: NACK_API_VERSION,
        kind: "Account",
        metadata: { name: NATS_NAMES.nackAccount, namespace },
        spec: {
          name: ACCOUNT_NAMES.swarm,
          servers: [NATS_CLIENT_URL],
          creds: { secret: { name: NATS_NAMES.platformCredsSecret }, file: NATS_NAMES.platformCredsKey },
          tls: { secret: { name: NATS_NAMES.tlsSecret }, ca: "ca.crt" },
        },
      },
      dependsOn: [this.helm.release],
    });
    const configs = swarmStreamConfigs(props.nats, props.tiers);
    // The ingestor's dead-letter stream, replicated like the events it holds, and the workers',
    // replicated like the jobs (the four TOPOLOGY_STREAMS; keys are construct ids, kept stable).
    const streams: Record<string, SwarmStreamConfig> = {
      ...configs,
      "dead-letters": deadLetterStreamConfig(configs.events.num_replicas),
      "job-dead-letters": jobDeadLetterStreamConfig(configs.jobs.num_replicas),
    };
    for (const key of Object.keys(streams)) {
      const stream = streams[key] as SwarmStreamConfig;
      const streamResource = addNackStream(this, `stream-${key}`, stream, { account: NATS_NAMES.nackAccount, preventDelete: retainStreams, dependsOn: [account] });
      this.streamResources.push(streamResource);
    }
    // Each silo tenant's account gets its own streams and consumers (its events, jobs, dead
    // letters; its ingestor's and worker pool's consumers), managed by NACK as the silo account's
    // platform user, whose creds nats:bootstrap minted and External Secrets syncs here.
    for (const tenantId of siloTenants) {
      const creds = this.secretNames.cluster.silos[tenantId] as SiloCredsNames;
      const secretName = `${siloNackResourceName(tenantId)}-platform-creds`;
      const secret = new SyncedSecret(this, `silo-${tenantId}-platform-creds`, {
        store: props.secretStore,
        namespace,
        secretName,
        remoteKey: creds.platformCreds,
        data: [{ secretKey: NATS_NAMES.platformCredsKey }],
      });
      this.siloTopologies[tenantId] = new SiloNackTopology(this, `silo-${tenantId}`, {
        tenantId,
        nats: props.nats,
        tiers: props.tiers,
        credsSecret: { name: secretName, key: NATS_NAMES.platformCredsKey },
        preventDelete: retainStreams,
        dependsOn: [this.helm.release, secret.resource],
      });
    }
  }

  /** Lets `peers` connect to the NATS client port (or `ports`, e.g. {@link ports}.monitoring for KEDA). */
  allowFrom(peers: NetworkPeer | readonly NetworkPeer[], ports: readonly NetworkPort[] = [PORTS.natsClient]): void {
    this.access.allowFrom(peers, ports);
  }
}

function certificateDnsNames(): string[] {
  const svc = NATS_NAMES.service;
  const headless = NATS_NAMES.headlessService;
  return [
    svc,
    `${svc}.${namespace}`,
    `${svc}.${namespace}.svc`,
    NATS_SERVICE_HOST,
    // Routes dial `<pod>.<headless>` (the chart's route URLs); KEDA dials `<pod>.<headless FQDN>`.
    `*.${headless}`,
    `*.${headless}.${namespace}`,
    `*.${headless}.${namespace}.svc`,
    `*.${NATS_HEADLESS_HOST}`,
  ];
}

function checkProps(fail: PropFail, props: NatsProps, siloTenants: readonly string[]): void {
  const n = props.nats;
  if (!(NATS_CLUSTER_SIZES as readonly number[]).includes(n.replicas)) fail("nats.replicas", n.replicas, `is not ${NATS_CLUSTER_SIZES.join(", ")}`, "use 1 server (dev) or an odd quorum of 3, 5 or 7");
  for (const [key, s] of Object.entries(n.streams)) {
    if (s.replicas > n.replicas) fail(`nats.streams.${key}.replicas`, s.replicas, `exceeds the ${n.replicas} servers`, `use at most ${n.replicas}`);
  }
  // Each server holds at most one replica of each stream; its max_file_store must fit them all.
  const perServerGiB = Object.values(n.streams).reduce((sum, s) => sum + s.maxBytesGiB, 0);
  const maxFileStoreMiB = jetStreamMaxFileStoreMiB(n.storageGiB);
  if (perServerGiB * 1024 > maxFileStoreMiB) {
    fail("nats.storageGiB", n.storageGiB, `leaves ${maxFileStoreMiB} MiB of JetStream storage per server but the streams may need ${perServerGiB} GiB on one server`, "raise nats.storageGiB or lower the streams' maxBytesGiB");
  }
  const memory = props.memoryLimitMiB ?? DEFAULT_NATS_MEMORY_LIMIT_MIB;
  if (!Number.isInteger(memory) || memory < MIN_MEMORY_LIMIT_MIB) fail("memoryLimitMiB", memory, `is below ${MIN_MEMORY_LIMIT_MIB}`, `give each server at least ${MIN_MEMORY_LIMIT_MIB} MiB`);
  const cpu = props.cpuRequestMillicores ?? DEFAULT_NATS_CPU_REQUEST_MILLICORES;
  if (!Number.isInteger(cpu) || cpu < MIN_CPU_REQUEST_MILLICORES) fail("cpuRequestMillicores", cpu, `is below ${MIN_CPU_REQUEST_MILLICORES}`, `request at least ${MIN_CPU_REQUEST_MILLICORES} millicores`);
  siloTenants.forEach((t, i) => assertTenantId(t, `nats.siloTenants[${i}]`));
  const keys = props.publicKeys;
  if (!keys) return;
  const check = (field: string, key: string, kind: "O" | "A") => {
    try {
      checkPublicKey(field, key, kind);
    } catch (error) {
      fail(`publicKeys.${field}`, key, `is not a public ${kind === "O" ? "operator" : "account"} nkey (${(error as Error).message})`, "copy the public keys nats:bootstrap printed");
    }
  };
  check("operator", keys.operator, "O");
  check("systemAccount", keys.systemAccount, "A");
  check("swarmAccount", keys.swarmAccount, "A");
  check("tenantAccountSigningKey", keys.tenantAccountSigningKey, "O");
  check("tenantImportSigningKey", keys.tenantImportSigningKey, "A");
  for (const t of PLAN_TIER_NAMES) check(`swarmSigningKeys.${t}`, keys.swarmSigningKeys[t], "A");
  for (const t of siloTenants) {
    const silo = keys.silos[t];
    if (!silo) fail(`publicKeys.silos.${t}`, undefined, "is missing for a silo tenant", "re-run nats:bootstrap after adding the tenant to nats.siloTenants and copy the keys it prints");
    else {
      check(`silos.${t}.account`, silo.account, "A");
      check(`silos.${t}.signingKey`, silo.signingKey, "A");
    }
  }
}

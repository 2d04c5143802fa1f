import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { ingestorConsumerConfig } from "../services/nats-auth/consumers.js";
import {
  DEFAULT_PREFETCH_MESSAGES,
  INGESTOR_CONSUMER_NAME_PATTERN,
  INGESTOR_CONSUMER_NAME_RULE,
  INGESTOR_DEFAULTS,
  INGESTOR_ENV,
  INGESTOR_HTTP_PATHS,
  INGESTOR_HTTP_PORT,
  INGESTOR_JETSTREAM,
  INGESTOR_LIMITS,
  INGESTOR_METRICS,
} from "../services/ingestor/contract.js";
import dashboard from "../services/ingestor/dashboard.json" with { type: "json" };
import { addExternalSecret } from "./external-secrets.js";
import { jetStreamLagTrigger } from "./keda.js";
import { addNackConsumer, NATS_NAMES, type SiloIngestorConsumerResource } from "./nats/index.js";
import {
  addServiceAndDisruptionBudget,
  addServiceDeployment,
  checkPositive,
  checkServiceImage,
  checkServiceSizing,
  propFail,
  type ServiceResources,
  resolveServiceSizing,
} from "./service-workload.js";
import { NAMESPACES, POLICY_LABELS, type ICertificateIssuer, type ISecretStore } from "./platform-interfaces.js";

/**
 * The ingestor's Prometheus metrics, whose one home is the service's contract
 * (`services/ingestor/contract.ts`). The dashboard (`services/ingestor/dashboard.json`) queries
 * only these. Histograms are exposed with Prometheus' `_bucket`, `_sum` and `_count` series.
 */
export const INGESTOR_METRIC_NAMES = INGESTOR_METRICS;

/** Names of the Kubernetes objects the construct creates (Deployment, Service, PDB, ScaledObject). */
export const INGESTOR_NAME = "ingestor";
/** The objects' name of a silo tenant's ingestor, beside the pooled one in the same namespace. */
export function siloIngestorName(tenantId: string): string {
  return `${INGESTOR_NAME}-silo-${tenantId}`;
}
const appLabels = (name: string) => ({ "app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "enchanted" }) as const;

const DEFAULT_LAG_THRESHOLD = 10_000;
/**
 * The least CPU a replica may request, in millicores. bench:ingest measures the drain per core;
 * a request of 1-99 is most likely cores written where millicores go (1 is 1m, not one core).
 */
export const MIN_INGESTOR_CPU_REQUEST_MILLICORES = 100;
/** V8's heap as a share of the memory limit: buffers and native memory need the rest. */
const HEAP_SHARE = 0.75;
const CREDS_DIR = "/var/run/secrets/nats";
const CA_DIR = "/var/run/secrets/nats-ca";
const natsCredsSecret = (name: string) => `${name}-nats-creds`;
const natsCaSecret = (name: string) => `${name}-nats-ca`;

/** Requests and limits; the memory limit also sets V8's heap to 75 % of it. */
export type IngestorResources = ServiceResources;

/** What the ingestor needs of ClickHouse: `ClickHouse.httpUrl` and `ClickHouse.ingestorCredentials`. */
export interface IngestorClickHouse {
  /** HTTP(S) URL (`INGESTOR_CLICKHOUSE_URL`). */
  readonly url: string;
  readonly username: string;
  /** Secret holding the ingestor user's password, in the ingestor's namespace. */
  readonly secretName: string;
  readonly passwordKey: string;
  /** Namespaces the password Secret is synced into; checked to contain the ingestor's. @default - not checked */
  readonly namespaces?: readonly string[];
}

export interface IngestorNats {
  /** `nats://…:4222`; the server requires TLS. */
  readonly clientUrl: string;
  /** NACK's `Account` resource the durable consumer is created through (`Nats.nackAccountName`). @default "swarm" (NATS_NAMES.nackAccount) */
  readonly nackAccount?: string;
  /** NACK's `Stream` resources (`Nats.streamResources`): the consumer's waits for them. @default - none */
  readonly streamResources?: readonly ITerraformDependable[];
  /** Secrets Manager name of the platform user's `.creds` (`Nats.secretNames.cluster.platformCreds`). */
  readonly credsRemoteKey: string;
  /** Issuer of the servers' certificates: a Certificate from it puts its `ca.crt` into the ingestor's namespace. */
  readonly issuer: ICertificateIssuer;
}

export interface IngestorProps {
  /** `<ECR repository URL>:<tag>`; an exact tag, never `latest`. */
  readonly image: string;
  readonly clickhouse: IngestorClickHouse;
  readonly nats: IngestorNats;
  /** Store the NATS creds are synced through. */
  readonly secretStore: ISecretStore;
  /** KEDA's `natsServerMonitoringEndpoint` (`Nats.monitoringEndpoint`). */
  readonly natsMonitoringEndpoint: string;
  /** Public key of the account owning `SWARM_EVENTS` (KEDA's `account`). */
  readonly natsAccount: string;
  /**
   * Durable consumer on `SWARM_EVENTS`, shared by every replica: declared here (a NACK `Consumer`
   * from `ingestorConsumerConfig`), checked by the service at start. @default "swarm-ingestor" (the service's default)
   */
  readonly consumer?: string;
  /** @default 2 */
  readonly minReplicas?: number;
  /** @default 10 */
  readonly maxReplicas?: number;
  /** Pending messages per replica KEDA aims for (KEDA's `lagThreshold`). @default 10000 */
  readonly lagThreshold?: number;
  /**
   * `cpuRequestMillicores`: at least {@link MIN_INGESTOR_CPU_REQUEST_MILLICORES}; the capacity
   * model counts 1000 (one core) per replica, the unit bench:ingest measured the drain in (prod
   * passes its `ingestor.cpuRequestMillicores`). No CPU limit is set either way.
   * @default - 250m CPU and 256 MiB requested, 512 MiB limit
   */
  readonly resources?: IngestorResources;
  /** SIGTERM: drain, flush and ack within this (`INGESTOR_SHUTDOWN_TIMEOUT_MS`). @default 15 (the service's default) */
  readonly shutdownTimeoutSeconds?: number;
  /** @default NAMESPACES.platform */
  readonly namespace?: string;
  /** Namespace of the dashboard ConfigMap (where Grafana's sidecar looks). @default - the ingestor's namespace */
  readonly dashboardNamespace?: string;
  /** Resources the Deployment waits for (the ClickHouse migration, the streams). @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
  /**
   * A silo tenant's ingestor: it reads its silo account's `SWARM_EVENTS` (`natsAccount` is the silo
   * account's key, `nats.credsRemoteKey` its ingestor user's creds) through the durable consumer the
   * silo's topology declares (`SiloNackTopology.ingestorConsumer`: none is created here). Its objects
   * are named {@link siloIngestorName}; the pooled ingestor's dashboard covers it, so it adds none.
   * @default - the pooled ingestor of the SWARM account
   */
  readonly silo?: { readonly tenantId: string; readonly consumer: SiloIngestorConsumerResource };
}

interface Resolved {
  readonly namespace: string;
  readonly consumer: string;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly lagThreshold: number;
  readonly cpuRequestMillicores: number;
  readonly memoryRequestMiB: number;
  readonly memoryLimitMiB: number;
  readonly shutdownTimeoutSeconds: number;
}

function resolve(path: string, props: IngestorProps): Resolved {
  // A silo's replicas are bounded by its consumer (the silo account's MaxAckPending).
  const siloMax = props.silo?.consumer.maxReplicas;
  const sizing = resolveServiceSizing(siloMax === undefined ? props : { ...props, maxReplicas: props.maxReplicas ?? siloMax });
  const r: Resolved = {
    namespace: props.namespace ?? NAMESPACES.platform,
    consumer: props.silo?.consumer.name ?? props.consumer ?? INGESTOR_DEFAULTS.consumer,
    ...sizing,
    ...(siloMax === undefined ? {} : { minReplicas: props.minReplicas ?? Math.min(sizing.minReplicas, sizing.maxReplicas) }),
    lagThreshold: props.lagThreshold ?? DEFAULT_LAG_THRESHOLD,
    shutdownTimeoutSeconds: props.shutdownTimeoutSeconds ?? INGESTOR_DEFAULTS.shutdownTimeoutMs / 1000,
  };
  const fail = propFail(path);
  checkServiceImage(props.image, INGESTOR_NAME, fail);
  // The service's contract says what it accepts, so a bad value fails here, not in the pod.
  if (!INGESTOR_CONSUMER_NAME_PATTERN.test(r.consumer)) {
    fail("consumer", r.consumer, `is not a durable consumer name the ingestor accepts (${INGESTOR_ENV.consumer} must match ${INGESTOR_CONSUMER_NAME_PATTERN.source})`, INGESTOR_CONSUMER_NAME_RULE);
  }
  checkServiceSizing(r, fail);
  if (r.cpuRequestMillicores < MIN_INGESTOR_CPU_REQUEST_MILLICORES) {
    fail(
      "resources.cpuRequestMillicores",
      r.cpuRequestMillicores,
      `is below ${MIN_INGESTOR_CPU_REQUEST_MILLICORES} millicores (the prop counts thousandths of a core: ${r.cpuRequestMillicores} is ${r.cpuRequestMillicores}m)`,
      `request at least ${MIN_INGESTOR_CPU_REQUEST_MILLICORES}, e.g. 1000 for the one core per replica the capacity model counts`,
    );
  }
  if (siloMax !== undefined && r.maxReplicas > siloMax) {
    fail("maxReplicas", r.maxReplicas, `exceeds the ${siloMax} replica(s) the silo's ingestor consumer leaves room for (each keeps its full prefetch in flight, within the silo account's MaxAckPending)`, `use at most ${siloMax}, or raise the silo tier's bus.maxAckPending`);
  }
  const shutdown = INGESTOR_LIMITS.shutdownTimeoutMs;
  if (r.shutdownTimeoutSeconds * 1000 > shutdown.max) {
    fail("shutdownTimeoutSeconds", r.shutdownTimeoutSeconds, `exceeds the ingestor's bound of ${shutdown.max / 1000} s (${INGESTOR_ENV.shutdownTimeoutMs})`, `use at most ${shutdown.max / 1000}`);
  }
  checkPositive("lagThreshold", r.lagThreshold, fail);
  const namespaces = props.clickhouse.namespaces;
  if (namespaces && !namespaces.includes(r.namespace)) {
    fail("clickhouse.namespaces", namespaces, `does not contain the ingestor's namespace "${r.namespace}", so its password Secret is not synced there`, `add "${r.namespace}" to ClickHouse's ingestorNamespaces`);
  }
  return r;
}

/**
 * The ingestor (SWARM_EVENTS → ClickHouse) in the workloads stack: its durable consumer (a NACK
 * `Consumer` from `ingestorConsumerConfig`: the service only checks it at start), a restricted,
 * read-only Deployment spread over zones, a PodDisruptionBudget, a KEDA ScaledObject on its
 * consumer's lag, a metrics Service scraped by Prometheus and its Grafana dashboard. Credentials
 * come from Secrets Manager (NATS creds) and from the Secret ClickHouse syncs (its password).
 * Plain manifests: the typed Kubernetes resources load megabytes of generated code on every synth.
 */
export class Ingestor extends Construct {
  readonly deployment: Manifest;
  readonly scaledObject: Manifest;
  /** The NACK `Consumer` of {@link consumer}. */
  readonly consumerResource: ITerraformDependable;
  /** The objects' name: {@link INGESTOR_NAME}, or {@link siloIngestorName} of a silo's. */
  readonly name: string;
  readonly namespace: string;
  readonly consumer: string;
  /** `http://<service>:<port>/metrics`. */
  readonly metricsUrl: string;

  constructor(scope: Construct, id: string, props: IngestorProps) {
    super(scope, id);
    const r = resolve(this.node.path, props);
    const namespace = r.namespace;
    const port = INGESTOR_HTTP_PORT;
    const name = props.silo ? siloIngestorName(props.silo.tenantId) : INGESTOR_NAME;
    const APP_LABELS = appLabels(name);
    const NATS_CREDS_SECRET = natsCredsSecret(name);
    const NATS_CA_SECRET = natsCaSecret(name);
    this.name = name;
    this.namespace = namespace;
    this.consumer = r.consumer;
    this.metricsUrl = `http://${name}.${namespace}.svc:${port}${INGESTOR_HTTP_PATHS.metrics}`;

    // The durable consumer, shared by every replica: each of up to maxReplicas keeps its full
    // prefetch (the service's default batch) in flight. NACK creates it; the service only checks it.
    // A silo's is its topology's, in the silo account.
    this.consumerResource =
      props.silo?.consumer.resource ??
      addNackConsumer(this, "consumer", ingestorConsumerConfig({ name: r.consumer, maxReplicas: r.maxReplicas, prefetchMessages: DEFAULT_PREFETCH_MESSAGES }), {
        account: props.nats.nackAccount ?? NATS_NAMES.nackAccount,
        preventDelete: true,
        ...(props.nats.streamResources ? { dependsOn: props.nats.streamResources } : {}),
      });

    const creds = addExternalSecret(this, "nats-creds", {
      secretName: NATS_CREDS_SECRET,
      namespace,
      store: props.secretStore,
      data: [{ secretKey: NATS_NAMES.platformCredsKey, remoteKey: props.nats.credsRemoteKey }],
      // Ready once the Secret exists: the pods never start without their creds.
      waitUntilReady: true,
    });
    // A client certificate from the servers' issuer: its Secret carries the CA (`ca.crt`) the
    // ingestor verifies the servers with (NODE_EXTRA_CA_CERTS), in the ingestor's namespace.
    const ca = new Manifest(this, "nats-ca", {
      manifest: {
        apiVersion: "cert-manager.io/v1",
        kind: "Certificate",
        metadata: { name: NATS_CA_SECRET, namespace },
        spec: {
          secretName: NATS_CA_SECRET,
          commonName: `${name}.${namespace}`,
          usages: ["client auth", "digital signature"],
          privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
          issuerRef: { name: props.nats.issuer.issuerName, kind: props.nats.issuer.issuerKind, group: "cert-manager.io" },
        },
      },
      wait: { condition: [{ type: "Ready", status: "True" }] },
    });

    const podLabels = { ...APP_LABELS, [POLICY_LABELS.natsClient]: "true", [POLICY_LABELS.clickhouseClient]: "true" };
    const V = INGESTOR_ENV;
    const env = [
      { name: V.natsUrl, value: props.nats.clientUrl },
      { name: V.natsCreds, value: `${CREDS_DIR}/${NATS_NAMES.platformCredsKey}` },
      { name: V.consumer, value: r.consumer },
      { name: V.clickhouseUrl, value: props.clickhouse.url },
      { name: V.clickhouseUser, value: props.clickhouse.username },
      { name: V.clickhousePassword, valueFrom: { secretKeyRef: { name: props.clickhouse.secretName, key: props.clickhouse.passwordKey } } },
      { name: V.httpPort, value: String(port) },
      { name: V.shutdownTimeoutMs, value: String(r.shutdownTimeoutSeconds * 1000) },
      { name: "NODE_EXTRA_CA_CERTS", value: `${CA_DIR}/ca.crt` },
    ];

    this.deployment = addServiceDeployment(this, {
      name,
      namespace,
      labels: APP_LABELS,
      podLabels,
      image: props.image,
      port,
      metricsPath: INGESTOR_HTTP_PATHS.metrics,
      healthPath: INGESTOR_HTTP_PATHS.health,
      readyPath: INGESTOR_HTTP_PATHS.ready,
      sizing: r,
      heapShare: HEAP_SHARE,
      env,
      secretVolumes: [
        { name: "nats-creds", mountPath: CREDS_DIR, secret: { secretName: NATS_CREDS_SECRET, defaultMode: 0o440 } },
        { name: "nats-ca", mountPath: CA_DIR, secret: { secretName: NATS_CA_SECRET, items: [{ key: "ca.crt", path: "ca.crt" }] } },
      ],
      // The service refuses to start without its consumer: create that first.
      dependsOn: [creds, ca, this.consumerResource, ...(props.dependsOn ?? [])],
    });

    // The metrics Service, and a PDB (one replica, dev, is redelivery-safe, not HA).
    addServiceAndDisruptionBudget(this, { name, namespace, labels: APP_LABELS, port, portName: "http-metrics", minReplicas: r.minReplicas });

    this.scaledObject = new Manifest(this, "scaledobject", {
      manifest: {
        apiVersion: "keda.sh/v1alpha1",
        kind: "ScaledObject",
        metadata: { name, namespace, labels: { ...APP_LABELS } },
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
          minReplicaCount: r.minReplicas,
          maxReplicaCount: r.maxReplicas,
          pollingInterval: 15,
          cooldownPeriod: 300,
          triggers: [
            jetStreamLagTrigger({
              monitoringEndpoint: props.natsMonitoringEndpoint,
              account: props.natsAccount,
              stream: INGESTOR_JETSTREAM.reads,
              consumer: r.consumer,
              lagThreshold: r.lagThreshold,
            }),
          ],
        },
      },
      dependsOn: [this.deployment],
    });

    // A silo's ingestor exports the same metrics: the pooled one's dashboard covers it.
    if (!props.silo) {
      new Manifest(this, "dashboard", {
        manifest: {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: `${INGESTOR_NAME}-dashboard`, namespace: props.dashboardNamespace ?? namespace, labels: { ...APP_LABELS, grafana_dashboard: "1" } },
          data: { "ingestor.json": JSON.stringify(dashboard) },
        },
      });
    }
  }
}

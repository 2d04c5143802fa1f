/**
 * The worker runtime in every pooled tier's namespace (`workers-<tier>`, created with its quota,
 * limit range and default-deny by `Tenancy`): the Deployment `WORKER_DEPLOYMENT` that the tier's
 * KEDA ScaledObject (`WorkerPoolScaling`) scales, built from the runtime's contract
 * (`services/worker/contract.ts`) without loading the runtime.
 */
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import type { PlanTierName, TierCatalog } from "../config/tiers.js";
import { WORKER_DEFAULTS, WORKER_ENV, WORKER_HTTP_PATHS, WORKER_HTTP_PORT, WORKER_LIMITS, WORKER_LOG_LEVELS, type WorkerEnvVar, type WorkerLogLevel } from "../services/worker/contract.js";
import { addExternalSecret } from "./external-secrets.js";
import { DNS_EGRESS, WorkloadAccess, type NetworkPeer, type NetworkPort } from "./k8s/network-policy.js";
import { CLICKHOUSE_CLIENT_PORTS, NAMESPACES, POLICY_LABELS, PORTS, type ICertificateIssuer, type ISecretStore } from "./platform-interfaces.js";
import { addServiceDeployment, checkServiceImage, propFail, type PropFail, type ServiceScheduling, type ServiceSizing } from "./service-workload.js";
import { WORKER_DEPLOYMENT, type WorkerPool } from "./worker-pools.js";

/** V8's heap as a share of the memory limit: the handlers' buffers and native memory need the rest. */
const HEAP_SHARE = 0.75;
const CREDS_KEY = "workers.creds";
const CA_DIR = "/var/run/secrets/nats-ca";

/** Names of what the construct creates in each worker namespace, and the files the pods read. */
export const WORKER_NAMES = {
  /** The tier's worker user's creds (`workers-<tier>.creds` of nats:bootstrap), under {@link WORKER_NAMES.natsCredsKey}. */
  natsCredsSecret: "workers-nats-creds",
  natsCredsKey: CREDS_KEY,
  /** The NATS servers' CA (`ca.crt`), from a client Certificate of their issuer. */
  natsCaSecret: "workers-nats-ca",
  /** The ClickHouse reader's password, under {@link WORKER_NAMES.clickhousePasswordKey}. */
  clickhouseSecret: "clickhouse-workers",
  clickhousePasswordKey: "password",
} as const;

export const WORKER_PATHS = {
  natsCreds: `/var/run/secrets/nats/${CREDS_KEY}`,
  natsCa: `${CA_DIR}/ca.crt`,
  clickhousePassword: `/var/run/secrets/clickhouse/${WORKER_NAMES.clickhousePasswordKey}`,
} as const;

/** Labels of every worker object; the Deployment selects its pods by them (the tier is its namespace). */
export const WORKER_APP_LABELS = { "app.kubernetes.io/name": WORKER_DEPLOYMENT, "app.kubernetes.io/part-of": "enchanted" } as const;

export interface WorkersNats {
  /** `nats://…:4222` (`Nats.clientUrl`); the server requires TLS. */
  readonly clientUrl: string;
  /** Issuer of the servers' certificate: a Certificate from it puts its `ca.crt` into each worker namespace. */
  readonly issuer: ICertificateIssuer;
  /** Secrets Manager name of each tier's worker creds (`Nats.secretNames.cluster.workerCreds`). */
  readonly credsRemoteKeys: Readonly<Record<PlanTierName, string>>;
}

export interface WorkersProvisioning {
  /** In-cluster base URL (`Provisioning.serviceUrl`). */
  readonly url: string;
  /** Its pods (namespace and labels) and its HTTP port: the workers' egress rule. */
  readonly peer: NetworkPeer;
  readonly port: number;
}

export interface WorkersClickHouse {
  /** HTTP URL (`ClickHouse.httpUrl`). */
  readonly url: string;
  /** @default WORKER_DEFAULTS.clickhouseUser */
  readonly username?: string;
  /** Secrets Manager name of the reader's password (`clickhouseSecrets(prefix).workers.remoteKey`). */
  readonly passwordRemoteKey: string;
  /** ClickHouse's namespace (egress on its client ports). @default NAMESPACES.clickhouse */
  readonly namespace?: string;
}

export interface WorkersProps {
  /** `<ECR repository URL>:<tag>` of the worker image; an exact tag, never `latest`. */
  readonly image: string;
  /** The catalog: each tier's container requests and limits (`workers.container`). */
  readonly tiers: TierCatalog;
  /** The pools of `Tenancy.workerPools`; a Deployment for each pooled tier's (silo pools are not pooled). */
  readonly pools: readonly WorkerPool[];
  readonly nats: WorkersNats;
  readonly provisioning: WorkersProvisioning;
  readonly clickhouse: WorkersClickHouse;
  /** Store the creds and the password are synced through. */
  readonly secretStore: ISecretStore;
  /** Nodes the workers run on (the worker node group's labels and taints). @default - any node */
  readonly scheduling?: ServiceScheduling;
  /** @default WORKER_DEFAULTS.logLevel */
  readonly logLevel?: WorkerLogLevel;
  /** Jobs one process runs at once (`WORKER_CONCURRENCY`). @default WORKER_DEFAULTS.concurrency */
  readonly concurrency?: number;
  /** @default WORKER_DEFAULTS.handlerTimeoutMs */
  readonly handlerTimeoutMs?: number;
  /** A stop waits this long for running jobs (`WORKER_SHUTDOWN_TIMEOUT_MS`). @default 30 (the runtime's default) */
  readonly shutdownTimeoutSeconds?: number;
  /** Resources each Deployment waits for (the consumers, the streams). @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/** One tier's worker Deployment and what it created. */
export interface WorkerDeployment {
  readonly tier: PlanTierName;
  readonly namespace: string;
  readonly deployment: Manifest;
}

function checkBounded(fail: PropFail, prop: string, value: number, bounds: { readonly min: number; readonly max: number }, variable: WorkerEnvVar): void {
  if (!Number.isInteger(value) || value < bounds.min || value > bounds.max) {
    fail(prop, value, `is outside the worker's bounds [${bounds.min}, ${bounds.max}] (${variable})`, `use a whole number from ${bounds.min} to ${bounds.max}`);
  }
}

/**
 * Per pooled tier, in `workers-<tier>`: the Deployment `workers` (no `replicas`: the tier's KEDA
 * ScaledObject owns the count), restricted and read-only like the platform's services, sized by
 * the tier's container defaults, on the worker nodes; the tier's NATS creds synced by External
 * Secrets and the servers' CA from a client Certificate, both mounted read-only, the ClickHouse
 * reader's password as a file; and its NetworkPolicy: egress to DNS, NATS, the provisioning
 * service and ClickHouse only, ingress only from what {@link allowFrom} admits (a metrics
 * scraper). The owners admit the workers themselves (`nats.allowFrom`, `provisioning.allowFrom`,
 * `clickhouse.allowFrom` with {@link peers}).
 */
export class Workers extends Construct {
  readonly deployments: readonly WorkerDeployment[];
  /** The worker pods of every tier, for the owners' `allowFrom`. */
  readonly peers: readonly NetworkPeer[];
  private readonly access: WorkloadAccess[] = [];

  constructor(scope: Construct, id: string, props: WorkersProps) {
    super(scope, id);
    const fail = propFail(this);
    checkServiceImage(props.image, "worker", fail);
    const logLevel = props.logLevel ?? WORKER_DEFAULTS.logLevel;
    if (!WORKER_LOG_LEVELS.includes(logLevel)) fail("logLevel", logLevel, "is not a pino level", `use one of ${WORKER_LOG_LEVELS.join(", ")}`);
    const concurrency = props.concurrency ?? WORKER_DEFAULTS.concurrency;
    checkBounded(fail, "concurrency", concurrency, WORKER_LIMITS.concurrency, WORKER_ENV.concurrency);
    const handlerTimeoutMs = props.handlerTimeoutMs ?? WORKER_DEFAULTS.handlerTimeoutMs;
    checkBounded(fail, "handlerTimeoutMs", handlerTimeoutMs, WORKER_LIMITS.handlerTimeoutMs, WORKER_ENV.handlerTimeoutMs);
    const shutdownTimeoutSeconds = props.shutdownTimeoutSeconds ?? WORKER_DEFAULTS.shutdownTimeoutMs / 1000;
    checkBounded(fail, "shutdownTimeoutSeconds", shutdownTimeoutSeconds * 1000, WORKER_LIMITS.shutdownTimeoutMs, WORKER_ENV.shutdownTimeoutMs);
    const pooled = props.pools.filter((p) => p.pool === p.tier);
    if (pooled.length === 0) fail("pools", props.pools.map((p) => p.pool), "has no pooled tier", "pass Tenancy.workerPools");
    const clickhouseNamespace = props.clickhouse.namespace ?? NAMESPACES.clickhouse;

    const deployments: WorkerDeployment[] = [];
    for (const pool of pooled) {
      const { tier, namespace } = pool;
      const credsRemoteKey = props.nats.credsRemoteKeys[tier];
      if (!credsRemoteKey) fail(`nats.credsRemoteKeys.${tier}`, undefined, "is missing", "pass Nats.secretNames.cluster.workerCreds");
      const tierScope = new Construct(this, tier);
      const creds = addExternalSecret(tierScope, "nats-creds", {
        secretName: WORKER_NAMES.natsCredsSecret,
        namespace,
        store: props.secretStore,
        data: [{ secretKey: WORKER_NAMES.natsCredsKey, remoteKey: credsRemoteKey }],
        labels: WORKER_APP_LABELS,
        // Ready once the Secret exists: the pods never start without their creds.
        waitUntilReady: true,
      });
      const ca = new Manifest(tierScope, "nats-ca", {
        manifest: {
          apiVersion: "cert-manager.io/v1",
          kind: "Certificate",
          metadata: { name: WORKER_NAMES.natsCaSecret, namespace, labels: { ...WORKER_APP_LABELS } },
          spec: {
            secretName: WORKER_NAMES.natsCaSecret,
            commonName: `${WORKER_DEPLOYMENT}.${namespace}`,
            usages: ["client auth", "digital signature"],
            privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
            issuerRef: { name: props.nats.issuer.issuerName, kind: props.nats.issuer.issuerKind, group: "cert-manager.io" },
          },
        },
        wait: { condition: [{ type: "Ready", status: "True" }] },
      });
      const password = addExternalSecret(tierScope, "clickhouse-password", {
        secretName: WORKER_NAMES.clickhouseSecret,
        namespace,
        store: props.secretStore,
        data: [{ secretKey: WORKER_NAMES.clickhousePasswordKey, remoteKey: props.clickhouse.passwordRemoteKey }],
        labels: WORKER_APP_LABELS,
        waitUntilReady: true,
      });

      const V = WORKER_ENV;
      const environment: Record<WorkerEnvVar, string> = {
        [V.tier]: tier,
        [V.natsUrl]: props.nats.clientUrl,
        [V.natsCredsFile]: WORKER_PATHS.natsCreds,
        [V.natsCaFile]: WORKER_PATHS.natsCa,
        [V.provisioningUrl]: props.provisioning.url,
        [V.clickhouseUrl]: props.clickhouse.url,
        [V.clickhouseUser]: props.clickhouse.username ?? WORKER_DEFAULTS.clickhouseUser,
        [V.clickhousePasswordFile]: WORKER_PATHS.clickhousePassword,
        [V.concurrency]: String(concurrency),
        [V.handlerTimeoutMs]: String(handlerTimeoutMs),
        [V.shutdownTimeoutMs]: String(shutdownTimeoutSeconds * 1000),
        [V.httpPort]: String(WORKER_HTTP_PORT),
        [V.logLevel]: logLevel,
      };
      const container = props.tiers[tier].workers.container;
      const scaling = props.tiers[tier].workers.scaling;
      const sizing: ServiceSizing = {
        minReplicas: scaling.minReplicaCount,
        maxReplicas: scaling.maxReplicaCount,
        cpuRequestMillicores: container.defaultRequestCpuMillicores,
        memoryRequestMiB: container.defaultRequestMemoryMiB,
        memoryLimitMiB: container.defaultLimitMemoryMiB,
        shutdownTimeoutSeconds,
      };
      const deployment = addServiceDeployment(tierScope, {
        name: WORKER_DEPLOYMENT,
        namespace,
        labels: WORKER_APP_LABELS,
        podLabels: { ...WORKER_APP_LABELS, "enchanted.io/plan-tier": tier, [POLICY_LABELS.natsClient]: "true", [POLICY_LABELS.clickhouseClient]: "true" },
        image: props.image,
        port: WORKER_HTTP_PORT,
        metricsPath: WORKER_HTTP_PATHS.metrics,
        healthPath: WORKER_HTTP_PATHS.health,
        readyPath: WORKER_HTTP_PATHS.ready,
        sizing,
        heapShare: HEAP_SHARE,
        env: Object.entries(environment).map(([name, value]) => ({ name, value })),
        secretVolumes: [
          { name: "nats-creds", mountPath: dirOf(WORKER_PATHS.natsCreds), secret: { secretName: WORKER_NAMES.natsCredsSecret, defaultMode: 0o440, items: [{ key: WORKER_NAMES.natsCredsKey, path: WORKER_NAMES.natsCredsKey }] } },
          { name: "nats-ca", mountPath: CA_DIR, secret: { secretName: WORKER_NAMES.natsCaSecret, items: [{ key: "ca.crt", path: "ca.crt" }] } },
          {
            name: "clickhouse-password",
            mountPath: dirOf(WORKER_PATHS.clickhousePassword),
            secret: { secretName: WORKER_NAMES.clickhouseSecret, defaultMode: 0o440, items: [{ key: WORKER_NAMES.clickhousePasswordKey, path: WORKER_NAMES.clickhousePasswordKey }] },
          },
        ],
        ...(props.scheduling ? { scheduling: props.scheduling } : {}),
        dependsOn: [creds, ca, password, ...(props.dependsOn ?? [])],
      });

      // Everything the pods may reach; who may reach them (a scraper) is asked of allowFrom.
      this.access.push(
        new WorkloadAccess(tierScope, "access", {
          name: WORKER_DEPLOYMENT,
          namespace,
          labels: WORKER_APP_LABELS,
          podLabels: WORKER_APP_LABELS,
          defaultPorts: [WORKER_HTTP_PORT],
          egress: [
            DNS_EGRESS,
            { peers: [{ namespace: NAMESPACES.nats }], ports: [PORTS.natsClient] },
            { peers: [props.provisioning.peer], ports: [props.provisioning.port] },
            { peers: [{ namespace: clickhouseNamespace }], ports: [...CLICKHOUSE_CLIENT_PORTS] },
          ],
        }),
      );
      deployments.push({ tier, namespace, deployment });
    }
    this.deployments = deployments;
    this.peers = deployments.map((d) => ({ namespace: d.namespace, podLabels: { ...WORKER_APP_LABELS } }));
  }

  /** Lets `peers` (a metrics scraper) reach every tier's workers on their HTTP port unless `ports` says otherwise. */
  allowFrom(peers: NetworkPeer | readonly NetworkPeer[], ports?: readonly NetworkPort[]): void {
    for (const access of this.access) access.allowFrom(peers, ports);
  }
}

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import type { EnvironmentConfig } from "../config/environment.js";
import { assertTenantId } from "../config/tenancy.js";
import { PLAN_TIER_NAMES, type PlanTierName, type TierCatalog } from "../config/tiers.js";
import { HELM_CHARTS } from "../config/versions.js";
import { ACCOUNT_NAMES, natsAuthClaims, type NatsPublicKeys } from "../services/nats-auth/claims.js";
import { natsSecretNames, type NatsSecretNames } from "../services/nats-auth/secret-names.js";
import {
  AUTH_INCLUDE_FILE,
  AUTH_MOUNT_DIR,
  JETSTREAM_STORE_DIR,
  jetStreamMaxFileStoreMiB,
  RESOLVER_DIR,
  RESOLVER_SETTINGS,
  serverConfigMerge,
} from "../services/nats-auth/server-config.js";
import { deadLetterStreamConfig, goDuration, STREAM_NAMES, swarmStreamConfigs, type SwarmStreamConfig } from "../services/nats-auth/streams.js";
import { checkPublicKey } from "../services/nats-auth/sign.js";
import { SyncedSecret } from "./external-secrets.js";
import { PinnedHelmRelease, RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT } from "./pinned-helm-release.js";
import { ENCRYPTED_STORAGE_CLASS, NAMESPACES, type ICertificateIssuer, type ISecretStore, PORTS } from "./platform-interfaces.js";

/**
 * Names of what the NATS construct creates in the `nats` namespace: the one home of these names.
 * The release name makes the chart's Service `nats` and its headless Service `nats-headless`.
 */
export const NATS_NAMES = {
  release: "nats",
  service: "nats",
  headlessService: "nats-headless",
  /** cert-manager's Secret of the servers' certificate (`tls.crt`, `tls.key`, `ca.crt`). */
  tlsSecret: "nats-server-tls",
  /** The auth include, synced from `<seedSecretPrefix>/cluster/auth-conf`. */
  authSecret: "nats-auth",
  /** The platform user's creds, synced from `<seedSecretPrefix>/cluster/platform-creds`. */
  platformCredsSecret: "nats-platform-creds",
  platformCredsKey: "platform.creds",
  /** ConfigMap with the unsigned account claims (what the signed JWTs must say). */
  claimsConfigMap: "nats-account-claims",
  /** NACK's `Account` resource: how NACK reaches the SWARM account. */
  nackAccount: "swarm",
  nackRelease: "nack",
} as const;

/** The nats-server container's user (the image runs as root unless told otherwise). */
const NATS_UID = 1000;
const DEFAULT_MEMORY_LIMIT_MIB = 4_096;
const DEFAULT_CPU_REQUEST_MILLICORES = 1_000;
/** GOMEMLIMIT as a share of the container's memory limit: the Go GC works hard before the OOM killer does. */
const GO_MEMORY_LIMIT_SHARE = 0.9;
const MIN_MEMORY_LIMIT_MIB = 512;
/** The resolver's volume: account JWTs only. */
const RESOLVER_VOLUME_SIZE = "1Gi";
const AUTH_VOLUME = "nats-auth";
const CLUSTER_DOMAIN = "cluster.local";
const CERTIFICATE_DURATION = "2160h";
const CERTIFICATE_RENEW_BEFORE = "360h";

const namespace = NAMESPACES.nats;
const serviceHost = `${NATS_NAMES.service}.${namespace}.svc.${CLUSTER_DOMAIN}`;
const headlessHost = `${NATS_NAMES.headlessService}.${namespace}.svc.${CLUSTER_DOMAIN}`;

/** The client URL every in-cluster client uses (TLS is required; the CA is the internal CA). */
export const NATS_CLIENT_URL = `nats://${serviceHost}:${PORTS.natsClient}`;
/**
 * KEDA's `natsServerMonitoringEndpoint` (`host:port`, no scheme): the headless Service, because in
 * a cluster KEDA prefixes the JetStream leader's server name (the pod name) to this host.
 */
export const NATS_MONITORING_ENDPOINT = `${headlessHost}:${PORTS.natsMonitoring}`;

export interface NatsChartValuesProps {
  /** The environment's `nats` section: servers, storage, streams. */
  readonly nats: Pick<EnvironmentConfig["nats"], "replicas" | "storageGiB" | "streams">;
  /** The plan-tier catalog (the server's max_payload is the largest tier's). */
  readonly tiers: TierCatalog;
  /** Memory limit (and request) of each server. @default 4096 */
  readonly memoryLimitMiB?: number;
  /** CPU request of each server (no CPU limit: throttling a server stalls the cluster). @default 1000 */
  readonly cpuRequestMillicores?: number;
}

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
  /** Resources the release waits for. @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/**
 * The NATS chart's values: a JetStream cluster of `replicas` servers on encrypted gp3, TLS for
 * clients and routes from the cert-manager Secret, operator-mode auth from an include file
 * mounted from a synced Secret, a full account resolver on its own volume, monitoring on 8222,
 * a PodDisruptionBudget, zone and host spreading, non-root restricted security contexts.
 * Keys follow the chart's values.yaml of {@link HELM_CHARTS}.nats. Pure, for tests.
 */
export function natsChartValues(props: NatsChartValuesProps): Record<string, unknown> {
  const { nats } = props;
  const memoryLimitMiB = props.memoryLimitMiB ?? DEFAULT_MEMORY_LIMIT_MIB;
  const cpuRequestMillicores = props.cpuRequestMillicores ?? DEFAULT_CPU_REQUEST_MILLICORES;
  const clustered = nats.replicas > 1;
  const tls = { enabled: true, secretName: NATS_NAMES.tlsSecret };
  const podSecurityContext = {
    ...RESTRICTED_POD_SECURITY_CONTEXT,
    runAsUser: NATS_UID,
    runAsGroup: NATS_UID,
    fsGroup: NATS_UID,
    fsGroupChangePolicy: "OnRootMismatch",
  };
  const spread = { maxSkew: 1, whenUnsatisfiable: "DoNotSchedule" };
  return {
    config: {
      cluster: { enabled: clustered, replicas: nats.replicas, tls },
      nats: { port: PORTS.natsClient, tls },
      monitor: { enabled: true, port: PORTS.natsMonitoring },
      jetstream: {
        enabled: true,
        fileStore: {
          enabled: true,
          dir: JETSTREAM_STORE_DIR,
          pvc: { enabled: true, size: `${nats.storageGiB}Gi`, storageClassName: ENCRYPTED_STORAGE_CLASS },
          maxSize: `${jetStreamMaxFileStoreMiB(nats.storageGiB)}Mi`,
        },
        memoryStore: { enabled: false },
      },
      resolver: {
        enabled: true,
        dir: RESOLVER_DIR,
        pvc: { enabled: true, size: RESOLVER_VOLUME_SIZE, storageClassName: ENCRYPTED_STORAGE_CLASS },
        merge: { ...RESOLVER_SETTINGS },
      },
      merge: serverConfigMerge(props.tiers),
    },
    // ca_file in every tls block: servers verify each other's route certificates with it.
    tlsCA: { enabled: true, secretName: NATS_NAMES.tlsSecret, key: "ca.crt" },
    container: {
      env: { GOMEMLIMIT: `${Math.floor(memoryLimitMiB * GO_MEMORY_LIMIT_SHARE)}MiB` },
      resources: {
        requests: { cpu: `${cpuRequestMillicores}m`, memory: `${memoryLimitMiB}Mi` },
        limits: { memory: `${memoryLimitMiB}Mi` },
      },
      merge: { securityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT },
      patch: [{ op: "add", path: "/volumeMounts/-", value: { name: AUTH_VOLUME, mountPath: AUTH_MOUNT_DIR, readOnly: true } }],
    },
    // The reloader gets every /etc/ mount of the server, the auth include among them, and
    // reloads the server when the synced Secret or the certificate changes.
    reloader: { enabled: true, merge: { securityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT } },
    podTemplate: {
      topologySpreadConstraints: { "topology.kubernetes.io/zone": spread, "kubernetes.io/hostname": spread },
      merge: { spec: { securityContext: podSecurityContext } },
      patch: [{ op: "add", path: "/spec/volumes/-", value: { name: AUTH_VOLUME, secret: { secretName: NATS_NAMES.authSecret } } }],
    },
    // maxUnavailable 1 (the chart's): a 3-server JetStream quorum survives one drained node.
    podDisruptionBudget: { enabled: true },
    // No nats-box: it would need credentials, and operators use the platform creds explicitly.
    natsBox: { enabled: false },
  };
}

/** A NACK `Stream` spec (jetstream.nats.io/v1beta2) from a stream's configuration. */
export function nackStreamSpec(stream: SwarmStreamConfig, options: { readonly account: string; readonly preventDelete: boolean }): Record<string, unknown> {
  return {
    name: stream.name,
    description: stream.description,
    subjects: [...stream.subjects],
    retention: stream.retention,
    storage: stream.storage,
    replicas: stream.num_replicas,
    maxAge: goDuration(stream.max_age),
    maxBytes: stream.max_bytes,
    maxMsgs: stream.max_msgs,
    maxMsgsPerSubject: stream.max_msgs_per_subject,
    maxMsgSize: stream.max_msg_size,
    maxConsumers: stream.max_consumers,
    discard: stream.discard,
    duplicateWindow: goDuration(stream.duplicate_window),
    denyDelete: stream.deny_delete,
    denyPurge: stream.deny_purge,
    allowRollup: stream.allow_rollup_hdrs,
    account: options.account,
    preventDelete: options.preventDelete,
    preventUpdate: false,
  };
}

/** Stand-ins until `nats:bootstrap` has run: they make the published claims show their role. */
export function placeholderPublicKeys(siloTenants: readonly string[]): NatsPublicKeys {
  const unset = (role: string) => `UNSET-${role}-run-nats-bootstrap`;
  return {
    operator: unset("operator"),
    systemAccount: unset("system-account"),
    swarmAccount: unset("swarm-account"),
    swarmSigningKeys: Object.fromEntries(PLAN_TIER_NAMES.map((t) => [t, unset(`swarm-signing-key-${t}`)])) as Record<PlanTierName, string>,
    silos: Object.fromEntries(siloTenants.map((t) => [t, { account: unset(`silo-${t}-account`), signingKey: unset(`silo-${t}-signing-key`) }])),
  };
}

/**
 * NATS JetStream, the event bus (workloads stack: it creates cert-manager, External Secrets and
 * NACK custom resources). The servers' certificate; the auth include and the platform creds
 * synced from Secrets Manager (no seed ever reaches Terraform: `nats:bootstrap` signs and stores
 * them); the NATS chart; NACK's `Account` and the two `Stream`s from services/nats-auth/streams.ts;
 * a ConfigMap with the unsigned account claims, so a diff shows every limit and template.
 */
export class Nats extends Construct {
  /** `nats://…:4222`; the server requires TLS (CA: the internal CA, `ca.crt` of {@link tlsSecretName}). */
  readonly clientUrl = NATS_CLIENT_URL;
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

  constructor(scope: Construct, id: string, props: NatsProps) {
    super(scope, id);
    const siloTenants = [...props.nats.siloTenants];
    checkProps(this.node.path, props, siloTenants);
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
          commonName: serviceHost,
          dnsNames: certificateDnsNames(),
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

    const claims = natsAuthClaims({ name: props.environment, nats: props.nats }, props.tiers, keys);
    new Manifest(this, "claims", {
      manifest: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: NATS_NAMES.claimsConfigMap, namespace, labels: { "enchanted.io/signed-by": "nats-bootstrap" } },
        data: Object.fromEntries([
          ["operator.json", JSON.stringify(claims.operator, null, 2)],
          ...claims.accounts.map((a) => [`account-${a.name}.json`, JSON.stringify(a, null, 2)]),
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
        apiVersion: "jetstream.nats.io/v1beta2",
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
    const configs = swarmStreamConfigs(props.nats);
    // The ingestor's dead-letter stream, replicated like the events it holds.
    const streams: Record<string, SwarmStreamConfig> = { ...configs, "dead-letters": deadLetterStreamConfig(configs.events.num_replicas) };
    for (const key of Object.keys(streams)) {
      const stream = streams[key] as SwarmStreamConfig;
      const streamResource = new Manifest(this, `stream-${key}`, {
        manifest: {
          apiVersion: "jetstream.nats.io/v1beta2",
          kind: "Stream",
          metadata: { name: stream.name.toLowerCase().replace(/_/g, "-"), namespace },
          spec: nackStreamSpec(stream, { account: NATS_NAMES.nackAccount, preventDelete: retainStreams }),
        },
        dependsOn: [account],
      });
      this.streamResources.push(streamResource);
    }
  }
}

function certificateDnsNames(): string[] {
  const svc = NATS_NAMES.service;
  const headless = NATS_NAMES.headlessService;
  return [
    svc,
    `${svc}.${namespace}`,
    `${svc}.${namespace}.svc`,
    serviceHost,
    // Routes dial `<pod>.<headless>` (the chart's route URLs); KEDA dials `<pod>.<headless FQDN>`.
    `*.${headless}`,
    `*.${headless}.${namespace}`,
    `*.${headless}.${namespace}.svc`,
    `*.${headlessHost}`,
  ];
}

function checkProps(path: string, props: NatsProps, siloTenants: readonly string[]): void {
  const fail = (field: string, value: unknown, problem: string, fix: string): never => {
    throw new Error(`Nats ${path}: ${field} = ${JSON.stringify(value)} ${problem}. Fix: ${fix}`);
  };
  const n = props.nats;
  if (![1, 3, 5].includes(n.replicas)) fail("nats.replicas", n.replicas, "is not 1, 3 or 5", "use 1 server (dev) or an odd quorum of 3 or 5");
  for (const [key, s] of Object.entries(n.streams)) {
    if (s.replicas > n.replicas) fail(`nats.streams.${key}.replicas`, s.replicas, `exceeds the ${n.replicas} servers`, `use at most ${n.replicas}`);
  }
  // Each server holds at most one replica of each stream; its max_file_store must fit them all.
  const perServerGiB = Object.values(n.streams).reduce((sum, s) => sum + s.maxBytesGiB, 0);
  const maxFileStoreMiB = jetStreamMaxFileStoreMiB(n.storageGiB);
  if (perServerGiB * 1024 > maxFileStoreMiB) {
    fail("nats.storageGiB", n.storageGiB, `leaves ${maxFileStoreMiB} MiB of JetStream storage per server but the streams may need ${perServerGiB} GiB on one server`, "raise nats.storageGiB or lower the streams' maxBytesGiB");
  }
  const memory = props.memoryLimitMiB ?? DEFAULT_MEMORY_LIMIT_MIB;
  if (!Number.isInteger(memory) || memory < MIN_MEMORY_LIMIT_MIB) fail("memoryLimitMiB", memory, `is below ${MIN_MEMORY_LIMIT_MIB}`, `give each server at least ${MIN_MEMORY_LIMIT_MIB} MiB`);
  const cpu = props.cpuRequestMillicores ?? DEFAULT_CPU_REQUEST_MILLICORES;
  if (!Number.isInteger(cpu) || cpu < 100) fail("cpuRequestMillicores", cpu, "is below 100", "request at least 100 millicores");
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

/** Labels of NACK's pod: it needs egress to the Kubernetes API (443) besides NATS in its namespace. */
export const NACK_SELECTOR = { "app.kubernetes.io/name": "nack", "app.kubernetes.io/instance": NATS_NAMES.nackRelease } as const;

export interface NackControllerProps {
  /** Chart version from the environment's config (`charts.nack`). @default HELM_CHARTS.nack.version */
  readonly version?: string;
  /** Resources the release waits for (the `nats` namespace). @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/**
 * The NACK chart's values: the JetStream controller watching only the `nats` namespace, taking
 * its connection (servers, creds, TLS) from `Account` resources (`-crd-connect`: no URL), so it
 * starts before NATS exists; restricted, non-root. Pure, for tests.
 */
export function nackChartValues(): Record<string, unknown> {
  return {
    jetstream: { enabled: true, nats: { url: "" } },
    namespaced: true,
    // Standard app.kubernetes.io labels (NACK_SELECTOR) instead of the chart's legacy `app`.
    useLegacyNames: false,
    securityContext: { ...RESTRICTED_POD_SECURITY_CONTEXT, runAsUser: NATS_UID, runAsGroup: NATS_UID, fsGroup: NATS_UID },
    containerSecurityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT,
    resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
  };
}

/**
 * NACK, the JetStream controller, and its CRDs (platform stack: the workloads stack's `Stream`
 * and `Account` resources need the CRDs when Terraform plans).
 */
export class NackController extends Construct {
  readonly helm: PinnedHelmRelease;
  constructor(scope: Construct, id: string, props: NackControllerProps = {}) {
    super(scope, id);
    this.helm = new PinnedHelmRelease(this, "chart", {
      chart: HELM_CHARTS.nack,
      ...(props.version ? { version: props.version } : {}),
      releaseName: NATS_NAMES.nackRelease,
      namespace,
      values: nackChartValues(),
      ...(props.dependsOn ? { dependsOn: props.dependsOn } : {}),
    });
  }
}

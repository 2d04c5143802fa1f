/**
 * The NATS Helm chart's values: the JetStream cluster as the environment's `nats` section and the
 * tier catalog describe it. Pure, for the construct and the tests.
 */
import type { EnvironmentConfig } from "../../config/environment.js";
import type { TierCatalog } from "../../config/tiers.js";
import { HELM_CHARTS } from "../../config/versions.js";
import { AUTH_MOUNT_DIR, JETSTREAM_STORE_DIR, jetStreamMaxFileStoreMiB, RESOLVER_DIR, RESOLVER_SETTINGS, serverConfigMerge } from "../../services/nats-auth/server-config.js";
import { RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT } from "../pinned-helm-release.js";
import { ENCRYPTED_STORAGE_CLASS, PORTS } from "../platform-interfaces.js";
import { podPlacement, type ServiceScheduling } from "../service-workload.js";
import { NATS_NAMES, NATS_UID } from "./names.js";

/** Memory limit (and request) of each server unless the props set one. */
export const DEFAULT_NATS_MEMORY_LIMIT_MIB = 4_096;
/** CPU request of each server unless the props set one. */
export const DEFAULT_NATS_CPU_REQUEST_MILLICORES = 1_000;
/** GOMEMLIMIT as a share of the container's memory limit: the Go GC works hard before the OOM killer does. */
const GO_MEMORY_LIMIT_SHARE = 0.9;
/**
 * The resolver's volume: one file per account JWT, every tenant's among them. A tenant account
 * JWT is ~4.4 KB (two activation tokens, its tier's template) and takes 8 KiB of disk:
 * `npm run bench:accounts` measured 791 MiB allocated for 100,000 accounts, so 1,000,000 tenants
 * take ~7.7 GiB; 16 GiB leaves room for revocation lists and the filesystem.
 */
export const RESOLVER_VOLUME_SIZE = "16Gi";
/** The pod volume of the synced auth include (mounted at `AUTH_MOUNT_DIR`). */
const AUTH_VOLUME = "nats-auth";

export interface NatsChartValuesProps {
  /** The environment's `nats` section: servers, storage, streams. */
  readonly nats: Pick<EnvironmentConfig["nats"], "replicas" | "storageGiB" | "streams">;
  /** The plan-tier catalog (the server's max_payload is the largest tier's). */
  readonly tiers: TierCatalog;
  /** Memory limit (and request) of each server. @default 4096 */
  readonly memoryLimitMiB?: number;
  /** CPU request of each server (no CPU limit: throttling a server stalls the cluster). @default 1000 */
  readonly cpuRequestMillicores?: number;
  /**
   * Nodes the servers run on (the environment's data pool: its labels and the tolerations of its
   * taints). @default - any untainted node
   */
  readonly scheduling?: ServiceScheduling;
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
  const memoryLimitMiB = props.memoryLimitMiB ?? DEFAULT_NATS_MEMORY_LIMIT_MIB;
  const cpuRequestMillicores = props.cpuRequestMillicores ?? DEFAULT_NATS_CPU_REQUEST_MILLICORES;
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
      merge: { spec: { securityContext: podSecurityContext, ...podPlacement(props.scheduling) } },
      patch: [{ op: "add", path: "/spec/volumes/-", value: { name: AUTH_VOLUME, secret: { secretName: NATS_NAMES.authSecret } } }],
    },
    // maxUnavailable 1 (the chart's): a 3-server JetStream quorum survives one drained node.
    podDisruptionBudget: { enabled: true },
    // No nats-box: it would need credentials, and operators use the platform creds explicitly.
    natsBox: { enabled: false },
  };
}

/** The keycloakx chart's values, from a few inputs. Pure, for tests. */
import { RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT } from "../pinned-helm-release.js";
import { BOOTSTRAP_ADMIN_CLIENT_ID, KEYCLOAK_DB_SECRET, KEYCLOAK_POD_LABELS, KEYCLOAK_RELEASE, keycloakSecrets } from "./names.js";
import type { IKeycloakDatabase } from "./platform.js";

/** Keycloak's container user (the official image's `keycloak` user, group root). */
const KEYCLOAK_UID = 1000;

/** Inputs of {@link keycloakChartValues}. */
export interface KeycloakChartInput {
  readonly replicas: number;
  /** `domains.auth`: Keycloak's public hostname (`https://<authDomain>`). */
  readonly authDomain: string;
  readonly database: Pick<IKeycloakDatabase, "endpoint" | "port" | "databaseName">;
  /** Ranges whose X-Forwarded-* headers Keycloak trusts (load balancer and gateway). */
  readonly trustedProxyCidrs: readonly string[];
  readonly cpuMillicores: number;
  readonly memoryMiB: number;
}

/** A chart value the chart passes through `tpl` into a YAML block list: one flow mapping per item. */
function yamlList(items: readonly Record<string, unknown>[]): string {
  return items.map((item) => `- ${JSON.stringify(item)}`).join("\n");
}

/** An environment variable read from a key of a Kubernetes Secret. */
export function secretEnv(name: string, secretName: string, key: string) {
  return { name, valueFrom: { secretKeyRef: { name: secretName, key } } };
}

/**
 * The keycloakx chart's values. Pure, for tests.
 * - `start` (not `--optimized`): the stock image builds for postgres, health and metrics at
 *   start, which writes under /opt/keycloak, so the root filesystem stays writable; everything
 *   else is Pod Security `restricted`.
 * - `cache.stack: default` makes the chart set KC_CACHE=ispn and KC_CACHE_STACK=jdbc-ping (the
 *   Keycloak 26 default: members find each other through the database, no Kubernetes API access).
 * - The database password and user come from the Secret External Secrets syncs from the RDS
 *   secret; the bootstrap admin client's secret from its own Secret. No literal anywhere.
 */
export function keycloakChartValues(input: KeycloakChartInput): Record<string, unknown> {
  const env = [
    { name: "KC_HOSTNAME", value: `https://${input.authDomain}` },
    { name: "KC_HOSTNAME_STRICT", value: "true" },
    // In-cluster callers (the realm Job, provisioning) use the Service; tokens keep the public issuer.
    { name: "KC_HOSTNAME_BACKCHANNEL_DYNAMIC", value: "true" },
    ...(input.trustedProxyCidrs.length > 0 ? [{ name: "KC_PROXY_TRUSTED_ADDRESSES", value: input.trustedProxyCidrs.join(",") }] : []),
    { name: "KC_DB_URL_PROPERTIES", value: "?sslmode=require" },
    secretEnv("KC_DB_USERNAME", KEYCLOAK_DB_SECRET, "username"),
    { name: "KC_BOOTSTRAP_ADMIN_CLIENT_ID", value: BOOTSTRAP_ADMIN_CLIENT_ID },
    secretEnv("KC_BOOTSTRAP_ADMIN_CLIENT_SECRET", keycloakSecrets("").bootstrapAdmin.secretName, keycloakSecrets("").bootstrapAdmin.key),
    { name: "KC_LOG_CONSOLE_OUTPUT", value: "json" },
  ];
  const ha = input.replicas > 1;
  return {
    fullnameOverride: KEYCLOAK_RELEASE,
    replicas: input.replicas,
    args: ["start"],
    enableServiceLinks: false,
    serviceAccount: { create: true, automountServiceAccountToken: false, allowReadPods: false },
    rbac: { create: false },
    podSecurityContext: { ...RESTRICTED_POD_SECURITY_CONTEXT, runAsUser: KEYCLOAK_UID, runAsGroup: KEYCLOAK_UID, fsGroup: KEYCLOAK_UID },
    securityContext: { ...RESTRICTED_CONTAINER_SECURITY_CONTEXT, readOnlyRootFilesystem: false, runAsUser: KEYCLOAK_UID, runAsGroup: KEYCLOAK_UID },
    dbchecker: { enabled: false },
    http: { relativePath: "/" },
    proxy: { enabled: true, mode: "xforwarded", http: { enabled: true } },
    cache: { stack: "default" },
    health: { enabled: true },
    metrics: { enabled: true },
    database: {
      vendor: "postgres",
      hostname: input.database.endpoint,
      port: input.database.port,
      database: input.database.databaseName,
      existingSecret: KEYCLOAK_DB_SECRET,
      existingSecretKey: "password",
    },
    extraEnv: yamlList(env),
    resources: {
      requests: { cpu: `${input.cpuMillicores}m`, memory: `${input.memoryMiB}Mi` },
      limits: { memory: `${input.memoryMiB}Mi` },
    },
    // The chart's default affinity keeps replicas on different nodes; this spreads them over zones.
    topologySpreadConstraints: yamlList([
      {
        maxSkew: 1,
        topologyKey: "topology.kubernetes.io/zone",
        whenUnsatisfiable: ha ? "DoNotSchedule" : "ScheduleAnyway",
        labelSelector: { matchLabels: { ...KEYCLOAK_POD_LABELS } },
      },
    ]),
    ...(ha ? { podDisruptionBudget: { maxUnavailable: 1 } } : {}),
    ingress: { enabled: false },
  };
}

import { Annotations } from "@cdktf/provider-kubernetes/lib/annotations/index.js";
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import { Construct } from "constructs";
import { PLAN_TIER_NAMES, type PlanTierName } from "../../config/tiers.js";
import { CLICKHOUSE_USERS, readerUserName, SWARM_DATABASE, SWARM_EVENTS_TABLE } from "../../services/clickhouse-schema/index.js";
import { addExternalSecret } from "../external-secrets.js";
import { addConfigJob } from "../k8s/config-job.js";
import { WorkloadAccess, type NetworkPeer, type NetworkPort } from "../k8s/network-policy.js";
import { CLICKHOUSE_CLIENT_PORTS, NAMESPACES, POLICY_LABELS, PORTS } from "../platform-interfaces.js";
import { clickhouseInstallationManifest, clickhouseMigrationSql, keeperInstallationManifest } from "./manifests.js";
import { CLICKHOUSE_OPERATOR_NAME, CLICKHOUSE_UID, clickhouseHost, clickhouseHttpUrl, clickhouseSecrets, type ClickHouseUserSecret } from "./names.js";
import { resolveClickHouseProps, type ClickHouseProps } from "./props.js";

/** Minutes Terraform waits for the installation to reconcile and for the migration to finish. */
const INSTALL_TIMEOUT = "45m";
const MIGRATION_TIMEOUT = "20m";
const MIGRATION_BACKOFF_LIMIT = 6;
const SCHEMA_FILE = "migration.sql";

/**
 * A configuration user a service connects as, and where its password is: the Secrets Manager
 * secret (`remoteKey`) the service syncs into its own namespace as `secretName`, under `passwordKey`.
 */
export interface ClickHouseUserCredentials extends ClickHouseUserSecret {
  readonly username: string;
}

/**
 * ClickHouse for the event history: a Keeper installation and a replicated, sharded
 * ClickHouseInstallation (Altinity operator, see {@link ClickHouseOperator}), the passwords of its
 * configuration users synced from Secrets Manager, a Job that applies the schema and the access
 * control from services/clickhouse-schema whenever that SQL changes, and the namespace's one
 * ingress policy: its own replicas and Keeper, plus whoever {@link allowFrom} admits on the client
 * ports. Lives in the workloads stack.
 */
export class ClickHouse extends Construct {
  /** HTTP interface (`@clickhouse/client`'s `url`). */
  readonly httpUrl: string;
  /** Native protocol `host:port`. */
  readonly nativeEndpoint: string;
  /** The installation's Service and the ports a client may use. */
  readonly endpoint: { readonly host: string; readonly ports: readonly number[] };
  readonly database = SWARM_DATABASE;
  readonly table = SWARM_EVENTS_TABLE;
  /** The ingestor's user and the Secret (same name in each of `ingestorNamespaces`) holding its password. */
  readonly ingestorCredentials: { readonly username: string; readonly secretName: string; readonly passwordKey: string; readonly namespaces: readonly string[] };
  /** Each tier's reader (the events API queries as its tenant's tier's): user and password secret. */
  readonly readerCredentials: Readonly<Record<PlanTierName, ClickHouseUserCredentials>>;
  /** The provisioning service's lifecycle user (tenant plans, offboarding deletes): user and password secret. */
  readonly lifecycleCredentials: ClickHouseUserCredentials;
  readonly installation: Manifest;
  readonly keeper: Manifest;
  readonly migration: Manifest;
  private readonly access: WorkloadAccess;

  constructor(scope: Construct, id: string, props: ClickHouseProps) {
    super(scope, id);
    const r = resolveClickHouseProps(props, this);
    const secrets = clickhouseSecrets(r.secretPrefix);
    const dependsOn = [...(props.dependsOn ?? [])];
    const ns = NAMESPACES.clickhouse;

    // Passwords (Ready once the Secret exists: what depends on it never starts without it) ------
    const sync = (id: string, namespace: string, secretName: string, remoteKey: string, data: readonly { secretKey: string; property?: string }[]) =>
      addExternalSecret(this, id, {
        secretName,
        namespace,
        store: props.secretStore,
        data: data.map((d) => ({ ...d, remoteKey })),
        waitUntilReady: true,
        dependsOn,
      });
    const adminSecret = sync("admin-password", ns, secrets.admin.secretName, secrets.admin.remoteKey, [{ secretKey: secrets.admin.passwordKey }]);
    const ingestorSecret = sync("ingestor-password", ns, secrets.ingestor.secretName, secrets.ingestor.remoteKey, [{ secretKey: secrets.ingestor.passwordKey }]);
    const workersSecret = sync("workers-password", ns, secrets.workers.secretName, secrets.workers.remoteKey, [{ secretKey: secrets.workers.passwordKey }]);
    const lifecycleSecret = sync("lifecycle-password", ns, secrets.lifecycle.secretName, secrets.lifecycle.remoteKey, [{ secretKey: secrets.lifecycle.passwordKey }]);
    const readerSecrets = PLAN_TIER_NAMES.map((tier) => {
      const reader = secrets.readers[tier];
      return sync(`reader-${tier}-password`, ns, reader.secretName, reader.remoteKey, [{ secretKey: reader.passwordKey }]);
    });
    for (const namespace of r.ingestorNamespaces) {
      sync(`ingestor-password-${namespace}`, namespace, secrets.ingestor.secretName, secrets.ingestor.remoteKey, [{ secretKey: secrets.ingestor.passwordKey }]);
    }
    const operatorSecret = sync("operator-credentials", ns, secrets.operator.secretName, secrets.operator.remoteKey, [
      { secretKey: "username", property: "username" },
      { secretKey: "password", property: "password" },
    ]);
    // The operator reads its credentials once, at start: restart it after they first exist.
    const operatorRestart = new Annotations(this, "operator-credentials-reload", {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: CLICKHOUSE_OPERATOR_NAME, namespace: ns },
      templateAnnotations: { "enchanted.io/credentials-secret": secrets.operator.secretName },
      force: true,
      dependsOn: [operatorSecret],
    });

    // Keeper and ClickHouse ---------------------------------------------------------------------
    const completed = { fields: { "status.status": "Completed" } };
    const timeouts = { create: INSTALL_TIMEOUT, update: INSTALL_TIMEOUT };
    this.keeper = new Manifest(this, "keeper", {
      manifest: keeperInstallationManifest(r),
      wait: completed,
      timeouts,
      dependsOn: [...dependsOn, operatorRestart],
    });
    this.installation = new Manifest(this, "installation", {
      manifest: clickhouseInstallationManifest(r),
      wait: completed,
      timeouts,
      dependsOn: [this.keeper, adminSecret, ingestorSecret, workersSecret, lifecycleSecret, ...readerSecrets, operatorRestart],
    });

    // Who may connect: replicas and Keeper among themselves; clients by allowFrom. The operator
    // (same namespace) reaches the servers and the Kubernetes API. ------------------------------
    this.access = new WorkloadAccess(this, "access", {
      name: "allow-clickhouse",
      namespace: ns,
      defaultPorts: CLICKHOUSE_CLIENT_PORTS,
      ownIngress: [{ peers: [{ namespace: ns }] }],
      egress: [{ peers: [{ namespace: ns }] }, { ports: [PORTS.https] }],
    });

    // Migration ------------------------------------------------------------------------------
    const admin = { secretName: secrets.admin.secretName, key: secrets.admin.passwordKey };
    this.migration = addConfigJob(this, {
      ids: { configMap: "schema", job: "migration" },
      namespace: ns,
      configMapPrefix: "clickhouse-schema",
      jobPrefix: "clickhouse-migrate",
      appName: "clickhouse-migrate",
      podLabels: { [POLICY_LABELS.clickhouseClient]: "true" },
      file: { name: SCHEMA_FILE, content: clickhouseMigrationSql(r), volume: "schema", mountPath: "/schema" },
      image: r.image,
      runAsUser: CLICKHOUSE_UID,
      container: {
        name: "clickhouse-client",
        command: ["clickhouse-client"],
        // Kubernetes expands $(CLICKHOUSE_PASSWORD) from the Secret-backed variable below.
        args: ["--host", clickhouseHost(r.name), "--port", String(PORTS.clickhouseNative), "--user", CLICKHOUSE_USERS.admin, "--password", "$(CLICKHOUSE_PASSWORD)", "--multiquery", "--queries-file", `/schema/${SCHEMA_FILE}`],
        env: [
          { name: "CLICKHOUSE_PASSWORD", valueFrom: { secretKeyRef: { name: admin.secretName, key: admin.key } } },
          { name: "HOME", value: "/tmp" },
        ],
        resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } },
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } },
      },
      backoffLimit: MIGRATION_BACKOFF_LIMIT,
      timeout: MIGRATION_TIMEOUT,
      server: this.installation,
      dependsOn: [adminSecret],
    }).job;

    this.httpUrl = clickhouseHttpUrl(r.name);
    this.nativeEndpoint = `${clickhouseHost(r.name)}:${PORTS.clickhouseNative}`;
    this.endpoint = { host: clickhouseHost(r.name), ports: [...CLICKHOUSE_CLIENT_PORTS] };
    this.ingestorCredentials = {
      username: CLICKHOUSE_USERS.ingestor,
      secretName: secrets.ingestor.secretName,
      passwordKey: secrets.ingestor.passwordKey,
      namespaces: r.ingestorNamespaces,
    };
    this.readerCredentials = Object.fromEntries(PLAN_TIER_NAMES.map((tier) => [tier, { username: readerUserName(tier), ...secrets.readers[tier] }])) as Record<PlanTierName, ClickHouseUserCredentials>;
    this.lifecycleCredentials = { username: CLICKHOUSE_USERS.lifecycle, ...secrets.lifecycle };
  }

  /** Lets `peers` connect to ClickHouse on its client ports (HTTP(S), native, native TLS) unless `ports` says otherwise. */
  allowFrom(peers: NetworkPeer | readonly NetworkPeer[], ports?: readonly NetworkPort[]): void {
    this.access.allowFrom(peers, ports);
  }
}

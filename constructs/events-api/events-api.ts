/** The events API's construct (workloads stack): the tenants' read path. */
import { EksPodIdentityAssociation } from "@cdktf/provider-aws/lib/eks-pod-identity-association/index.js";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role/index.js";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy/index.js";
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { EVENTS_API_ENV, EVENTS_API_HTTP_PATHS, EVENTS_API_HTTP_PORT, EVENTS_API_READER_ENV, type EventsApiEnvVar } from "../../services/events-api/contract.js";
import { JWKS_PATH } from "../../services/identity/names.js";
import { addExternalSecret } from "../external-secrets.js";
import { FDB_CLUSTER_FILE_KEY, FDB_CLUSTER_FILE_SECRET } from "../foundationdb-connectivity.js";
import { POD_IDENTITY_SERVICE, serviceTrustPolicy } from "../iam.js";
import { DNS_EGRESS, WorkloadAccess, type NetworkPeer, type NetworkPort, type NetworkRule } from "../k8s/network-policy.js";
import { NAMESPACES, POLICY_LABELS, PORTS } from "../platform-interfaces.js";
import { POD_IDENTITY_AGENT } from "../provisioning/names.js";
import { addServiceAndDisruptionBudget, addServiceDeployment, type SecretVolume } from "../service-workload.js";
import dashboard from "./dashboard.json" with { type: "json" };
import {
  EVENTS_API_APP_LABELS as APP_LABELS,
  EVENTS_API_DASHBOARD,
  EVENTS_API_KMS_ACTIONS,
  EVENTS_API_NAME,
  EVENTS_API_NAMESPACE,
  EVENTS_API_PATHS,
  EVENTS_API_READER_TIERS,
  TENANT_KEY_ENCRYPTION_CONTEXT,
} from "./names.js";
import { resolveEventsApiProps, type EventsApiProps } from "./props.js";

/** V8's heap as a share of the memory limit: response buffers and the FDB client's native memory need the rest. */
const HEAP_SHARE = 0.7;

/**
 * The events API in the workloads stack: tenants read their history through it (the gateway's
 * `EVENTS_API_GATEWAY_PATHS`, each request with a tenant token), and it queries ClickHouse as the
 * token tier's reader (one configuration user per tier, each query bound to the token's tenant).
 *
 * - A restricted, read-only Deployment spread over zones and nodes, a HorizontalPodAutoscaler on
 *   CPU (it owns the replica count), a PodDisruptionBudget, a ServiceAccount (no API token), and
 *   the Service `events-api` in `platform` that Kong's events Ingress routes to.
 * - Every tier reader's password, synced by External Secrets into the namespace and mounted as a
 *   file; no password in an environment variable.
 * - With `dataKeys`, the tenants' data keys: the FoundationDB cluster file mounted, and an EKS Pod
 *   Identity role that may `kms:Decrypt` on the tenant-key CMK only with the encryption context
 *   `tenant_id` alone (never the platform's own keys).
 * - One NetworkPolicy, its own: egress only to DNS, ClickHouse's HTTP port, the provisioning
 *   service (replays through its jobs API, the tenant tokens' key set) and, with `dataKeys`,
 *   FoundationDB, the KMS endpoint and the node's Pod Identity Agent; ingress on the HTTP port only
 *   from the peers {@link allowFrom} admits (the gateway, the metrics scraper). ClickHouse and the
 *   provisioning service admit {@link peers} themselves (their `allowFrom`).
 * - Its Grafana dashboard (query latency by route, request rate and errors by status).
 */
export class EventsApi extends Construct {
  readonly deployment: Manifest;
  readonly namespace = EVENTS_API_NAMESPACE;
  readonly port = EVENTS_API_HTTP_PORT;
  /** In-cluster URL of the API (what Kong routes the events paths to). */
  readonly serviceUrl = `http://${EVENTS_API_NAME}.${EVENTS_API_NAMESPACE}.svc.cluster.local:${EVENTS_API_HTTP_PORT}`;
  /** The service's pods, for the owners of what it calls to admit (`clickhouse.allowFrom`, `provisioning.allowFrom`). */
  readonly peers: readonly NetworkPeer[] = [{ namespace: EVENTS_API_NAMESPACE, podLabels: { ...APP_LABELS } }];
  /** The pod's role (EKS Pod Identity), when it unwraps data keys. */
  readonly role?: IamRole;
  /** Environment variables of the container (name → literal value). */
  readonly environment: Readonly<Partial<Record<EventsApiEnvVar, string>>>;
  private readonly access: WorkloadAccess;

  constructor(scope: Construct, id: string, props: EventsApiProps) {
    super(scope, id);
    const r = resolveEventsApiProps(this, props);
    const namespace = EVENTS_API_NAMESPACE;
    const port = EVENTS_API_HTTP_PORT;

    const serviceAccount = new Manifest(this, "service-account", {
      manifest: {
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name: EVENTS_API_NAME, namespace, labels: { ...APP_LABELS } },
        automountServiceAccountToken: false,
      },
    });

    // AWS, with data keys: the pod's role and its Pod Identity association --------------------------
    const waitFor: ITerraformDependable[] = [serviceAccount];
    const dataKeys = props.dataKeys;
    if (dataKeys) {
      const role = new IamRole(this, "role", {
        name: `${props.name}-events-api`,
        description: "Events API (EKS Pod Identity): unwraps tenant data keys only",
        assumeRolePolicy: serviceTrustPolicy(POD_IDENTITY_SERVICE, props.accountId),
      });
      new IamRolePolicy(this, "tenant-data-keys", {
        role: role.name,
        name: "unwrap-tenant-data-keys",
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "UnwrapTenantDataKeys",
              Effect: "Allow",
              Action: [...EVENTS_API_KMS_ACTIONS],
              Resource: dataKeys.tenantKey.keyArn,
              // A tenant's key only: the context names a tenant and nothing else.
              Condition: {
                "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": [TENANT_KEY_ENCRYPTION_CONTEXT] },
                Null: { [`kms:EncryptionContext:${TENANT_KEY_ENCRYPTION_CONTEXT}`]: "false" },
              },
            },
          ],
        }),
      });
      // The association must exist before a pod is created, or the pod gets no AWS credentials.
      waitFor.push(
        new EksPodIdentityAssociation(this, "pod-identity", {
          clusterName: props.clusterName,
          namespace,
          serviceAccount: EVENTS_API_NAME,
          roleArn: role.arn,
        }),
      );
      this.role = role;
    }

    // Every tier reader's password, as a file --------------------------------------------------
    const secretVolumes: SecretVolume[] = [];
    for (const tier of EVENTS_API_READER_TIERS) {
      const reader = props.clickhouse.readers[tier];
      waitFor.push(
        addExternalSecret(this, `clickhouse-reader-${tier}`, {
          secretName: reader.secretName,
          namespace,
          store: props.secretStore,
          data: [{ secretKey: reader.passwordKey, remoteKey: reader.remoteKey }],
          labels: APP_LABELS,
          // Ready once the Secret exists: the pods never start without their readers.
          waitUntilReady: true,
        }),
      );
      secretVolumes.push({
        name: `clickhouse-${tier}`,
        mountPath: EVENTS_API_PATHS.readerPasswordDir(tier),
        secret: { secretName: reader.secretName, defaultMode: 0o440, items: [{ key: reader.passwordKey, path: reader.passwordKey }] },
      });
    }
    if (dataKeys) {
      secretVolumes.push({
        name: "foundationdb",
        mountPath: dirOf(EVENTS_API_PATHS.fdbClusterFile),
        secret: { secretName: FDB_CLUSTER_FILE_SECRET, defaultMode: 0o440, items: [{ key: FDB_CLUSTER_FILE_KEY, path: FDB_CLUSTER_FILE_KEY }] },
      });
    }

    // The Deployment ----------------------------------------------------------------------------
    const V = EVENTS_API_ENV;
    const provisioningUrl = props.provisioning.url.replace(/\/+$/, "");
    const environment: Partial<Record<EventsApiEnvVar, string>> = {
      [V.httpPort]: String(port),
      [V.logLevel]: r.logLevel,
      [V.clickhouseUrl]: props.clickhouse.url,
      ...Object.fromEntries(
        EVENTS_API_READER_TIERS.flatMap((tier) => {
          const reader = props.clickhouse.readers[tier];
          const names = EVENTS_API_READER_ENV[tier];
          return [
            [names.user, reader.username],
            [names.passwordFile, `${EVENTS_API_PATHS.readerPasswordDir(tier)}/${reader.passwordKey}`],
          ];
        }),
      ),
      [V.queryTimeoutMs]: String(r.queryTimeoutMs),
      [V.tokenIssuer]: props.tokenIssuer,
      // In-cluster: the egress policy does not reach the public API host.
      [V.jwksUrl]: `${provisioningUrl}${JWKS_PATH}`,
      [V.provisioningUrl]: provisioningUrl,
      ...(dataKeys ? { [V.fdbClusterFile]: EVENTS_API_PATHS.fdbClusterFile, [V.kmsKeyId]: dataKeys.tenantKey.keyArn, [V.awsRegion]: props.region } : {}),
      [V.shutdownTimeoutMs]: String(r.shutdownTimeoutSeconds * 1000),
    };
    this.environment = environment;

    this.deployment = addServiceDeployment(this, {
      name: EVENTS_API_NAME,
      namespace,
      labels: APP_LABELS,
      podLabels: { ...APP_LABELS, ...(dataKeys ? { [POLICY_LABELS.foundationDbClient]: "true" } : {}) },
      image: props.image,
      port,
      metricsPath: EVENTS_API_HTTP_PATHS.metrics,
      healthPath: EVENTS_API_HTTP_PATHS.health,
      readyPath: EVENTS_API_HTTP_PATHS.ready,
      sizing: r,
      heapShare: HEAP_SHARE,
      env: Object.entries(environment).map(([name, value]) => ({ name, value })),
      secretVolumes,
      serviceAccountName: EVENTS_API_NAME,
      dependsOn: [...waitFor, ...(props.dependsOn ?? [])],
    });

    // The Service Kong routes to, and a PDB.
    addServiceAndDisruptionBudget(this, { name: EVENTS_API_NAME, namespace, labels: APP_LABELS, port, portName: "http", minReplicas: r.minReplicas });

    new Manifest(this, "hpa", {
      manifest: {
        apiVersion: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        metadata: { name: EVENTS_API_NAME, namespace, labels: { ...APP_LABELS } },
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: EVENTS_API_NAME },
          minReplicas: r.minReplicas,
          maxReplicas: r.maxReplicas,
          metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: r.targetCpuUtilization } } }],
          behavior: { scaleDown: { stabilizationWindowSeconds: 300 } },
        },
      },
      dependsOn: [this.deployment],
    });

    // The NetworkPolicy: everything the pods may reach; who may reach them is asked of allowFrom.
    const egress: NetworkRule[] = [
      DNS_EGRESS,
      { peers: [{ namespace: props.clickhouse.namespace ?? NAMESPACES.clickhouse }], ports: [props.clickhouse.port ?? PORTS.clickhouseHttp] },
      { peers: [props.provisioning.peer], ports: [props.provisioning.port] },
      ...(dataKeys
        ? [
            { peers: dataKeys.foundationDb.destinationCidrs.map((cidr) => ({ cidr })), ports: dataKeys.foundationDb.ports },
            { peers: dataKeys.kmsEndpointCidrs.map((cidr) => ({ cidr })), ports: [PORTS.https] },
            { peers: [{ cidr: POD_IDENTITY_AGENT.cidr }], ports: [POD_IDENTITY_AGENT.port] },
          ]
        : []),
    ];
    this.access = new WorkloadAccess(this, "access", { name: EVENTS_API_NAME, namespace, labels: APP_LABELS, podLabels: APP_LABELS, defaultPorts: [port], egress });
    if (props.metricsScraper) this.allowFrom(props.metricsScraper);

    new Manifest(this, "dashboard", {
      manifest: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: EVENTS_API_DASHBOARD.configMap, namespace: props.dashboardNamespace ?? namespace, labels: { ...APP_LABELS, grafana_dashboard: "1" } },
        data: { [EVENTS_API_DASHBOARD.file]: JSON.stringify(dashboard) },
      },
    });
  }

  /** Lets `peers` (the gateway, a metrics scraper) call the API on its HTTP port unless `ports` says otherwise. */
  allowFrom(peers: NetworkPeer | readonly NetworkPeer[], ports?: readonly NetworkPort[]): void {
    this.access.allowFrom(peers, ports);
  }
}

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

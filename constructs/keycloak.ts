import { createHash } from "node:crypto";
import { DbSubnetGroup } from "@cdktf/provider-aws/lib/db-subnet-group/index.js";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy/index.js";
import { RdsCluster } from "@cdktf/provider-aws/lib/rds-cluster/index.js";
import { RdsClusterInstance } from "@cdktf/provider-aws/lib/rds-cluster-instance/index.js";
import { RdsClusterParameterGroup } from "@cdktf/provider-aws/lib/rds-cluster-parameter-group/index.js";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group/index.js";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule/index.js";
import { ConfigMapV1 } from "@cdktf/provider-kubernetes/lib/config-map-v1/index.js";
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import { NetworkPolicyV1 } from "@cdktf/provider-kubernetes/lib/network-policy-v1/index.js";
import { Token, type ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { HELM_CHARTS, KEYCLOAK_PINS } from "../config/versions.js";
import { REALM_NAME, REALM_VARIABLES } from "../services/keycloak-realm/names.js";
import type { RealmRepresentation } from "../services/keycloak-realm/realm.js";
import { ManagedSecret } from "./external-secrets.js";
import type { IKmsKey } from "./kms-key.js";
import type { INetwork } from "./network.js";
import { PinnedHelmRelease, RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT } from "./pinned-helm-release.js";

import { namespacePeer } from "./k8s/network-policy.js";
import { NAMESPACES, type ISecretStore } from "./platform-interfaces.js";

/** The keycloakx chart: repository, name and pinned version (config/versions.ts). */
export const KEYCLOAK_CHART = HELM_CHARTS.keycloakx;
/** keycloak-config-cli, pinned to a build for the chart's Keycloak line. */
export const KEYCLOAK_CONFIG_CLI_IMAGE = KEYCLOAK_PINS.configCliImage;

/** Release and `fullnameOverride`: the StatefulSet is `keycloak`, its Service `keycloak-http`. */
export const KEYCLOAK_RELEASE = "keycloak";
/** Selector labels the chart puts on the Keycloak pods. */
export const KEYCLOAK_POD_LABELS = { "app.kubernetes.io/name": KEYCLOAK_CHART.chart, "app.kubernetes.io/instance": KEYCLOAK_RELEASE } as const;

/** Ports of a Keycloak pod. */
export const KEYCLOAK_PORTS = {
  /** HTTP behind the TLS-terminating proxy (the Service's port 80 targets it). */
  http: 8080,
  /** Management interface: health and metrics. */
  management: 9000,
  /** JGroups (Infinispan cluster traffic) and its FD_SOCK2 failure detection. */
  jgroups: 7800,
  jgroupsFailureDetection: 57800,
  postgres: 5432,
  smtp: 587,
} as const;

/** The database and master user Keycloak uses (Aurora creates both). */
export const KEYCLOAK_DATABASE = { name: "keycloak", username: "keycloak" } as const;

/** Client id of the bootstrap admin service account in the master realm, which keycloak-config-cli signs in as. */
export const BOOTSTRAP_ADMIN_CLIENT_ID = "enchanted-bootstrap-admin";

/** Label of pods that may call Keycloak's HTTP port (the realm Job; any other in-cluster client). */
export const KEYCLOAK_CLIENT_LABEL = "enchanted.io/keycloak-client";

/** Keycloak's container user (the official image's `keycloak` user, group root). */
const KEYCLOAK_UID = 1000;
/** keycloak-config-cli runs as `nobody`. */
const NOBODY_UID = 65534;

/**
 * The Secrets Manager secrets Keycloak reads (created empty by {@link KeycloakPlatform}, filled
 * out of band), and the Kubernetes Secrets they are synced to. The database credentials are not
 * here: RDS creates, owns and rotates that secret.
 */
export function keycloakSecrets(secretPrefix: string) {
  return {
    /** Client secret of {@link BOOTSTRAP_ADMIN_CLIENT_ID} (plain string). */
    bootstrapAdmin: { secretName: "keycloak-bootstrap-admin", remoteKey: `${secretPrefix}/bootstrap-admin-client-secret`, key: "client-secret" },
    /** Client secret of the provisioning client (plain string); the provisioning service syncs the same secret. */
    provisioningClient: { secretName: "keycloak-provisioning-client", remoteKey: `${secretPrefix}/provisioning-client-secret`, key: "client-secret" },
    /** SES SMTP credentials, JSON `{"username": ..., "password": ...}`. */
    smtp: { secretName: "keycloak-smtp", remoteKey: `${secretPrefix}/smtp` },
  } as const;
}
/** The Kubernetes Secret holding the RDS-managed master credentials (`username`, `password`). */
export const KEYCLOAK_DB_SECRET = "keycloak-db";

// ---------------------------------------------------------------------------------------------
// Platform stack: the database and the Secrets Manager containers (AWS only)
// ---------------------------------------------------------------------------------------------

/** What the workloads part needs of the database (cross-stack references). */
export interface IKeycloakDatabase {
  readonly endpoint: string;
  readonly port: number;
  readonly databaseName: string;
  readonly username: string;
  /** ARN of the RDS-managed secret with the master credentials (rotated by RDS). */
  readonly masterUserSecretArn: string;
}

export interface KeycloakPlatformProps {
  /** Name of the cluster and prefix of its resources, e.g. `enchanted-prod-keycloak`. */
  readonly name: string;
  readonly network: INetwork;
  /** CIDRs of the private (node and pod) subnets: the only sources allowed on 5432. */
  readonly clientCidrs: readonly string[];
  /** Customer key for storage, the master-user secret and Performance Insights. */
  readonly key: IKmsKey;
  /** Secrets Manager prefix of the secrets of {@link keycloakSecrets}, e.g. `enchanted/prod/keycloak`. */
  readonly secretPrefix: string;
  /**
   * IAM roles (by name) that may read the master-user secret and the Keycloak secrets: the
   * External Secrets operator's.
   */
  readonly secretReaderRoleNames: readonly string[];
  /** Cluster instances: a writer plus readers in other AZs. @default 2 */
  readonly instances?: number;
  /** Serverless v2 capacity. @default 0.5 */
  readonly minCapacityAcu?: number;
  /** @default 8 */
  readonly maxCapacityAcu?: number;
  /** Days of automated backups. @default 14 */
  readonly backupRetentionDays?: number;
  /** Blocks deletion of the cluster and takes a final snapshot. @default true */
  readonly deletionProtection?: boolean;
  /** Allows IAM database authentication next to the password. @default false */
  readonly iamAuthentication?: boolean;
  /** @default KEYCLOAK_PINS.auroraPostgresqlVersion */
  readonly engineVersion?: string;
}

const PLATFORM_DEFAULTS = {
  instances: 2,
  minCapacityAcu: 0.5,
  maxCapacityAcu: 8,
  backupRetentionDays: 14,
  deletionProtection: true,
  iamAuthentication: false,
} as const;
/** Days Performance Insights keeps data (the free tier). */
const PERFORMANCE_INSIGHTS_RETENTION_DAYS = 7;

/**
 * Keycloak's own Aurora PostgreSQL (Serverless v2): encrypted with the customer key, in the data
 * subnets, reachable on 5432 from the private subnets only, never public; the master password
 * generated, stored and rotated by RDS in Secrets Manager (encrypted with the same key), and read
 * by External Secrets; automated backups, deletion protection, encrypted Performance Insights.
 * Also the empty Secrets Manager containers of {@link keycloakSecrets}. Lives in the platform stack.
 */
export class KeycloakPlatform extends Construct implements IKeycloakDatabase {
  readonly endpoint: string;
  readonly readerEndpoint: string;
  readonly port = KEYCLOAK_PORTS.postgres;
  readonly databaseName = KEYCLOAK_DATABASE.name;
  readonly username = KEYCLOAK_DATABASE.username;
  readonly masterUserSecretArn: string;
  readonly securityGroupId: string;
  readonly cluster: RdsCluster;

  constructor(scope: Construct, id: string, props: KeycloakPlatformProps) {
    super(scope, id);
    const instances = props.instances ?? PLATFORM_DEFAULTS.instances;
    const minCapacity = props.minCapacityAcu ?? PLATFORM_DEFAULTS.minCapacityAcu;
    const maxCapacity = props.maxCapacityAcu ?? PLATFORM_DEFAULTS.maxCapacityAcu;
    const backupRetentionDays = props.backupRetentionDays ?? PLATFORM_DEFAULTS.backupRetentionDays;
    const deletionProtection = props.deletionProtection ?? PLATFORM_DEFAULTS.deletionProtection;
    const fail = (field: string, value: unknown, problem: string, fix: string): never => {
      throw new Error(`KeycloakPlatform ${this.node.path}: ${field} = ${JSON.stringify(value)} ${problem}. Fix: ${fix}`);
    };
    if (!Token.isUnresolved(props.name) && !/^[a-z][a-z0-9-]{0,50}[a-z0-9]$/.test(props.name)) {
      fail("name", props.name, "is not a valid RDS cluster identifier", "use lower-case letters, digits and hyphens, starting with a letter");
    }
    if (!Number.isInteger(instances) || instances < 1 || instances > 15) fail("instances", instances, "is not 1 to 15", "use 1 (dev) or 2+ for a reader in another AZ");
    if (!(minCapacity >= 0 && maxCapacity <= 256 && minCapacity <= maxCapacity && maxCapacity >= 1)) {
      fail("minCapacityAcu/maxCapacityAcu", [minCapacity, maxCapacity], "is not a Serverless v2 range", "use 0 <= min <= max <= 256 ACU, max >= 1");
    }
    if (!Number.isInteger(backupRetentionDays) || backupRetentionDays < 1 || backupRetentionDays > 35) {
      fail("backupRetentionDays", backupRetentionDays, "is outside 1-35", "keep 1 to 35 days of backups (RDS limits)");
    }
    if (props.clientCidrs.length === 0) fail("clientCidrs", props.clientCidrs, "is empty", "pass the private subnets' CIDRs (config network.subnets.private)");
    if (props.clientCidrs.some((c) => !Token.isUnresolved(c) && (c === "0.0.0.0/0" || !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(c)))) {
      fail("clientCidrs", props.clientCidrs, "contains a range that is not a private subnet", "pass the private subnets' CIDRs only");
    }
    if (props.secretReaderRoleNames.length === 0) {
      fail("secretReaderRoleNames", props.secretReaderRoleNames, "is empty", "pass the External Secrets operator's role name");
    }

    const subnets = new DbSubnetGroup(this, "subnets", {
      name: props.name,
      description: `Data subnets of ${props.name}`,
      subnetIds: [...props.network.dataSubnetIds],
    });
    const sg = new SecurityGroup(this, "security-group", {
      name: `${props.name}-db`,
      description: `PostgreSQL of ${props.name}, from the private subnets only`,
      vpcId: props.network.vpcId,
      // No egress: the database opens no connections.
      tags: { Name: `${props.name}-db` },
    });
    props.clientCidrs.forEach((cidr, i) => {
      new VpcSecurityGroupIngressRule(this, `postgres-from-private-${i}`, {
        securityGroupId: sg.id,
        description: "PostgreSQL from a private subnet (EKS nodes and pods)",
        ipProtocol: "tcp",
        fromPort: KEYCLOAK_PORTS.postgres,
        toPort: KEYCLOAK_PORTS.postgres,
        cidrIpv4: cidr,
      });
    });
    const parameters = new RdsClusterParameterGroup(this, "parameters", {
      name: props.name,
      family: KEYCLOAK_PINS.auroraParameterGroupFamily,
      description: `TLS-only connections to ${props.name}`,
      parameter: [{ name: "rds.force_ssl", value: "1" }],
    });

    this.cluster = new RdsCluster(this, "cluster", {
      clusterIdentifier: props.name,
      engine: "aurora-postgresql",
      engineMode: "provisioned",
      engineVersion: props.engineVersion ?? KEYCLOAK_PINS.auroraPostgresqlVersion,
      databaseName: KEYCLOAK_DATABASE.name,
      masterUsername: KEYCLOAK_DATABASE.username,
      // RDS generates the password, keeps it in Secrets Manager under this key and rotates it
      // (every 7 days); no password ever reaches Terraform.
      manageMasterUserPassword: true,
      masterUserSecretKmsKeyId: props.key.keyArn,
      storageEncrypted: true,
      kmsKeyId: props.key.keyArn,
      dbSubnetGroupName: subnets.name,
      vpcSecurityGroupIds: [sg.id],
      dbClusterParameterGroupName: parameters.name,
      port: KEYCLOAK_PORTS.postgres,
      serverlessv2ScalingConfiguration: { minCapacity, maxCapacity },
      backupRetentionPeriod: backupRetentionDays,
      preferredBackupWindow: "02:00-03:00",
      preferredMaintenanceWindow: "sun:03:30-sun:04:30",
      copyTagsToSnapshot: true,
      deletionProtection,
      skipFinalSnapshot: !deletionProtection,
      ...(deletionProtection ? { finalSnapshotIdentifier: `${props.name}-final` } : {}),
      iamDatabaseAuthenticationEnabled: props.iamAuthentication ?? PLATFORM_DEFAULTS.iamAuthentication,
      tags: { Name: props.name },
    });
    for (let i = 0; i < instances; i++) {
      new RdsClusterInstance(this, `instance-${i}`, {
        identifier: `${props.name}-${i}`,
        clusterIdentifier: this.cluster.id,
        instanceClass: "db.serverless",
        engine: this.cluster.engine,
        engineVersion: this.cluster.engineVersion,
        dbSubnetGroupName: subnets.name,
        publiclyAccessible: false,
        autoMinorVersionUpgrade: true,
        performanceInsightsEnabled: true,
        performanceInsightsKmsKeyId: props.key.keyArn,
        performanceInsightsRetentionPeriod: PERFORMANCE_INSIGHTS_RETENTION_DAYS,
        promotionTier: i,
        tags: { Name: `${props.name}-${i}` },
      });
    }

    // The Secrets Manager containers Keycloak reads; values are put out of band.
    const secrets = keycloakSecrets(props.secretPrefix);
    const descriptions = {
      bootstrapAdmin: `Client secret of ${BOOTSTRAP_ADMIN_CLIENT_ID} (Keycloak master realm) of ${props.name}`,
      provisioningClient: `Client secret of the provisioning service's Keycloak client of ${props.name}`,
      smtp: `SES SMTP credentials {"username","password"} Keycloak sends mail with (${props.name})`,
    } as const;
    const secretArns = (Object.keys(secrets) as (keyof typeof secrets)[]).map(
      (name) => new ManagedSecret(this, `${name}-secret`, { name: secrets[name].remoteKey, description: descriptions[name], key: props.key }).arn,
    );

    this.masterUserSecretArn = this.cluster.masterUserSecret.get(0).secretArn;
    props.secretReaderRoleNames.forEach((roleName, i) => {
      new IamRolePolicy(this, `read-secrets-${i}`, {
        role: roleName,
        name: `read-${props.name}-secrets`,
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "ReadKeycloakSecrets",
              Effect: "Allow",
              Action: ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
              Resource: [this.masterUserSecretArn, ...secretArns],
            },
            { Sid: "DecryptThem", Effect: "Allow", Action: ["kms:Decrypt"], Resource: props.key.keyArn },
          ],
        }),
      });
    });
    this.endpoint = this.cluster.endpoint;
    this.readerEndpoint = this.cluster.readerEndpoint;
    this.securityGroupId = sg.id;
  }
}

// ---------------------------------------------------------------------------------------------
// Workloads stack: synced secrets, the chart, network policies and the realm Job
// ---------------------------------------------------------------------------------------------

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

function secretEnv(name: string, secretName: string, key: string) {
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
    // In-cluster callers (keycloak-config-cli, provisioning) use the Service; tokens keep the public issuer.
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

export interface KeycloakProps {
  /** The realm representation keycloak-config-cli applies (`realmConfig(config)`). */
  readonly realm: RealmRepresentation;
  /** `domains.auth`. */
  readonly authDomain: string;
  /** The database of {@link KeycloakPlatform} (cross-stack references). */
  readonly database: IKeycloakDatabase;
  readonly secretStore: ISecretStore;
  /** Secrets Manager prefix of {@link keycloakSecrets} (the same as {@link KeycloakPlatformProps.secretPrefix}). */
  readonly secretPrefix: string;
  /** CIDRs of the data subnets: the only egress to 5432. */
  readonly databaseCidrs: readonly string[];
  /** @default 2 */
  readonly replicas?: number;
  /** Chart version from the environment's config. @default KEYCLOAK_CHART.version */
  readonly version?: string;
  /** @default NAMESPACES.platform */
  readonly namespace?: string;
  /** Namespaces whose pods may call Keycloak on 8080 (the gateway's). @default [] */
  readonly clientNamespaces?: readonly string[];
  /** Ranges that reach Keycloak on 8080 and whose X-Forwarded-* headers it trusts (load balancer subnets). @default [] */
  readonly proxyCidrs?: readonly string[];
  /** @default 1000 */
  readonly cpuMillicores?: number;
  /** @default 2048 */
  readonly memoryMiB?: number;
  /** @default KEYCLOAK_CONFIG_CLI_IMAGE */
  readonly configCliImage?: string;
  /** Resources everything here waits for (the namespace, the secret store). @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

const WORKLOAD_DEFAULTS = { replicas: 2, cpuMillicores: 1_000, memoryMiB: 2_048 } as const;
/** How often External Secrets re-reads the database secret (RDS rotates it). */
const DB_SECRET_REFRESH = "15m";
const REALM_FILE = "realm.json";
const REALM_JOB_TIMEOUT = "15m";
const REALM_JOB_BACKOFF_LIMIT = 6;

/** The realm JSON the ConfigMap holds. Pure, for tests. */
export function realmDocument(realm: KeycloakProps["realm"]): string {
  return `${JSON.stringify(realm, null, 2)}\n`;
}

/** In-cluster URL of Keycloak (its HTTP Service). */
export function keycloakServiceUrl(namespace: string = NAMESPACES.platform): string {
  return `http://${KEYCLOAK_RELEASE}-http.${namespace}.svc.cluster.local`;
}

/**
 * Keycloak in the cluster: its credentials synced from Secrets Manager (the RDS-managed database
 * secret by ARN, refreshed every 15 minutes), NetworkPolicies that open exactly what it needs in
 * the default-deny namespace, the keycloakx chart, and a keycloak-config-cli Job that applies the
 * realm from a ConfigMap whenever the realm or the image changes. Lives in the workloads stack:
 * the chart must start after the ExternalSecrets (custom resources) have produced its Secrets.
 */
export class Keycloak extends Construct {
  readonly helm: PinnedHelmRelease;
  readonly realmJob: Manifest;
  /** In-cluster URL (`http://keycloak-http.<ns>.svc.cluster.local`). */
  readonly serviceUrl: string;
  readonly namespace: string;

  constructor(scope: Construct, id: string, props: KeycloakProps) {
    super(scope, id);
    const replicas = props.replicas ?? WORKLOAD_DEFAULTS.replicas;
    const ns = props.namespace ?? NAMESPACES.platform;
    const proxyCidrs = [...(props.proxyCidrs ?? [])];
    const image = props.configCliImage ?? KEYCLOAK_CONFIG_CLI_IMAGE;
    if (!Token.isUnresolved(replicas) && (!Number.isInteger(replicas) || replicas < 1 || replicas > 10)) {
      throw new Error(`Keycloak ${this.node.path}: replicas = ${replicas} is not 1 to 10. Fix: run 1 replica in dev and 2 or more elsewhere.`);
    }
    if (props.databaseCidrs.length === 0) {
      throw new Error(`Keycloak ${this.node.path}: databaseCidrs is empty. Fix: pass the data subnets' CIDRs (config network.subnets.data).`);
    }
    if (props.realm.realm !== REALM_NAME) {
      throw new Error(`Keycloak ${this.node.path}: realm.realm = "${props.realm.realm}" is not "${REALM_NAME}". Fix: pass realmConfig(config) from services/keycloak-realm.`);
    }
    this.namespace = ns;
    this.serviceUrl = keycloakServiceUrl(ns);
    const dependsOn = [...(props.dependsOn ?? [])];
    const secrets = keycloakSecrets(props.secretPrefix);

    // Secrets ----------------------------------------------------------------------------------
    const sync = (id: string, secretName: string, remoteKey: string, data: readonly { secretKey: string; property?: string }[], refreshInterval = "1h") =>
      new Manifest(this, id, {
        manifest: {
          apiVersion: "external-secrets.io/v1",
          kind: "ExternalSecret",
          metadata: { name: secretName, namespace: ns },
          spec: {
            refreshInterval,
            secretStoreRef: { name: props.secretStore.storeName, kind: props.secretStore.storeKind },
            target: { name: secretName, creationPolicy: "Owner", deletionPolicy: "Retain" },
            data: data.map((d) => ({ secretKey: d.secretKey, remoteRef: { key: remoteKey, ...(d.property ? { property: d.property } : {}) } })),
          },
        },
        wait: { condition: [{ type: "Ready", status: "True" }] },
        dependsOn,
      });
    const dbSecret = sync(
      "db-credentials",
      KEYCLOAK_DB_SECRET,
      props.database.masterUserSecretArn,
      [
        { secretKey: "username", property: "username" },
        { secretKey: "password", property: "password" },
      ],
      DB_SECRET_REFRESH,
    );
    const bootstrapSecret = sync("bootstrap-admin", secrets.bootstrapAdmin.secretName, secrets.bootstrapAdmin.remoteKey, [{ secretKey: secrets.bootstrapAdmin.key }]);
    const provisioningSecret = sync("provisioning-client", secrets.provisioningClient.secretName, secrets.provisioningClient.remoteKey, [
      { secretKey: secrets.provisioningClient.key },
    ]);
    const smtpSecret = sync("smtp", secrets.smtp.secretName, secrets.smtp.remoteKey, [
      { secretKey: "username", property: "username" },
      { secretKey: "password", property: "password" },
    ]);

    // Network policies (the namespace denies everything by default) ------------------------------
    const keycloakPods = { podSelector: { matchLabels: { ...KEYCLOAK_POD_LABELS } } };
    const jgroupsPorts = [KEYCLOAK_PORTS.jgroups, KEYCLOAK_PORTS.jgroupsFailureDetection].map((port) => ({ port: String(port), protocol: "TCP" }));
    const policies = [
      new NetworkPolicyV1(this, "policy-keycloak", {
        metadata: { name: "keycloak", namespace: ns },
        spec: {
          podSelector: { matchLabels: { ...KEYCLOAK_POD_LABELS } },
          policyTypes: ["Ingress", "Egress"],
          ingress: [
            {
              from: [
                { podSelector: { matchLabels: { [KEYCLOAK_CLIENT_LABEL]: "true" } } },
                ...(props.clientNamespaces ?? []).map((n) => namespacePeer(n)),
                ...proxyCidrs.map((cidr) => ({ ipBlock: { cidr } })),
              ],
              ports: [{ port: String(KEYCLOAK_PORTS.http), protocol: "TCP" }],
            },
            { from: [keycloakPods], ports: jgroupsPorts },
          ],
          egress: [
            { to: props.databaseCidrs.map((cidr) => ({ ipBlock: { cidr } })), ports: [{ port: String(KEYCLOAK_PORTS.postgres), protocol: "TCP" }] },
            { to: [keycloakPods], ports: jgroupsPorts },
            // SES SMTP endpoint (public AWS addresses).
            { ports: [{ port: String(KEYCLOAK_PORTS.smtp), protocol: "TCP" }] },
          ],
        },
        dependsOn,
      }),
      new NetworkPolicyV1(this, "policy-clients", {
        metadata: { name: "keycloak-clients", namespace: ns },
        spec: {
          podSelector: { matchLabels: { [KEYCLOAK_CLIENT_LABEL]: "true" } },
          policyTypes: ["Egress"],
          egress: [{ to: [keycloakPods], ports: [{ port: String(KEYCLOAK_PORTS.http), protocol: "TCP" }] }],
        },
        dependsOn,
      }),
    ];

    // The chart ------------------------------------------------------------------------------------
    this.helm = new PinnedHelmRelease(this, "chart", {
      chart: KEYCLOAK_CHART,
      ...(props.version ? { version: props.version } : {}),
      releaseName: KEYCLOAK_RELEASE,
      namespace: ns,
      values: keycloakChartValues({
        replicas,
        authDomain: props.authDomain,
        database: props.database,
        trustedProxyCidrs: proxyCidrs,
        cpuMillicores: props.cpuMillicores ?? WORKLOAD_DEFAULTS.cpuMillicores,
        memoryMiB: props.memoryMiB ?? WORKLOAD_DEFAULTS.memoryMiB,
      }),
      timeoutSeconds: 900,
      dependsOn: [dbSecret, bootstrapSecret, ...policies],
    });

    // The realm ----------------------------------------------------------------------------------
    const document = realmDocument(props.realm);
    const digest = createHash("sha256").update(document).update(image).digest("hex").slice(0, 12);
    const realmConfigMap = new ConfigMapV1(this, "realm", {
      metadata: { name: `keycloak-realm-${digest}`, namespace: ns },
      data: { [REALM_FILE]: document },
      immutable: true,
    });
    const labels = { "app.kubernetes.io/name": "keycloak-config-cli", [KEYCLOAK_CLIENT_LABEL]: "true" };
    // A plain batch/v1 Job as a manifest (the typed kubernetes_job_v1 loads ~5 MB of generated
    // code on every synth); Terraform waits for its Complete condition.
    this.realmJob = new Manifest(this, "realm-import", {
      manifest: {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: `keycloak-realm-${digest}`, namespace: ns, labels: { "app.kubernetes.io/name": "keycloak-config-cli" } },
        spec: {
          backoffLimit: REALM_JOB_BACKOFF_LIMIT,
          template: {
            metadata: { labels },
            spec: {
              restartPolicy: "OnFailure",
              automountServiceAccountToken: false,
              securityContext: {
                runAsNonRoot: true,
                runAsUser: NOBODY_UID,
                runAsGroup: NOBODY_UID,
                seccompProfile: { type: "RuntimeDefault" },
              },
              containers: [
                {
                  name: "keycloak-config-cli",
                  image,
                  env: [
                    { name: "KEYCLOAK_URL", value: this.serviceUrl },
                    { name: "KEYCLOAK_LOGINREALM", value: "master" },
                    { name: "KEYCLOAK_GRANTTYPE", value: "client_credentials" },
                    { name: "KEYCLOAK_CLIENTID", value: BOOTSTRAP_ADMIN_CLIENT_ID },
                    secretEnv("KEYCLOAK_CLIENTSECRET", secrets.bootstrapAdmin.secretName, secrets.bootstrapAdmin.key),
                    { name: "KEYCLOAK_AVAILABILITYCHECK_ENABLED", value: "true" },
                    { name: "KEYCLOAK_AVAILABILITYCHECK_TIMEOUT", value: "300s" },
                    { name: "IMPORT_FILES_LOCATIONS", value: `/config/${REALM_FILE}` },
                    { name: "IMPORT_VARSUBSTITUTION_ENABLED", value: "true" },
                    { name: "IMPORT_VARSUBSTITUTION_UNDEFINEDISERROR", value: "true" },
                    { name: "IMPORT_REMOTESTATE_ENABLED", value: "true" },
                    secretEnv(REALM_VARIABLES.provisioningClientSecret, secrets.provisioningClient.secretName, secrets.provisioningClient.key),
                    secretEnv(REALM_VARIABLES.smtpUsername, secrets.smtp.secretName, "username"),
                    secretEnv(REALM_VARIABLES.smtpPassword, secrets.smtp.secretName, "password"),
                    { name: "JAVA_OPTS", value: "-XX:MaxRAMPercentage=75 -Djava.io.tmpdir=/tmp" },
                  ],
                  volumeMounts: [
                    { name: "realm", mountPath: "/config", readOnly: true },
                    { name: "tmp", mountPath: "/tmp" },
                  ],
                  resources: { requests: { cpu: "100m", memory: "384Mi" }, limits: { memory: "768Mi" } },
                  securityContext: { ...RESTRICTED_CONTAINER_SECURITY_CONTEXT, capabilities: { drop: ["ALL"] } },
                },
              ],
              volumes: [
                { name: "realm", configMap: { name: realmConfigMap.metadata.name } },
                { name: "tmp", emptyDir: {} },
              ],
            },
          },
        },
      },
      wait: { condition: [{ type: "Complete", status: "True" }] },
      timeouts: { create: REALM_JOB_TIMEOUT, update: REALM_JOB_TIMEOUT },
      dependsOn: [this.helm.release, realmConfigMap, bootstrapSecret, provisioningSecret, smtpSecret, ...policies],
    });
  }
}

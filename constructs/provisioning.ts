import { EksPodIdentityAssociation } from "@cdktf/provider-aws/lib/eks-pod-identity-association/index.js";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role/index.js";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy/index.js";
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import { Token, type ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { PLAN_TIER_NAMES, type PlanTierName } from "../config/tiers.js";
import { REALM_NAME } from "../services/keycloak-realm/names.js";
import {
  httpUrlProblem,
  KEYCLOAK_REALM_PATTERN,
  KMS_KEY_ID_PATTERN,
  NATS_ACCOUNT_PUBLIC_KEY_PATTERN,
  PROVISIONING_DEFAULTS,
  PROVISIONING_ENV,
  PROVISIONING_HTTP_PATHS,
  PROVISIONING_HTTP_PORT,
  PROVISIONING_LIMITS,
  PROVISIONING_LOG_LEVELS,
  type ProvisioningLogLevel,
} from "../services/provisioning/contract.js";
import { addExternalSecret } from "./external-secrets.js";
import { FDB_CLUSTER_FILE_KEY, FDB_CLUSTER_FILE_SECRET } from "./foundationdb-connectivity.js";
import { POD_IDENTITY_SERVICE, serviceTrustPolicy } from "./iam.js";
import { KEYCLOAK_POD_LABELS, KEYCLOAK_PORTS, KEYCLOAK_CLIENT_LABEL, keycloakSecrets } from "./keycloak/index.js";
import { KmsKey, type IKmsKey } from "./kms-key.js";
import {
  addServiceAndDisruptionBudget,
  addServiceDeployment,
  checkServiceImage,
  checkServiceSizing,
  propFail,
  type PropFail,
  type ServiceResources,
  resolveServiceSizing,
} from "./service-workload.js";
import { namespacePeer } from "./k8s/network-policy.js";
import { NAMESPACES, POLICY_LABELS, PORTS, type ISecretStore } from "./platform-interfaces.js";

/**
 * The provisioning API as the gateway reaches it: the Service `provisioning:8080` in `platform`,
 * published under `/v1/`. The stacks pass it to Kong (`KongGateway.backends`, `KongGatewayRoutes.route`).
 */
// TODO(contract): the port's one home is services/provisioning/contract.ts; take it from there.
export const PROVISIONING_ENDPOINT = { namespace: NAMESPACES.platform, service: "provisioning", port: 8080, pathPrefix: "/v1/" } as const;

/** Name of every Kubernetes object of the service (Deployment, Service, HPA, PDB, ServiceAccount, NetworkPolicy). */
export const PROVISIONING_NAME = PROVISIONING_ENDPOINT.service;
/** The namespace Kong's `/v1/` Ingress and its `allow-kong-gateway` NetworkPolicy are in. */
export const PROVISIONING_NAMESPACE = PROVISIONING_ENDPOINT.namespace;

/** Kubernetes Secrets the construct syncs (External Secrets) and mounts. */
export const PROVISIONING_SECRETS = {
  /** One key per plan tier, `<tier>.seed`: the SWARM account's scoped signing-key seed of that tier. */
  signingKeys: "provisioning-nats-signing-keys",
  /** The `enchanted-provisioning` Keycloak client's secret, under {@link PROVISIONING_SECRETS.keycloakClientKey}. */
  keycloakClient: "provisioning-keycloak-client",
  keycloakClientKey: "client-secret",
} as const;

/** The namespaced SecretStore that alone may read the signing-key seeds (through its own IAM role). */
export const SIGNING_KEY_STORE = "provisioning-signing-keys";

/** Where the pod finds its files. */
export const PROVISIONING_PATHS = {
  signingKeysDir: "/var/run/secrets/nats-signing-keys",
  keycloakClientSecret: `/var/run/secrets/keycloak/${PROVISIONING_SECRETS.keycloakClientKey}`,
  fdbClusterFile: `/var/run/secrets/foundationdb/${FDB_CLUSTER_FILE_KEY}`,
} as const;

/** The EKS Pod Identity Agent on every node (link-local, host network): the pod's AWS credentials. */
export const POD_IDENTITY_AGENT = { cidr: "169.254.170.23/32", port: 80 } as const;

/** Exactly the KMS actions the pod may perform, on the tenant-key CMK only. */
export const PROVISIONING_KMS_ACTIONS = ["kms:GenerateDataKey", "kms:Decrypt"] as const;

const APP_LABELS = { "app.kubernetes.io/name": PROVISIONING_NAME, "app.kubernetes.io/part-of": "enchanted" } as const;
/** The HPA's CPU target unless the props set one. */
const DEFAULT_TARGET_CPU_UTILIZATION = 70;
/** V8's heap as a share of the memory limit: buffers and native memory (the FDB client) need the rest. */
const HEAP_SHARE = 0.7;

/** Requests and limits; the memory limit also sets V8's heap to 70 % of it. */
export type ProvisioningResources = ServiceResources;

/** What the service needs of Keycloak (`Keycloak.serviceUrl`, `Keycloak.namespace`). */
export interface ProvisioningKeycloak {
  /** In-cluster base URL, `http://keycloak-http.<ns>.svc.cluster.local` (`PROVISIONING_KEYCLOAK_URL`; JWKS are fetched here too). */
  readonly serviceUrl: string;
  /** Namespace of the Keycloak pods (egress peer). If it is not the service's, admit the service with `keycloak.allowFrom({ namespace })`. */
  readonly namespace: string;
  /** Secrets Manager prefix of Keycloak's secrets (`keycloakSecretPrefix(config)`); the client secret is `<prefix>/provisioning-client-secret`. */
  readonly secretPrefix: string;
  /** @default REALM_NAME */
  readonly realm?: string;
}

/** Where the signing-key seeds are and who may fetch them. */
export interface ProvisioningSigningKeys {
  /** Secrets Manager names of the tier seeds (`natsSecretNames(...).seeds.swarmSigningKeys`). */
  readonly secretNames: Readonly<Record<PlanTierName, string>>;
  /** The key those secrets are encrypted with (the foundation stack's `keys.secrets`). */
  readonly secretsKey: IKmsKey;
  /** The External Secrets operator's role (`ExternalSecretsOperator.roleName` / `.roleArn`): it assumes the reader role. */
  readonly externalSecretsRole: { readonly roleName: string; readonly roleArn: string };
}

export interface ProvisioningFoundationDb {
  /** `FoundationDbNetwork.destinationCidrs`. */
  readonly destinationCidrs: readonly string[];
  /** `config.foundationDb.ports`. */
  readonly ports: readonly number[];
  /** Namespaces `FoundationDbClusterFile` syncs the cluster file into; checked to contain the service's. @default - not checked */
  readonly clusterFileNamespaces?: readonly string[];
}

/** Who scrapes `/metrics` (Prometheus): allowed in on the HTTP port. */
export interface ProvisioningMetricsScraper {
  readonly namespace: string;
  /** @default - every pod of the namespace */
  readonly podLabels?: Readonly<Record<string, string>>;
}

export interface ProvisioningProps {
  /** `<ECR repository URL>:<tag>`; an exact tag, never `latest`. */
  readonly image: string;
  /** Prefix of the AWS names (role, key alias), e.g. `enchanted-prod`. */
  readonly name: string;
  readonly accountId: string;
  readonly region: string;
  /** The EKS cluster the Pod Identity association is made in. */
  readonly clusterName: string;
  /** The ClusterSecretStore (the Keycloak client secret is read through it). */
  readonly secretStore: ISecretStore;
  /** The realm's issuer, `issuerUrl(config.domains.auth)` (`PROVISIONING_OIDC_ISSUER`). */
  readonly oidcIssuer: string;
  /** @default API_AUDIENCE (the service's default) */
  readonly oidcAudience?: string;
  readonly keycloak: ProvisioningKeycloak;
  /** Public key of the SWARM account (`config.nats.publicKeys.swarmAccount`). */
  readonly natsAccount: string;
  readonly signingKeys: ProvisioningSigningKeys;
  readonly foundationDb: ProvisioningFoundationDb;
  /** Ranges of the subnets holding the KMS interface endpoint (`config.network.subnets.private`): egress 443. */
  readonly kmsEndpointCidrs: readonly string[];
  /**
   * The CMK the tenants' data keys are generated under (GenerateDataKey; only wrapped keys are stored).
   * @default - a dedicated key `<name>-tenant-data-keys` created here
   */
  readonly tenantKey?: IKmsKey;
  /** @default - no scrape ingress (nothing scrapes yet) */
  readonly metricsScraper?: ProvisioningMetricsScraper;
  /** @default 2 */
  readonly minReplicas?: number;
  /** @default 10 */
  readonly maxReplicas?: number;
  /** Average CPU utilization (of the request) the HorizontalPodAutoscaler aims for. @default 70 */
  readonly targetCpuUtilization?: number;
  /** @default - 250m CPU and 256 MiB requested, 512 MiB limit */
  readonly resources?: ProvisioningResources;
  /** @default "info" */
  readonly logLevel?: ProvisioningLogLevel;
  /** @default 16384 (the service's default) */
  readonly bodyLimitBytes?: number;
  /** Lifetime of minted bus credentials. @default 3600 (the service's default) */
  readonly credentialsTtlSeconds?: number;
  /** @default 15 (the service's default) */
  readonly shutdownTimeoutSeconds?: number;
  /** Resources the Deployment waits for (the cluster file sync, Keycloak). @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

interface Resolved {
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly targetCpuUtilization: number;
  readonly cpuRequestMillicores: number;
  readonly memoryRequestMiB: number;
  readonly memoryLimitMiB: number;
  readonly logLevel: ProvisioningLogLevel;
  readonly bodyLimitBytes: number;
  readonly credentialsTtlSeconds: number;
  readonly shutdownTimeoutSeconds: number;
  readonly realm: string;
  readonly audience: string;
}

function resolve(path: string, props: ProvisioningProps): Resolved {
  const fail = propFail(path);
  const r: Resolved = {
    ...resolveServiceSizing(props),
    targetCpuUtilization: props.targetCpuUtilization ?? DEFAULT_TARGET_CPU_UTILIZATION,
    logLevel: props.logLevel ?? PROVISIONING_DEFAULTS.logLevel,
    bodyLimitBytes: props.bodyLimitBytes ?? PROVISIONING_DEFAULTS.bodyLimitBytes,
    credentialsTtlSeconds: props.credentialsTtlSeconds ?? PROVISIONING_DEFAULTS.credentialsTtlSeconds,
    shutdownTimeoutSeconds: props.shutdownTimeoutSeconds ?? PROVISIONING_DEFAULTS.shutdownTimeoutMs / 1000,
    realm: props.keycloak.realm ?? REALM_NAME,
    audience: props.oidcAudience ?? PROVISIONING_DEFAULTS.audience,
  };
  checkServiceImage(props.image, PROVISIONING_NAME, fail);
  checkServiceSizing(r, fail);
  if (!Number.isInteger(r.targetCpuUtilization) || r.targetCpuUtilization < 10 || r.targetCpuUtilization > 100) {
    fail("targetCpuUtilization", r.targetCpuUtilization, "is not a percentage from 10 to 100", "use e.g. 70");
  }
  if (!PROVISIONING_LOG_LEVELS.includes(r.logLevel)) fail("logLevel", r.logLevel, "is not a pino level", `use one of ${PROVISIONING_LOG_LEVELS.join(", ")}`);
  const fdb = props.foundationDb;
  if (fdb.destinationCidrs.length === 0) fail("foundationDb.destinationCidrs", fdb.destinationCidrs, "is empty", "pass FoundationDbNetwork.destinationCidrs");
  if (fdb.ports.length === 0) fail("foundationDb.ports", fdb.ports, "is empty", "pass config.foundationDb.ports");
  for (const port of fdb.ports) if (!Number.isInteger(port) || port < 1 || port > 65_535) fail("foundationDb.ports[]", port, "is not a TCP port", "use 1-65535");
  if (fdb.clusterFileNamespaces && !fdb.clusterFileNamespaces.includes(PROVISIONING_NAMESPACE)) {
    fail("foundationDb.clusterFileNamespaces", fdb.clusterFileNamespaces, `does not contain the service's namespace "${PROVISIONING_NAMESPACE}", so the cluster file is not synced there`, `add "${PROVISIONING_NAMESPACE}" to FOUNDATIONDB_CLIENT_NAMESPACES`);
  }
  if (props.kmsEndpointCidrs.length === 0) fail("kmsEndpointCidrs", props.kmsEndpointCidrs, "is empty", "pass the private subnets' CIDRs (where the KMS interface endpoint is)");
  for (const tier of PLAN_TIER_NAMES) {
    if (!props.signingKeys.secretNames[tier]) fail(`signingKeys.secretNames.${tier}`, undefined, "is missing", "pass natsSecretNames(...).seeds.swarmSigningKeys");
  }
  checkServiceContract(props, r, fail);
  return r;
}

/**
 * What the service would refuse at start, checked here against its contract (patterns and bounds
 * of `services/provisioning/contract.ts`), so a bad value fails synth, not the pod. Values only
 * Terraform knows (tokens) are left to the service.
 */
function checkServiceContract(props: ProvisioningProps, r: Resolved, fail: PropFail): void {
  const V = PROVISIONING_ENV;
  const known = (value: string) => !Token.isUnresolved(value);
  if (known(props.natsAccount) && !NATS_ACCOUNT_PUBLIC_KEY_PATTERN.test(props.natsAccount)) {
    fail("natsAccount", props.natsAccount, `is not an account public key (${V.natsAccount} must match ${NATS_ACCOUNT_PUBLIC_KEY_PATTERN.source})`, "pass the SWARM account's public key (A…, 56 characters), config.nats.publicKeys.swarmAccount as nats:bootstrap printed it");
  }
  for (const [prop, value, variable] of [
    ["oidcIssuer", props.oidcIssuer, V.oidcIssuer],
    ["keycloak.serviceUrl", props.keycloak.serviceUrl, V.keycloakUrl],
  ] as const) {
    const problem = known(value) ? httpUrlProblem(value) : undefined;
    if (problem !== undefined) fail(prop, value, `${problem} (the service reads it as ${variable})`, "pass an http(s) URL without ? or #");
  }
  if (!KEYCLOAK_REALM_PATTERN.test(r.realm)) fail("keycloak.realm", r.realm, `is not a realm name (${V.keycloakRealm} must match ${KEYCLOAK_REALM_PATTERN.source})`, "use letters, digits, '_' or '-'");
  const keyArn = props.tenantKey?.keyArn;
  if (keyArn !== undefined && known(keyArn) && !KMS_KEY_ID_PATTERN.test(keyArn)) {
    fail("tenantKey.keyArn", keyArn, `is not a KMS key id, key ARN, alias or alias ARN (${V.kmsKeyId})`, "pass the tenant-key CMK's ARN");
  }
  const L = PROVISIONING_LIMITS;
  for (const [prop, value, limit, unit] of [
    ["bodyLimitBytes", r.bodyLimitBytes, L.bodyLimitBytes, 1],
    ["credentialsTtlSeconds", r.credentialsTtlSeconds, L.credentialsTtlSeconds, 1],
    ["shutdownTimeoutSeconds", r.shutdownTimeoutSeconds, L.shutdownTimeoutMs, 1000],
  ] as const) {
    const min = Math.ceil(limit.min / unit);
    const max = Math.floor(limit.max / unit);
    if (!Number.isInteger(value) || value < min || value > max) fail(prop, value, `is not a whole number from ${min} to ${max}, the service's bounds`, `use ${min} to ${max}`);
  }
}

/**
 * The provisioning service (registration and the tenant lifecycle) in the workloads stack.
 *
 * - A restricted, read-only Deployment spread over zones and nodes, a HorizontalPodAutoscaler on
 *   CPU (it owns the replica count), a PodDisruptionBudget, and the Service `provisioning:8080` in
 *   `platform` that Kong's `/v1/` Ingress (`KongGatewayRoutes`) routes to. Kong's ingress into
 *   this namespace on 8080 is already allowed by the gateway's `allow-kong-gateway` NetworkPolicy
 *   (constructs/kong.ts); it is not repeated here.
 * - AWS: a ServiceAccount with an EKS Pod Identity association to a role that may do
 *   `kms:GenerateDataKey` and `kms:Decrypt` on the tenant-key CMK and nothing else. Crypto-shredding
 *   needs no further permission: a tenant's data key exists only wrapped, in the store, and
 *   deleting that record destroys it. The pod has NO Secrets Manager permission: the files it reads
 *   are synced by External Secrets.
 * - The tier signing-key seeds (`<prefix>/seeds/...`), which the cluster-wide secret store may
 *   NOT read (see services/nats-auth/secret-names.ts), are synced through a namespaced SecretStore
 *   whose own role may `secretsmanager:GetSecretValue` exactly those secrets (and decrypt them via
 *   Secrets Manager); the External Secrets operator assumes that role for this store only. So the
 *   seeds are readable from this namespace's store alone, and mounted as `<tier>.seed` files.
 * - The FoundationDB cluster file (synced by `FoundationDbClusterFile`) and the Keycloak client
 *   secret (synced here) are mounted read-only.
 * - A NetworkPolicy: egress only to DNS, the FoundationDB ranges and ports, Keycloak's pods, the
 *   KMS interface endpoint (443 to its subnets), the node's Pod Identity Agent (the credentials
 *   for KMS) and the NATS client port; ingress only from the metrics scraper if one is given.
 *   The pods also carry the labels other namespaces' policies admit clients by (NATS, Keycloak,
 *   FoundationDB); those policies open nothing beyond this list.
 */
export class Provisioning extends Construct {
  readonly deployment: Manifest;
  readonly role: IamRole;
  readonly tenantKey: IKmsKey;
  /** The role External Secrets assumes to read the signing-key seeds. */
  readonly signingKeyReaderRole: IamRole;
  readonly namespace = PROVISIONING_NAMESPACE;
  /** In-cluster URL of the API (what Kong routes `/v1/` to). */
  readonly serviceUrl = `http://${PROVISIONING_NAME}.${PROVISIONING_NAMESPACE}.svc.cluster.local:${PROVISIONING_HTTP_PORT}`;
  /** Environment variables of the container (name → literal value). */
  readonly environment: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: ProvisioningProps) {
    super(scope, id);
    const r = resolve(this.node.path, props);
    const namespace = PROVISIONING_NAMESPACE;
    const port = PROVISIONING_HTTP_PORT;

    // AWS: the tenant-key CMK, the pod's role and its Pod Identity association --------------------
    this.tenantKey =
      props.tenantKey ??
      new KmsKey(this, "tenant-key", {
        alias: `${props.name}-tenant-data-keys`,
        description: `Tenant data keys of ${props.name}: provisioning generates one per tenant and stores it only wrapped`,
        accountId: props.accountId,
      });
    this.role = new IamRole(this, "role", {
      name: `${props.name}-provisioning`,
      description: "Provisioning service (EKS Pod Identity): tenant data keys only",
      assumeRolePolicy: serviceTrustPolicy(POD_IDENTITY_SERVICE, props.accountId),
    });
    new IamRolePolicy(this, "tenant-data-keys", {
      role: this.role.name,
      name: "tenant-data-keys",
      policy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Sid: "TenantDataKeys", Effect: "Allow", Action: [...PROVISIONING_KMS_ACTIONS], Resource: this.tenantKey.keyArn }],
      }),
    });
    const serviceAccount = new Manifest(this, "service-account", {
      manifest: {
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name: PROVISIONING_NAME, namespace, labels: { ...APP_LABELS } },
        automountServiceAccountToken: false,
      },
    });
    const association = new EksPodIdentityAssociation(this, "pod-identity", {
      clusterName: props.clusterName,
      namespace,
      serviceAccount: PROVISIONING_NAME,
      roleArn: this.role.arn,
    });

    // The signing-key seeds: a store of their own, read through a role of their own --------------
    const seedArns = PLAN_TIER_NAMES.map((tier) => secretArn(props.region, props.accountId, props.signingKeys.secretNames[tier]));
    this.signingKeyReaderRole = new IamRole(this, "signing-key-reader", {
      name: `${props.name}-provisioning-signing-keys`,
      description: "Assumed by External Secrets for the provisioning namespace's signing-key store only",
      assumeRolePolicy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { AWS: props.signingKeys.externalSecretsRole.roleArn }, Action: "sts:AssumeRole" }],
      }),
    });
    new IamRolePolicy(this, "read-signing-keys", {
      role: this.signingKeyReaderRole.name,
      name: "read-tier-signing-keys",
      policy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          { Sid: "ReadTierSigningKeys", Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: seedArns },
          {
            Sid: "DecryptThemThroughSecretsManager",
            Effect: "Allow",
            Action: ["kms:Decrypt"],
            Resource: props.signingKeys.secretsKey.keyArn,
            Condition: { StringEquals: { "kms:ViaService": `secretsmanager.${props.region}.amazonaws.com` } },
          },
        ],
      }),
    });
    new IamRolePolicy(this, "external-secrets-assumes-reader", {
      role: props.signingKeys.externalSecretsRole.roleName,
      name: `assume-${props.name}-provisioning-signing-keys`,
      policy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Sid: "AssumeSigningKeyReader", Effect: "Allow", Action: ["sts:AssumeRole"], Resource: this.signingKeyReaderRole.arn }],
      }),
    });
    const signingKeyStore = new Manifest(this, "signing-key-store", {
      manifest: {
        apiVersion: "external-secrets.io/v1",
        kind: "SecretStore",
        metadata: { name: SIGNING_KEY_STORE, namespace, labels: { ...APP_LABELS } },
        spec: { provider: { aws: { service: "SecretsManager", region: props.region, role: this.signingKeyReaderRole.arn } } },
      },
    });
    const seeds = addExternalSecret(this, "signing-keys", {
      secretName: PROVISIONING_SECRETS.signingKeys,
      namespace,
      store: { storeName: SIGNING_KEY_STORE, storeKind: "SecretStore" },
      data: PLAN_TIER_NAMES.map((tier) => ({ secretKey: `${tier}.seed`, remoteKey: props.signingKeys.secretNames[tier] })),
      labels: APP_LABELS,
      // Ready once the Secret exists: the pods never start without their files.
      waitUntilReady: true,
      dependsOn: [signingKeyStore],
    });
    const clientSecret = addExternalSecret(this, "keycloak-client", {
      secretName: PROVISIONING_SECRETS.keycloakClient,
      namespace,
      store: props.secretStore,
      data: [{ secretKey: PROVISIONING_SECRETS.keycloakClientKey, remoteKey: keycloakSecrets(props.keycloak.secretPrefix).provisioningClient.remoteKey }],
      labels: APP_LABELS,
      waitUntilReady: true,
    });

    // The Deployment ----------------------------------------------------------------------------
    const keycloakUrl = props.keycloak.serviceUrl.replace(/\/+$/, "");
    const V = PROVISIONING_ENV;
    const environment: Record<string, string> = {
      [V.httpPort]: String(port),
      [V.logLevel]: r.logLevel,
      [V.bodyLimitBytes]: String(r.bodyLimitBytes),
      [V.fdbClusterFile]: PROVISIONING_PATHS.fdbClusterFile,
      [V.oidcIssuer]: props.oidcIssuer,
      [V.oidcAudience]: r.audience,
      // In-cluster: the egress policy does not reach the public auth domain.
      [V.jwksUrl]: `${keycloakUrl}/realms/${r.realm}/protocol/openid-connect/certs`,
      [V.keycloakUrl]: keycloakUrl,
      [V.keycloakRealm]: r.realm,
      [V.keycloakClientSecretFile]: PROVISIONING_PATHS.keycloakClientSecret,
      [V.kmsKeyId]: this.tenantKey.keyArn,
      [V.awsRegion]: props.region,
      [V.natsSigningKeysDir]: PROVISIONING_PATHS.signingKeysDir,
      [V.natsAccount]: props.natsAccount,
      [V.credentialsTtlSeconds]: String(r.credentialsTtlSeconds),
      [V.shutdownTimeoutMs]: String(r.shutdownTimeoutSeconds * 1000),
    };
    this.environment = environment;

    const podLabels = {
      ...APP_LABELS,
      [POLICY_LABELS.natsClient]: "true",
      [POLICY_LABELS.foundationDbClient]: "true",
      [KEYCLOAK_CLIENT_LABEL]: "true",
    };
    this.deployment = addServiceDeployment(this, {
      name: PROVISIONING_NAME,
      namespace,
      labels: APP_LABELS,
      podLabels,
      image: props.image,
      port,
      metricsPath: PROVISIONING_HTTP_PATHS.metrics,
      healthPath: PROVISIONING_HTTP_PATHS.health,
      readyPath: PROVISIONING_HTTP_PATHS.ready,
      sizing: r,
      heapShare: HEAP_SHARE,
      env: Object.entries(environment).map(([name, value]) => ({ name, value })),
      secretVolumes: [
        {
          name: "signing-keys",
          mountPath: PROVISIONING_PATHS.signingKeysDir,
          secret: { secretName: PROVISIONING_SECRETS.signingKeys, defaultMode: 0o440, items: PLAN_TIER_NAMES.map((t) => ({ key: `${t}.seed`, path: `${t}.seed` })) },
        },
        {
          name: "keycloak-client",
          mountPath: dirOf(PROVISIONING_PATHS.keycloakClientSecret),
          secret: { secretName: PROVISIONING_SECRETS.keycloakClient, defaultMode: 0o440, items: [{ key: PROVISIONING_SECRETS.keycloakClientKey, path: PROVISIONING_SECRETS.keycloakClientKey }] },
        },
        {
          name: "foundationdb",
          mountPath: dirOf(PROVISIONING_PATHS.fdbClusterFile),
          secret: { secretName: FDB_CLUSTER_FILE_SECRET, defaultMode: 0o440, items: [{ key: FDB_CLUSTER_FILE_KEY, path: FDB_CLUSTER_FILE_KEY }] },
        },
      ],
      // The pod's AWS credentials come from its ServiceAccount's Pod Identity association.
      serviceAccountName: PROVISIONING_NAME,
      // The association must exist before a pod is created, or the pod gets no AWS credentials.
      dependsOn: [serviceAccount, association, seeds, clientSecret, ...(props.dependsOn ?? [])],
    });

    // The Service Kong routes to, and a PDB.
    addServiceAndDisruptionBudget(this, { name: PROVISIONING_NAME, namespace, labels: APP_LABELS, port, portName: "http", minReplicas: r.minReplicas });

    new Manifest(this, "hpa", {
      manifest: {
        apiVersion: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        metadata: { name: PROVISIONING_NAME, namespace, labels: { ...APP_LABELS } },
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: PROVISIONING_NAME },
          minReplicas: r.minReplicas,
          maxReplicas: r.maxReplicas,
          metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: r.targetCpuUtilization } } }],
          behavior: { scaleDown: { stabilizationWindowSeconds: 300 } },
        },
      },
      dependsOn: [this.deployment],
    });

    // The NetworkPolicy --------------------------------------------------------------------------
    const tcp = (p: number) => ({ port: p, protocol: "TCP" });
    const scraper = props.metricsScraper;
    new Manifest(this, "network-policy", {
      manifest: {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: PROVISIONING_NAME, namespace, labels: { ...APP_LABELS } },
        spec: {
          podSelector: { matchLabels: { ...APP_LABELS } },
          policyTypes: ["Ingress", "Egress"],
          // Kong's ingress on 8080: `allow-kong-gateway` (constructs/kong.ts).
          ingress: scraper
            ? [{ from: [{ ...namespacePeer(scraper.namespace), ...(scraper.podLabels ? { podSelector: { matchLabels: { ...scraper.podLabels } } } : {}) }], ports: [tcp(port)] }]
            : [],
          egress: [
            { to: [{ ...namespacePeer("kube-system"), podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }], ports: [{ port: PORTS.dns, protocol: "UDP" }, tcp(PORTS.dns)] },
            { to: props.foundationDb.destinationCidrs.map((cidr) => ({ ipBlock: { cidr } })), ports: props.foundationDb.ports.map(tcp) },
            { to: [{ ...namespacePeer(props.keycloak.namespace), podSelector: { matchLabels: { ...KEYCLOAK_POD_LABELS } } }], ports: [tcp(KEYCLOAK_PORTS.http)] },
            { to: props.kmsEndpointCidrs.map((cidr) => ({ ipBlock: { cidr } })), ports: [tcp(PORTS.https)] },
            { to: [{ ipBlock: { cidr: POD_IDENTITY_AGENT.cidr } }], ports: [tcp(POD_IDENTITY_AGENT.port)] },
            { to: [namespacePeer(NAMESPACES.nats)], ports: [tcp(PORTS.natsClient)] },
          ],
        },
      },
    });
  }
}

/** The ARN of a Secrets Manager secret by name: AWS appends `-` and six random characters. */
function secretArn(region: string, accountId: string, name: string): string {
  return `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-??????`;
}

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

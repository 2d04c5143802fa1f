/** The provisioning service's construct (workloads stack). */
import { EksPodIdentityAssociation } from "@cdktf/provider-aws/lib/eks-pod-identity-association/index.js";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role/index.js";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy/index.js";
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import { Construct } from "constructs";
import { PROVISIONING_ENV, PROVISIONING_HTTP_PATHS, PROVISIONING_HTTP_PORT } from "../../services/provisioning/contract.js";
import { FDB_CLUSTER_FILE_KEY, FDB_CLUSTER_FILE_SECRET } from "../foundationdb-connectivity.js";
import { POD_IDENTITY_SERVICE, serviceTrustPolicy } from "../iam.js";
import { addExternalSecret } from "../external-secrets.js";
import { DNS_EGRESS, WorkloadAccess, type NetworkPeer, type NetworkPort } from "../k8s/network-policy.js";
import { KEYCLOAK_CLIENT_LABEL, KEYCLOAK_POD_LABELS, KEYCLOAK_PORTS } from "../keycloak/index.js";
import { KmsKey, type IKmsKey } from "../kms-key.js";
import { NAMESPACES, POLICY_LABELS, PORTS } from "../platform-interfaces.js";
import { addServiceAndDisruptionBudget, addServiceDeployment } from "../service-workload.js";
import {
  POD_IDENTITY_AGENT,
  PROVISIONING_APP_LABELS as APP_LABELS,
  PROVISIONING_KMS_ACTIONS,
  PROVISIONING_NAME,
  PROVISIONING_NAMESPACE,
  PROVISIONING_PATHS,
  PROVISIONING_SECRETS,
} from "./names.js";
import { resolveProvisioningProps, type ProvisioningProps } from "./props.js";
import { addSigningKeysAndClientSecret, signingKeyFiles } from "./secrets.js";

/** V8's heap as a share of the memory limit: buffers and native memory (the FDB client) need the rest. */
const HEAP_SHARE = 0.7;
/** SES's SMTP interface with STARTTLS (the port Keycloak sends its mail on too). */
const SES_SMTP_PORT = KEYCLOAK_PORTS.smtp;

/**
 * The provisioning service (registration and the tenant lifecycle) in the workloads stack.
 *
 * - A restricted, read-only Deployment spread over zones and nodes, a HorizontalPodAutoscaler on
 *   CPU (it owns the replica count), a PodDisruptionBudget, and the Service `provisioning:8080` in
 *   `platform` that Kong's `/v1/` Ingress (`KongGatewayRoutes`) routes to.
 * - AWS: a ServiceAccount with an EKS Pod Identity association to a role that may do
 *   `kms:GenerateDataKey` and `kms:Decrypt` on the tenant-key CMK and nothing else. Crypto-shredding
 *   needs no further permission: a tenant's data key exists only wrapped, in the store, and
 *   deleting that record destroys it. The pod has NO Secrets Manager permission: the files it reads
 *   are synced by External Secrets (secrets.ts: the tier signing-key seeds through a store and a
 *   role of their own, the Keycloak client secret through the cluster's store).
 * - The FoundationDB cluster file (synced by `FoundationDbClusterFile`), the Keycloak client
 *   secret and the ClickHouse lifecycle user's password (plan rows, offboarding's deletion of a
 *   tenant's events and usage) are mounted read-only.
 * - One NetworkPolicy, its own: egress only to DNS, the FoundationDB ranges and ports, Keycloak's
 *   pods, the KMS interface endpoint (443 to its subnets), the node's Pod Identity Agent (the
 *   credentials for KMS), the NATS client port and ClickHouse's HTTP port; ingress on the HTTP port only from the peers
 *   {@link allowFrom} admits (the gateway, the metrics scraper). The pods also carry the labels
 *   other namespaces' policies admit clients by (NATS, Keycloak, FoundationDB).
 */
export class Provisioning extends Construct {
  readonly deployment: Manifest;
  readonly role: IamRole;
  readonly tenantKey: IKmsKey;
  /** The role External Secrets assumes to read the signing-key seeds. */
  readonly signingKeyReaderRole: IamRole;
  readonly namespace = PROVISIONING_NAMESPACE;
  /** The HTTP port of the API, `/healthz`, `/readyz` and `/metrics` (the service's contract). */
  readonly port = PROVISIONING_HTTP_PORT;
  /** In-cluster URL of the API (what Kong routes `/v1/` to). */
  readonly serviceUrl = `http://${PROVISIONING_NAME}.${PROVISIONING_NAMESPACE}.svc.cluster.local:${PROVISIONING_HTTP_PORT}`;
  /** Environment variables of the container (name → literal value). */
  readonly environment: Readonly<Record<string, string>>;
  private readonly access: WorkloadAccess;

  constructor(scope: Construct, id: string, props: ProvisioningProps) {
    super(scope, id);
    const r = resolveProvisioningProps(this, props);
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

    const secrets = addSigningKeysAndClientSecret(this, props);
    const clickhouse = props.clickhouse.credentials;
    const clickhousePassword = addExternalSecret(this, "clickhouse-lifecycle", {
      secretName: clickhouse.secretName,
      namespace,
      store: props.secretStore,
      data: [{ secretKey: clickhouse.passwordKey, remoteKey: clickhouse.remoteKey }],
      labels: APP_LABELS,
      waitUntilReady: true,
    });
    this.signingKeyReaderRole = secrets.signingKeyReaderRole;
    // A client certificate from the NATS servers' issuer: its Secret carries the CA (`ca.crt`) the
    // service verifies the servers with when it pushes tenant accounts.
    const natsCa = new Manifest(this, "nats-ca", {
      manifest: {
        apiVersion: "cert-manager.io/v1",
        kind: "Certificate",
        metadata: { name: PROVISIONING_SECRETS.natsCa, namespace, labels: { ...APP_LABELS } },
        spec: {
          secretName: PROVISIONING_SECRETS.natsCa,
          commonName: `${PROVISIONING_NAME}.${namespace}`,
          usages: ["client auth", "digital signature"],
          privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
          issuerRef: { name: props.nats.issuer.issuerName, kind: props.nats.issuer.issuerKind, group: "cert-manager.io" },
        },
      },
      wait: { condition: [{ type: "Ready", status: "True" }] },
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
      [V.natsUrl]: props.nats.clientUrl,
      [V.natsSystemCredsFile]: `${PROVISIONING_PATHS.signingKeysDir}/${PROVISIONING_PATHS.systemUserCredsFile}`,
      [V.natsTlsCaFile]: `${PROVISIONING_PATHS.natsCaDir}/ca.crt`,
      // What agents get in their credentials answer: where to connect (the external listener when
      // NATS is exposed) and the CA of the servers there (the same internal CA signs that certificate).
      [V.natsPublicUrls]: (props.nats.publicUrls ?? [props.nats.clientUrl]).join(","),
      [V.natsPublicCaFile]: `${PROVISIONING_PATHS.natsCaDir}/ca.crt`,
      [V.natsPlatformCredsFile]: PROVISIONING_PATHS.natsPlatformCreds,
      [V.credentialsTtlSeconds]: String(r.credentialsTtlSeconds),
      [V.shutdownTimeoutMs]: String(r.shutdownTimeoutSeconds * 1000),
      [V.tokenIssuer]: props.tokenIssuer,
      [V.billingWebhookSecretFile]: PROVISIONING_PATHS.billingWebhookSecret,
      // SES's SMTP interface in the region (STARTTLS on 587), with the SES SMTP credentials.
      [V.smtpUrl]: `smtp://email-smtp.${props.region}.amazonaws.com:${SES_SMTP_PORT}`,
      [V.smtpCredentialsFile]: PROVISIONING_PATHS.smtpCredentials,
      [V.mailFrom]: props.mail.from,
      [V.consoleUrl]: props.mail.consoleUrl,
      // The event store, as the lifecycle user: plan rows, offboarding's deletion.
      [V.clickhouseUrl]: props.clickhouse.url,
      [V.clickhouseUser]: props.clickhouse.credentials.username,
      [V.clickhousePasswordFile]: `${PROVISIONING_PATHS.clickhousePasswordDir}/${props.clickhouse.credentials.passwordKey}`,
      [V.clickhouseReplicated]: String(props.clickhouse.replicated ?? true),
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
          secret: { secretName: PROVISIONING_SECRETS.signingKeys, defaultMode: 0o440, items: signingKeyFiles(props).map((f) => ({ key: f.secretKey, path: f.secretKey })) },
        },
        { name: "nats-ca", mountPath: PROVISIONING_PATHS.natsCaDir, secret: { secretName: PROVISIONING_SECRETS.natsCa, items: [{ key: "ca.crt", path: "ca.crt" }] } },
        {
          name: "nats-platform-creds",
          mountPath: dirOf(PROVISIONING_PATHS.natsPlatformCreds),
          secret: { secretName: PROVISIONING_SECRETS.natsPlatformCreds, defaultMode: 0o440, items: [{ key: PROVISIONING_SECRETS.natsPlatformCredsKey, path: PROVISIONING_SECRETS.natsPlatformCredsKey }] },
        },
        {
          name: "keycloak-client",
          mountPath: dirOf(PROVISIONING_PATHS.keycloakClientSecret),
          secret: { secretName: PROVISIONING_SECRETS.keycloakClient, defaultMode: 0o440, items: [{ key: PROVISIONING_SECRETS.keycloakClientKey, path: PROVISIONING_SECRETS.keycloakClientKey }] },
        },
        {
          name: "smtp",
          mountPath: dirOf(PROVISIONING_PATHS.smtpCredentials),
          secret: { secretName: PROVISIONING_SECRETS.smtp, defaultMode: 0o440, items: [{ key: PROVISIONING_SECRETS.smtpKey, path: PROVISIONING_SECRETS.smtpKey }] },
        },
        {
          name: "billing-webhook",
          mountPath: dirOf(PROVISIONING_PATHS.billingWebhookSecret),
          secret: { secretName: PROVISIONING_SECRETS.billingWebhook, defaultMode: 0o440, items: [{ key: PROVISIONING_SECRETS.billingWebhookKey, path: PROVISIONING_SECRETS.billingWebhookKey }] },
        },
        {
          name: "clickhouse-lifecycle",
          mountPath: PROVISIONING_PATHS.clickhousePasswordDir,
          secret: { secretName: clickhouse.secretName, defaultMode: 0o440, items: [{ key: clickhouse.passwordKey, path: clickhouse.passwordKey }] },
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
      dependsOn: [serviceAccount, association, secrets.seeds, secrets.clientSecret, secrets.smtp, secrets.billingWebhook, secrets.natsPlatformCreds, clickhousePassword, natsCa, ...(props.dependsOn ?? [])],
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

    // The NetworkPolicy: everything the pods may reach; who may reach them is asked of allowFrom.
    const keycloakPeer: NetworkPeer = { namespace: props.keycloak.namespace, podLabels: props.keycloak.podLabels ?? KEYCLOAK_POD_LABELS };
    this.access = new WorkloadAccess(this, "access", {
      name: PROVISIONING_NAME,
      namespace,
      labels: APP_LABELS,
      podLabels: APP_LABELS,
      defaultPorts: [port],
      egress: [
        DNS_EGRESS,
        { peers: props.foundationDb.destinationCidrs.map((cidr) => ({ cidr })), ports: props.foundationDb.ports },
        { peers: [keycloakPeer], ports: [props.keycloak.port ?? KEYCLOAK_PORTS.http] },
        { peers: props.kmsEndpointCidrs.map((cidr) => ({ cidr })), ports: [PORTS.https] },
        { peers: [{ cidr: POD_IDENTITY_AGENT.cidr }], ports: [POD_IDENTITY_AGENT.port] },
        { peers: [{ namespace: NAMESPACES.nats }], ports: [PORTS.natsClient] },
        // The event store's HTTP interface (ClickHouse admits the service: clickhouse.allowFrom).
        { peers: [{ namespace: props.clickhouse.namespace ?? NAMESPACES.clickhouse }], ports: [props.clickhouse.port ?? PORTS.clickhouseHttp] },
        // Invitation e-mail: SES's SMTP endpoint (public AWS addresses; STARTTLS, authenticated).
        { ports: [SES_SMTP_PORT] },
      ],
    });
    if (props.metricsScraper) this.allowFrom(props.metricsScraper);
  }

  /** Lets `peers` (the gateway, a metrics scraper) call the service on its HTTP port unless `ports` says otherwise. */
  allowFrom(peers: NetworkPeer | readonly NetworkPeer[], ports?: readonly NetworkPort[]): void {
    this.access.allowFrom(peers, ports);
  }
}

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

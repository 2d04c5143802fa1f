/**
 * Names and small interfaces shared by the constructs that run inside the cluster: the one home
 * of namespace names and of the labels NetworkPolicies select on.
 */

/** Namespaces of the platform's own components. Tenant worker pools get `workers-<tier>`. */
export const NAMESPACES = {
  certManager: "cert-manager",
  externalSecrets: "external-secrets",
  keda: "keda",
  nats: "nats",
  clickhouse: "clickhouse",
  platform: "platform",
} as const;

/** Namespace of the API gateway; created by the gateway construct itself (constructs/gateway/). */
export const GATEWAY_NAMESPACE = "kong";
/** The IngressClass of the gateway's controller (Kong Ingress Controller): Ingresses of this class are public routes. */
export const GATEWAY_INGRESS_CLASS = "kong";

/** The label Kubernetes sets on every namespace to its name: what NetworkPolicies select a namespace by. */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/** Labels NetworkPolicies select on; pods carry them to be allowed somewhere. */
export const POLICY_LABELS = {
  /** Pods that may reach the FoundationDB cluster (egress to its CIDR and ports). */
  foundationDbClient: "enchanted.io/foundationdb-client",
  /** Pods that may connect to NATS client port. */
  natsClient: "enchanted.io/nats-client",
  /** Pods that may connect to ClickHouse. */
  clickhouseClient: "enchanted.io/clickhouse-client",
} as const;

/** Ports the platform's NetworkPolicies open, by service. */
export const PORTS = {
  dns: 53,
  https: 443,
  natsClient: 4222,
  natsMonitoring: 8222,
  clickhouseHttp: 8123,
  clickhouseHttps: 8443,
  clickhouseNative: 9000,
  clickhouseNativeTls: 9440,
  /** Admission webhooks and the KEDA metrics API, called by the EKS control plane. */
  webhooks: [9443, 10250, 6443],
} as const;

/** The ports a ClickHouse client may use: HTTP(S) and the native protocol, plain and TLS. */
export const CLICKHOUSE_CLIENT_PORTS = [PORTS.clickhouseHttp, PORTS.clickhouseHttps, PORTS.clickhouseNative, PORTS.clickhouseNativeTls] as const;

/** A store External Secrets reads AWS Secrets Manager through. */
export interface ISecretStore {
  readonly storeName: string;
  readonly storeKind: "ClusterSecretStore";
}

/** A cert-manager issuer of the cluster's internal CA. */
export interface ICertificateIssuer {
  readonly issuerName: string;
  readonly issuerKind: "ClusterIssuer";
}

/** Name of the cluster-wide StorageClass: encrypted gp3 with the environment's EBS key. */
export const ENCRYPTED_STORAGE_CLASS = "gp3-encrypted";

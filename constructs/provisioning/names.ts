/** The provisioning service's names in the cluster: where it listens, its Secrets, its files, its labels. */
import { PROVISIONING_API_PREFIX, PROVISIONING_HTTP_PORT } from "../../services/provisioning/contract.js";
import { FDB_CLUSTER_FILE_KEY } from "../foundationdb-connectivity.js";
import { NAMESPACES } from "../platform-interfaces.js";

/**
 * The provisioning API as the gateway reaches it: the Service `provisioning` in `platform`, on the
 * service's port (its contract), published under its API prefix. The stacks pass it to Kong
 * (`KongGateway.backends`, `KongGatewayRoutes.route`).
 */
export const PROVISIONING_ENDPOINT = { namespace: NAMESPACES.platform, service: "provisioning", port: PROVISIONING_HTTP_PORT, pathPrefix: PROVISIONING_API_PREFIX } as const;

/** Name of every Kubernetes object of the service (Deployment, Service, HPA, PDB, ServiceAccount, NetworkPolicy). */
export const PROVISIONING_NAME = PROVISIONING_ENDPOINT.service;
/** The namespace the service (and Kong's Ingress to it) is in. */
export const PROVISIONING_NAMESPACE = PROVISIONING_ENDPOINT.namespace;

/** Kubernetes Secrets the construct syncs (External Secrets) and mounts. */
export const PROVISIONING_SECRETS = {
  /**
   * `<tier>.seed` per plan tier (each tier's user signing key), the two account-side seeds
   * (`NATS_ACCOUNT_KEY_FILES`) and the system push user's creds (`system-user.creds`).
   */
  signingKeys: "provisioning-nats-signing-keys",
  /** The NATS servers' CA (`ca.crt`), from a Certificate of their issuer in this namespace. */
  natsCa: "provisioning-nats-ca",
  /** The service's platform-account user's creds (nats:bootstrap's `provisioning.creds`), under {@link PROVISIONING_SECRETS.natsPlatformCredsKey}. */
  natsPlatformCreds: "provisioning-nats-platform-creds",
  natsPlatformCredsKey: "provisioning.creds",
  /** The `enchanted-provisioning` Keycloak client's secret, under {@link PROVISIONING_SECRETS.keycloakClientKey}. */
  keycloakClient: "provisioning-keycloak-client",
  keycloakClientKey: "client-secret",
  /** SES SMTP credentials as one `username:password` file (the same credentials Keycloak sends mail with). */
  smtp: "provisioning-smtp",
  smtpKey: "credentials",
  /** The billing provider's webhook signing secret(s), one per line. */
  billingWebhook: "provisioning-billing-webhook",
  billingWebhookKey: "webhook-secret",
} as const;

/** Secrets Manager names under the service's prefix (`provisioningSecretPrefix`). */
export function provisioningSecrets(secretPrefix: string) {
  return {
    /** The billing provider's webhook signing secret (plain text; two lines during a rotation). */
    billingWebhook: { remoteKey: `${secretPrefix}/billing-webhook-secret`, description: "Billing provider webhook signing secret(s), one per line: the provisioning service's entitlement path" },
  } as const;
}

/** The namespaced SecretStore that alone may read the signing-key seeds (through its own IAM role). */
export const SIGNING_KEY_STORE = "provisioning-signing-keys";

/** Where the pod finds its files. */
export const PROVISIONING_PATHS = {
  signingKeysDir: "/var/run/secrets/nats-signing-keys",
  /** File name of the system push user's creds in the signing-keys directory. */
  systemUserCredsFile: "system-user.creds",
  natsCaDir: "/var/run/secrets/nats-ca",
  natsPlatformCreds: `/var/run/secrets/nats-platform/${PROVISIONING_SECRETS.natsPlatformCredsKey}`,
  keycloakClientSecret: `/var/run/secrets/keycloak/${PROVISIONING_SECRETS.keycloakClientKey}`,
  smtpCredentials: `/var/run/secrets/smtp/${PROVISIONING_SECRETS.smtpKey}`,
  billingWebhookSecret: `/var/run/secrets/billing/${PROVISIONING_SECRETS.billingWebhookKey}`,
  fdbClusterFile: `/var/run/secrets/foundationdb/${FDB_CLUSTER_FILE_KEY}`,
  /** The directory of the ClickHouse lifecycle user's password file (named by its Secret's key). */
  clickhousePasswordDir: "/var/run/secrets/clickhouse",
} as const;

/** The EKS Pod Identity Agent on every node (link-local, host network): the pod's AWS credentials. */
export const POD_IDENTITY_AGENT = { cidr: "169.254.170.23/32", port: 80 } as const;

/** Exactly the KMS actions the pod may perform, on the tenant-key CMK only. */
export const PROVISIONING_KMS_ACTIONS = ["kms:GenerateDataKey", "kms:Decrypt"] as const;

/** The labels of every object of the service; the Deployment selects its pods by them. */
export const PROVISIONING_APP_LABELS = { "app.kubernetes.io/name": PROVISIONING_NAME, "app.kubernetes.io/part-of": "enchanted" } as const;

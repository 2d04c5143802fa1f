/** The provisioning construct's props, their defaults and their checks (against the service's contract). */
import type { ICertificateIssuer } from "../platform-interfaces.js";
import { Token, type ITerraformDependable } from "cdktf";
import { PLAN_TIER_NAMES, type PlanTierName } from "../../config/tiers.js";
import { REALM_NAME } from "../../services/keycloak-realm/names.js";
import {
  httpUrlProblem,
  KEYCLOAK_REALM_PATTERN,
  KMS_KEY_ID_PATTERN,
  NATS_ACCOUNT_PUBLIC_KEY_PATTERN,
  PROVISIONING_DEFAULTS,
  PROVISIONING_ENV,
  PROVISIONING_LIMITS,
  PROVISIONING_LOG_LEVELS,
  type ProvisioningLogLevel,
} from "../../services/provisioning/contract.js";
import { propFail, type PropFail, type PropScope } from "../core/validation.js";
import type { NetworkPeer } from "../k8s/network-policy.js";
import type { IKmsKey } from "../kms-key.js";
import type { ISecretStore } from "../platform-interfaces.js";
import { checkServiceImage, checkServiceSizing, resolveServiceSizing, type ServiceResources } from "../service-workload.js";
import { PROVISIONING_NAME, PROVISIONING_NAMESPACE } from "./names.js";

/** The HPA's CPU target unless the props set one. */
const DEFAULT_TARGET_CPU_UTILIZATION = 70;

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
  /** The Keycloak pods (`Keycloak.podLabels`): the egress peer. @default KEYCLOAK_POD_LABELS */
  readonly podLabels?: Readonly<Record<string, string>>;
  /** Keycloak's HTTP port (`Keycloak.port`). @default KEYCLOAK_PORTS.http */
  readonly port?: number;
}

/** Where the signing-key seeds are and who may fetch them. */
export interface ProvisioningSigningKeys {
  /** Secrets Manager names of the tier seeds (`natsSecretNames(...).seeds.swarmSigningKeys`). */
  readonly secretNames: Readonly<Record<PlanTierName, string>>;
  /**
   * Secrets Manager names of what signs and pushes tenant accounts (`natsSecretNames(...).seeds`):
   * the operator's tenant-account signing key, the platform account's activation-token key and
   * the system account's push user's creds.
   */
  readonly accountSecretNames: { readonly tenantAccountSigningKey: string; readonly tenantImportSigningKey: string; readonly systemUserCreds: string };
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

/** Who scrapes `/metrics` (Prometheus): allowed in on the HTTP port (`Provisioning.allowFrom`). */
export type ProvisioningMetricsScraper = Extract<NetworkPeer, { readonly namespace: string }>;

export interface ProvisioningNats {
  readonly clientUrl: string;
  readonly issuer: ICertificateIssuer;
  /** NATS URLs agents connect to (`PROVISIONING_NATS_PUBLIC_URLS`). @default [clientUrl] (the in-cluster Service) */
  readonly publicUrls?: readonly string[];
  /** Secrets Manager name of the provisioning bus user's creds (`PROVISIONING_NATS_PLATFORM_CREDS_FILE`). */
  readonly platformCredsRemoteKey: string;
}

/**
 * The event store, as the lifecycle user (`ClickHouse.lifecycleCredentials`): the outbox writes each
 * tenant's plan row there and deletes an offboarded tenant's events and usage.
 */
export interface ProvisioningClickHouse {
  /** HTTP URL (`ClickHouse.httpUrl`, `PROVISIONING_CLICKHOUSE_URL`). */
  readonly url: string;
  /** The lifecycle user and its password's secrets (`ClickHouse.lifecycleCredentials`). */
  readonly credentials: { readonly username: string; readonly secretName: string; readonly passwordKey: string; readonly remoteKey: string };
  /** The installation is replicated (deletions `ON CLUSTER` on the per-shard tables). @default true (the ClickHouse construct's topology) */
  readonly replicated?: boolean;
  /** ClickHouse's namespace (egress on its HTTP port; admit the service with `clickhouse.allowFrom`). @default NAMESPACES.clickhouse */
  readonly namespace?: string;
  /** The HTTP port of the URL. @default PORTS.clickhouseHttp */
  readonly port?: number;
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
  /** `iss` of the tenant tokens the service signs: `tenantTokenIssuer(config.domains.api)` (`PROVISIONING_TOKEN_ISSUER`). */
  readonly tokenIssuer: string;
  /**
   * Invitation e-mail through SES's SMTP interface: the From address, the console origin the links
   * point at, and the SES SMTP credentials' secret (JSON `username`, `password`; Keycloak's).
   */
  readonly mail: { readonly from: string; readonly consoleUrl: string; readonly smtpCredentialsRemoteKey: string };
  /** Secrets Manager name of the billing webhook's signing secret (`provisioningSecrets(prefix).billingWebhook`). */
  readonly billingWebhookRemoteKey: string;
  readonly keycloak: ProvisioningKeycloak;
  /** Public key of the platform account SWARM (`config.nats.publicKeys.swarmAccount`); tenant accounts import from it. */
  readonly natsAccount: string;
  /**
   * The NATS cluster: its client URL (`Nats.clientUrl`, TLS) tenant accounts are pushed to, the
   * issuer of its certificate (for the CA, also handed to agents), the URL(s) agents connect to
   * (`Nats.publicUrl`: the external listener when NATS is exposed) and the Secrets Manager name
   * of the service's platform-account user's creds (`natsSecretNames(...).cluster.provisioningBusCreds`).
   */
  readonly nats: ProvisioningNats;
  readonly signingKeys: ProvisioningSigningKeys;
  readonly foundationDb: ProvisioningFoundationDb;
  readonly clickhouse: ProvisioningClickHouse;
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

/** ProvisioningProps with every default applied. */
export interface ResolvedProvisioningProps {
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

export function resolveProvisioningProps(scope: PropScope, props: ProvisioningProps): ResolvedProvisioningProps {
  const fail = propFail(scope);
  const r: ResolvedProvisioningProps = {
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
  const chPort = props.clickhouse.port;
  if (chPort !== undefined && (!Number.isInteger(chPort) || chPort < 1 || chPort > 65_535)) fail("clickhouse.port", chPort, "is not a TCP port", "use 1-65535");
  if (props.kmsEndpointCidrs.length === 0) fail("kmsEndpointCidrs", props.kmsEndpointCidrs, "is empty", "pass the private subnets' CIDRs (where the KMS interface endpoint is)");
  for (const tier of PLAN_TIER_NAMES) {
    if (!props.signingKeys.secretNames[tier]) fail(`signingKeys.secretNames.${tier}`, undefined, "is missing", "pass natsSecretNames(...).seeds.swarmSigningKeys");
  }
  if (props.nats.publicUrls !== undefined) {
    if (props.nats.publicUrls.length === 0) fail("nats.publicUrls", props.nats.publicUrls, "is empty, so agents would get no server to connect to", "pass Nats.publicUrl, or leave it unset for the in-cluster URL");
    props.nats.publicUrls.forEach((url, i) => {
      if (!/^(nats|tls):\/\/[^\s,/]+:\d+$/.test(url)) fail(`nats.publicUrls[${i}]`, url, "is not a NATS URL `tls://<host>:<port>` or `nats://<host>:<port>`", "pass Nats.publicUrl, e.g. tls://nats.example.com:4222");
    });
  }
  if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(props.nats.platformCredsRemoteKey)) {
    fail("nats.platformCredsRemoteKey", props.nats.platformCredsRemoteKey, "is not a Secrets Manager name", "pass natsSecretNames(...).cluster.provisioningBusCreds");
  }
  checkServiceContract(props, r, fail);
  return r;
}

/**
 * What the service would refuse at start, checked here against its contract (patterns and bounds
 * of `services/provisioning/contract.ts`), so a bad value fails synth, not the pod. Values only
 * Terraform knows (tokens) are left to the service.
 */
function checkServiceContract(props: ProvisioningProps, r: ResolvedProvisioningProps, fail: PropFail): void {
  const V = PROVISIONING_ENV;
  const known = (value: string) => !Token.isUnresolved(value);
  if (known(props.natsAccount) && !NATS_ACCOUNT_PUBLIC_KEY_PATTERN.test(props.natsAccount)) {
    fail("natsAccount", props.natsAccount, `is not an account public key (${V.natsAccount} must match ${NATS_ACCOUNT_PUBLIC_KEY_PATTERN.source})`, "pass the platform account's public key (A…, 56 characters), config.nats.publicKeys.swarmAccount as nats:bootstrap printed it");
  }
  for (const [prop, value, variable] of [
    ["oidcIssuer", props.oidcIssuer, V.oidcIssuer],
    ["tokenIssuer", props.tokenIssuer, V.tokenIssuer],
    ["mail.consoleUrl", props.mail.consoleUrl, V.consoleUrl],
    ["keycloak.serviceUrl", props.keycloak.serviceUrl, V.keycloakUrl],
    ["clickhouse.url", props.clickhouse.url, V.clickhouseUrl],
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


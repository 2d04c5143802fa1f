/** The events API construct's props, their defaults and their checks (against the service's contract). */
import { Token, type ITerraformDependable } from "cdktf";
import type { PlanTierName } from "../../config/tiers.js";
import {
  EVENTS_API_DEFAULTS,
  EVENTS_API_ENV,
  EVENTS_API_LIMITS,
  EVENTS_API_LOG_LEVELS,
  EVENTS_API_TIERS,
  httpUrlProblem,
  KMS_KEY_ID_PATTERN,
  type EventsApiLogLevel,
} from "../../services/events-api/contract.js";
import { propFail, type PropFail, type PropScope } from "../core/validation.js";
import type { NetworkPeer } from "../k8s/network-policy.js";
import type { IKmsKey } from "../kms-key.js";
import type { ISecretStore } from "../platform-interfaces.js";
import { checkServiceImage, checkServiceSizing, resolveServiceSizing, type ServiceResources } from "../service-workload.js";
import { EVENTS_API_NAME, EVENTS_API_NAMESPACE } from "./names.js";

/** The HPA's CPU target unless the props set one. */
const DEFAULT_TARGET_CPU_UTILIZATION = 70;

/** A tier reader's user and the Secrets Manager secret of its password (`ClickHouse.readerCredentials`). */
export interface EventsApiReader {
  readonly username: string;
  /** The Kubernetes Secret the password is synced into, in the service's namespace, and its key. */
  readonly secretName: string;
  readonly passwordKey: string;
  /** Secrets Manager name of the password. */
  readonly remoteKey: string;
}

export interface EventsApiClickHouse {
  /** HTTP URL (`ClickHouse.httpUrl`, `EVENTS_API_CLICKHOUSE_URL`). */
  readonly url: string;
  /** Each tier's reader (`ClickHouse.readerCredentials`): the service holds one client per tier. */
  readonly readers: Readonly<Record<PlanTierName, EventsApiReader>>;
  /** ClickHouse's namespace (egress on its HTTP port; admit the service with `clickhouse.allowFrom(eventsApi.peers, [port])`). @default NAMESPACES.clickhouse */
  readonly namespace?: string;
  /** The HTTP port of the URL. @default PORTS.clickhouseHttp */
  readonly port?: number;
}

/** The provisioning service: replays go to its jobs API, tenant tokens are verified against its key set. */
export interface EventsApiProvisioning {
  /** In-cluster base URL (`Provisioning.serviceUrl`). */
  readonly url: string;
  /** Its pods (namespace and labels): the egress peer. Admit the service with `provisioning.allowFrom(eventsApi.peers)`. */
  readonly peer: NetworkPeer;
  readonly port: number;
}

/**
 * Where the tenants' wrapped data keys are and what unwraps them: the service answers encrypted
 * payloads in plaintext only with these (the provisioning service's control-plane store and its
 * tenant-key CMK).
 */
export interface EventsApiDataKeys {
  /** The CMK tenant data keys are wrapped under (`Provisioning.tenantKey`): the pod may `kms:Decrypt` with a `tenant_id` context only. */
  readonly tenantKey: IKmsKey;
  /** The control-plane store's FoundationDB: `FoundationDbNetwork.destinationCidrs` and `config.foundationDb.ports`. */
  readonly foundationDb: {
    readonly destinationCidrs: readonly string[];
    readonly ports: readonly number[];
    /** Namespaces `FoundationDbClusterFile` syncs the cluster file into; checked to contain the service's. @default - not checked */
    readonly clusterFileNamespaces?: readonly string[];
  };
  /** Ranges of the subnets holding the KMS interface endpoint (`config.network.subnets.private`): egress 443. */
  readonly kmsEndpointCidrs: readonly string[];
}

/** Who scrapes `/metrics` (Prometheus): admitted on the HTTP port (`EventsApi.allowFrom`). */
export type EventsApiMetricsScraper = Extract<NetworkPeer, { readonly namespace: string }>;

export interface EventsApiProps {
  /** `<ECR repository URL>:<tag>`; an exact tag, never `latest`. */
  readonly image: string;
  /** Prefix of the AWS names (the pod's role), e.g. `enchanted-prod`. */
  readonly name: string;
  readonly accountId: string;
  readonly region: string;
  /** The EKS cluster the Pod Identity association is made in. */
  readonly clusterName: string;
  /** The ClusterSecretStore the readers' passwords are synced through. */
  readonly secretStore: ISecretStore;
  readonly clickhouse: EventsApiClickHouse;
  readonly provisioning: EventsApiProvisioning;
  /** `iss` of the tenant tokens: `tenantTokenIssuer(config.domains.api)` (`EVENTS_API_TOKEN_ISSUER`). */
  readonly tokenIssuer: string;
  /** @default - no data keys: encrypted payloads are answered without their plaintext */
  readonly dataKeys?: EventsApiDataKeys;
  /** @default - no scrape ingress */
  readonly metricsScraper?: EventsApiMetricsScraper;
  /** @default 2 */
  readonly minReplicas?: number;
  /** @default 10 */
  readonly maxReplicas?: number;
  /** Average CPU utilization (of the request) the HorizontalPodAutoscaler aims for. @default 70 */
  readonly targetCpuUtilization?: number;
  /** @default - 250m CPU and 256 MiB requested, 512 MiB limit */
  readonly resources?: ServiceResources;
  /** @default "info" (the service's default) */
  readonly logLevel?: EventsApiLogLevel;
  /** A query still running after this answers 504. @default 30000 (the service's default) */
  readonly queryTimeoutMs?: number;
  /** @default 15 (the service's default) */
  readonly shutdownTimeoutSeconds?: number;
  /** Namespace of the dashboard ConfigMap (where Grafana's sidecar looks). @default - the service's namespace */
  readonly dashboardNamespace?: string;
  /** Resources the Deployment waits for (the ClickHouse migration, the provisioning service). @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/** EventsApiProps with every default applied. */
export interface ResolvedEventsApiProps {
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly targetCpuUtilization: number;
  readonly cpuRequestMillicores: number;
  readonly memoryRequestMiB: number;
  readonly memoryLimitMiB: number;
  readonly logLevel: EventsApiLogLevel;
  readonly queryTimeoutMs: number;
  readonly shutdownTimeoutSeconds: number;
}

export function resolveEventsApiProps(scope: PropScope, props: EventsApiProps): ResolvedEventsApiProps {
  const fail = propFail(scope);
  const r: ResolvedEventsApiProps = {
    ...resolveServiceSizing(props),
    targetCpuUtilization: props.targetCpuUtilization ?? DEFAULT_TARGET_CPU_UTILIZATION,
    logLevel: props.logLevel ?? EVENTS_API_DEFAULTS.logLevel,
    queryTimeoutMs: props.queryTimeoutMs ?? EVENTS_API_DEFAULTS.queryTimeoutMs,
    shutdownTimeoutSeconds: props.shutdownTimeoutSeconds ?? EVENTS_API_DEFAULTS.shutdownTimeoutMs / 1000,
  };
  checkServiceImage(props.image, EVENTS_API_NAME, fail);
  checkServiceSizing(r, fail);
  if (!Number.isInteger(r.targetCpuUtilization) || r.targetCpuUtilization < 10 || r.targetCpuUtilization > 100) {
    fail("targetCpuUtilization", r.targetCpuUtilization, "is not a percentage from 10 to 100", "use e.g. 70");
  }
  if (!EVENTS_API_LOG_LEVELS.includes(r.logLevel)) fail("logLevel", r.logLevel, "is not a pino level", `use one of ${EVENTS_API_LOG_LEVELS.join(", ")}`);
  for (const tier of EVENTS_API_TIERS) {
    const reader = props.clickhouse.readers[tier];
    if (!reader) fail(`clickhouse.readers.${tier}`, undefined, "is missing: the service holds a reader for every tier", "pass ClickHouse.readerCredentials");
  }
  if (props.clickhouse.port !== undefined) checkPort("clickhouse.port", props.clickhouse.port, fail);
  checkPort("provisioning.port", props.provisioning.port, fail);
  if (props.dataKeys) checkDataKeys(props.dataKeys, fail);
  checkServiceContract(props, r, fail);
  return r;
}

function checkPort(prop: string, port: number, fail: PropFail): void {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) fail(prop, port, "is not a TCP port", "use 1-65535");
}

function checkDataKeys(d: EventsApiDataKeys, fail: PropFail): void {
  const fdb = d.foundationDb;
  if (fdb.destinationCidrs.length === 0) fail("dataKeys.foundationDb.destinationCidrs", fdb.destinationCidrs, "is empty", "pass FoundationDbNetwork.destinationCidrs");
  if (fdb.ports.length === 0) fail("dataKeys.foundationDb.ports", fdb.ports, "is empty", "pass config.foundationDb.ports");
  for (const port of fdb.ports) checkPort("dataKeys.foundationDb.ports[]", port, fail);
  if (fdb.clusterFileNamespaces && !fdb.clusterFileNamespaces.includes(EVENTS_API_NAMESPACE)) {
    fail("dataKeys.foundationDb.clusterFileNamespaces", fdb.clusterFileNamespaces, `does not contain the service's namespace "${EVENTS_API_NAMESPACE}", so the cluster file is not synced there`, `add "${EVENTS_API_NAMESPACE}" to FOUNDATIONDB_CLIENT_NAMESPACES`);
  }
  if (d.kmsEndpointCidrs.length === 0) fail("dataKeys.kmsEndpointCidrs", d.kmsEndpointCidrs, "is empty", "pass the private subnets' CIDRs (where the KMS interface endpoint is)");
  const arn = d.tenantKey.keyArn;
  if (!Token.isUnresolved(arn) && !KMS_KEY_ID_PATTERN.test(arn)) {
    fail("dataKeys.tenantKey.keyArn", arn, `is not a KMS key id, key ARN, alias or alias ARN (${EVENTS_API_ENV.kmsKeyId})`, "pass the tenant-key CMK's ARN (Provisioning.tenantKey)");
  }
}

/**
 * What the service would refuse at start, checked here against its contract (URL shapes and the
 * bounds of `services/events-api/contract.ts`), so a bad value fails synth, not the pod. Values
 * only Terraform knows (tokens) are left to the service.
 */
function checkServiceContract(props: EventsApiProps, r: ResolvedEventsApiProps, fail: PropFail): void {
  const V = EVENTS_API_ENV;
  for (const [prop, value, variable] of [
    ["clickhouse.url", props.clickhouse.url, V.clickhouseUrl],
    ["tokenIssuer", props.tokenIssuer, V.tokenIssuer],
    ["provisioning.url", props.provisioning.url, V.provisioningUrl],
  ] as const) {
    const problem = Token.isUnresolved(value) ? undefined : httpUrlProblem(value);
    if (problem !== undefined) fail(prop, value, `${problem} (the service reads it as ${variable})`, "pass an http(s) URL without ? or #");
  }
  if (!Token.isUnresolved(props.tokenIssuer) && !/^https:\/\/[^/]+$/.test(props.tokenIssuer)) {
    fail("tokenIssuer", props.tokenIssuer, "is not an https origin: tenant tokens' `iss` is the public API's origin", "pass tenantTokenIssuer(config.domains.api)");
  }
  const L = EVENTS_API_LIMITS;
  for (const [prop, value, limit, unit] of [
    ["queryTimeoutMs", r.queryTimeoutMs, L.queryTimeoutMs, 1],
    ["shutdownTimeoutSeconds", r.shutdownTimeoutSeconds, L.shutdownTimeoutMs, 1000],
  ] as const) {
    const min = Math.ceil(limit.min / unit);
    const max = Math.floor(limit.max / unit);
    if (!Number.isInteger(value) || value < min || value > max) fail(prop, value, `is not a whole number from ${min} to ${max}, the service's bounds`, `use ${min} to ${max}`);
  }
}

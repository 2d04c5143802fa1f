/**
 * The one home of the ClickHouse installation's names: chart and images, the operator, the
 * labels and hosts, the synced Secrets and the users' security contexts.
 */
import { PLAN_TIER_NAMES, type PlanTierName } from "../../config/tiers.js";
import { CONTAINER_IMAGES, HELM_CHARTS } from "../../config/versions.js";
import { NAMESPACES, PORTS } from "../platform-interfaces.js";

/** The Altinity operator's chart: repository, name and pinned version (config/versions.ts). */
export const CLICKHOUSE_OPERATOR_CHART = HELM_CHARTS.clickhouseOperator;
/** Name of the operator's Deployment (the chart's `fullnameOverride`). */
export const CLICKHOUSE_OPERATOR_NAME = "clickhouse-operator";
/** ClickHouse server and Keeper images (an LTS line). */
export const CLICKHOUSE_IMAGE = CONTAINER_IMAGES.clickhouseServer;
export const CLICKHOUSE_KEEPER_IMAGE = CONTAINER_IMAGES.clickhouseKeeper;
/** Client port of the Keeper servers (the operator's `keeper-<name>` service). */
export const KEEPER_CLIENT_PORT = 2181;

/** The `clickhouse` user and group of the official images. */
export const CLICKHOUSE_UID = 101;
/** The operator images run as `nobody` by name; Pod Security needs the number. */
export const NOBODY_UID = 65534;
/** Labels the operator puts on the pods it creates. */
export const CHI_LABEL = "clickhouse.altinity.com/chi";
export const CHI_SHARD_LABEL = "clickhouse.altinity.com/shard";
export const CHK_LABEL = "clickhouse-keeper.altinity.com/chk";
export const ZONE = "topology.kubernetes.io/zone";
export const HOSTNAME = "kubernetes.io/hostname";

/** A configuration user's password: the Kubernetes Secret (and key) it is synced into, the Secrets Manager secret it comes from. */
export interface ClickHouseUserSecret {
  readonly secretName: string;
  readonly remoteKey: string;
  readonly passwordKey: string;
}

/**
 * The Kubernetes Secrets this construct keeps in sync, and the Secrets Manager secrets (under the
 * environment's `clickhouse.secretPrefix`) they come from. The users' secrets hold the password
 * as a plain value; the operator's holds JSON `{"username": ..., "password": ...}`. A consumer
 * syncs its own copy of its user's secret into its namespace under the same name. Terraform never
 * sees a value: the Secrets Manager containers are created empty elsewhere (`ManagedSecret`,
 * {@link clickhouseManagedSecrets}) and filled out of band.
 */
export function clickhouseSecrets(secretPrefix: string) {
  const user = (name: string): ClickHouseUserSecret => ({ secretName: `clickhouse-${name}`, remoteKey: `${secretPrefix}/${name}-password`, passwordKey: "password" });
  return {
    admin: user("admin"),
    ingestor: user("ingestor"),
    operator: { secretName: "clickhouse-operator-credentials", remoteKey: `${secretPrefix}/operator-credentials` },
    /** The workers' reader (WORKER_CLICKHOUSE_USER), synced into each worker namespace. */
    workers: user("workers"),
    /** The provisioning service's lifecycle user (`CLICKHOUSE_USERS.lifecycle`): tenant plans, offboarding deletes. */
    lifecycle: user("lifecycle"),
    /** Each tier's reader (`readerUserName(tier)`): the events API queries as its tenant's tier's. */
    readers: Object.fromEntries(PLAN_TIER_NAMES.map((tier) => [tier, user(`reader-${tier}`)])) as Readonly<Record<PlanTierName, ClickHouseUserSecret>>,
  } as const;
}

/**
 * Every Secrets Manager secret of the installation, flat: `name` (part of the construct id and of
 * the description, e.g. `admin`, `reader-free`) and its `remoteKey`. The platform stack creates
 * one empty, customer-key-encrypted secret per entry.
 */
export function clickhouseManagedSecrets(secretPrefix: string): readonly { readonly name: string; readonly remoteKey: string }[] {
  const s = clickhouseSecrets(secretPrefix);
  return [
    { name: "admin", remoteKey: s.admin.remoteKey },
    { name: "ingestor", remoteKey: s.ingestor.remoteKey },
    { name: "operator", remoteKey: s.operator.remoteKey },
    { name: "workers", remoteKey: s.workers.remoteKey },
    { name: "lifecycle", remoteKey: s.lifecycle.remoteKey },
    ...PLAN_TIER_NAMES.map((tier) => ({ name: `reader-${tier}`, remoteKey: s.readers[tier].remoteKey })),
  ];
}

/** The operator's credentials Secret (fixed: the operator's config names it). */
export const OPERATOR_CREDENTIALS_SECRET = clickhouseSecrets("").operator.secretName;

/** `http://<service>:8123`: what the ingestor and the platform's readers connect to. */
export function clickhouseHttpUrl(name: string): string {
  return `http://${clickhouseHost(name)}:${PORTS.clickhouseHttp}`;
}

/** The installation's service, which balances over every server. */
export function clickhouseHost(name: string): string {
  return `clickhouse-${name}.${NAMESPACES.clickhouse}.svc.cluster.local`;
}

/** The Keeper installation's client service (the operator names it `keeper-<name>`). */
export function keeperHost(name: string): string {
  return `keeper-${name}.${NAMESPACES.clickhouse}.svc.cluster.local`;
}

/** Pod and container security of the ClickHouse and Keeper images: their own non-root user. */
export const CLICKHOUSE_POD_SECURITY = {
  runAsNonRoot: true,
  runAsUser: CLICKHOUSE_UID,
  runAsGroup: CLICKHOUSE_UID,
  fsGroup: CLICKHOUSE_UID,
  fsGroupChangePolicy: "OnRootMismatch",
  seccompProfile: { type: "RuntimeDefault" },
} as const;
export const CLICKHOUSE_CONTAINER_SECURITY = {
  allowPrivilegeEscalation: false,
  runAsNonRoot: true,
  capabilities: { drop: ["ALL"] },
} as const;


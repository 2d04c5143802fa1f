/**
 * The one home of the ClickHouse installation's names: chart and images, the operator, the
 * labels and hosts, the synced Secrets and the users' security contexts.
 */
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

/**
 * The Kubernetes Secrets this construct keeps in sync, and the Secrets Manager secrets (under the
 * environment's `clickhouse.secretPrefix`) they come from. The admin and ingestor secrets hold the
 * password as a plain value; the operator's holds JSON `{"username": ..., "password": ...}`.
 * Terraform never sees a value: the Secrets Manager containers are created empty elsewhere
 * (`ManagedSecret`) and filled out of band.
 */
export function clickhouseSecrets(secretPrefix: string) {
  return {
    admin: { secretName: "clickhouse-admin", remoteKey: `${secretPrefix}/admin-password`, passwordKey: "password" },
    ingestor: { secretName: "clickhouse-ingestor", remoteKey: `${secretPrefix}/ingestor-password`, passwordKey: "password" },
    operator: { secretName: "clickhouse-operator-credentials", remoteKey: `${secretPrefix}/operator-credentials` },
    /** The workers' reader (WORKER_CLICKHOUSE_USER), synced into each worker namespace. */
    workers: { secretName: "clickhouse-workers", remoteKey: `${secretPrefix}/workers-password`, passwordKey: "password" },
  } as const;
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


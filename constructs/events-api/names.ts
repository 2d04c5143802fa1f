/** The events API's names in the cluster: where it listens, the files it reads, its labels. */
import type { PlanTierName } from "../../config/tiers.js";
import { EVENTS_API_HTTP_PORT, EVENTS_API_METRICS, EVENTS_API_TIERS } from "../../services/events-api/contract.js";
import { FDB_CLUSTER_FILE_KEY } from "../foundationdb-connectivity.js";
import { NAMESPACES } from "../platform-interfaces.js";

/**
 * The events API as the gateway reaches it: the Service `events-api` in `platform`, on the
 * service's port (its contract). The stacks pass it to Kong (`KongGateway.backends`,
 * `KongGatewayRoutes.eventsApi`).
 */
export const EVENTS_API_ENDPOINT = { namespace: NAMESPACES.platform, service: "events-api", port: EVENTS_API_HTTP_PORT } as const;

/** Name of every Kubernetes object of the service (Deployment, Service, HPA, PDB, ServiceAccount, NetworkPolicy). */
export const EVENTS_API_NAME = EVENTS_API_ENDPOINT.service;
/** The namespace the service (and Kong's Ingress to it) is in: the platform's, with its default deny. */
export const EVENTS_API_NAMESPACE = EVENTS_API_ENDPOINT.namespace;

/** The labels of every object of the service; the Deployment selects its pods by them. */
export const EVENTS_API_APP_LABELS = { "app.kubernetes.io/name": EVENTS_API_NAME, "app.kubernetes.io/part-of": "enchanted" } as const;

/** The service's Prometheus series (their one home is the contract); the dashboard queries only these. */
export const EVENTS_API_METRIC_NAMES = EVENTS_API_METRICS;

/** The Grafana dashboard's ConfigMap (label `grafana_dashboard: "1"`) and its file name in it. */
export const EVENTS_API_DASHBOARD = { configMap: `${EVENTS_API_NAME}-dashboard`, file: `${EVENTS_API_NAME}.json` } as const;

/** Where the pod finds its files: each tier's reader password (one directory each), the FoundationDB cluster file. */
export const EVENTS_API_PATHS = {
  readerPasswordDir: (tier: PlanTierName) => `/var/run/secrets/clickhouse-${tier}`,
  fdbClusterFile: `/var/run/secrets/foundationdb/${FDB_CLUSTER_FILE_KEY}`,
} as const;

/** The tiers whose readers the pod holds (the service's contract), in mount order. */
export const EVENTS_API_READER_TIERS: readonly PlanTierName[] = EVENTS_API_TIERS;

/**
 * The KMS actions of the pod: unwrap a tenant's data key, and only that. The pod's role allows it
 * only with the encryption context `tenant_id` alone (the one provisioning wraps tenant keys
 * under), so the platform's own keys (wrapped under `platform_key`) never decrypt here.
 */
export const EVENTS_API_KMS_ACTIONS = ["kms:Decrypt"] as const;
/** The encryption-context key of a tenant's wrapped data key (services/provisioning/src/datakeys.ts). */
export const TENANT_KEY_ENCRYPTION_CONTEXT = "tenant_id";

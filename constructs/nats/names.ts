/**
 * Names and addresses of what the NATS constructs create in the `nats` namespace: the one home of
 * these names, for the other constructs (the ingestor's creds, KEDA's endpoint, NetworkPolicies).
 */
import { NAMESPACES, PORTS } from "../platform-interfaces.js";

/**
 * Names of what the NATS construct creates in the `nats` namespace: the one home of these names.
 * The release name makes the chart's Service `nats` and its headless Service `nats-headless`.
 */
export const NATS_NAMES = {
  release: "nats",
  service: "nats",
  headlessService: "nats-headless",
  /** cert-manager's Secret of the servers' certificate (`tls.crt`, `tls.key`, `ca.crt`). */
  tlsSecret: "nats-server-tls",
  /** The auth include, synced from `<seedSecretPrefix>/cluster/auth-conf`. */
  authSecret: "nats-auth",
  /** The platform user's creds, synced from `<seedSecretPrefix>/cluster/platform-creds`. */
  platformCredsSecret: "nats-platform-creds",
  platformCredsKey: "platform.creds",
  /** ConfigMap with the unsigned account claims (what the signed JWTs must say). */
  claimsConfigMap: "nats-account-claims",
  /** NACK's `Account` resource: how NACK reaches the SWARM account. */
  nackAccount: "swarm",
  nackRelease: "nack",
} as const;

/** The namespace of the servers, NACK and every NACK resource (NACK watches only this one). */
export const NATS_NAMESPACE = NAMESPACES.nats;
/** The nats-server and NACK containers' user (the images run as root unless told otherwise). */
export const NATS_UID = 1000;

const CLUSTER_DOMAIN = "cluster.local";
/** The client Service's in-cluster host name. */
export const NATS_SERVICE_HOST = `${NATS_NAMES.service}.${NATS_NAMESPACE}.svc.${CLUSTER_DOMAIN}`;
/** The headless Service's in-cluster host name (`<pod>.<this>` reaches one server). */
export const NATS_HEADLESS_HOST = `${NATS_NAMES.headlessService}.${NATS_NAMESPACE}.svc.${CLUSTER_DOMAIN}`;

/** The client URL every in-cluster client uses (TLS is required; the CA is the internal CA). */
export const NATS_CLIENT_URL = `nats://${NATS_SERVICE_HOST}:${PORTS.natsClient}`;
/**
 * KEDA's `natsServerMonitoringEndpoint` (`host:port`, no scheme): the headless Service, because in
 * a cluster KEDA prefixes the JetStream leader's server name (the pod name) to this host.
 */
export const NATS_MONITORING_ENDPOINT = `${NATS_HEADLESS_HOST}:${PORTS.natsMonitoring}`;

/** Labels of NACK's pod: it needs egress to the Kubernetes API (443) besides NATS in its namespace. */
export const NACK_SELECTOR = { "app.kubernetes.io/name": "nack", "app.kubernetes.io/instance": NATS_NAMES.nackRelease } as const;

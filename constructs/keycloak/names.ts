/**
 * Keycloak's names: the pinned chart, the release and its pod labels, ports,
 * the database it uses, the Secrets it reads and where they come from, and the label of pods that
 * may call it. Everything else in this folder, and callers elsewhere, take them from here.
 */
import { HELM_CHARTS } from "../../config/versions.js";
import { REALM_NAME } from "../../services/keycloak-realm/names.js";
import { NAMESPACES } from "../platform-interfaces.js";

/** The keycloakx chart: repository, name and pinned version (config/versions.ts). */
export const KEYCLOAK_CHART = HELM_CHARTS.keycloakx;

/** Release and `fullnameOverride`: the StatefulSet is `keycloak`, its Service `keycloak-http`. */
export const KEYCLOAK_RELEASE = "keycloak";
/** Selector labels the chart puts on the Keycloak pods. */
export const KEYCLOAK_POD_LABELS = { "app.kubernetes.io/name": KEYCLOAK_CHART.chart, "app.kubernetes.io/instance": KEYCLOAK_RELEASE } as const;

/** The chart's HTTP Service (`<release>-http`), port 80 to the pods' {@link KEYCLOAK_PORTS.http}. */
export const KEYCLOAK_SERVICE = { name: `${KEYCLOAK_RELEASE}-http`, port: 80 } as const;

/**
 * What browsers (and the web app, and token clients) need of Keycloak from the internet: the
 * platform realm's endpoints (login pages, OpenID Connect, the account console) and the static
 * theme resources. Never `/admin/` (console and Admin REST API), the `master` realm, or the
 * management port (health, metrics).
 */
export const KEYCLOAK_PUBLIC_PATH_PREFIXES = [`/realms/${REALM_NAME}/`, "/resources/"] as const;

/** Ports of a Keycloak pod. */
export const KEYCLOAK_PORTS = {
  /** HTTP behind the TLS-terminating proxy (the Service's port 80 targets it). */
  http: 8080,
  /** Management interface: health and metrics. */
  management: 9000,
  /** JGroups (Infinispan cluster traffic) and its FD_SOCK2 failure detection. */
  jgroups: 7800,
  jgroupsFailureDetection: 57800,
  postgres: 5432,
  smtp: 587,
} as const;

/** The database and master user Keycloak uses (Aurora creates both). */
export const KEYCLOAK_DATABASE = { name: "keycloak", username: "keycloak" } as const;

/** Client id of the bootstrap admin service account in the master realm, which the realm Job signs in as. */
export const BOOTSTRAP_ADMIN_CLIENT_ID = "enchanted-bootstrap-admin";

/** Label of pods that may call Keycloak's HTTP port (the realm Job; any other in-cluster client). */
export const KEYCLOAK_CLIENT_LABEL = "enchanted.io/keycloak-client";

/**
 * The Secrets Manager secrets Keycloak reads (created empty by `KeycloakPlatform`, filled out of
 * band), and the Kubernetes Secrets they are synced to. The database credentials are not here:
 * RDS creates, owns and rotates that secret.
 */
export function keycloakSecrets(secretPrefix: string) {
  return {
    /** Client secret of {@link BOOTSTRAP_ADMIN_CLIENT_ID} (plain string). */
    bootstrapAdmin: { secretName: "keycloak-bootstrap-admin", remoteKey: `${secretPrefix}/bootstrap-admin-client-secret`, key: "client-secret" },
    /** Client secret of the provisioning client (plain string); the provisioning service syncs the same secret. */
    provisioningClient: { secretName: "keycloak-provisioning-client", remoteKey: `${secretPrefix}/provisioning-client-secret`, key: "client-secret" },
    /** SES SMTP credentials, JSON `{"username": ..., "password": ...}`. */
    smtp: { secretName: "keycloak-smtp", remoteKey: `${secretPrefix}/smtp` },
  } as const;
}
/** The Kubernetes Secret holding the RDS-managed master credentials (`username`, `password`). */
export const KEYCLOAK_DB_SECRET = "keycloak-db";

/** The platform realm's key set (JWK Set) as in-cluster clients fetch it (Kong, the provisioning service). */
export function keycloakRealmJwksUrl(namespace: string = NAMESPACES.platform, realm: string = REALM_NAME): string {
  return `${keycloakServiceUrl(namespace)}/realms/${realm}/protocol/openid-connect/certs`;
}

/** In-cluster URL of Keycloak (its HTTP Service). */
export function keycloakServiceUrl(namespace: string = NAMESPACES.platform): string {
  return `http://${KEYCLOAK_SERVICE.name}.${namespace}.svc.cluster.local`;
}


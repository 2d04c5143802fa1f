/**
 * Keycloak's names: the pinned chart, the release and its pod labels, ports,
 * the database it uses, the Secrets it reads and where they come from, and the label of pods that
 * may call it. Everything else in this folder, and callers elsewhere, take them from here.
 */
import { HELM_CHARTS } from "../../config/versions.js";
import { NAMESPACES } from "../platform-interfaces.js";

/** The keycloakx chart: repository, name and pinned version (config/versions.ts). */
export const KEYCLOAK_CHART = HELM_CHARTS.keycloakx;

/** Release and `fullnameOverride`: the StatefulSet is `keycloak`, its Service `keycloak-http`. */
export const KEYCLOAK_RELEASE = "keycloak";
/** Selector labels the chart puts on the Keycloak pods. */
export const KEYCLOAK_POD_LABELS = { "app.kubernetes.io/name": KEYCLOAK_CHART.chart, "app.kubernetes.io/instance": KEYCLOAK_RELEASE } as const;

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

/** In-cluster URL of Keycloak (its HTTP Service). */
export function keycloakServiceUrl(namespace: string = NAMESPACES.platform): string {
  return `http://${KEYCLOAK_RELEASE}-http.${namespace}.svc.cluster.local`;
}


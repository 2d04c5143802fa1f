/**
 * The realm, applied by keycloak-config-cli: a ConfigMap with the realm JSON and a Job that signs
 * in as the bootstrap admin client and imports it, anew whenever the realm or the image changes
 * (k8s/config-job.ts).
 */
import type { ConfigMapV1 } from "@cdktf/provider-kubernetes/lib/config-map-v1/index.js";
import type { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import type { ITerraformDependable } from "cdktf";
import type { Construct } from "constructs";
import { REALM_VARIABLES } from "../../services/keycloak-realm/names.js";
import type { RealmRepresentation } from "../../services/keycloak-realm/realm.js";
import { addConfigJob } from "../k8s/config-job.js";
import { RESTRICTED_CONTAINER_SECURITY_CONTEXT } from "../pinned-helm-release.js";
import { secretEnv } from "./chart-values.js";
import { BOOTSTRAP_ADMIN_CLIENT_ID, KEYCLOAK_CLIENT_LABEL, keycloakSecrets } from "./names.js";

/** keycloak-config-cli runs as `nobody`. */
const NOBODY_UID = 65534;
const REALM_FILE = "realm.json";
const REALM_JOB_TIMEOUT = "15m";
const REALM_JOB_BACKOFF_LIMIT = 6;

/** The realm JSON the ConfigMap holds. Pure, for tests. */
export function realmDocument(realm: RealmRepresentation): string {
  return `${JSON.stringify(realm, null, 2)}\n`;
}

export interface RealmImportProps {
  readonly realm: RealmRepresentation;
  readonly namespace: string;
  /** Keycloak's in-cluster URL. */
  readonly serviceUrl: string;
  /** Secrets Manager prefix of {@link keycloakSecrets} (only the Kubernetes Secret names and keys are used). */
  readonly secretPrefix: string;
  /** keycloak-config-cli's image. */
  readonly image: string;
  /** Keycloak's release: the Job runs once it is up. */
  readonly keycloak: ITerraformDependable;
  /** The Secrets the Job reads and the policies that let it out. */
  readonly dependsOn: readonly ITerraformDependable[];
}

/** The realm ConfigMap (construct id `realm`) and the import Job (`realm-import`) in `scope`. */
export function addRealmImport(scope: Construct, props: RealmImportProps): { readonly configMap: ConfigMapV1; readonly job: Manifest } {
  const secrets = keycloakSecrets(props.secretPrefix);
  return addConfigJob(scope, {
    ids: { configMap: "realm", job: "realm-import" },
    namespace: props.namespace,
    configMapPrefix: "keycloak-realm",
    jobPrefix: "keycloak-realm",
    appName: "keycloak-config-cli",
    podLabels: { [KEYCLOAK_CLIENT_LABEL]: "true" },
    file: { name: REALM_FILE, content: realmDocument(props.realm), volume: "realm", mountPath: "/config" },
    image: props.image,
    runAsUser: NOBODY_UID,
    container: {
      name: "keycloak-config-cli",
      env: [
        { name: "KEYCLOAK_URL", value: props.serviceUrl },
        { name: "KEYCLOAK_LOGINREALM", value: "master" },
        { name: "KEYCLOAK_GRANTTYPE", value: "client_credentials" },
        { name: "KEYCLOAK_CLIENTID", value: BOOTSTRAP_ADMIN_CLIENT_ID },
        secretEnv("KEYCLOAK_CLIENTSECRET", secrets.bootstrapAdmin.secretName, secrets.bootstrapAdmin.key),
        { name: "KEYCLOAK_AVAILABILITYCHECK_ENABLED", value: "true" },
        { name: "KEYCLOAK_AVAILABILITYCHECK_TIMEOUT", value: "300s" },
        { name: "IMPORT_FILES_LOCATIONS", value: `/config/${REALM_FILE}` },
        { name: "IMPORT_VARSUBSTITUTION_ENABLED", value: "true" },
        { name: "IMPORT_VARSUBSTITUTION_UNDEFINEDISERROR", value: "true" },
        { name: "IMPORT_REMOTESTATE_ENABLED", value: "true" },
        secretEnv(REALM_VARIABLES.provisioningClientSecret, secrets.provisioningClient.secretName, secrets.provisioningClient.key),
        secretEnv(REALM_VARIABLES.smtpUsername, secrets.smtp.secretName, "username"),
        secretEnv(REALM_VARIABLES.smtpPassword, secrets.smtp.secretName, "password"),
        { name: "JAVA_OPTS", value: "-XX:MaxRAMPercentage=75 -Djava.io.tmpdir=/tmp" },
      ],
      resources: { requests: { cpu: "100m", memory: "384Mi" }, limits: { memory: "768Mi" } },
      securityContext: { ...RESTRICTED_CONTAINER_SECURITY_CONTEXT, capabilities: { drop: ["ALL"] } },
    },
    backoffLimit: REALM_JOB_BACKOFF_LIMIT,
    timeout: REALM_JOB_TIMEOUT,
    server: props.keycloak,
    dependsOn: props.dependsOn,
  });
}

/**
 * The realm, applied by the platform's own realm program (services/keycloak-realm/apply-main.ts,
 * `applyRealm` over Keycloak's Admin REST API: the code the tests run against a real Keycloak),
 * shipped in the provisioning image as `dist/realm-apply.js`: a ConfigMap with the realm JSON and a
 * Job that signs in as the bootstrap admin client and applies it, anew whenever the realm or the
 * image changes (k8s/config-job.ts).
 */
import type { ConfigMapV1 } from "@cdktf/provider-kubernetes/lib/config-map-v1/index.js";
import type { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import type { ITerraformDependable } from "cdktf";
import type { Construct } from "constructs";
import { REALM_APPLY_ENV, REALM_VARIABLES } from "../../services/keycloak-realm/names.js";
import { realmDocument, type RealmRepresentation } from "../../services/keycloak-realm/realm.js";
import { addConfigJob } from "../k8s/config-job.js";
import { RESTRICTED_CONTAINER_SECURITY_CONTEXT } from "../pinned-helm-release.js";
import { secretEnv } from "./chart-values.js";
import { BOOTSTRAP_ADMIN_CLIENT_ID, KEYCLOAK_CLIENT_LABEL, keycloakSecrets } from "./names.js";

/** The provisioning image's user (its Dockerfile's `USER`). */
const IMAGE_UID = 1000;
/** The realm program in the provisioning image (its Dockerfile bundles apply-main.ts there). */
export const REALM_APPLY_COMMAND = ["node", "/app/dist/realm-apply.js"] as const;
const REALM_FILE = "realm.json";
/** How long the program waits for Keycloak to answer before it fails (and the Job retries). */
const AVAILABILITY_TIMEOUT_SECONDS = 300;
const REALM_JOB_TIMEOUT = "15m";
const REALM_JOB_BACKOFF_LIMIT = 6;

/** The realm file's text (its one home is the realm's module, beside the program that reads it). */
export { realmDocument };

export interface RealmImportProps {
  readonly realm: RealmRepresentation;
  readonly namespace: string;
  /** Keycloak's in-cluster URL. */
  readonly serviceUrl: string;
  /** Secrets Manager prefix of {@link keycloakSecrets} (only the Kubernetes Secret names and keys are used). */
  readonly secretPrefix: string;
  /** The provisioning service's image, which carries the realm program (`dist/realm-apply.js`). */
  readonly image: string;
  /** The image's tag: with the realm, it names the Job, so a new release applies the realm again. */
  readonly imageTag: string;
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
    appName: "keycloak-realm-apply",
    podLabels: { [KEYCLOAK_CLIENT_LABEL]: "true" },
    file: { name: REALM_FILE, content: realmDocument(props.realm), volume: "realm", mountPath: "/config" },
    image: props.image,
    programVersion: props.imageTag,
    runAsUser: IMAGE_UID,
    container: {
      name: "realm-apply",
      command: [...REALM_APPLY_COMMAND],
      env: [
        { name: REALM_APPLY_ENV.url, value: props.serviceUrl },
        { name: REALM_APPLY_ENV.loginRealm, value: "master" },
        { name: REALM_APPLY_ENV.clientId, value: BOOTSTRAP_ADMIN_CLIENT_ID },
        secretEnv(REALM_APPLY_ENV.clientSecret, secrets.bootstrapAdmin.secretName, secrets.bootstrapAdmin.key),
        { name: REALM_APPLY_ENV.file, value: `/config/${REALM_FILE}` },
        { name: REALM_APPLY_ENV.availabilityTimeoutSeconds, value: String(AVAILABILITY_TIMEOUT_SECONDS) },
        secretEnv(REALM_VARIABLES.provisioningClientSecret, secrets.provisioningClient.secretName, secrets.provisioningClient.key),
        secretEnv(REALM_VARIABLES.smtpUsername, secrets.smtp.secretName, "username"),
        secretEnv(REALM_VARIABLES.smtpPassword, secrets.smtp.secretName, "password"),
      ],
      resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "256Mi" } },
      securityContext: { ...RESTRICTED_CONTAINER_SECURITY_CONTEXT, capabilities: { drop: ["ALL"] } },
    },
    backoffLimit: REALM_JOB_BACKOFF_LIMIT,
    timeout: REALM_JOB_TIMEOUT,
    server: props.keycloak,
    dependsOn: props.dependsOn,
  });
}

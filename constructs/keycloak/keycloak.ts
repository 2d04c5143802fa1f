/** Keycloak in the cluster (workloads stack): its synced Secrets, its NetworkPolicies, the chart and the realm import. */
import type { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import { Token, type ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { REALM_NAME } from "../../services/keycloak-realm/names.js";
import type { RealmRepresentation } from "../../services/keycloak-realm/realm.js";
import { propFail } from "../core/validation.js";
import { addExternalSecret } from "../external-secrets.js";
import { addNetworkPolicy, WorkloadAccess, type NetworkPeer, type NetworkPort } from "../k8s/network-policy.js";
import { PinnedHelmRelease } from "../pinned-helm-release.js";
import { checkServiceImage } from "../service-workload.js";
import { NAMESPACES, type ISecretStore } from "../platform-interfaces.js";
import { keycloakChartValues } from "./chart-values.js";
import {
  KEYCLOAK_CHART,
  KEYCLOAK_CLIENT_LABEL,
  KEYCLOAK_DB_SECRET,
  KEYCLOAK_POD_LABELS,
  KEYCLOAK_PORTS,
  KEYCLOAK_RELEASE,
  KEYCLOAK_SERVICE,
  keycloakRealmJwksUrl,
  keycloakSecrets,
  keycloakServiceUrl,
} from "./names.js";
import type { IKeycloakDatabase } from "./platform.js";
import { addRealmImport } from "./realm-import.js";

export interface KeycloakProps {
  /** The realm representation the realm Job applies (`realmConfig(config)`). */
  readonly realm: RealmRepresentation;
  /** `domains.auth`. */
  readonly authDomain: string;
  /** The database of `KeycloakPlatform` (cross-stack references). */
  readonly database: IKeycloakDatabase;
  readonly secretStore: ISecretStore;
  /** Secrets Manager prefix of {@link keycloakSecrets} (the same as `KeycloakPlatformProps.secretPrefix`). */
  readonly secretPrefix: string;
  /** CIDRs of the data subnets: the only egress to 5432. */
  readonly databaseCidrs: readonly string[];
  /** @default 2 */
  readonly replicas?: number;
  /** Chart version from the environment's config. @default KEYCLOAK_CHART.version */
  readonly version?: string;
  /** @default NAMESPACES.platform */
  readonly namespace?: string;
  /**
   * Ranges whose X-Forwarded-* headers Keycloak trusts (the load balancer subnets). Trust only:
   * they reach Keycloak once admitted with {@link Keycloak.allowFrom}.
   * @default []
   */
  readonly proxyCidrs?: readonly string[];
  /** @default 1000 */
  readonly cpuMillicores?: number;
  /** @default 2048 */
  readonly memoryMiB?: number;
  /**
   * The realm Job's program: the provisioning service's image (`<repository>:<tag>`), which carries
   * `dist/realm-apply.js` (services/keycloak-realm/apply-main.ts), and its tag (with the realm, it
   * names the Job: a new release applies the realm again).
   */
  readonly realmApply: { readonly image: string; readonly tag: string };
  /** Resources everything here waits for (the namespace, the secret store). @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

const DEFAULTS = { replicas: 2, cpuMillicores: 1_000, memoryMiB: 2_048 } as const;
/** How often External Secrets re-reads the database secret (RDS rotates it). */
const DB_SECRET_REFRESH = "15m";

/**
 * Keycloak in the cluster: its credentials synced from Secrets Manager (the RDS-managed database
 * secret by ARN, refreshed every 15 minutes), NetworkPolicies that open exactly what it needs in
 * the default-deny namespace, the keycloakx chart, and a Job (the platform's realm program) that applies the
 * realm from a ConfigMap whenever the realm or the image changes. Lives in the workloads stack:
 * the chart must start after the ExternalSecrets (custom resources) have produced its Secrets.
 *
 * Its HTTP endpoint is {@link serviceUrl} on {@link port}: pods labelled `KEYCLOAK_CLIENT_LABEL`
 * in its namespace may call it; anyone else is admitted with {@link allowFrom}.
 */
export class Keycloak extends Construct {
  readonly helm: PinnedHelmRelease;
  readonly realmJob: Manifest;
  /** In-cluster URL (`http://keycloak-http.<ns>.svc.cluster.local`). */
  readonly serviceUrl: string;
  /** The HTTP Service (name and port) an Ingress names. */
  readonly service = KEYCLOAK_SERVICE;
  /** The platform realm's key set, in-cluster (where Kong fetches the user tokens' keys). */
  readonly realmJwksUrl: string;
  readonly namespace: string;
  /** The HTTP port of the pods, which clients are admitted on. */
  readonly port = KEYCLOAK_PORTS.http;
  /** The Keycloak pods' labels (an egress peer for clients: `{ namespace, podLabels }`). */
  readonly podLabels = KEYCLOAK_POD_LABELS;
  /** The `keycloak` NetworkPolicy: who may reach the pods, and where they may go. */
  private readonly access: WorkloadAccess;

  constructor(scope: Construct, id: string, props: KeycloakProps) {
    super(scope, id);
    const replicas = props.replicas ?? DEFAULTS.replicas;
    const ns = props.namespace ?? NAMESPACES.platform;
    const proxyCidrs = [...(props.proxyCidrs ?? [])];
    const image = props.realmApply.image;
    const fail = propFail(this);
    checkServiceImage(image, "provisioning", fail);
    if (!Token.isUnresolved(replicas) && (!Number.isInteger(replicas) || replicas < 1 || replicas > 10)) {
      fail("replicas", replicas, "is not 1 to 10", "run 1 replica in dev and 2 or more elsewhere");
    }
    if (props.databaseCidrs.length === 0) fail("databaseCidrs", props.databaseCidrs, "is empty", "pass the data subnets' CIDRs (config network.subnets.data)");
    if (props.realm.realm !== REALM_NAME) fail("realm.realm", props.realm.realm, `is not "${REALM_NAME}"`, "pass realmConfig(config) from services/keycloak-realm");
    this.namespace = ns;
    this.serviceUrl = keycloakServiceUrl(ns);
    this.realmJwksUrl = keycloakRealmJwksUrl(ns, props.realm.realm);
    const dependsOn = [...(props.dependsOn ?? [])];
    const secrets = keycloakSecrets(props.secretPrefix);

    // Secrets ----------------------------------------------------------------------------------
    const sync = (id: string, secretName: string, remoteKey: string, data: readonly { secretKey: string; property?: string }[], refreshInterval?: string) =>
      addExternalSecret(this, id, {
        secretName,
        namespace: ns,
        store: props.secretStore,
        data: data.map((d) => ({ ...d, remoteKey })),
        ...(refreshInterval ? { refreshInterval } : {}),
        waitUntilReady: true,
        dependsOn,
      });
    const credentials = [
      { secretKey: "username", property: "username" },
      { secretKey: "password", property: "password" },
    ];
    const dbSecret = sync("db-credentials", KEYCLOAK_DB_SECRET, props.database.masterUserSecretArn, credentials, DB_SECRET_REFRESH);
    const bootstrapSecret = sync("bootstrap-admin", secrets.bootstrapAdmin.secretName, secrets.bootstrapAdmin.remoteKey, [{ secretKey: secrets.bootstrapAdmin.key }]);
    const provisioningSecret = sync("provisioning-client", secrets.provisioningClient.secretName, secrets.provisioningClient.remoteKey, [
      { secretKey: secrets.provisioningClient.key },
    ]);
    const smtpSecret = sync("smtp", secrets.smtp.secretName, secrets.smtp.remoteKey, credentials);

    // Network policies (the namespace denies everything by default) ------------------------------
    const keycloakPods: NetworkPeer = { podLabels: KEYCLOAK_POD_LABELS };
    const jgroups = { peers: [keycloakPods], ports: [KEYCLOAK_PORTS.jgroups, KEYCLOAK_PORTS.jgroupsFailureDetection] };
    // Id `Default` with the policy's old id: the policy keeps its Terraform address.
    this.access = new WorkloadAccess(this, "Default", {
      policyId: "policy-keycloak",
      name: "keycloak",
      namespace: ns,
      podLabels: KEYCLOAK_POD_LABELS,
      defaultPorts: [KEYCLOAK_PORTS.http],
      ownIngress: [jgroups],
      egress: [
        { peers: props.databaseCidrs.map((cidr) => ({ cidr })), ports: [KEYCLOAK_PORTS.postgres] },
        jgroups,
        // SES SMTP endpoint (public AWS addresses).
        { ports: [KEYCLOAK_PORTS.smtp] },
      ],
      dependsOn,
    });
    this.allowFrom({ podLabels: { [KEYCLOAK_CLIENT_LABEL]: "true" } });
    const policies = [
      this.access.policy,
      addNetworkPolicy(this, "policy-clients", {
        name: "keycloak-clients",
        namespace: ns,
        podLabels: { [KEYCLOAK_CLIENT_LABEL]: "true" },
        egress: [{ peers: [keycloakPods], ports: [KEYCLOAK_PORTS.http] }],
        dependsOn,
      }),
    ];

    // The chart ------------------------------------------------------------------------------------
    this.helm = new PinnedHelmRelease(this, "chart", {
      chart: KEYCLOAK_CHART,
      ...(props.version ? { version: props.version } : {}),
      releaseName: KEYCLOAK_RELEASE,
      namespace: ns,
      values: keycloakChartValues({
        replicas,
        authDomain: props.authDomain,
        database: props.database,
        trustedProxyCidrs: proxyCidrs,
        cpuMillicores: props.cpuMillicores ?? DEFAULTS.cpuMillicores,
        memoryMiB: props.memoryMiB ?? DEFAULTS.memoryMiB,
      }),
      timeoutSeconds: 900,
      dependsOn: [dbSecret, bootstrapSecret, ...policies],
    });

    // The realm ----------------------------------------------------------------------------------
    this.realmJob = addRealmImport(this, {
      realm: props.realm,
      namespace: ns,
      serviceUrl: this.serviceUrl,
      secretPrefix: props.secretPrefix,
      image,
      imageTag: props.realmApply.tag,
      keycloak: this.helm.release,
      dependsOn: [bootstrapSecret, provisioningSecret, smtpSecret, ...policies],
    }).job;
  }

  /**
   * Lets `peers` call Keycloak on `ports` (its HTTP port unless given): a namespace (the gateway's),
   * a labelled pod, the load balancer subnets. Written into the `keycloak` NetworkPolicy, after
   * the pods labelled `KEYCLOAK_CLIENT_LABEL` in its namespace.
   */
  allowFrom(peers: NetworkPeer | readonly NetworkPeer[], ports?: readonly NetworkPort[]): void {
    this.access.allowFrom(peers, ports);
  }
}

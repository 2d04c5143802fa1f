import type { Construct } from "constructs";
import type { EnvironmentConfig, TierCatalog } from "../config/index.js";
import { InternalCa } from "../constructs/cert-manager.js";
import { ClickHouse } from "../constructs/clickhouse.js";
import type { IEksCluster } from "../constructs/eks-cluster.js";
import { AwsSecretStore } from "../constructs/external-secrets.js";
import { FoundationDbClusterFile } from "../constructs/foundationdb-connectivity.js";
import { Keycloak, type IKeycloakDatabase } from "../constructs/keycloak.js";
import { KONG_NAMESPACE, KongGatewayRoutes, type IKongGateway } from "../constructs/kong.js";
import { Nats } from "../constructs/nats.js";
import { API_AUDIENCE, issuerUrl, realmConfig } from "../services/keycloak-realm/index.js";
import { WorkerPoolScaling, type Tenancy } from "../constructs/tenancy.js";
import { haReplicas } from "./environment-stack.js";
import { KubernetesStack } from "./kubernetes-stack.js";
import { FOUNDATIONDB_CLIENT_NAMESPACES, keycloakSecretPrefix } from "./platform-stack.js";

export interface WorkloadsStackProps {
  readonly config: EnvironmentConfig;
  readonly tiers: TierCatalog;
  readonly cluster: IEksCluster;
  /** The worker pools the platform stack created namespaces for. */
  readonly workerPools: Tenancy["workerPools"];
  /** Keycloak's Aurora cluster from the platform stack (cross-stack references). */
  readonly keycloakDatabase: IKeycloakDatabase;
  /** The gateway of the platform stack (its counters and Redis endpoint). */
  readonly kong: IKongGateway;
}

/**
 * `<env>-workloads`: what runs on the platform's operators. Custom resources (a Terraform
 * `kubernetes_manifest` needs its CRD to exist when it plans, so these cannot share a stack
 * with the charts that install the CRDs): the internal CA, the secret store and synced secrets,
 * the data plane, and the worker pools' autoscaling.
 */
export class WorkloadsStack extends KubernetesStack {
  readonly ca: InternalCa;
  readonly secretStore: AwsSecretStore;
  readonly clickhouse: ClickHouse;
  readonly nats: Nats;
  readonly keycloak: Keycloak;

  constructor(scope: Construct, props: WorkloadsStackProps) {
    super(scope, { config: props.config, kind: "workloads", cluster: props.cluster });
    const { config } = props;
    this.ca = new InternalCa(this, "internal-ca");
    this.secretStore = new AwsSecretStore(this, "secret-store", { region: config.aws.region });
    this.nats = new Nats(this, "nats", {
      environment: config.name,
      nats: config.nats,
      tiers: props.tiers,
      issuer: this.ca,
      secretStore: this.secretStore,
      version: config.charts.nats,
      publicKeys: config.nats.publicKeys,
      retainStreamsOnDelete: !config.ephemeral,
    });
    new WorkerPoolScaling(this, "worker-pools", {
      tiers: props.tiers,
      pools: props.workerPools,
      natsMonitoringEndpoint: this.nats.monitoringEndpoint,
      natsAccount: config.nats.publicKeys.swarmAccount,
      nackAccount: this.nats.nackAccountName,
      dependsOn: this.nats.streamResources,
    });
    this.clickhouse = new ClickHouse(this, "clickhouse", { ...config.clickhouse, tiers: props.tiers, secretStore: this.secretStore });
    this.keycloak = new Keycloak(this, "keycloak", {
      realm: realmConfig(config),
      authDomain: config.domains.auth,
      database: props.keycloakDatabase,
      secretStore: this.secretStore,
      secretPrefix: keycloakSecretPrefix(config),
      databaseCidrs: config.network.subnets.data,
      replicas: haReplicas(config),
      version: config.charts.keycloakx,
      proxyCidrs: config.network.subnets.public,
      clientNamespaces: [KONG_NAMESPACE],
    });
    new KongGatewayRoutes(this, "kong", {
      tiers: props.tiers,
      gateway: props.kong,
      secretStore: this.secretStore,
      apiDomain: config.domains.api,
      issuer: issuerUrl(config.domains.auth),
      audience: API_AUDIENCE,
    });
    new FoundationDbClusterFile(this, "foundationdb-cluster-file", {
      store: this.secretStore,
      namespaces: FOUNDATIONDB_CLIENT_NAMESPACES,
      clusterFileSecretName: config.foundationDb.clusterFileSecretName,
    });
  }
}

import type { Construct } from "constructs";
import { keycloakSecretPrefix, loadUserLimits, provisioningSecretPrefix, type EnvironmentConfig, type TierCatalog, type UserLimits } from "../config/index.js";
import { tenantTokenIssuer } from "../services/identity/names.js";
import { InternalCa } from "../constructs/cert-manager.js";
import { ValidationError } from "../constructs/core/validation.js";
import { ClickHouse } from "../constructs/clickhouse/index.js";
import type { IEksCluster } from "../constructs/eks-cluster.js";
import { AwsSecretStore } from "../constructs/external-secrets.js";
import { FOUNDATIONDB_CLIENT_NAMESPACES, FoundationDbClusterFile } from "../constructs/foundationdb-connectivity.js";
import { Keycloak, KEYCLOAK_PUBLIC_PATH_PREFIXES, keycloakSecrets, type IKeycloakDatabase } from "../constructs/keycloak/index.js";
import { KongGatewayRoutes, type IKongGateway } from "../constructs/gateway/index.js";
import { Ingestor } from "../constructs/ingestor.js";
import type { IKmsKey } from "../constructs/kms-key.js";
import { Nats } from "../constructs/nats/index.js";
import { labelledClients } from "../constructs/k8s/network-policy.js";
import { KEDA_OPERATOR_SELECTOR } from "../constructs/keda.js";
import { NAMESPACES, POLICY_LABELS, PORTS } from "../constructs/platform-interfaces.js";
import { Provisioning, PROVISIONING_ENDPOINT, provisioningSecrets } from "../constructs/provisioning/index.js";
import { EventsApi, EVENTS_API_ENDPOINT } from "../constructs/events-api/index.js";
import { API_AUDIENCE, issuerUrl, realmConfig, WEB_CLIENT_ID } from "../services/keycloak-realm/index.js";
import { WebConsole } from "../constructs/console/index.js";
import { WorkerPoolScaling, type WorkerPool } from "../constructs/worker-pools.js";
import type { ServiceScheduling } from "../constructs/service-workload.js";
import { Workers } from "../constructs/workers.js";
import { clickhouseSecrets } from "../constructs/clickhouse/index.js";
import { PROVISIONING_APP_LABELS } from "../constructs/provisioning/index.js";
import { KubernetesStack } from "./kubernetes-stack.js";

export interface WorkloadsStackProps {
  readonly config: EnvironmentConfig;
  readonly tiers: TierCatalog;
  /** A signed-in user's limits: the gateway's user and operator routes. @default loadUserLimits() (`USER_LIMITS`) */
  readonly userLimits?: UserLimits;
  readonly cluster: IEksCluster;
  /** The worker pools the platform stack created namespaces for. */
  readonly workerPools: readonly WorkerPool[];
  /** Keycloak's Aurora cluster from the platform stack (cross-stack references). */
  readonly keycloakDatabase: IKeycloakDatabase;
  /** The gateway of the platform stack (its counters and Redis endpoint). */
  readonly kong: IKongGateway;
  /** ECR repository URL per service (foundation stack); the tags come from `config.images`. */
  readonly repositoryUrls: Readonly<Record<string, string>>;
  /** The CMK that wraps every tenant's data key (foundation stack). */
  readonly tenantDataKey: IKmsKey;
  /** The CMK of the platform's Secrets Manager secrets (foundation stack). */
  readonly secretsKey: IKmsKey;
  /** External Secrets' role (platform stack): it assumes provisioning's namespaced seed reader. */
  readonly externalSecretsRole: { readonly roleName: string; readonly roleArn: string };
  /** Where FoundationDB answers from the cluster (platform stack's `FoundationDbNetwork`). */
  readonly foundationDbCidrs: readonly string[];
}

/**
 * The Terraform address the gateway gave the API host's alias record before the console's
 * distribution took the host over (`KongGatewayRoutes` "kong", record "api-host-record"; cdktf's
 * logical id of that path, checked by test/console): the console's A record is moved from it, so an
 * environment with a zone updates one record in place.
 */
export const GATEWAY_API_HOST_RECORD_ADDRESS = "aws_route53_record.kong_api-host-record_36F4A71E";

/** `<repository URL>:<tag>` of a service image from the foundation's registry and the config. */
function imageOf(urls: Readonly<Record<string, string>>, image: { readonly repository: string; readonly tag: string }): string {
  const url = urls[image.repository];
  if (url === undefined) throw new ValidationError("images", "repository", image.repository, `is not in the registry (${Object.keys(urls).join(", ")})`, "add it to ecr.repositories");
  return `${url}:${image.tag}`;
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
  readonly ingestor: Ingestor;
  /** Each silo tenant's ingestor (`nats.siloTenants`), by tenant id. */
  readonly siloIngestors: Record<string, Ingestor> = {};
  readonly provisioning: Provisioning;
  readonly eventsApi: EventsApi;
  readonly workers: Workers;
  /** The web console's distribution (the API host's front door) and its assets. */
  readonly console: WebConsole;

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
      // The servers and their JetStream volumes on the data pool, beside ClickHouse.
      ...poolScheduling(config, "data"),
      // Agents outside the cluster, where the environment opens NATS to them: the NLB sits in the public subnets.
      // Its host's alias record goes in the environment's zone, like the gateway's hosts.
      ...(config.nats.external
        ? {
            external: {
              ...config.nats.external,
              loadBalancerCidrs: config.network.subnets.public,
              clusterName: props.cluster.clusterName,
              ...(config.domains.hostedZoneId ? { hostedZoneId: config.domains.hostedZoneId } : {}),
            },
          }
        : {}),
    });
    // Who may reach NATS: pods labelled as its clients anywhere, every worker pool, and KEDA on
    // the monitoring port (consumer lag).
    this.nats.allowFrom([labelledClients(POLICY_LABELS.natsClient), ...props.workerPools.map((p) => ({ namespace: p.namespace }))]);
    this.nats.allowFrom({ namespace: NAMESPACES.keda, podLabels: KEDA_OPERATOR_SELECTOR }, [this.nats.ports.monitoring]);
    new WorkerPoolScaling(this, "worker-pools", {
      tiers: props.tiers,
      pools: props.workerPools,
      natsMonitoringEndpoint: this.nats.monitoringEndpoint,
      natsAccount: config.nats.publicKeys.swarmAccount,
      nackAccount: this.nats.nackAccountName,
      dependsOn: this.nats.streamResources,
    });
    this.clickhouse = new ClickHouse(this, "clickhouse", { ...config.clickhouse, tiers: props.tiers, secretStore: this.secretStore, ...poolScheduling(config, "data") });
    // Pods labelled as ClickHouse clients, in any namespace (their own namespace lets them out).
    this.clickhouse.allowFrom(labelledClients(POLICY_LABELS.clickhouseClient));
    const provisioningImage = imageOf(props.repositoryUrls, config.images.provisioning);
    this.keycloak = new Keycloak(this, "keycloak", {
      // The realm Job runs the realm program the provisioning image carries.
      realmApply: { image: provisioningImage, tag: config.images.provisioning.tag },
      realm: realmConfig(config),
      authDomain: config.domains.auth,
      database: props.keycloakDatabase,
      secretStore: this.secretStore,
      secretPrefix: keycloakSecretPrefix(config),
      databaseCidrs: config.network.subnets.data,
      replicas: config.keycloak.replicas,
      version: config.charts.keycloakx,
      // Its only proxy is Kong, whose pods have addresses of the private subnets.
      proxyCidrs: config.network.subnets.private,
    });
    // Browsers reach Keycloak through the gateway (its public paths on the auth host); Kong also
    // fetches the realm's key set from it.
    this.keycloak.allowFrom(props.kong.peer);
    const gatewayRoutes = new KongGatewayRoutes(this, "kong", {
      tiers: props.tiers,
      userLimits: props.userLimits ?? loadUserLimits(),
      gateway: props.kong,
      secretStore: this.secretStore,
      apiDomain: config.domains.api,
      authDomain: config.domains.auth,
      api: PROVISIONING_ENDPOINT,
      eventsApi: EVENTS_API_ENDPOINT,
      identity: { namespace: this.keycloak.namespace, service: this.keycloak.service.name, port: this.keycloak.service.port },
      identityPaths: KEYCLOAK_PUBLIC_PATH_PREFIXES,
      realm: { issuer: issuerUrl(config.domains.auth), jwksUrl: this.keycloak.realmJwksUrl },
      // The API host is the console's distribution's (below); the gateway's NLB keeps the auth host.
      dns: { clusterName: props.cluster.clusterName, hosts: ["auth"], ...(config.domains.hostedZoneId ? { hostedZoneId: config.domains.hostedZoneId } : {}) },
    });
    new FoundationDbClusterFile(this, "foundationdb-cluster-file", {
      store: this.secretStore,
      namespaces: FOUNDATIONDB_CLIENT_NAMESPACES,
      clusterFileSecretName: config.foundationDb.clusterFileSecretName,
    });

    this.ingestor = new Ingestor(this, "ingestor", {
      image: imageOf(props.repositoryUrls, config.images.ingestor),
      clickhouse: { url: this.clickhouse.httpUrl, ...this.clickhouse.ingestorCredentials },
      nats: {
        clientUrl: this.nats.clientUrl,
        credsRemoteKey: this.nats.secretNames.cluster.platformCreds,
        issuer: this.ca,
        nackAccount: this.nats.nackAccountName,
        streamResources: this.nats.streamResources,
      },
      secretStore: this.secretStore,
      natsMonitoringEndpoint: this.nats.monitoringEndpoint,
      natsAccount: config.nats.publicKeys.swarmAccount,
      minReplicas: config.platformReplicas,
      resources: { cpuRequestMillicores: config.ingestor.cpuRequestMillicores },
      dependsOn: [this.clickhouse.migration, ...this.nats.streamResources],
    });
    // Each silo tenant's events are in its own account: an ingestor of its own reads them, as the
    // silo account's ingestor user, into the same tables.
    for (const tenantId of config.nats.siloTenants) {
      const topology = this.nats.siloTopologies[tenantId];
      const account = config.nats.publicKeys.silos[tenantId]?.account;
      const creds = this.nats.secretNames.cluster.silos[tenantId];
      if (!topology || !account || !creds) throw new Error(`nats.siloTenants: ${tenantId} has no topology, account key or creds names. Fix: run nats:bootstrap for it and add its public keys to nats.publicKeys.silos.`);
      this.siloIngestors[tenantId] = new Ingestor(this, `ingestor-silo-${tenantId}`, {
        image: imageOf(props.repositoryUrls, config.images.ingestor),
        clickhouse: { url: this.clickhouse.httpUrl, ...this.clickhouse.ingestorCredentials },
        nats: { clientUrl: this.nats.clientUrl, credsRemoteKey: creds.ingestorCreds, issuer: this.ca },
        secretStore: this.secretStore,
        natsMonitoringEndpoint: this.nats.monitoringEndpoint,
        natsAccount: account,
        silo: { tenantId, consumer: topology.ingestorConsumer },
        resources: { cpuRequestMillicores: config.ingestor.cpuRequestMillicores },
        dependsOn: [this.clickhouse.migration, ...topology.streamResources],
      });
    }

    this.provisioning = new Provisioning(this, "provisioning", {
      image: provisioningImage,
      name: `enchanted-${config.name}`,
      accountId: config.aws.accountId,
      region: config.aws.region,
      clusterName: props.cluster.clusterName,
      secretStore: this.secretStore,
      oidcIssuer: issuerUrl(config.domains.auth),
      oidcAudience: API_AUDIENCE,
      tokenIssuer: tenantTokenIssuer(config.domains.api),
      mail: { from: `no-reply@${config.domains.auth}`, consoleUrl: `https://${config.domains.api}`, smtpCredentialsRemoteKey: keycloakSecrets(keycloakSecretPrefix(config)).smtp.remoteKey },
      billingWebhookRemoteKey: provisioningSecrets(provisioningSecretPrefix(config)).billingWebhook.remoteKey,
      keycloak: { serviceUrl: this.keycloak.serviceUrl, namespace: this.keycloak.namespace, podLabels: this.keycloak.podLabels, port: this.keycloak.port, secretPrefix: keycloakSecretPrefix(config) },
      natsAccount: config.nats.publicKeys.swarmAccount,
      nats: { clientUrl: this.nats.clientUrl, issuer: this.ca, publicUrls: [this.nats.publicUrl], platformCredsRemoteKey: this.nats.secretNames.cluster.provisioningBusCreds },
      signingKeys: {
        secretNames: this.nats.secretNames.seeds.swarmSigningKeys,
        accountSecretNames: {
          tenantAccountSigningKey: this.nats.secretNames.seeds.tenantAccountSigningKey,
          tenantImportSigningKey: this.nats.secretNames.seeds.tenantImportSigningKey,
          systemUserCreds: this.nats.secretNames.seeds.systemUserCreds,
        },
        secretsKey: props.secretsKey,
        externalSecretsRole: props.externalSecretsRole,
      },
      foundationDb: { destinationCidrs: props.foundationDbCidrs, ports: config.foundationDb.ports, clusterFileNamespaces: FOUNDATIONDB_CLIENT_NAMESPACES },
      clickhouse: { url: this.clickhouse.httpUrl, credentials: this.clickhouse.lifecycleCredentials },
      kmsEndpointCidrs: config.network.subnets.private,
      tenantKey: props.tenantDataKey,
      minReplicas: config.platformReplicas,
      dependsOn: [this.keycloak.helm.release, this.clickhouse.migration],
    });
    // The web console on the API's own origin: CloudFront serves its assets and passes the API paths
    // to the gateway's NLB (by the NLB's own name; the API host's record now points at CloudFront).
    const loadBalancer = gatewayRoutes.loadBalancer;
    if (!loadBalancer) throw new ValidationError(this, "kong.dns", undefined, "found no gateway load balancer for the console's API origin", "pass dns to KongGatewayRoutes");
    this.console = new WebConsole(this, "console", {
      name: `enchanted-${config.name}`,
      accountId: config.aws.accountId,
      apiDomain: config.domains.api,
      authDomain: config.domains.auth,
      apiOriginDomain: loadBalancer.dnsName,
      runtimeConfig: {
        issuer: issuerUrl(config.domains.auth),
        clientId: WEB_CLIENT_ID,
        environment: config.name,
        // What the bus-credentials answer names (provisioning's publicUrls): the external listener, or the in-cluster service.
        natsServers: [this.nats.publicUrl],
      },
      ...(config.domains.hostedZoneId ? { hostedZoneId: config.domains.hostedZoneId, hostRecordMovedFrom: GATEWAY_API_HOST_RECORD_ADDRESS } : {}),
      priceClass: config.console.priceClass,
      accessLogRetentionDays: config.console.accessLogRetentionDays,
      previousVersionRetentionDays: config.console.previousVersionRetentionDays,
      ...(config.console.webAclArn ? { webAclArn: config.console.webAclArn } : {}),
      forceDestroy: config.ephemeral,
    });

    // The gateway routes /v1/ to it; ClickHouse admits its lifecycle user's client on the HTTP port.
    this.provisioning.allowFrom(props.kong.peer);
    const provisioningPeer = { namespace: this.provisioning.namespace, podLabels: PROVISIONING_APP_LABELS };
    this.clickhouse.allowFrom(provisioningPeer, [PORTS.clickhouseHttp]);

    // The tenants' read path: ClickHouse as each tier's reader, replays through provisioning's jobs API.
    this.eventsApi = new EventsApi(this, "events-api", {
      image: imageOf(props.repositoryUrls, config.images.eventsApi),
      name: `enchanted-${config.name}`,
      accountId: config.aws.accountId,
      region: config.aws.region,
      clusterName: props.cluster.clusterName,
      secretStore: this.secretStore,
      clickhouse: { url: this.clickhouse.httpUrl, readers: this.clickhouse.readerCredentials },
      provisioning: { url: this.provisioning.serviceUrl, peer: provisioningPeer, port: this.provisioning.port },
      tokenIssuer: tenantTokenIssuer(config.domains.api),
      dataKeys: {
        tenantKey: this.provisioning.tenantKey,
        foundationDb: { destinationCidrs: props.foundationDbCidrs, ports: config.foundationDb.ports, clusterFileNamespaces: FOUNDATIONDB_CLIENT_NAMESPACES },
        kmsEndpointCidrs: config.network.subnets.private,
      },
      minReplicas: config.eventsApi.minReplicas,
      maxReplicas: config.eventsApi.maxReplicas,
      dependsOn: [this.clickhouse.migration],
    });
    // The gateway routes the events paths to it; its reads and replays are admitted by their owners.
    this.eventsApi.allowFrom(props.kong.peer);
    this.clickhouse.allowFrom(this.eventsApi.peers, [PORTS.clickhouseHttp]);
    this.provisioning.allowFrom(this.eventsApi.peers);

    // Every pooled tier's workers (KEDA's ScaledObjects above scale them), on the worker nodes.
    this.workers = new Workers(this, "workers", {
      image: imageOf(props.repositoryUrls, config.images.worker),
      tiers: props.tiers,
      pools: props.workerPools,
      nats: { clientUrl: this.nats.clientUrl, issuer: this.ca, credsRemoteKeys: this.nats.secretNames.cluster.workerCreds },
      provisioning: { url: this.provisioning.serviceUrl, peer: provisioningPeer, port: this.provisioning.port },
      clickhouse: { url: this.clickhouse.httpUrl, passwordRemoteKey: clickhouseSecrets(config.clickhouse.secretPrefix).workers.remoteKey },
      secretStore: this.secretStore,
      ...poolScheduling(config, "workers"),
      dependsOn: this.nats.streamResources,
    });
    // The owners admit them: job credentials and data keys from provisioning, history from ClickHouse (NATS admits every worker namespace above).
    this.provisioning.allowFrom(this.workers.peers);
    this.clickhouse.allowFrom(this.workers.peers);
  }
}

/**
 * A node group's labels and taints (`config.eks.nodeGroups`, the group of that name) as the
 * scheduling of the pods meant for it; none when the environment has no such group (dev runs
 * everything on its untainted nodes).
 */
function poolScheduling(config: EnvironmentConfig, pool: "data" | "workers"): { scheduling?: ServiceScheduling } {
  const group = config.eks.nodeGroups.find((g) => g.name === pool);
  if (!group) return {};
  const effects = { NO_SCHEDULE: "NoSchedule", NO_EXECUTE: "NoExecute", PREFER_NO_SCHEDULE: "PreferNoSchedule" } as const;
  return {
    scheduling: {
      nodeSelector: Object.fromEntries((group.labels ?? []).map((l) => [l.key, l.value])),
      tolerations: (group.taints ?? []).map((t) => ({ key: t.key, operator: "Equal" as const, value: t.value, effect: effects[t.effect] })),
    },
  };
}

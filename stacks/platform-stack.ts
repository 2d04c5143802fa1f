import { StorageClassV1 } from "@cdktf/provider-kubernetes/lib/storage-class-v1/index.js";
import type { Construct } from "constructs";
import { keycloakSecretPrefix, kongSecretPrefix, provisioningSecretPrefix, type EnvironmentConfig, type TierCatalog } from "../config/index.js";
import { provisioningSecrets } from "../constructs/provisioning/names.js";
import { AwsLoadBalancerController } from "../constructs/aws-load-balancer-controller/index.js";
import { CertManager } from "../constructs/cert-manager.js";
import { ClickHouseOperator, clickhouseManagedSecrets } from "../constructs/clickhouse/index.js";
import type { IEksCluster } from "../constructs/eks-cluster.js";
import { ExternalSecretsOperator, ManagedSecret } from "../constructs/external-secrets.js";
import { FOUNDATIONDB_CLIENT_NAMESPACES, FoundationDbClientAccess, FoundationDbNetwork } from "../constructs/foundationdb-connectivity.js";
import { Keda } from "../constructs/keda.js";
import { KEYCLOAK_PORTS, KeycloakPlatform } from "../constructs/keycloak/index.js";
import { KongGateway } from "../constructs/gateway/index.js";
import { NackController } from "../constructs/nats/index.js";
import { PROVISIONING_ENDPOINT } from "../constructs/provisioning/index.js";
import { EVENTS_API_ENDPOINT } from "../constructs/events-api/index.js";
import { natsSecretList, natsSecretNames } from "../services/nats-auth/secret-names.js";
import type { IKmsKey } from "../constructs/kms-key.js";
import type { INetwork } from "../constructs/network.js";
import { ENCRYPTED_STORAGE_CLASS, NAMESPACES } from "../constructs/platform-interfaces.js";
import { Tenancy } from "../constructs/tenancy.js";
import { KubernetesStack } from "./kubernetes-stack.js";

export interface PlatformStackProps {
  readonly config: EnvironmentConfig;
  readonly tiers: TierCatalog;
  /** The cluster, network and keys of the environment's foundation stack (cross-stack references). */
  readonly cluster: IEksCluster;
  readonly network: INetwork;
  readonly ebsKey: IKmsKey;
  readonly secretsKey: IKmsKey;
  /** The foundation's CloudWatch Logs key (Keycloak's database log). */
  readonly logsKey: IKmsKey;
}

/** The default StorageClass: encrypted gp3 with the environment's EBS key. */
export const DEFAULT_STORAGE_CLASS = ENCRYPTED_STORAGE_CLASS;

/**
 * `<env>-platform`: the cluster's shared machinery. Namespaces with Pod Security, default-deny
 * NetworkPolicies and per-tier quotas; the default encrypted StorageClass; the operators whose
 * CRDs the workloads stack uses (cert-manager, External Secrets, KEDA); the AWS side of the
 * FoundationDB path and the Secrets Manager secrets the workloads read.
 */
export class PlatformStack extends KubernetesStack {
  readonly tenancy: Tenancy;
  readonly foundationDb: FoundationDbNetwork;
  readonly keycloak: KeycloakPlatform;
  readonly kong: KongGateway;
  /** The External Secrets operator (its role assumes namespaced readers, e.g. provisioning's seeds). */
  readonly externalSecrets: ExternalSecretsOperator;

  constructor(scope: Construct, props: PlatformStackProps) {
    super(scope, { config: props.config, kind: "platform", cluster: props.cluster });
    const { config, tiers } = props;

    new StorageClassV1(this, "default-storage-class", {
      metadata: {
        name: DEFAULT_STORAGE_CLASS,
        annotations: { "storageclass.kubernetes.io/is-default-class": "true" },
      },
      storageProvisioner: "ebs.csi.aws.com",
      parameters: { type: "gp3", encrypted: "true", kmsKeyId: props.ebsKey.keyArn, "csi.storage.k8s.io/fstype": "ext4" },
      reclaimPolicy: "Retain",
      volumeBindingMode: "WaitForFirstConsumer",
      allowVolumeExpansion: true,
    });

    this.tenancy = new Tenancy(this, "tenancy", { tiers, siloTenants: config.nats.siloTenants, vpcCidr: config.network.vpcCidr });
    const ha = config.platformReplicas;
    const inNamespace = (ns: string) => [this.tenancy.namespace(ns)];

    new CertManager(this, "cert-manager", { version: config.charts.certManager, replicas: ha, dependsOn: inNamespace(NAMESPACES.certManager) });
    const externalSecrets = (this.externalSecrets = new ExternalSecretsOperator(this, "external-secrets", {
      clusterName: props.cluster.clusterName,
      accountId: config.aws.accountId,
      region: config.aws.region,
      // Only what the cluster consumes: never the NATS seeds under `<prefix>/seeds`.
      secretPrefixes: [
        `${config.nats.seedSecretPrefix}/cluster`,
        config.clickhouse.secretPrefix,
        config.foundationDb.clusterFileSecretName.replace(/\/[^/]+$/, ""),
        kongSecretPrefix(config),
        provisioningSecretPrefix(config),
      ],
      secretsKey: props.secretsKey,
      version: config.charts.externalSecrets,
      replicas: ha,
      dependsOn: inNamespace(NAMESPACES.externalSecrets),
    }));
    // The billing provider's webhook secret: created empty here, its value put by whoever holds the provider account.
    const billing = provisioningSecrets(provisioningSecretPrefix(config)).billingWebhook;
    new ManagedSecret(this, "provisioning-billing-webhook-secret", { name: billing.remoteKey, description: billing.description, key: props.secretsKey });
    new Keda(this, "keda", { version: config.charts.keda, replicas: ha, dependsOn: inNamespace(NAMESPACES.keda) });

    new NackController(this, "nack", { version: config.charts.nack, dependsOn: inNamespace(NAMESPACES.nats) });
    for (const [i, secret] of natsSecretList(natsSecretNames(config.nats.seedSecretPrefix, config.nats.siloTenants)).entries()) {
      new ManagedSecret(this, `nats-secret-${i}`, { name: secret.name, description: secret.description, key: props.secretsKey });
    }
    new ClickHouseOperator(this, "clickhouse-operator", { version: config.charts.clickhouseOperator, dependsOn: inNamespace(NAMESPACES.clickhouse) });
    for (const { name, remoteKey } of clickhouseManagedSecrets(config.clickhouse.secretPrefix)) {
      new ManagedSecret(this, `clickhouse-${name}-secret`, {
        name: remoteKey,
        description: `ClickHouse ${name} credentials of enchanted-${config.name}`,
        key: props.secretsKey,
      });
    }

    this.keycloak = new KeycloakPlatform(this, "keycloak", {
      name: `enchanted-${config.name}-keycloak`,
      network: props.network,
      clientCidrs: config.network.subnets.private,
      key: props.secretsKey,
      accountId: config.aws.accountId,
      // The environment's log retention, the same as the EKS control-plane logs'.
      logs: { key: props.logsKey, retentionDays: Number(config.eks.logRetentionDays) },
      secretPrefix: keycloakSecretPrefix(config),
      secretReaderRoleNames: [externalSecrets.roleName],
      instances: ha,
      deletionProtection: !config.ephemeral,
    });

    // Provisions the gateway's NLB from the Kong proxy Service's annotations (and nothing else:
    // its Service mutator webhook is off, so no other Service gets a load balancer).
    const loadBalancerController = new AwsLoadBalancerController(this, "aws-load-balancer-controller", {
      clusterName: props.cluster.clusterName,
      accountId: config.aws.accountId,
      region: config.aws.region,
      vpcId: props.network.vpcId,
      version: config.charts.awsLoadBalancerController,
      replicas: ha,
    });
    this.kong = new KongGateway(this, "kong", {
      name: `enchanted-${config.name}`,
      tiers,
      apiDomain: config.domains.api,
      authDomain: config.domains.auth,
      ...(config.domains.hostedZoneId ? { hostedZoneId: config.domains.hostedZoneId } : {}),
      vpcId: props.network.vpcId,
      vpcCidr: props.network.vpcCidr,
      publicSubnetIds: props.network.publicSubnetIds,
      secretPrefix: kongSecretPrefix(config),
      secretsKey: props.secretsKey,
      // The API (the provisioning service and the events API), and Keycloak: its public paths on the auth host and the realm's key set.
      backends: [PROVISIONING_ENDPOINT, EVENTS_API_ENDPOINT, { namespace: NAMESPACES.platform, port: KEYCLOAK_PORTS.http }],
      replicas: ha,
      version: config.charts.kongIngress,
      dependsOn: [this.tenancy.namespace(NAMESPACES.platform), loadBalancerController.helm.release],
      // Shared counters: every Kong pod counts against the same window.
      ...(config.gateway.rateLimitCounters === "redis"
        ? { redis: { dataSubnetIds: props.network.dataSubnetIds, privateSubnetCidrs: config.network.subnets.private, key: props.secretsKey } }
        : {}),
    });

    this.foundationDb = new FoundationDbNetwork(this, "foundationdb", {
      name: `enchanted-${config.name}`,
      peer: config.foundationDb.peer,
      cidr: config.foundationDb.cidr,
      ports: config.foundationDb.ports,
      vpcId: props.network.vpcId,
      privateSubnetIds: props.network.privateSubnetIds,
      privateSubnetCidrs: config.network.subnets.private,
      privateRouteTableIds: props.network.privateRouteTableIds,
      clusterFileSecretName: config.foundationDb.clusterFileSecretName,
      secretsKey: props.secretsKey,
    });
    new FoundationDbClientAccess(this, "foundationdb-clients", {
      namespaces: FOUNDATIONDB_CLIENT_NAMESPACES,
      destinationCidrs: this.foundationDb.destinationCidrs,
      ports: config.foundationDb.ports,
    });
  }
}

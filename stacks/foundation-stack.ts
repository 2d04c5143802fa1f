import type { Construct } from "constructs";
import type { EnvironmentConfig } from "../config/index.js";
import { ContainerRegistry } from "../constructs/container-registry.js";
import { EksCluster } from "../constructs/eks-cluster.js";
import { KMS_USE_ACTIONS, KmsKey } from "../constructs/kms-key.js";
import { Network } from "../constructs/network.js";
import { EnvironmentStack } from "./environment-stack.js";

/**
 * `<env>-foundation`: the network, the EKS cluster, the environment's KMS keys and its ECR
 * repositories. No Kubernetes or Helm provider lives here: a stack that creates a cluster
 * cannot also configure a provider from that cluster's attributes in one plan.
 */
export class FoundationStack extends EnvironmentStack {
  /**
   * cdktf's preparing resolve only looks for references from this stack into other stacks, and
   * the foundation stack reads no other stack: skipping it saves a tenth of every synth. A
   * reference into another stack added here later would not be wired up, and
   * EnvironmentStack.toTerraform refuses it (a dangling reference fails synth, naming it).
   */
  override prepareStack(): void {
    this.ensureBackendExists();
  }

  readonly network: Network;
  readonly cluster: EksCluster;
  readonly registry: ContainerRegistry;
  readonly keys: {
    readonly eksSecrets: KmsKey;
    readonly ebs: KmsKey;
    readonly logs: KmsKey;
    readonly ecr: KmsKey;
    readonly secrets: KmsKey;
    readonly tenantData: KmsKey;
  };

  constructor(scope: Construct, config: EnvironmentConfig) {
    super(scope, { config, kind: "foundation" });
    const c = config;
    const prefix = `enchanted-${c.name}`;
    const account = c.aws.accountId;
    const region = c.aws.region;

    this.keys = {
      eksSecrets: new KmsKey(this, "eks-secrets-key", {
        alias: `${prefix}-eks-secrets`,
        description: `Envelope encryption of Kubernetes Secrets in ${prefix}`,
        accountId: account,
      }),
      logs: new KmsKey(this, "logs-key", {
        alias: `${prefix}-logs`,
        description: `CloudWatch Logs of ${prefix} (control plane, VPC flow logs, Keycloak database)`,
        accountId: account,
        statements: [
          {
            Sid: "CloudWatchLogsUsesKeyForThisAccountsLogGroups",
            Effect: "Allow",
            Principal: { Service: `logs.${region}.amazonaws.com` },
            Action: ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            Resource: "*",
            Condition: { ArnLike: { "kms:EncryptionContext:aws:logs:arn": `arn:aws:logs:${region}:${account}:log-group:*` } },
          },
        ],
      }),
      ebs: new KmsKey(this, "ebs-key", {
        alias: `${prefix}-ebs`,
        description: `EBS volumes of ${prefix} (node roots, persistent volumes)`,
        accountId: account,
        // Managed node groups launch instances through the Auto Scaling service-linked role,
        // which needs the key to create encrypted root volumes.
        statements: [
          {
            Sid: "AutoScalingUsesKeyForNodeVolumes",
            Effect: "Allow",
            Principal: { AWS: autoScalingServiceLinkedRole(account) },
            Action: [...KMS_USE_ACTIONS],
            Resource: "*",
          },
          {
            Sid: "AutoScalingAttachesEncryptedVolumes",
            Effect: "Allow",
            Principal: { AWS: autoScalingServiceLinkedRole(account) },
            Action: "kms:CreateGrant",
            Resource: "*",
            Condition: { Bool: { "kms:GrantIsForAWSResource": "true" } },
          },
        ],
      }),
      ecr: new KmsKey(this, "ecr-key", {
        alias: `${prefix}-ecr`,
        description: `ECR images of ${prefix}`,
        accountId: account,
      }),
      // Secrets Manager secrets of the platform (NATS seeds, ClickHouse passwords, the
      // FoundationDB cluster file); readers get kms:Decrypt on it through IAM.
      secrets: new KmsKey(this, "secrets-key", {
        alias: `${prefix}-secrets`,
        description: `Secrets Manager secrets of ${prefix}`,
        accountId: account,
      }),
      // Wraps every tenant's data key (provisioning: GenerateDataKey / Decrypt). It lives with
      // the foundation, not with the service's stack: deleting it would crypto-shred every tenant.
      tenantData: new KmsKey(this, "tenant-data-key", {
        alias: `${prefix}-tenant-data`,
        description: `Per-tenant data keys of ${prefix} (provisioning service)`,
        accountId: account,
      }),
    };

    const clusterName = prefix;
    this.network = new Network(this, "network", {
      name: prefix,
      region,
      accountId: account,
      vpcCidr: c.network.vpcCidr,
      azCount: c.network.azCount,
      subnets: c.network.subnets,
      natGateways: c.network.natGateways,
      flowLogRetentionDays: Number(c.network.flowLogRetentionDays),
      logsKey: this.keys.logs,
      clusterName,
    });

    this.cluster = new EksCluster(this, "cluster", {
      clusterName,
      version: c.eks.version,
      accountId: account,
      privateSubnetIds: this.network.privateSubnetIds,
      publicAccessCidrs: c.eks.publicAccessCidrs,
      secretsKey: this.keys.eksSecrets,
      logsKey: this.keys.logs,
      ebsKey: this.keys.ebs,
      logRetentionDays: Number(c.eks.logRetentionDays),
      adminRoleArns: c.eks.adminRoleArns,
      nodeGroups: c.eks.nodeGroups,
      addons: c.eks.addons,
    });

    this.registry = new ContainerRegistry(this, "registry", {
      namePrefix: "enchanted",
      repositories: c.ecr.repositories,
      key: this.keys.ecr,
      keepTaggedImages: c.ecr.keepTaggedImages,
      untaggedExpiryDays: c.ecr.untaggedExpiryDays,
    });
  }
}

function autoScalingServiceLinkedRole(account: string): string {
  return `arn:aws:iam::${account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`;
}

import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group/index.js";
import { EksAccessEntry } from "@cdktf/provider-aws/lib/eks-access-entry/index.js";
import { EksAccessPolicyAssociation } from "@cdktf/provider-aws/lib/eks-access-policy-association/index.js";
import { EksAddon } from "@cdktf/provider-aws/lib/eks-addon/index.js";
import { EksCluster as AwsEksCluster } from "@cdktf/provider-aws/lib/eks-cluster/index.js";
import { EksNodeGroup } from "@cdktf/provider-aws/lib/eks-node-group/index.js";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role/index.js";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy/index.js";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment/index.js";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template/index.js";
import { Token, type ITerraformDependable } from "cdktf";
import { propFail } from "./core/validation.js";
import { Construct, type IConstruct } from "constructs";
import { parseCidr } from "../config/cidr.js";
import { POD_IDENTITY_SERVICE, serviceTrustPolicy } from "./iam.js";
import { KMS_USE_ACTIONS, type IKmsKey } from "./kms-key.js";
import { EKS_CONTROL_PLANE_LOG_TYPES } from "./policy/rules/eks-control-plane-logs-all.js";

/** What stacks that run things inside the cluster need to know of it. */
export interface IEksCluster {
  readonly clusterName: string;
  readonly endpoint: string;
  /** Base64-encoded PEM of the cluster CA, as EKS returns it. */
  readonly certificateAuthorityData: string;
  readonly clusterSecurityGroupId: string;
}

/** The five control-plane log types; all are always on (the policy pack's EKS3 holds the list). */
export const CONTROL_PLANE_LOG_TYPES = EKS_CONTROL_PLANE_LOG_TYPES;

export interface NodeGroupSpec {
  readonly name: string;
  readonly instanceTypes: readonly string[];
  /** @default "ON_DEMAND" */
  readonly capacityType?: "ON_DEMAND" | "SPOT";
  readonly minSize: number;
  readonly desiredSize: number;
  readonly maxSize: number;
  /** Root volume size. @default 50 */
  readonly diskSizeGiB?: number;
  /** @default - no labels */
  readonly labels?: readonly { readonly key: string; readonly value: string }[];
  /** @default - no taints */
  readonly taints?: readonly { readonly key: string; readonly value: string; readonly effect: "NO_SCHEDULE" | "NO_EXECUTE" | "PREFER_NO_SCHEDULE" }[];
}

export interface EksAddonVersions {
  readonly vpcCni: string;
  readonly coredns: string;
  readonly kubeProxy: string;
  readonly ebsCsiDriver: string;
  readonly podIdentityAgent: string;
}

export interface EksClusterProps {
  readonly clusterName: string;
  /** Kubernetes minor version, e.g. "1.33". */
  readonly version: string;
  readonly accountId: string;
  /** Subnets of the control-plane ENIs and of every node: private subnets only. */
  readonly privateSubnetIds: readonly string[];
  /**
   * CIDR ranges allowed to reach the public API endpoint. Empty keeps the endpoint private.
   * Never 0.0.0.0/0. @default [] (private endpoint only)
   */
  readonly publicAccessCidrs?: readonly string[];
  /** Envelope-encrypts Kubernetes Secrets. */
  readonly secretsKey: IKmsKey;
  /** Encrypts the control-plane log group. */
  readonly logsKey: IKmsKey;
  /** Encrypts node root volumes and EBS CSI volumes. */
  readonly ebsKey: IKmsKey;
  /** @default 90 */
  readonly logRetentionDays?: number;
  /** IAM roles given cluster-admin through access entries (no aws-auth ConfigMap). */
  readonly adminRoleArns: readonly string[];
  readonly nodeGroups: readonly NodeGroupSpec[];
  readonly addons: EksAddonVersions;
  /** Service CIDR of the cluster; must not overlap the VPC or peered networks. @default "172.20.0.0/16" */
  readonly serviceIpv4Cidr?: string;
}

const DEFAULT_LOG_RETENTION_DAYS = 90;
const DEFAULT_DISK_SIZE_GIB = 50;
const DEFAULT_SERVICE_CIDR = "172.20.0.0/16";
/** IMDSv2 only, one hop: pods cannot reach the node's credentials, they use Pod Identity. */
const IMDS_HOP_LIMIT = 1;
const ROOT_DEVICE_NAME = "/dev/xvda";
const GP3_BASELINE_IOPS = 3000;
const GP3_BASELINE_THROUGHPUT_MIBPS = 125;
const NODE_AMI_TYPE = "AL2023_x86_64_STANDARD";
const MAX_UNAVAILABLE_PERCENT = 33;
const CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
const MANAGED_POLICY = (name: string) => `arn:aws:iam::aws:policy/${name}`;

/**
 * An EKS cluster that passes the platform's policy pack by construction: private API endpoint,
 * KMS envelope encryption of Secrets, all control-plane logs into an encrypted log group,
 * access entries instead of aws-auth, Pod Identity, pinned core add-ons (VPC CNI with network
 * policy enforcement), and managed node groups on launch templates that require IMDSv2 with a
 * hop limit of 1 and encrypted gp3 root volumes, in private subnets only.
 */
export class EksCluster extends Construct implements IEksCluster {
  readonly clusterName: string;
  readonly endpoint: string;
  readonly certificateAuthorityData: string;
  readonly clusterSecurityGroupId: string;
  readonly clusterArn: string;
  readonly nodeRoleArn: string;
  readonly nodeGroups: EksNodeGroup[] = [];

  constructor(scope: Construct, id: string, props: EksClusterProps) {
    super(scope, id);
    const publicAccessCidrs = [...(props.publicAccessCidrs ?? [])];
    const logRetentionDays = props.logRetentionDays ?? DEFAULT_LOG_RETENTION_DAYS;
    const serviceIpv4Cidr = props.serviceIpv4Cidr ?? DEFAULT_SERVICE_CIDR;
    checkProps(this, props, publicAccessCidrs);
    const name = props.clusterName;

    // Control plane -----------------------------------------------------------------------
    const clusterRole = new IamRole(this, "cluster-role", {
      name: `${name}-cluster`,
      assumeRolePolicy: serviceTrustPolicy("eks.amazonaws.com", props.accountId),
    });
    const clusterPolicy = new IamRolePolicyAttachment(this, "cluster-policy", {
      role: clusterRole.name,
      policyArn: MANAGED_POLICY("AmazonEKSClusterPolicy"),
    });
    // EKS writes control-plane logs here; creating it first gives it a key and a retention.
    const logGroup = new CloudwatchLogGroup(this, "control-plane-logs", {
      name: `/aws/eks/${name}/cluster`,
      retentionInDays: logRetentionDays,
      kmsKeyId: props.logsKey.keyArn,
    });

    const cluster = new AwsEksCluster(this, "cluster", {
      name,
      version: props.version,
      roleArn: clusterRole.arn,
      vpcConfig: {
        subnetIds: [...props.privateSubnetIds],
        endpointPrivateAccess: true,
        endpointPublicAccess: publicAccessCidrs.length > 0,
        ...(publicAccessCidrs.length > 0 ? { publicAccessCidrs } : {}),
      },
      encryptionConfig: { resources: ["secrets"], provider: { keyArn: props.secretsKey.keyArn } },
      enabledClusterLogTypes: [...CONTROL_PLANE_LOG_TYPES],
      accessConfig: { authenticationMode: "API", bootstrapClusterCreatorAdminPermissions: false },
      // Core add-ons are managed below as pinned EKS add-ons, not the unmanaged defaults.
      bootstrapSelfManagedAddons: false,
      kubernetesNetworkConfig: { serviceIpv4Cidr, ipFamily: "ipv4" },
      upgradePolicy: { supportType: "STANDARD" },
      deletionProtection: true,
      dependsOn: [clusterPolicy, logGroup],
    });
    this.clusterName = cluster.name;
    this.clusterArn = cluster.arn;
    this.endpoint = cluster.endpoint;
    this.certificateAuthorityData = cluster.certificateAuthority.get(0).data;
    this.clusterSecurityGroupId = cluster.vpcConfig.clusterSecurityGroupId;

    props.adminRoleArns.forEach((principalArn, i) => {
      const entry = new EksAccessEntry(this, `admin-${i}`, {
        clusterName: cluster.name,
        principalArn,
        type: "STANDARD",
      });
      new EksAccessPolicyAssociation(this, `admin-${i}-policy`, {
        clusterName: cluster.name,
        principalArn,
        policyArn: CLUSTER_ADMIN_POLICY,
        accessScope: { type: "cluster" },
        dependsOn: [entry],
      });
    });

    // Add-ons that nodes need before they can become Ready ---------------------------------
    const addon = (addonName: keyof EksAddonVersions, eksName: string, extra: Partial<ConstructorParameters<typeof EksAddon>[2]> = {}) =>
      new EksAddon(this, `addon-${eksName}`, {
        clusterName: cluster.name,
        addonName: eksName,
        addonVersion: props.addons[addonName],
        resolveConflictsOnCreate: "OVERWRITE",
        resolveConflictsOnUpdate: "OVERWRITE",
        ...extra,
      });

    const podIdentityAgent = addon("podIdentityAgent", "eks-pod-identity-agent");
    const cniRole = this.podIdentityRole("vpc-cni", `${name}-vpc-cni`, props.accountId, [MANAGED_POLICY("AmazonEKS_CNI_Policy")]);
    const vpcCni = addon("vpcCni", "vpc-cni", {
      podIdentityAssociation: [{ roleArn: cniRole.arn, serviceAccount: "aws-node" }],
      // Network policy enforcement on: the tenancy layer's default-deny NetworkPolicies depend on it.
      configurationValues: JSON.stringify({ enableNetworkPolicy: "true", env: { ENABLE_PREFIX_DELEGATION: "true", WARM_PREFIX_TARGET: "1" } }),
      dependsOn: [podIdentityAgent],
    });
    const kubeProxy = addon("kubeProxy", "kube-proxy");
    const beforeCompute: ITerraformDependable[] = [podIdentityAgent, vpcCni, kubeProxy];

    // Nodes ------------------------------------------------------------------------------
    const nodeRole = new IamRole(this, "node-role", {
      name: `${name}-node`,
      assumeRolePolicy: serviceTrustPolicy("ec2.amazonaws.com", props.accountId),
    });
    const nodePolicies = ["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly"].map(
      (p) => new IamRolePolicyAttachment(this, `node-${p}`, { role: nodeRole.name, policyArn: MANAGED_POLICY(p) }),
    );
    this.nodeRoleArn = nodeRole.arn;

    for (const spec of props.nodeGroups) {
      const lt = new LaunchTemplate(this, `${spec.name}-lt`, {
        name: `${name}-${spec.name}`,
        description: `Node group ${spec.name} of ${name}: IMDSv2 only, encrypted gp3 root volume`,
        updateDefaultVersion: true,
        metadataOptions: {
          httpEndpoint: "enabled",
          httpTokens: "required",
          httpPutResponseHopLimit: IMDS_HOP_LIMIT,
          instanceMetadataTags: "disabled",
        },
        blockDeviceMappings: [
          {
            deviceName: ROOT_DEVICE_NAME,
            ebs: {
              volumeSize: spec.diskSizeGiB ?? DEFAULT_DISK_SIZE_GIB,
              volumeType: "gp3",
              iops: GP3_BASELINE_IOPS,
              throughput: GP3_BASELINE_THROUGHPUT_MIBPS,
              encrypted: "true",
              kmsKeyId: props.ebsKey.keyArn,
              deleteOnTermination: "true",
            },
          },
        ],
        tagSpecifications: ["instance", "volume"].map((resourceType) => ({
          resourceType,
          tags: { Name: `${name}-${spec.name}`, "enchanted.io/node-group": spec.name },
        })),
      });
      const ng = new EksNodeGroup(this, `${spec.name}-ng`, {
        clusterName: cluster.name,
        nodeGroupName: spec.name,
        nodeRoleArn: nodeRole.arn,
        subnetIds: [...props.privateSubnetIds],
        amiType: NODE_AMI_TYPE,
        capacityType: spec.capacityType ?? "ON_DEMAND",
        instanceTypes: [...spec.instanceTypes],
        scalingConfig: { minSize: spec.minSize, desiredSize: spec.desiredSize, maxSize: spec.maxSize },
        updateConfig: { maxUnavailablePercentage: MAX_UNAVAILABLE_PERCENT },
        launchTemplate: { id: lt.id, version: Token.asString(lt.latestVersion) },
        labels: Object.fromEntries((spec.labels ?? []).map((l) => [l.key, l.value])),
        taint: (spec.taints ?? []).map((t) => ({ key: t.key, value: t.value, effect: t.effect })),
        // The cluster autoscaler owns the desired size once the group exists.
        lifecycle: { ignoreChanges: ["scaling_config[0].desired_size"] },
        dependsOn: [...nodePolicies, ...beforeCompute],
      });
      this.nodeGroups.push(ng);
    }

    // Add-ons that run as ordinary pods (they need nodes) -----------------------------------
    addon("coredns", "coredns", { dependsOn: this.nodeGroups });
    const ebsRole = this.podIdentityRole("ebs-csi", `${name}-ebs-csi`, props.accountId, [MANAGED_POLICY("service-role/AmazonEBSCSIDriverPolicy")]);
    new IamRolePolicy(this, "ebs-csi-kms", {
      role: ebsRole.name,
      name: "use-ebs-key",
      policy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          { Sid: "UseKey", Effect: "Allow", Action: [...KMS_USE_ACTIONS], Resource: props.ebsKey.keyArn },
          {
            Sid: "GrantsForAttachedVolumes",
            Effect: "Allow",
            Action: ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            Resource: props.ebsKey.keyArn,
            Condition: { Bool: { "kms:GrantIsForAWSResource": "true" } },
          },
        ],
      }),
    });
    addon("ebsCsiDriver", "aws-ebs-csi-driver", {
      podIdentityAssociation: [{ roleArn: ebsRole.arn, serviceAccount: "ebs-csi-controller-sa" }],
      dependsOn: this.nodeGroups,
    });
  }

  /** A role that EKS Pod Identity lets one service account assume. */
  private podIdentityRole(id: string, roleName: string, accountId: string, managedPolicies: readonly string[]): IamRole {
    const role = new IamRole(this, `${id}-role`, {
      name: roleName,
      assumeRolePolicy: serviceTrustPolicy(POD_IDENTITY_SERVICE, accountId),
    });
    managedPolicies.forEach((policyArn, i) => new IamRolePolicyAttachment(this, `${id}-policy-${i}`, { role: role.name, policyArn }));
    return role;
  }
}

function checkProps(scope: IConstruct, props: EksClusterProps, publicAccessCidrs: readonly string[]): void {
  const fail = propFail(scope);
  if (!/^1\.\d{2}$/.test(props.version)) fail("version", props.version, "is not a Kubernetes minor", 'use e.g. "1.33"');
  publicAccessCidrs.forEach((c, i) => {
    const parsed = parseCidr(c);
    if (!parsed) fail(`publicAccessCidrs[${i}]`, c, "is not an IPv4 CIDR", 'use a range like "198.51.100.0/24"');
    else if (parsed.prefix === 0) fail(`publicAccessCidrs[${i}]`, c, "opens the API server to the internet", "list specific office or VPN ranges, or leave the list empty");
  });
  if (props.privateSubnetIds.length < 2) fail("privateSubnetIds", props.privateSubnetIds, "has fewer than 2 subnets", "EKS needs subnets in at least two AZs");
  if (props.adminRoleArns.length === 0) fail("adminRoleArns", props.adminRoleArns, "is empty", "give at least the deploy role an access entry, or nobody can manage the cluster");
  if (props.nodeGroups.length === 0) fail("nodeGroups", props.nodeGroups, "is empty", "add at least one node group (system pods and core add-ons need nodes)");
  for (const g of props.nodeGroups) {
    if (!(g.minSize <= g.desiredSize && g.desiredSize <= g.maxSize)) {
      fail(`nodeGroups[${g.name}]`, { min: g.minSize, desired: g.desiredSize, max: g.maxSize }, "is not ordered", "set minSize <= desiredSize <= maxSize");
    }
  }
}

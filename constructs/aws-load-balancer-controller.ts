import { EksPodIdentityAssociation } from "@cdktf/provider-aws/lib/eks-pod-identity-association/index.js";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role/index.js";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy/index.js";
import { Token, type ITerraformDependable } from "cdktf";
import { propFail } from "./core/validation.js";
import { Construct } from "constructs";
import { HELM_CHARTS } from "../config/versions.js";
import { POD_IDENTITY_SERVICE, serviceTrustPolicy } from "./iam.js";
import { PinnedHelmRelease, RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT } from "./pinned-helm-release.js";
import { suppressPolicyRule } from "./policy/index.js";

/** Where the controller runs: its usual home, next to the other cluster-wide system controllers. */
export const AWS_LOAD_BALANCER_CONTROLLER_NAMESPACE = "kube-system";
/** The controller's service account, and the Helm release (and therefore pod label) name. */
export const AWS_LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT = "aws-load-balancer-controller";
const RELEASE_NAME = "aws-load-balancer-controller";

/**
 * Tag the controller puts on every security group, load balancer, target group, listener and rule
 * it creates, with the cluster name as value. Its IAM policy lets it create only resources that
 * carry this tag and modify or delete only resources whose tag names this cluster.
 */
export const AWS_LOAD_BALANCER_CONTROLLER_CLUSTER_TAG = "elbv2.k8s.aws/cluster";

const DEFAULT_REPLICAS = 2;
/** IAM role names are at most 64 characters. */
const MAX_ROLE_NAME_LENGTH = 64;

export interface AwsLoadBalancerControllerProps {
  /** EKS cluster name: the chart's `clusterName`, the Pod Identity association's cluster and the tag value above. */
  readonly clusterName: string;
  readonly accountId: string;
  readonly region: string;
  /** VPC of the cluster: the chart's `vpcId` (no IMDS lookup) and the only VPC the controller may create security groups in. */
  readonly vpcId: string;
  /** Chart version from the environment's config. @default HELM_CHARTS.awsLoadBalancerController.version */
  readonly version?: string;
  /** Controller pods (one leader, the others standby webhook servers). @default 2 */
  readonly replicas?: number;
  /** Resources the release waits for. @default - none (the Pod Identity association and role policies are always awaited) */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/** What {@link awsLoadBalancerControllerChartValues} needs. */
export interface AwsLoadBalancerControllerValuesInput {
  readonly clusterName: string;
  readonly region: string;
  readonly vpcId: string;
  readonly replicas: number;
}

/** The aws-load-balancer-controller chart's values. Pure, for tests. */
export function awsLoadBalancerControllerChartValues(input: AwsLoadBalancerControllerValuesInput): Record<string, unknown> {
  const { replicas } = input;
  return {
    clusterName: input.clusterName,
    region: input.region,
    vpcId: input.vpcId,
    replicaCount: replicas,
    serviceAccount: { create: true, name: AWS_LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT },
    // The chart renders a PDB only when this is non-empty and replicaCount > 1.
    podDisruptionBudget: replicas > 1 ? { maxUnavailable: 1 } : {},
    // Merged with the chart's defaults (podSecurityContext keeps its fsGroup 65534).
    podSecurityContext: RESTRICTED_POD_SECURITY_CONTEXT,
    securityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT,
    // The chart passes this through verbatim, so it names the pods' selector labels itself.
    topologySpreadConstraints: [
      {
        maxSkew: 1,
        topologyKey: "topology.kubernetes.io/zone",
        whenUnsatisfiable: "ScheduleAnyway",
        labelSelector: {
          matchLabels: { "app.kubernetes.io/name": HELM_CHARTS.awsLoadBalancerController.chart, "app.kubernetes.io/instance": RELEASE_NAME },
        },
      },
    ],
    // Without the mutator every `type: LoadBalancer` Service would become an NLB; with it off, only
    // Services that opt in (`loadBalancerClass: service.k8s.aws/nlb`) get one.
    enableServiceMutatorWebhook: false,
  };
}

/** ARNs the policy is scoped to, all within one account and region (one VPC for security groups). */
interface ControllerArns {
  readonly securityGroups: string;
  readonly vpc: string;
  readonly loadBalancers: readonly string[];
  readonly appLoadBalancers: string;
  readonly targetGroups: string;
  readonly listeners: readonly string[];
  readonly listenerRules: readonly string[];
}

function controllerArns(region: string, accountId: string, vpcId: string): ControllerArns {
  const ec2 = `arn:aws:ec2:${region}:${accountId}`;
  const elb = `arn:aws:elasticloadbalancing:${region}:${accountId}`;
  return {
    securityGroups: `${ec2}:security-group/*`,
    vpc: `${ec2}:vpc/${vpcId}`,
    loadBalancers: [`${elb}:loadbalancer/net/*/*`, `${elb}:loadbalancer/app/*/*`],
    appLoadBalancers: `${elb}:loadbalancer/app/*/*`,
    targetGroups: `${elb}:targetgroup/*/*`,
    listeners: [`${elb}:listener/net/*/*/*`, `${elb}:listener/app/*/*/*`],
    listenerRules: [`${elb}:listener-rule/net/*/*/*`, `${elb}:listener-rule/app/*/*/*`],
  };
}

/**
 * The controller's permissions: the upstream v2 `iam_policy.json` with every `Resource: "*"` that
 * AWS lets us scope replaced by ARN patterns of this account and region, and the tag conditions
 * tightened from "has the tag" to "the tag names this cluster". Read-only Describe calls keep
 * `"*"` (AWS supports no resource-level permissions for them). Pure, for tests.
 *
 * Differences from upstream, on purpose: security groups only in the cluster's VPC; Register/
 * DeregisterTargets and listener/rule changes only on resources tagged for this cluster (so a
 * TargetGroupBinding to a target group created outside the controller needs the tag); no
 * unscopable actions here (see {@link awsLoadBalancerControllerUnscopablePolicy}).
 */
export function awsLoadBalancerControllerPolicy(props: Pick<AwsLoadBalancerControllerProps, "clusterName" | "accountId" | "region" | "vpcId">): Record<string, unknown> {
  const { clusterName, accountId, region } = props;
  const arn = controllerArns(region, accountId, props.vpcId);
  const requestTag = `aws:RequestTag/${AWS_LOAD_BALANCER_CONTROLLER_CLUSTER_TAG}`;
  const resourceTag = `aws:ResourceTag/${AWS_LOAD_BALANCER_CONTROLLER_CLUSTER_TAG}`;
  /** The resource already belongs to this cluster's controller. */
  const ownedByCluster = { StringEquals: { [resourceTag]: clusterName } };
  /** The request tags the new resource for this cluster. */
  const taggedForCluster = { StringEquals: { [requestTag]: clusterName } };
  /** A tag change on an owned resource that leaves the cluster tag alone. */
  const retagOwned = { StringEquals: { [resourceTag]: clusterName }, Null: { [requestTag]: "true" } };
  const inClusterVpc = { ArnEquals: { "ec2:Vpc": arn.vpc } };

  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "CreateElbServiceLinkedRole",
        Effect: "Allow",
        Action: ["iam:CreateServiceLinkedRole"],
        Resource: `arn:aws:iam::${accountId}:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing`,
        Condition: { StringEquals: { "iam:AWSServiceName": "elasticloadbalancing.amazonaws.com" } },
      },
      {
        Sid: "DescribeNetworkAndLoadBalancers",
        Effect: "Allow",
        Action: [
          "ec2:DescribeAccountAttributes",
          "ec2:DescribeAddresses",
          "ec2:DescribeAvailabilityZones",
          "ec2:DescribeInternetGateways",
          "ec2:DescribeVpcs",
          "ec2:DescribeVpcPeeringConnections",
          "ec2:DescribeSubnets",
          "ec2:DescribeSecurityGroups",
          "ec2:DescribeInstances",
          "ec2:DescribeNetworkInterfaces",
          "ec2:DescribeTags",
          "ec2:DescribeCoipPools",
          "ec2:DescribeIpamPools",
          "ec2:DescribeRouteTables",
          "elasticloadbalancing:DescribeLoadBalancers",
          "elasticloadbalancing:DescribeLoadBalancerAttributes",
          "elasticloadbalancing:DescribeListeners",
          "elasticloadbalancing:DescribeListenerCertificates",
          "elasticloadbalancing:DescribeSSLPolicies",
          "elasticloadbalancing:DescribeRules",
          "elasticloadbalancing:DescribeTargetGroups",
          "elasticloadbalancing:DescribeTargetGroupAttributes",
          "elasticloadbalancing:DescribeTargetHealth",
          "elasticloadbalancing:DescribeTags",
          "elasticloadbalancing:DescribeTrustStores",
          "elasticloadbalancing:DescribeListenerAttributes",
          "elasticloadbalancing:DescribeCapacityReservation",
        ],
        Resource: "*",
      },
      { Sid: "ReadCoipPoolUsage", Effect: "Allow", Action: ["ec2:GetCoipPoolUsage"], Resource: `arn:aws:ec2:${region}:${accountId}:coip-pool/*` },
      { Sid: "ListClusterVpcSecurityGroups", Effect: "Allow", Action: ["ec2:GetSecurityGroupsForVpc"], Resource: [arn.vpc, arn.securityGroups] },
      {
        Sid: "ReadCertificatesAndIdentity",
        Effect: "Allow",
        Action: ["acm:DescribeCertificate", "iam:GetServerCertificate", "cognito-idp:DescribeUserPoolClient"],
        Resource: [
          `arn:aws:acm:${region}:${accountId}:certificate/*`,
          `arn:aws:iam::${accountId}:server-certificate/*`,
          `arn:aws:cognito-idp:${region}:${accountId}:userpool/*`,
        ],
      },
      {
        Sid: "AssociateWebAcls",
        Effect: "Allow",
        Action: [
          "waf-regional:GetWebACL",
          "waf-regional:GetWebACLForResource",
          "waf-regional:AssociateWebACL",
          "waf-regional:DisassociateWebACL",
          "wafv2:GetWebACL",
          "wafv2:GetWebACLForResource",
          "wafv2:AssociateWebACL",
          "wafv2:DisassociateWebACL",
        ],
        Resource: [`arn:aws:waf-regional:${region}:${accountId}:webacl/*`, `arn:aws:wafv2:${region}:${accountId}:regional/webacl/*/*`, arn.appLoadBalancers],
      },
      {
        Sid: "ManageShieldProtections",
        Effect: "Allow",
        Action: ["shield:DescribeProtection", "shield:CreateProtection", "shield:DeleteProtection"],
        Resource: `arn:aws:shield::${accountId}:protection/*`,
      },
      {
        Sid: "OpenNodeSecurityGroupsToLoadBalancers",
        Effect: "Allow",
        Action: ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
        Resource: arn.securityGroups,
        Condition: inClusterVpc,
      },
      { Sid: "CreateSecurityGroupsInClusterVpc", Effect: "Allow", Action: ["ec2:CreateSecurityGroup"], Resource: [arn.securityGroups, arn.vpc] },
      {
        Sid: "TagNewSecurityGroups",
        Effect: "Allow",
        Action: ["ec2:CreateTags"],
        Resource: arn.securityGroups,
        Condition: { StringEquals: { [requestTag]: clusterName, "ec2:CreateAction": "CreateSecurityGroup" } },
      },
      { Sid: "RetagOwnedSecurityGroups", Effect: "Allow", Action: ["ec2:CreateTags", "ec2:DeleteTags"], Resource: arn.securityGroups, Condition: retagOwned },
      {
        Sid: "ManageOwnedSecurityGroups",
        Effect: "Allow",
        Action: ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup"],
        Resource: arn.securityGroups,
        Condition: ownedByCluster,
      },
      {
        Sid: "CreateTaggedLoadBalancersAndTargetGroups",
        Effect: "Allow",
        Action: ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
        Resource: [...arn.loadBalancers, arn.targetGroups],
        Condition: taggedForCluster,
      },
      {
        Sid: "CreateTaggedListenersAndRules",
        Effect: "Allow",
        Action: ["elasticloadbalancing:CreateListener", "elasticloadbalancing:CreateRule"],
        Resource: [...arn.loadBalancers, ...arn.listeners, ...arn.listenerRules],
        Condition: taggedForCluster,
      },
      {
        Sid: "TagOnCreate",
        Effect: "Allow",
        Action: ["elasticloadbalancing:AddTags"],
        Resource: [...arn.loadBalancers, arn.targetGroups, ...arn.listeners, ...arn.listenerRules],
        Condition: {
          StringEquals: {
            [requestTag]: clusterName,
            "elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer", "CreateListener", "CreateRule"],
          },
        },
      },
      {
        Sid: "RetagOwnedElbResources",
        Effect: "Allow",
        Action: ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
        Resource: [...arn.loadBalancers, arn.targetGroups, ...arn.listeners, ...arn.listenerRules],
        Condition: retagOwned,
      },
      {
        Sid: "ManageOwnedLoadBalancersAndTargetGroups",
        Effect: "Allow",
        Action: [
          "elasticloadbalancing:ModifyLoadBalancerAttributes",
          "elasticloadbalancing:SetIpAddressType",
          "elasticloadbalancing:SetSecurityGroups",
          "elasticloadbalancing:SetSubnets",
          "elasticloadbalancing:SetWebAcl",
          "elasticloadbalancing:DeleteLoadBalancer",
          "elasticloadbalancing:ModifyCapacityReservation",
          "elasticloadbalancing:ModifyIpPools",
          "elasticloadbalancing:ModifyTargetGroup",
          "elasticloadbalancing:ModifyTargetGroupAttributes",
          "elasticloadbalancing:DeleteTargetGroup",
          "elasticloadbalancing:RegisterTargets",
          "elasticloadbalancing:DeregisterTargets",
        ],
        Resource: [...arn.loadBalancers, arn.targetGroups],
        Condition: ownedByCluster,
      },
      {
        Sid: "ManageOwnedListenersAndRules",
        Effect: "Allow",
        Action: [
          "elasticloadbalancing:ModifyListener",
          "elasticloadbalancing:ModifyListenerAttributes",
          "elasticloadbalancing:AddListenerCertificates",
          "elasticloadbalancing:RemoveListenerCertificates",
          "elasticloadbalancing:DeleteListener",
          "elasticloadbalancing:ModifyRule",
          "elasticloadbalancing:SetRulePriorities",
          "elasticloadbalancing:DeleteRule",
        ],
        Resource: [...arn.listeners, ...arn.listenerRules],
        Condition: ownedByCluster,
      },
    ],
  };
}

/**
 * The controller's calls that AWS cannot scope to a resource (the Service Authorization Reference
 * lists no resource type for them) and that the policy pack does not already know as unscopable:
 * listing ACM and IAM certificates (certificate discovery by host name) and reading the Shield
 * Advanced subscription. Kept in their own policy so that the IAM2 suppression covers nothing else.
 */
export function awsLoadBalancerControllerUnscopablePolicy(): Record<string, unknown> {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "UnscopableCertificateAndShieldReads",
        Effect: "Allow",
        Action: ["acm:ListCertificates", "iam:ListServerCertificates", "shield:GetSubscriptionState"],
        Resource: "*",
      },
    ],
  };
}

/**
 * The AWS Load Balancer Controller (platform stack): provisions NLBs for Services that opt in with
 * `loadBalancerClass: service.k8s.aws/nlb` and ALBs for Ingresses of class `alb`, through an EKS Pod
 * Identity role that may create only load balancers and security groups tagged for this cluster,
 * and modify or delete only those.
 */
export class AwsLoadBalancerController extends Construct {
  readonly helm: PinnedHelmRelease;
  readonly roleArn: string;
  readonly roleName: string;
  readonly namespace = AWS_LOAD_BALANCER_CONTROLLER_NAMESPACE;
  readonly serviceAccountName = AWS_LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT;

  constructor(scope: Construct, id: string, props: AwsLoadBalancerControllerProps) {
    super(scope, id);
    const replicas = props.replicas ?? DEFAULT_REPLICAS;
    const roleName = `${props.clusterName}-aws-load-balancer-controller`;
    this.validate(props, replicas, roleName);

    const role = new IamRole(this, "role", {
      name: roleName,
      assumeRolePolicy: serviceTrustPolicy(POD_IDENTITY_SERVICE, props.accountId),
    });
    const permissions = new IamRolePolicy(this, "permissions", {
      role: role.name,
      name: "aws-load-balancer-controller",
      policy: JSON.stringify(awsLoadBalancerControllerPolicy(props)),
    });
    const unscopable = new IamRolePolicy(this, "unscopable-reads", {
      role: role.name,
      name: "aws-load-balancer-controller-unscopable-reads",
      policy: JSON.stringify(awsLoadBalancerControllerUnscopablePolicy()),
    });
    suppressPolicyRule(
      unscopable,
      "IAM2",
      "acm:ListCertificates, iam:ListServerCertificates and shield:GetSubscriptionState support no resource-level permissions (no resource type in the Service Authorization Reference); they only list or read metadata, and every mutating controller action is scoped in the sibling policy.",
    );
    const association = new EksPodIdentityAssociation(this, "pod-identity", {
      clusterName: props.clusterName,
      namespace: AWS_LOAD_BALANCER_CONTROLLER_NAMESPACE,
      serviceAccount: AWS_LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT,
      roleArn: role.arn,
    });
    this.roleArn = role.arn;
    this.roleName = role.name;

    this.helm = new PinnedHelmRelease(this, "chart", {
      chart: HELM_CHARTS.awsLoadBalancerController,
      ...(props.version ? { version: props.version } : {}),
      releaseName: RELEASE_NAME,
      namespace: AWS_LOAD_BALANCER_CONTROLLER_NAMESPACE,
      // Pod Identity credentials are injected when a pod starts: the association and the
      // permissions must exist before the first controller pod does.
      dependsOn: [...(props.dependsOn ?? []), association, permissions, unscopable],
      values: awsLoadBalancerControllerChartValues({ clusterName: props.clusterName, region: props.region, vpcId: props.vpcId, replicas }),
    });
  }

  private validate(props: AwsLoadBalancerControllerProps, replicas: number, roleName: string): void {
    const fail = propFail(this);
    if (!Number.isInteger(replicas) || replicas < 1) fail("replicas", replicas, "is not a positive integer", "use 1 (dev) or 2 (one leader and one standby webhook server)");
    if (!Token.isUnresolved(props.accountId) && !/^\d{12}$/.test(props.accountId)) fail("accountId", props.accountId, "is not a 12-digit AWS account id", "pass config.aws.accountId");
    if (!Token.isUnresolved(props.region) && !/^[a-z]{2}(-[a-z]+)+-\d$/.test(props.region)) {
      fail("region", props.region, "is not an AWS region name", 'pass config.aws.region (e.g. "eu-west-1")');
    }
    if (!Token.isUnresolved(props.vpcId) && !/^vpc-[0-9a-f]{8,17}$/.test(props.vpcId)) fail("vpcId", props.vpcId, "is not a VPC id", "pass the network's vpcId (vpc-…)");
    if (!Token.isUnresolved(roleName) && roleName.length > MAX_ROLE_NAME_LENGTH) {
      fail(
        "clusterName",
        props.clusterName,
        `makes the role name "${roleName}" ${roleName.length} characters long, over IAM's ${MAX_ROLE_NAME_LENGTH}`,
        `use a cluster name of at most ${MAX_ROLE_NAME_LENGTH - roleName.length + props.clusterName.length} characters`,
      );
    }
  }
}

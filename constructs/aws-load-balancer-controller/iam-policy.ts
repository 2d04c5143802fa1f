/** The controller's IAM permissions, scoped to this account, region, VPC and cluster. Pure, for tests. */
import { AWS_LOAD_BALANCER_CONTROLLER_CLUSTER_TAG, type AwsLoadBalancerControllerProps } from "./chart-values.js";

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


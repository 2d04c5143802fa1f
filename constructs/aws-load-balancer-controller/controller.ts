/** The controller's construct: its Pod Identity role and the pinned chart. */
import { EksPodIdentityAssociation } from "@cdktf/provider-aws/lib/eks-pod-identity-association/index.js";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role/index.js";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy/index.js";
import { Token } from "cdktf";
import { Construct } from "constructs";
import { HELM_CHARTS } from "../../config/versions.js";
import { propFail } from "../core/validation.js";
import { POD_IDENTITY_SERVICE, serviceTrustPolicy } from "../iam.js";
import { PinnedHelmRelease } from "../pinned-helm-release.js";
import { suppressPolicyRule } from "../policy/index.js";
import {
  AWS_LOAD_BALANCER_CONTROLLER_NAMESPACE,
  AWS_LOAD_BALANCER_CONTROLLER_RELEASE,
  AWS_LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT,
  awsLoadBalancerControllerChartValues,
  DEFAULT_AWS_LOAD_BALANCER_CONTROLLER_REPLICAS,
  MAX_ROLE_NAME_LENGTH,
  type AwsLoadBalancerControllerProps,
} from "./chart-values.js";
import { awsLoadBalancerControllerPolicy, awsLoadBalancerControllerUnscopablePolicy } from "./iam-policy.js";

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
    const replicas = props.replicas ?? DEFAULT_AWS_LOAD_BALANCER_CONTROLLER_REPLICAS;
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
      releaseName: AWS_LOAD_BALANCER_CONTROLLER_RELEASE,
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

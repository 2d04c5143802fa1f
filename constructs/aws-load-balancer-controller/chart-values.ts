/** The controller's names, its props and its chart's values. */
import type { ITerraformDependable } from "cdktf";
import { HELM_CHARTS } from "../../config/versions.js";
import { RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT } from "../pinned-helm-release.js";

/** Where the controller runs: its usual home, next to the other cluster-wide system controllers. */
export const AWS_LOAD_BALANCER_CONTROLLER_NAMESPACE = "kube-system";
/** The controller's service account, and the Helm release (and therefore pod label) name. */
export const AWS_LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT = "aws-load-balancer-controller";
export const AWS_LOAD_BALANCER_CONTROLLER_RELEASE = "aws-load-balancer-controller";

/**
 * Tag the controller puts on every security group, load balancer, target group, listener and rule
 * it creates, with the cluster name as value. Its IAM policy lets it create only resources that
 * carry this tag and modify or delete only resources whose tag names this cluster.
 */
export const AWS_LOAD_BALANCER_CONTROLLER_CLUSTER_TAG = "elbv2.k8s.aws/cluster";

export const DEFAULT_AWS_LOAD_BALANCER_CONTROLLER_REPLICAS = 2;
/** IAM role names are at most 64 characters. */
export const MAX_ROLE_NAME_LENGTH = 64;

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
          matchLabels: { "app.kubernetes.io/name": HELM_CHARTS.awsLoadBalancerController.chart, "app.kubernetes.io/instance": AWS_LOAD_BALANCER_CONTROLLER_RELEASE },
        },
      },
    ],
    // Without the mutator every `type: LoadBalancer` Service would become an NLB; with it off, only
    // Services that opt in (`loadBalancerClass: service.k8s.aws/nlb`) get one.
    enableServiceMutatorWebhook: false,
  };
}


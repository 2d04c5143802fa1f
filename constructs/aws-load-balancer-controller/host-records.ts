/**
 * DNS records for a load balancer the AWS Load Balancer Controller built for a Service: the
 * load balancer is found by the tags the controller puts on it (a data source), and each host gets
 * an alias A record to it in the public zone, or, without a zone, a Terraform output for the zone's
 * owner. Nothing is copied by hand and no DNS controller runs in the cluster. The gateway's API and
 * auth hosts and the NATS external host use it.
 */
import { DataAwsLb } from "@cdktf/provider-aws/lib/data-aws-lb/index.js";
import { Route53Record } from "@cdktf/provider-aws/lib/route53-record/index.js";
import { TerraformOutput, type ITerraformDependable } from "cdktf";
import type { Construct } from "constructs";
import { AWS_LOAD_BALANCER_CONTROLLER_CLUSTER_TAG } from "./chart-values.js";

/** The tags the controller puts on the load balancer it builds for `namespace/service` in `clusterName`. */
export function serviceLoadBalancerTags(clusterName: string, namespace: string, service: string): Record<string, string> {
  return { [AWS_LOAD_BALANCER_CONTROLLER_CLUSTER_TAG]: clusterName, "service.k8s.aws/stack": `${namespace}/${service}` };
}

export interface LoadBalancerHostRecordsProps {
  /** Prefix of the construct ids: `<prefix>-load-balancer` (the data source), `<prefix>-host-records` (the output). */
  readonly idPrefix: string;
  /** The host names by role; the role names the record (`<role>-host-record`). */
  readonly hosts: Readonly<Record<string, string>>;
  /** The EKS cluster whose controller built the load balancer, and the Service it built it for. */
  readonly clusterName: string;
  readonly namespace: string;
  readonly service: string;
  /** Public Route 53 zone of the hosts. @default - no record; the load balancer's name is a Terraform output for the zone's owner */
  readonly hostedZoneId?: string;
  /**
   * What must exist before the load balancer can be looked up: the Service, in the same stack,
   * waiting for its load balancer's address (the data source is then read while applying, after it).
   * @default - none: the Service was deployed by an earlier stack
   */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/** Adds the lookup and the records (or the output) to `scope`. */
export function addLoadBalancerHostRecords(scope: Construct, props: LoadBalancerHostRecordsProps): DataAwsLb {
  const loadBalancer = new DataAwsLb(scope, `${props.idPrefix}-load-balancer`, {
    tags: serviceLoadBalancerTags(props.clusterName, props.namespace, props.service),
    ...(props.dependsOn?.length ? { dependsOn: [...props.dependsOn] } : {}),
  });
  const names = Object.values(props.hosts);
  if (!props.hostedZoneId) {
    new TerraformOutput(scope, `${props.idPrefix}-host-records`, {
      description: `Point ${names.join(" and ")} at the load balancer of ${props.namespace}/${props.service} (an alias A record, or a CNAME) in the public zone`,
      value: { names, target: loadBalancer.dnsName, targetZoneId: loadBalancer.zoneId },
    });
    return loadBalancer;
  }
  for (const [role, name] of Object.entries(props.hosts)) {
    new Route53Record(scope, `${role}-host-record`, {
      zoneId: props.hostedZoneId,
      name,
      type: "A",
      alias: { name: loadBalancer.dnsName, zoneId: loadBalancer.zoneId, evaluateTargetHealth: true },
    });
  }
  return loadBalancer;
}

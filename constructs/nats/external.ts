/**
 * NATS reachable from outside the cluster: a Service of type LoadBalancer from which the AWS Load
 * Balancer Controller builds an internet-facing NLB on the client port. The NLB passes TCP
 * through (no listener certificate): TLS terminates at nats-server, whose certificate names the
 * external host, and every connection still authenticates with a user JWT. Only
 * `allowedCidrs` may connect (`loadBalancerSourceRanges`, which the controller turns into the
 * NLB's security group rules); policy rule NATS-1 checks that at every synth. The host agents dial
 * gets an alias record to the NLB in the public zone (or an output for the zone's owner): the
 * Service waits for its load balancer's address, then the NLB is looked up by the controller's tags.
 */
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import type { ITerraformDependable } from "cdktf";
import type { Construct } from "constructs";
import { parseCidr } from "../../config/cidr.js";
import { addLoadBalancerHostRecords } from "../aws-load-balancer-controller/host-records.js";
import type { PropFail } from "../core/validation.js";
import { PORTS } from "../platform-interfaces.js";
import { NATS_NAMES, NATS_NAMESPACE } from "./names.js";

/** Ranges that mean "anyone". */
export const ANYWHERE_CIDRS = ["0.0.0.0/0", "::/0"] as const;

/** Name of the external Service (and so of the NLB's target group). */
export const NATS_EXTERNAL_SERVICE = "nats-external";

/** The labels the NATS chart selects its server pods by (its client Service's selector). */
export const NATS_SERVER_SELECTOR = { "app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": NATS_NAMES.release, "app.kubernetes.io/component": "nats" } as const;

/** The AWS Load Balancer Controller's `loadBalancerClass` of NLBs (no Service mutator webhook needed). */
export const NLB_LOAD_BALANCER_CLASS = "service.k8s.aws/nlb";

export interface NatsExternalAccess {
  /** The host name agents dial; it is added to the servers' certificate. Point it at the NLB. */
  readonly hostname: string;
  /** Source ranges the NLB admits (`loadBalancerSourceRanges`); 0.0.0.0/0 only with {@link allowAnywhere}. */
  readonly allowedCidrs: readonly string[];
  /** Accept 0.0.0.0/0 (or ::/0) in {@link allowedCidrs}. @default false */
  readonly allowAnywhere?: boolean;
  /**
   * Where the NLB's connections reach the pods from (ip targets without client IP preservation:
   * the NLB's own addresses in the public subnets). The NATS ingress policy admits them on the client port.
   */
  readonly loadBalancerCidrs: readonly string[];
  /** The EKS cluster whose AWS Load Balancer Controller builds the NLB (the tag it is found by). */
  readonly clusterName: string;
  /** Public Route 53 zone of {@link hostname}. @default - no record; the NLB's name is a Terraform output for the zone's owner */
  readonly hostedZoneId?: string;
}

const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/** Checks the external access props, naming the field and the fix. */
export function checkExternalAccess(external: NatsExternalAccess, fail: PropFail): void {
  if (!DNS_NAME.test(external.hostname)) fail("external.hostname", external.hostname, "is not a lower-case fully qualified domain name", 'use the host agents dial, e.g. "nats.example.com"');
  if (external.allowedCidrs.length === 0) {
    fail("external.allowedCidrs", external.allowedCidrs, "is empty, so the load balancer would admit no one (or, without source ranges, everyone)", 'list the ranges agents connect from, e.g. ["203.0.113.0/24"], or leave external unset to keep NATS in-cluster');
  }
  external.allowedCidrs.forEach((cidr, i) => {
    if ((ANYWHERE_CIDRS as readonly string[]).includes(cidr)) {
      if (external.allowAnywhere !== true) {
        fail(`external.allowedCidrs[${i}]`, cidr, "opens the NATS client port to the whole internet", "list the ranges agents connect from, or set external.allowAnywhere: true to accept it explicitly");
      }
    } else if (!parseCidr(cidr)) {
      fail(`external.allowedCidrs[${i}]`, cidr, "is not an IPv4 CIDR block with its host bits zero", 'write it like "203.0.113.0/24"');
    }
  });
  if (!external.clusterName) fail("external.clusterName", external.clusterName, "is empty, so the NLB cannot be found for the host's DNS record", "pass the EKS cluster's name (the workloads stack's cluster.clusterName)");
  if (external.loadBalancerCidrs.length === 0) {
    fail("external.loadBalancerCidrs", external.loadBalancerCidrs, "is empty, so the NATS ingress policy admits no connection from the load balancer", "pass the public subnets the NLB is in (config.network.subnets.public)");
  }
}

/** The annotations that make the AWS Load Balancer Controller build an internet-facing NLB passing TCP through. */
export function natsNlbAnnotations(): Record<string, string> {
  const a = "service.beta.kubernetes.io/aws-load-balancer-";
  return {
    [`${a}type`]: "external",
    [`${a}nlb-target-type`]: "ip",
    [`${a}scheme`]: "internet-facing",
    // TCP passthrough: nats-server terminates TLS (its certificate names the external host).
    [`${a}backend-protocol`]: "tcp",
    [`${a}manage-backend-security-group-rules`]: "true",
    // The pods see the NLB's addresses, which the ingress policy admits (not the agents').
    [`${a}target-group-attributes`]: "preserve_client_ip.enabled=false",
    [`${a}healthcheck-protocol`]: "tcp",
    [`${a}healthcheck-port`]: "traffic-port",
  };
}

/** The external Service's manifest. Pure, for tests. */
export function natsExternalServiceManifest(external: Pick<NatsExternalAccess, "allowedCidrs" | "hostname">): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: NATS_EXTERNAL_SERVICE,
      namespace: NATS_NAMESPACE,
      labels: { "app.kubernetes.io/name": "nats", "app.kubernetes.io/component": "external" },
      annotations: { ...natsNlbAnnotations(), "enchanted.io/hostname": external.hostname },
    },
    spec: {
      type: "LoadBalancer",
      loadBalancerClass: NLB_LOAD_BALANCER_CLASS,
      loadBalancerSourceRanges: [...external.allowedCidrs],
      selector: { ...NATS_SERVER_SELECTOR },
      ports: [{ name: "nats", port: PORTS.natsClient, targetPort: PORTS.natsClient, protocol: "TCP" }],
    },
  };
}

/** The Service's status field the controller fills once the NLB exists (its DNS name). */
export const LOAD_BALANCER_READY_FIELD = "status.loadBalancer.ingress[0].hostname";

/**
 * Adds the external Service (`external-service`, applied once its NLB has an address) and the
 * host's record (`nats-host-record` in the zone, or the output `external-host-records`) to `scope`.
 */
export function addNatsExternalService(scope: Construct, external: NatsExternalAccess, dependsOn: readonly ITerraformDependable[]): Manifest {
  const service = new Manifest(scope, "external-service", {
    manifest: natsExternalServiceManifest(external),
    wait: { fields: { [LOAD_BALANCER_READY_FIELD]: "^.+$" } },
    dependsOn: [...dependsOn],
  });
  addLoadBalancerHostRecords(scope, {
    idPrefix: "external",
    hosts: { nats: external.hostname },
    clusterName: external.clusterName,
    namespace: NATS_NAMESPACE,
    service: NATS_EXTERNAL_SERVICE,
    ...(external.hostedZoneId ? { hostedZoneId: external.hostedZoneId } : {}),
    dependsOn: [service],
  });
  return service;
}

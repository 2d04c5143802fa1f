/**
 * The `kong` namespace's NetworkPolicies: default deny, DNS, and the gateway's own traffic: the NLB
 * in, the controller to the admin API inside the namespace, the Kubernetes API and Redis in the
 * VPC, and the backends it routes to. Nothing is written into a backend's namespace: its owner
 * admits the gateway's pods there (`allowFrom(gateway.peer)`).
 */
import type { NetworkPolicyV1 } from "@cdktf/provider-kubernetes/lib/network-policy-v1/index.js";
import type { ITerraformDependable } from "cdktf";
import type { Construct } from "constructs";
import { addDefaultDeny, addDnsEgress, addNetworkPolicy, type NetworkPeer } from "../k8s/network-policy.js";
import { PORTS } from "../platform-interfaces.js";
import { REDIS_PORT } from "../redis/elasticache-redis.js";
import { KONG_NAMESPACE, KONG_PORTS } from "./names.js";

/** The gateway's pods (controller and proxies): what a backend's owner admits (`allowFrom`). */
export const KONG_GATEWAY_PEER: NetworkPeer = { namespace: KONG_NAMESPACE };

/** A service the gateway forwards to: the gateway's egress opens to this namespace on this port. */
export interface KongBackend {
  readonly namespace: string;
  readonly port: number;
}

export interface KongNetworkPoliciesProps {
  /** The VPC's range: the NLB's addresses, the Kubernetes API's private endpoint, Redis. */
  readonly vpcCidr: string;
  readonly backends: readonly KongBackend[];
  /** The namespace and whatever else the policies wait for. */
  readonly dependsOn: readonly ITerraformDependable[];
}

/** Adds the policies to `scope` as `netpol-kong-<name>`. */
export function addKongNetworkPolicies(scope: Construct, props: KongNetworkPoliciesProps): NetworkPolicyV1[] {
  const id = (name: string) => `netpol-${KONG_NAMESPACE}-${name}`;
  const dependsOn = props.dependsOn;
  const vpc = { cidr: props.vpcCidr };
  const gateway = KONG_GATEWAY_PEER;
  return [
    addDefaultDeny(scope, id("default-deny"), KONG_NAMESPACE, dependsOn),
    addDnsEgress(scope, id("allow-dns"), KONG_NAMESPACE, dependsOn),
    addNetworkPolicy(scope, id("allow-gateway"), {
      name: "allow-gateway",
      namespace: KONG_NAMESPACE,
      ingress: [
        // The NLB (ip targets) from its VPC addresses: the TLS proxy and the health check.
        { peers: [vpc], ports: [KONG_PORTS.proxyTls, KONG_PORTS.status] },
        // The controller configures the gateways through the admin API inside the namespace.
        { peers: [gateway] },
      ],
      egress: [
        { peers: [gateway] },
        // One rule per namespace and port (two backends may share both, e.g. two Services of `platform` on 8080).
        ...[...new Map(props.backends.map((b) => [`${b.namespace}:${b.port}`, b])).values()].map((b) => ({ peers: [{ namespace: b.namespace }], ports: [b.port] })),
        // The Kubernetes API (private endpoint in the VPC) for the controller; Redis in the data subnets.
        { peers: [vpc], ports: [PORTS.https, REDIS_PORT] },
      ],
      dependsOn,
    }),
  ];
}

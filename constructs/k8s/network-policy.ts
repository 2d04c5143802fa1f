/**
 * The one way this repository writes a NetworkPolicy: peers and ports as plain data, turned into a
 * typed `kubernetes_network_policy_v1`. Every namespace starts from {@link addDefaultDeny} and
 * {@link DNS_EGRESS}; a workload's owner admits its clients with a {@link WorkloadAccess} in its
 * own namespace (aws-cdk's `connections.allowFrom(peer)`, as a NetworkPolicy).
 */
import { NetworkPolicyV1, type NetworkPolicyV1Spec, type NetworkPolicyV1SpecEgress, type NetworkPolicyV1SpecIngress } from "@cdktf/provider-kubernetes/lib/network-policy-v1/index.js";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { NAMESPACE_NAME_LABEL, PORTS } from "../platform-interfaces.js";

export type Labels = Readonly<Record<string, string>>;

/**
 * Who is on the other end of a rule:
 * - `{ cidr }`: an IP range (load balancers, databases, AWS endpoints);
 * - `{ namespace }`: every pod of a namespace, or only those with `podLabels`;
 * - `{ anyNamespace: true, podLabels }`: pods with these labels in any namespace;
 * - `{ podLabels }`: pods with these labels in the policy's own namespace.
 */
export type NetworkPeer =
  | { readonly cidr: string }
  | { readonly namespace: string; readonly podLabels?: Labels }
  | { readonly anyNamespace: true; readonly podLabels: Labels }
  | { readonly podLabels: Labels };

/** A port, TCP unless said otherwise. */
export type NetworkPort = number | { readonly port: number; readonly protocol: "TCP" | "UDP" };

/** One rule: these peers on these ports. No peers: anyone; no ports: every port. */
export interface NetworkRule {
  readonly peers?: readonly NetworkPeer[];
  readonly ports?: readonly NetworkPort[];
}

export interface NetworkPolicyProps {
  /** The NetworkPolicy's name in its namespace. */
  readonly name: string;
  readonly namespace: string;
  /** The pods it applies to. @default - every pod of the namespace */
  readonly podLabels?: Labels;
  /** Labels of the NetworkPolicy object itself. @default - none */
  readonly labels?: Labels;
  /** Ingress rules; an empty list denies all ingress. @default - the policy does not restrict ingress */
  readonly ingress?: readonly NetworkRule[];
  /** Egress rules; an empty list denies all egress. @default - the policy does not restrict egress */
  readonly egress?: readonly NetworkRule[];
  /** @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/** Cluster DNS (CoreDNS in kube-system) on 53, UDP and TCP: every namespace's first allow. */
export const DNS_EGRESS: NetworkRule = {
  peers: [{ namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } }],
  ports: [{ port: PORTS.dns, protocol: "UDP" }, PORTS.dns],
};

/** A NetworkPolicy peer: every pod of namespace `namespace` (add a `podSelector` to narrow it). */
function namespacePeer(namespace: string): { namespaceSelector: { matchLabels: Record<string, string> } } {
  return { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: namespace } } };
}

/** Pods carrying `label=true`, in any namespace: the clients a server admits by label (their own namespace lets them out). */
export function labelledClients(label: string): NetworkPeer {
  return { anyNamespace: true, podLabels: { [label]: "true" } };
}

function peerOf(p: NetworkPeer) {
  if ("cidr" in p) return { ipBlock: { cidr: p.cidr } };
  const pods = p.podLabels ? { podSelector: { matchLabels: { ...p.podLabels } } } : {};
  if ("namespace" in p) return { ...namespacePeer(p.namespace), ...pods };
  if ("anyNamespace" in p) return { namespaceSelector: {}, ...pods };
  return pods;
}

function portsOf(ports: readonly NetworkPort[]) {
  return ports.map((p) => (typeof p === "number" ? { port: String(p), protocol: "TCP" } : { port: String(p.port), protocol: p.protocol }));
}

function ingressOf(r: NetworkRule): NetworkPolicyV1SpecIngress {
  return { ...(r.peers ? { from: r.peers.map(peerOf) } : {}), ...(r.ports ? { ports: portsOf(r.ports) } : {}) };
}

function egressOf(r: NetworkRule): NetworkPolicyV1SpecEgress {
  return { ...(r.peers ? { to: r.peers.map(peerOf) } : {}), ...(r.ports ? { ports: portsOf(r.ports) } : {}) };
}

/** The policy's spec: `policyTypes` from which directions it restricts. Pure, for tests. */
export function networkPolicySpec(props: Pick<NetworkPolicyProps, "podLabels" | "ingress" | "egress">): NetworkPolicyV1Spec {
  const labels = props.podLabels ?? {};
  return {
    podSelector: Object.keys(labels).length ? { matchLabels: { ...labels } } : {},
    policyTypes: [...(props.ingress ? ["Ingress"] : []), ...(props.egress ? ["Egress"] : [])],
    ...(props.ingress ? { ingress: props.ingress.map(ingressOf) } : {}),
    ...(props.egress ? { egress: props.egress.map(egressOf) } : {}),
  };
}

/** A NetworkPolicy in `scope` under `id`. */
export function addNetworkPolicy(scope: Construct, id: string, props: NetworkPolicyProps): NetworkPolicyV1 {
  return new NetworkPolicyV1(scope, id, {
    metadata: { name: props.name, namespace: props.namespace, ...(props.labels ? { labels: { ...props.labels } } : {}) },
    spec: networkPolicySpec(props),
    ...(props.dependsOn ? { dependsOn: [...props.dependsOn] } : {}),
  });
}

/** `default-deny`: no ingress and no egress for any pod of the namespace until an allow says so. */
export function addDefaultDeny(scope: Construct, id: string, namespace: string, dependsOn?: readonly ITerraformDependable[]): NetworkPolicyV1 {
  return addNetworkPolicy(scope, id, { name: "default-deny", namespace, ingress: [], egress: [], ...(dependsOn ? { dependsOn } : {}) });
}

/** `allow-dns`: every pod of the namespace may ask the cluster DNS. */
export function addDnsEgress(scope: Construct, id: string, namespace: string, dependsOn?: readonly ITerraformDependable[]): NetworkPolicyV1 {
  return addNetworkPolicy(scope, id, { name: "allow-dns", namespace, egress: [DNS_EGRESS], ...(dependsOn ? { dependsOn } : {}) });
}

export interface WorkloadAccessProps {
  /** Name of the NetworkPolicy in the owner's namespace. */
  readonly name: string;
  /** The owner's namespace. */
  readonly namespace: string;
  /** The owner's pods. @default - every pod of the namespace */
  readonly podLabels?: Labels;
  /** Labels of the NetworkPolicy object. @default - none */
  readonly labels?: Labels;
  /** The ports a peer is let in on when {@link WorkloadAccess.allowFrom} names none (aws-cdk's `defaultPort`). */
  readonly defaultPorts: readonly NetworkPort[];
  /** Rules the owner always needs (its own cluster traffic), after the peers it admits. @default [] */
  readonly ownIngress?: readonly NetworkRule[];
  /** The owner's egress rules. @default - the policy does not restrict egress */
  readonly egress?: readonly NetworkRule[];
  /** @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
  /**
   * Construct id of the NetworkPolicy. With the WorkloadAccess's own id `Default` (which logical
   * ids leave out), a policy that an owner wrote itself before keeps its Terraform address.
   * @default "policy"
   */
  readonly policyId?: string;
}

/**
 * Who may reach a workload, written by its owner in its own namespace: one NetworkPolicy whose
 * ingress lists every peer {@link allowFrom} admitted (peers on the same ports share a rule),
 * then the owner's own rules. Callers ask the owner (`nats.allowFrom(workers)`), never write a
 * policy into another component's namespace.
 */
export class WorkloadAccess extends Construct {
  readonly policy: NetworkPolicyV1;
  private readonly props: WorkloadAccessProps;
  private readonly admitted: { peers: NetworkPeer[]; ports: readonly NetworkPort[] }[] = [];

  constructor(scope: Construct, id: string, props: WorkloadAccessProps) {
    super(scope, id);
    this.props = { ...props };
    this.policy = addNetworkPolicy(this, props.policyId ?? "policy", { ...this.specProps(), name: props.name, namespace: props.namespace, ...(props.labels ? { labels: props.labels } : {}), ...(props.dependsOn ? { dependsOn: props.dependsOn } : {}) });
  }

  /** Lets `peers` in on `ports` (the owner's default ports unless given). */
  allowFrom(peers: NetworkPeer | readonly NetworkPeer[], ports: readonly NetworkPort[] = this.props.defaultPorts): void {
    const list = Array.isArray(peers) ? (peers as readonly NetworkPeer[]) : [peers as NetworkPeer];
    const key = JSON.stringify(portsOf(ports));
    let rule = this.admitted.find((r) => JSON.stringify(portsOf(r.ports)) === key);
    if (!rule) {
      rule = { peers: [], ports: [...ports] };
      this.admitted.push(rule);
    }
    for (const peer of list) if (!rule.peers.some((p) => JSON.stringify(p) === JSON.stringify(peer))) rule.peers.push(peer);
    this.policy.putSpec(networkPolicySpec(this.specProps()));
  }

  private specProps(): Pick<NetworkPolicyProps, "podLabels" | "ingress" | "egress"> {
    return {
      ...(this.props.podLabels ? { podLabels: this.props.podLabels } : {}),
      ingress: [...this.admitted.map((r) => ({ peers: r.peers, ports: r.ports })), ...(this.props.ownIngress ?? [])],
      ...(this.props.egress ? { egress: this.props.egress } : {}),
    };
  }
}

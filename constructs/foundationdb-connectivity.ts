import { Ec2TransitGatewayVpcAttachment } from "@cdktf/provider-aws/lib/ec2-transit-gateway-vpc-attachment/index.js";
import { Route } from "@cdktf/provider-aws/lib/route/index.js";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group/index.js";
import { VpcEndpoint } from "@cdktf/provider-aws/lib/vpc-endpoint/index.js";
import { VpcPeeringConnection } from "@cdktf/provider-aws/lib/vpc-peering-connection/index.js";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule/index.js";
import { propFail } from "./core/validation.js";
import { addNetworkPolicy } from "./k8s/network-policy.js";
import { Construct, type IConstruct } from "constructs";
import { parseCidr } from "../config/cidr.js";
import type { FoundationDbPeer } from "../config/environment.js";
import { ManagedSecret, SyncedSecret } from "./external-secrets.js";
import type { IKmsKey } from "./kms-key.js";
import { NAMESPACES, POLICY_LABELS, type ISecretStore } from "./platform-interfaces.js";

/** Kubernetes Secret (in each client namespace) holding the cluster file under this key. */
export const FDB_CLUSTER_FILE_SECRET = "foundationdb-cluster-file";
export const FDB_CLUSTER_FILE_KEY = "fdb.cluster";

export interface FoundationDbNetworkProps {
  readonly name: string;
  readonly peer: FoundationDbPeer;
  /** The FoundationDB cluster's address range (peering / transit gateway). */
  readonly cidr: string;
  /** FoundationDB server ports (coordinators and processes). */
  readonly ports: readonly number[];
  readonly vpcId: string;
  readonly privateSubnetIds: readonly string[];
  /** Ranges of the private subnets: the pods that talk to FoundationDB live there. */
  readonly privateSubnetCidrs: readonly string[];
  /** Route tables of the private subnets, which get the route to the FoundationDB range. */
  readonly privateRouteTableIds: readonly string[];
  /** Secrets Manager name of the cluster file. */
  readonly clusterFileSecretName: string;
  readonly secretsKey: IKmsKey;
}

/**
 * The AWS side of the path to the existing FoundationDB cluster (platform stack): a VPC
 * peering connection, a transit gateway attachment or a PrivateLink endpoint, as the config
 * chooses; routes from the private subnets; for PrivateLink, an endpoint security group open on
 * the FoundationDB ports to the private subnets only; and the Secrets Manager secret (customer
 * key) that holds the cluster file. Which pods may use the path is decided by
 * {@link FoundationDbClientAccess}'s NetworkPolicies.
 */
export class FoundationDbNetwork extends Construct {
  /** Ranges pods must be allowed to reach: the peer's CIDR, or the endpoint's subnets for PrivateLink. */
  readonly destinationCidrs: readonly string[];
  readonly clusterFileSecret: ManagedSecret;

  constructor(scope: Construct, id: string, props: FoundationDbNetworkProps) {
    super(scope, id);
    checkProps(this, props);
    const peer = props.peer;
    switch (peer.kind) {
      case "vpc-peering": {
        const pcx = new VpcPeeringConnection(this, "peering", {
          vpcId: props.vpcId,
          peerVpcId: peer.vpcId,
          peerOwnerId: peer.ownerAccountId,
          peerRegion: peer.region,
          // Cross-account or cross-region peering is accepted by the peer's owner.
          autoAccept: false,
          tags: { Name: `${props.name}-foundationdb` },
        });
        props.privateRouteTableIds.forEach((routeTableId, i) => {
          new Route(this, `route-${i}`, { routeTableId, destinationCidrBlock: props.cidr, vpcPeeringConnectionId: pcx.id });
        });
        this.destinationCidrs = [props.cidr];
        break;
      }
      case "transit-gateway": {
        const attachment = new Ec2TransitGatewayVpcAttachment(this, "attachment", {
          transitGatewayId: peer.transitGatewayId,
          vpcId: props.vpcId,
          subnetIds: [...props.privateSubnetIds],
          dnsSupport: "enable",
          tags: { Name: `${props.name}-foundationdb` },
        });
        props.privateRouteTableIds.forEach((routeTableId, i) => {
          new Route(this, `route-${i}`, {
            routeTableId,
            destinationCidrBlock: props.cidr,
            transitGatewayId: peer.transitGatewayId,
            dependsOn: [attachment],
          });
        });
        this.destinationCidrs = [props.cidr];
        break;
      }
      case "privatelink": {
        const sg = new SecurityGroup(this, "endpoint-sg", {
          vpcId: props.vpcId,
          name: `${props.name}-foundationdb-endpoint`,
          description: "FoundationDB ports of the PrivateLink endpoint, from the private subnets only",
        });
        props.privateSubnetCidrs.forEach((cidr, i) => {
          for (const port of props.ports) {
            new VpcSecurityGroupIngressRule(this, `endpoint-${i}-${port}`, {
              securityGroupId: sg.id,
              cidrIpv4: cidr,
              ipProtocol: "tcp",
              fromPort: port,
              toPort: port,
              description: `FoundationDB ${port} from private subnet ${i}`,
            });
          }
        });
        new VpcEndpoint(this, "endpoint", {
          vpcId: props.vpcId,
          serviceName: peer.serviceName,
          vpcEndpointType: "Interface",
          subnetIds: [...props.privateSubnetIds],
          securityGroupIds: [sg.id],
          privateDnsEnabled: false,
          tags: { Name: `${props.name}-foundationdb` },
        });
        this.destinationCidrs = [...props.privateSubnetCidrs];
        break;
      }
    }
    this.clusterFileSecret = new ManagedSecret(this, "cluster-file", {
      name: props.clusterFileSecretName,
      description: "FoundationDB cluster file (fdb.cluster) of the existing cluster",
      key: props.secretsKey,
    });
  }
}

/** Namespaces whose pods use FoundationDB (the provisioning service runs in `platform`): the client policy and the cluster file go there. */
export const FOUNDATIONDB_CLIENT_NAMESPACES = [NAMESPACES.platform] as const;

export interface FoundationDbClientAccessProps {
  /** Namespaces whose labelled pods use FoundationDB. */
  readonly namespaces: readonly string[];
  readonly destinationCidrs: readonly string[];
  readonly ports: readonly number[];
}

/**
 * In each namespace that needs FoundationDB: a NetworkPolicy that lets only pods labelled
 * `enchanted.io/foundationdb-client=true` reach the FoundationDB range on its ports (platform
 * stack; the namespaces' default-deny blocks everyone else).
 */
export class FoundationDbClientAccess extends Construct {
  constructor(scope: Construct, id: string, props: FoundationDbClientAccessProps) {
    super(scope, id);
    for (const namespace of props.namespaces) {
      addNetworkPolicy(this, `${namespace}-egress`, {
        name: "allow-foundationdb",
        namespace,
        podLabels: { [POLICY_LABELS.foundationDbClient]: "true" },
        egress: [{ peers: props.destinationCidrs.map((cidr) => ({ cidr })), ports: props.ports }],
      });
    }
  }
}

export interface FoundationDbClusterFileProps {
  readonly store: ISecretStore;
  readonly namespaces: readonly string[];
  readonly clusterFileSecretName: string;
}

/** The cluster file synced from Secrets Manager into each namespace that needs it (workloads stack). */
export class FoundationDbClusterFile extends Construct {
  constructor(scope: Construct, id: string, props: FoundationDbClusterFileProps) {
    super(scope, id);
    for (const namespace of props.namespaces) {
      new SyncedSecret(this, namespace, {
        store: props.store,
        namespace,
        secretName: FDB_CLUSTER_FILE_SECRET,
        remoteKey: props.clusterFileSecretName,
        data: [{ secretKey: FDB_CLUSTER_FILE_KEY }],
      });
    }
  }
}

function checkProps(scope: IConstruct, props: FoundationDbNetworkProps): void {
  const fail = propFail(scope);
  if (!parseCidr(props.cidr)) fail("cidr", props.cidr, "is not an IPv4 CIDR", 'use the cluster\'s range, e.g. "10.200.0.0/16"');
  if (props.ports.length === 0) fail("ports", props.ports, "is empty", "list the FoundationDB server ports, e.g. [4500]");
  for (const port of props.ports) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) fail("ports[]", port, "is not a TCP port", "use 1-65535");
  }
  if (props.privateRouteTableIds.length === 0) fail("privateRouteTableIds", props.privateRouteTableIds, "is empty", "pass the private subnets' route tables");
}

import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group/index.js";
import { DataAwsAvailabilityZones } from "@cdktf/provider-aws/lib/data-aws-availability-zones/index.js";
import { DefaultSecurityGroup } from "@cdktf/provider-aws/lib/default-security-group/index.js";
import { Eip } from "@cdktf/provider-aws/lib/eip/index.js";
import { FlowLog } from "@cdktf/provider-aws/lib/flow-log/index.js";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role/index.js";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy/index.js";
import { InternetGateway } from "@cdktf/provider-aws/lib/internet-gateway/index.js";
import { NatGateway } from "@cdktf/provider-aws/lib/nat-gateway/index.js";
import { Route } from "@cdktf/provider-aws/lib/route/index.js";
import { RouteTableAssociation } from "@cdktf/provider-aws/lib/route-table-association/index.js";
import { RouteTable } from "@cdktf/provider-aws/lib/route-table/index.js";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group/index.js";
import { Subnet } from "@cdktf/provider-aws/lib/subnet/index.js";
import { VpcEndpoint } from "@cdktf/provider-aws/lib/vpc-endpoint/index.js";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule/index.js";
import { Vpc } from "@cdktf/provider-aws/lib/vpc/index.js";
import { Fn, Token } from "cdktf";
import { propFail } from "./core/validation.js";
import { Construct, type IConstruct } from "constructs";
import { contains, overlaps, parseCidr } from "../config/cidr.js";
import { serviceTrustPolicy } from "./iam.js";
import type { IKmsKey } from "./kms-key.js";

/** What other constructs need to know of the network. */
export interface INetwork {
  readonly vpcId: string;
  readonly vpcCidr: string;
  /** Subnets with a route to the internet gateway: load balancers and NAT gateways only. */
  readonly publicSubnetIds: readonly string[];
  /** Subnets of the nodes and pods, egress through NAT. */
  readonly privateSubnetIds: readonly string[];
  /** Subnets of managed data stores: no route to the internet at all. */
  readonly dataSubnetIds: readonly string[];
  /** Route tables of the private and data subnets, for routes to peered networks. */
  readonly privateRouteTableIds: readonly string[];
  readonly dataRouteTableIds: readonly string[];
}

export type NatGatewayMode = "single" | "one-per-az";

export interface NetworkProps {
  /** Name prefix for every resource's `Name` tag, e.g. `enchanted-prod`. */
  readonly name: string;
  readonly vpcCidr: string;
  /** Number of availability zones; each subnet list has exactly this many entries. */
  readonly azCount: number;
  readonly subnets: {
    readonly public: readonly string[];
    readonly private: readonly string[];
    readonly data: readonly string[];
  };
  /** `single` saves cost (dev); `one-per-az` survives the loss of an AZ. @default "one-per-az" */
  readonly natGateways?: NatGatewayMode;
  /** Key that encrypts the flow log group. */
  readonly logsKey: IKmsKey;
  /** Days flow logs are kept. @default 90 */
  readonly flowLogRetentionDays?: number;
  /** AWS services reached through interface endpoints instead of NAT. @default DEFAULT_INTERFACE_ENDPOINTS */
  readonly interfaceEndpoints?: readonly string[];
  /** EKS cluster whose load balancers may use these subnets (adds the discovery tags). @default - no tags */
  readonly clusterName?: string;
  readonly region: string;
  /** Account that owns the VPC; only its flow logs may assume the delivery role. */
  readonly accountId: string;
}

/** Interface endpoints that keep image pulls, credentials, secrets, keys and logs off the NAT path. */
export const DEFAULT_INTERFACE_ENDPOINTS = ["ecr.api", "ecr.dkr", "sts", "secretsmanager", "kms", "logs"] as const;
const DEFAULT_FLOW_LOG_RETENTION_DAYS = 90;
/** Shortest aggregation interval for flow logs (seconds): finer forensics. */
const FLOW_LOG_AGGREGATION_SECONDS = 60;

/**
 * A VPC over `azCount` availability zones with public, private and data subnets, NAT gateways,
 * an S3 gateway endpoint, interface endpoints for the AWS APIs the cluster uses, a default
 * security group that allows nothing, and flow logs of all traffic into an encrypted log group.
 */
export class Network extends Construct implements INetwork {
  readonly vpcId: string;
  readonly vpcCidr: string;
  readonly publicSubnetIds: string[] = [];
  readonly privateSubnetIds: string[] = [];
  readonly dataSubnetIds: string[] = [];
  readonly privateRouteTableIds: string[] = [];
  readonly dataRouteTableIds: string[] = [];
  readonly endpointSecurityGroupId: string;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const natMode = props.natGateways ?? "one-per-az";
    const interfaceEndpoints = [...(props.interfaceEndpoints ?? DEFAULT_INTERFACE_ENDPOINTS)];
    const retentionDays = props.flowLogRetentionDays ?? DEFAULT_FLOW_LOG_RETENTION_DAYS;
    checkProps(this, props);
    const name = props.name;
    const tag = (suffix: string, extra: Record<string, string> = {}) => ({ Name: `${name}-${suffix}`, ...extra });

    const vpc = new Vpc(this, "vpc", {
      cidrBlock: props.vpcCidr,
      enableDnsHostnames: true,
      enableDnsSupport: true,
      tags: tag("vpc"),
    });
    this.vpcId = vpc.id;
    this.vpcCidr = props.vpcCidr;

    // The default security group is attached to anything launched without one: make it deny all.
    new DefaultSecurityGroup(this, "default-sg", { vpcId: vpc.id, tags: tag("default-deny") });

    const azs = new DataAwsAvailabilityZones(this, "azs", {
      state: "available",
      filter: [{ name: "opt-in-status", values: ["opt-in-not-required"] }],
    });
    const azName = (i: number) => Fn.element(azs.names, i);

    const igw = new InternetGateway(this, "igw", { vpcId: vpc.id, tags: tag("igw") });
    const publicRt = new RouteTable(this, "public-rt", { vpcId: vpc.id, tags: tag("public") });
    new Route(this, "public-default-route", {
      routeTableId: publicRt.id,
      destinationCidrBlock: "0.0.0.0/0",
      gatewayId: igw.id,
    });
    const dataRt = new RouteTable(this, "data-rt", { vpcId: vpc.id, tags: tag("data") });
    this.dataRouteTableIds.push(dataRt.id);

    const clusterTags = (role: "elb" | "internal-elb"): Record<string, string> =>
      props.clusterName ? { [`kubernetes.io/role/${role}`]: "1", [`kubernetes.io/cluster/${props.clusterName}`]: "shared" } : {};

    const natIds: string[] = [];
    for (let i = 0; i < props.azCount; i++) {
      const pub = new Subnet(this, `public-${i}`, {
        vpcId: vpc.id,
        cidrBlock: props.subnets.public[i] as string,
        availabilityZone: azName(i),
        mapPublicIpOnLaunch: false,
        tags: tag(`public-${i}`, { "enchanted.io/subnet-tier": "public", ...clusterTags("elb") }),
      });
      new RouteTableAssociation(this, `public-${i}-rta`, { subnetId: pub.id, routeTableId: publicRt.id });
      this.publicSubnetIds.push(pub.id);

      if (natMode === "one-per-az" || i === 0) {
        const eip = new Eip(this, `nat-${i}-eip`, { domain: "vpc", tags: tag(`nat-${i}`) });
        const nat = new NatGateway(this, `nat-${i}`, {
          allocationId: eip.allocationId,
          subnetId: pub.id,
          tags: tag(`nat-${i}`),
          dependsOn: [igw],
        });
        natIds.push(nat.id);
      }

      const priv = new Subnet(this, `private-${i}`, {
        vpcId: vpc.id,
        cidrBlock: props.subnets.private[i] as string,
        availabilityZone: azName(i),
        tags: tag(`private-${i}`, { "enchanted.io/subnet-tier": "private", ...clusterTags("internal-elb") }),
      });
      const privRt = new RouteTable(this, `private-${i}-rt`, { vpcId: vpc.id, tags: tag(`private-${i}`) });
      new Route(this, `private-${i}-default-route`, {
        routeTableId: privRt.id,
        destinationCidrBlock: "0.0.0.0/0",
        natGatewayId: natIds[natMode === "one-per-az" ? i : 0] as string,
      });
      new RouteTableAssociation(this, `private-${i}-rta`, { subnetId: priv.id, routeTableId: privRt.id });
      this.privateSubnetIds.push(priv.id);
      this.privateRouteTableIds.push(privRt.id);

      const data = new Subnet(this, `data-${i}`, {
        vpcId: vpc.id,
        cidrBlock: props.subnets.data[i] as string,
        availabilityZone: azName(i),
        tags: tag(`data-${i}`, { "enchanted.io/subnet-tier": "data" }),
      });
      new RouteTableAssociation(this, `data-${i}-rta`, { subnetId: data.id, routeTableId: dataRt.id });
      this.dataSubnetIds.push(data.id);
    }

    new VpcEndpoint(this, "s3-endpoint", {
      vpcId: vpc.id,
      serviceName: `com.amazonaws.${props.region}.s3`,
      vpcEndpointType: "Gateway",
      routeTableIds: [...this.privateRouteTableIds, ...this.dataRouteTableIds],
      tags: tag("s3"),
    });

    const endpointSg = new SecurityGroup(this, "endpoints-sg", {
      vpcId: vpc.id,
      name: `${name}-vpc-endpoints`,
      description: "HTTPS from inside the VPC to AWS interface endpoints",
      tags: tag("vpc-endpoints"),
    });
    new VpcSecurityGroupIngressRule(this, "endpoints-https-from-vpc", {
      securityGroupId: endpointSg.id,
      cidrIpv4: props.vpcCidr,
      ipProtocol: "tcp",
      fromPort: 443,
      toPort: 443,
      description: "HTTPS from the VPC",
    });
    this.endpointSecurityGroupId = endpointSg.id;
    for (const service of interfaceEndpoints) {
      new VpcEndpoint(this, `endpoint-${service.replace(/\./g, "-")}`, {
        vpcId: vpc.id,
        serviceName: `com.amazonaws.${props.region}.${service}`,
        vpcEndpointType: "Interface",
        privateDnsEnabled: true,
        subnetIds: [...this.privateSubnetIds],
        securityGroupIds: [endpointSg.id],
        tags: tag(service),
      });
    }

    const flowLogGroup = new CloudwatchLogGroup(this, "flow-logs", {
      name: `/enchanted/vpc/${name}/flow-logs`,
      retentionInDays: retentionDays,
      kmsKeyId: props.logsKey.keyArn,
    });
    const flowLogRole = new IamRole(this, "flow-logs-role", {
      name: `${name}-vpc-flow-logs`,
      assumeRolePolicy: serviceTrustPolicy("vpc-flow-logs.amazonaws.com", props.accountId),
    });
    new IamRolePolicy(this, "flow-logs-policy", {
      role: flowLogRole.name,
      name: "deliver-flow-logs",
      policy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Action: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            Resource: [flowLogGroup.arn, `${flowLogGroup.arn}:*`],
          },
        ],
      }),
    });
    new FlowLog(this, "flow-log", {
      vpcId: vpc.id,
      trafficType: "ALL",
      logDestinationType: "cloud-watch-logs",
      logDestination: flowLogGroup.arn,
      iamRoleArn: flowLogRole.arn,
      maxAggregationInterval: FLOW_LOG_AGGREGATION_SECONDS,
      tags: tag("flow-log"),
    });
  }
}

function checkProps(scope: IConstruct, props: NetworkProps): void {
  const fail = propFail(scope);
  if (!Number.isInteger(props.azCount) || props.azCount < 2 || props.azCount > 6) {
    fail("azCount", props.azCount, "is outside 2-6", "use 2 to 6 availability zones");
  }
  if (Token.isUnresolved(props.vpcCidr)) return;
  const vpc = parseCidr(props.vpcCidr) ?? fail("vpcCidr", props.vpcCidr, "is not an IPv4 CIDR", 'use a range like "10.0.0.0/16"');
  const seen: { field: string; cidr: NonNullable<ReturnType<typeof parseCidr>> }[] = [];
  for (const tier of ["public", "private", "data"] as const) {
    const list = props.subnets[tier];
    if (list.length !== props.azCount) {
      fail(`subnets.${tier}`, list, `has ${list.length} entries for ${props.azCount} AZs`, "give one subnet per AZ");
    }
    list.forEach((text, i) => {
      const field = `subnets.${tier}[${i}]`;
      const c = parseCidr(text) ?? fail(field, text, "is not an IPv4 CIDR", 'use a range like "10.0.32.0/19"');
      if (!contains(vpc, c)) fail(field, text, `is outside vpcCidr ${props.vpcCidr}`, "carve it out of the VPC range");
      const clash = seen.find((s) => overlaps(s.cidr, c));
      if (clash) fail(field, text, `overlaps ${clash.field} (${clash.cidr.text})`, "give every subnet its own range");
      seen.push({ field, cidr: c });
    });
  }
}

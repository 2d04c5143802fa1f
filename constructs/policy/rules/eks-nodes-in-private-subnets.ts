import type { StackIndex } from "../index-of-stack.js";
import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { fromProblems, nonCompliant } from "../results.js";
import { asString, asStringArray, blocks, isTrue, show } from "../values.js";

/** Destinations that make a route a default route to the internet. */
const DEFAULT_ROUTE_DESTINATIONS: readonly string[] = ["0.0.0.0/0", "::/0"];

/** Prefix of literal internet gateway ids. */
const INTERNET_GATEWAY_ID_PREFIX = "igw-";

/** Whether a `gateway_id` value is an internet gateway (a reference to aws_internet_gateway or a literal `igw-` id). */
function isInternetGateway(gatewayId: unknown, index: StackIndex): boolean {
  if (index.resolve(gatewayId, "aws_internet_gateway") !== undefined) return true;
  const literal = asString(gatewayId);
  return literal !== undefined && literal.startsWith(INTERNET_GATEWAY_ID_PREFIX);
}

/** Describes the default routes to an internet gateway in a route table (inline `route` blocks and aws_route resources). */
function internetRoutes(table: SynthResource, index: StackIndex): string[] {
  const found: string[] = [];
  const inline = blocks(table.config["route"]);
  for (const [i, route] of inline.entries()) {
    const destination = asString(route["cidr_block"]) ?? asString(route["ipv6_cidr_block"]);
    if (destination !== undefined && DEFAULT_ROUTE_DESTINATIONS.includes(destination) && isInternetGateway(route["gateway_id"], index)) {
      found.push(`${table.address} route[${i}] sends ${destination} to internet gateway ${show(route["gateway_id"])}`);
    }
  }
  for (const route of index.referrers("aws_route", "route_table_id", table)) {
    const destination =
      asString(route.config["destination_cidr_block"]) ?? asString(route.config["destination_ipv6_cidr_block"]);
    if (destination !== undefined && DEFAULT_ROUTE_DESTINATIONS.includes(destination) && isInternetGateway(route.config["gateway_id"], index)) {
      found.push(`${route.address} sends ${destination} of ${table.address} to internet gateway ${show(route.config["gateway_id"])}`);
    }
  }
  return found;
}

/**
 * The route tables that apply to a subnet: those explicitly associated through
 * aws_route_table_association, or, when there is none, the VPC's main route table
 * (aws_main_route_table_association or aws_default_route_table of the subnet's VPC).
 */
function routeTablesOf(subnet: SynthResource, index: StackIndex): SynthResource[] {
  const associations = index.referrers("aws_route_table_association", "subnet_id", subnet);
  if (associations.length > 0) {
    return associations
      .map((a) => index.resolve(a.config["route_table_id"], "aws_route_table"))
      .filter((t): t is SynthResource => t !== undefined);
  }
  const vpc = index.resolve(subnet.config["vpc_id"], "aws_vpc");
  if (vpc === undefined) return [];
  const main = index
    .referrers("aws_main_route_table_association", "vpc_id", vpc)
    .map((a) => index.resolve(a.config["route_table_id"], "aws_route_table"))
    .filter((t): t is SynthResource => t !== undefined);
  const defaults = index.referrers("aws_default_route_table", "default_route_table_id", vpc);
  return [...main, ...defaults];
}

/**
 * EKS4: managed node groups run only in private subnets: every `subnet_ids` entry references an
 * aws_subnet of this stack that does not set `map_public_ip_on_launch` and whose route table has no
 * 0.0.0.0/0 (or ::/0) route to an aws_internet_gateway. Literal subnet ids cannot be proven private
 * and are reported.
 */
export const eksNodesInPrivateSubnets: PolicyRule = {
  id: "EKS4",
  name: "EksNodesInPrivateSubnets",
  level: "error",
  explanation:
    "Worker nodes in public subnets get internet-routable paths (and possibly public IPs), bypassing the NAT egress point and exposing kubelet and node ports.",
  fix: "pass only private subnet ids (subnets without mapPublicIpOnLaunch whose route tables send 0.0.0.0/0 to a NAT gateway, not an internet gateway) as subnetIds",
  resourceTypes: ["aws_eks_node_group"],
  evaluate(resource: SynthResource, index: StackIndex): RuleResult {
    const raw = resource.config["subnet_ids"];
    const entries = asStringArray(raw);
    if (entries.length === 0) return nonCompliant(`subnet_ids is ${show(raw)}, so the subnets cannot be proven private`);
    const problems: string[] = [];
    for (const [i, entry] of entries.entries()) {
      const subnets = index.resolveAll(entry, "aws_subnet");
      if (subnets.length === 0) {
        problems.push(
          `subnet_ids[${i}] is ${show(entry)}, which does not reference an aws_subnet in this stack, so it cannot be proven private`,
        );
        continue;
      }
      for (const subnet of subnets) {
        if (isTrue(subnet.config["map_public_ip_on_launch"])) {
          problems.push(`subnet_ids[${i}] is ${subnet.address}, whose map_public_ip_on_launch is true`);
        }
        for (const table of routeTablesOf(subnet, index)) {
          for (const route of internetRoutes(table, index)) {
            problems.push(`subnet_ids[${i}] is ${subnet.address}, which is public: ${route}`);
          }
        }
      }
    }
    return fromProblems(problems);
  },
};

import type { StackIndex } from "../index-of-stack.js";
import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { fromProblems, notApplicable } from "../results.js";
import { asNumber, asString, asStringArray, blocks, isRecord, show } from "../values.js";

/**
 * The tag that marks a security group as the front door of a gateway load balancer. Only security
 * groups carrying exactly this key and value may accept HTTPS (tcp 443) from the internet.
 */
export const GATEWAY_LOAD_BALANCER_TAG = {
  key: "enchanted.io/exposure",
  value: "gateway-load-balancer",
} as const;

/** Source CIDRs that mean "the whole internet". */
const OPEN_IPV4 = "0.0.0.0/0";
const OPEN_IPV6 = "::/0";
/** The only port that may be open to the internet, and only on a tagged gateway load balancer security group. */
const HTTPS_PORT = 443;
/** Protocol spellings for TCP. */
const TCP_PROTOCOLS: readonly string[] = ["tcp", "6"];

/** One ingress permission, normalised across the three ways of writing it. */
interface Ingress {
  readonly label: string;
  readonly protocol: unknown;
  readonly fromPort: unknown;
  readonly toPort: unknown;
  readonly openSources: readonly string[];
  /** The security group the permission belongs to, when it can be found. */
  readonly group: SynthResource | undefined;
}

/** Whether a security group carries {@link GATEWAY_LOAD_BALANCER_TAG}. */
function isGatewayLoadBalancerGroup(group: SynthResource | undefined): boolean {
  const tags = group?.config["tags"];
  return isRecord(tags) && tags[GATEWAY_LOAD_BALANCER_TAG.key] === GATEWAY_LOAD_BALANCER_TAG.value;
}

/** Whether a permission is exactly tcp 443 (from 443 to 443). */
function isHttpsOnly(ingress: Ingress): boolean {
  const protocol = typeof ingress.protocol === "string" ? ingress.protocol.toLowerCase() : String(ingress.protocol);
  return (
    TCP_PROTOCOLS.includes(protocol) && asNumber(ingress.fromPort) === HTTPS_PORT && asNumber(ingress.toPort) === HTTPS_PORT
  );
}

/** The ingress permissions a resource declares. */
function ingressOf(resource: SynthResource, index: StackIndex): Ingress[] {
  const c = resource.config;
  switch (resource.type) {
    case "aws_security_group":
      return blocks(c["ingress"]).map((rule, i) => ({
        label: `ingress[${i}]`,
        protocol: rule["protocol"],
        fromPort: rule["from_port"],
        toPort: rule["to_port"],
        openSources: [
          ...asStringArray(rule["cidr_blocks"]).filter((x) => x === OPEN_IPV4).map((x) => `cidr_blocks contains "${x}"`),
          ...asStringArray(rule["ipv6_cidr_blocks"]).filter((x) => x === OPEN_IPV6).map((x) => `ipv6_cidr_blocks contains "${x}"`),
        ],
        group: resource,
      }));
    case "aws_security_group_rule":
      if (c["type"] !== "ingress") return [];
      return [
        {
          label: "rule",
          protocol: c["protocol"],
          fromPort: c["from_port"],
          toPort: c["to_port"],
          openSources: [
            ...asStringArray(c["cidr_blocks"]).filter((x) => x === OPEN_IPV4).map((x) => `cidr_blocks contains "${x}"`),
            ...asStringArray(c["ipv6_cidr_blocks"]).filter((x) => x === OPEN_IPV6).map((x) => `ipv6_cidr_blocks contains "${x}"`),
          ],
          group: index.resolve(c["security_group_id"], "aws_security_group"),
        },
      ];
    default:
      return [
        {
          label: "rule",
          protocol: c["ip_protocol"],
          fromPort: c["from_port"],
          toPort: c["to_port"],
          openSources: [
            ...(asString(c["cidr_ipv4"]) === OPEN_IPV4 ? [`cidr_ipv4 is "${OPEN_IPV4}"`] : []),
            ...(asString(c["cidr_ipv6"]) === OPEN_IPV6 ? [`cidr_ipv6 is "${OPEN_IPV6}"`] : []),
          ],
          group: index.resolve(c["security_group_id"], "aws_security_group"),
        },
      ];
  }
}

/**
 * EC2-3: no ingress from 0.0.0.0/0 or ::/0 (inline `ingress` of aws_security_group,
 * aws_security_group_rule of type ingress, aws_vpc_security_group_ingress_rule), except tcp 443
 * (from 443 to 443) on a security group tagged {@link GATEWAY_LOAD_BALANCER_TAG}; for standalone rules
 * the tag is read from the aws_security_group their `security_group_id` references.
 */
export const noPublicIngress: PolicyRule = {
  id: "EC2-3",
  name: "NoPublicIngress",
  level: "error",
  explanation:
    "Ingress from 0.0.0.0/0 or ::/0 exposes the port to the whole internet; only HTTPS on the gateway load balancer is meant to be reachable publicly.",
  fix: `restrict the source to a security group or named private CIDR ranges; only tcp 443 on a security group tagged ${GATEWAY_LOAD_BALANCER_TAG.key}=${GATEWAY_LOAD_BALANCER_TAG.value} may be open to the internet`,
  resourceTypes: ["aws_security_group", "aws_security_group_rule", "aws_vpc_security_group_ingress_rule"],
  evaluate(resource: SynthResource, index: StackIndex): RuleResult {
    const permissions = ingressOf(resource, index);
    if (permissions.length === 0) return notApplicable("no ingress permissions");
    const problems: string[] = [];
    for (const ingress of permissions) {
      if (ingress.openSources.length === 0) continue;
      if (isHttpsOnly(ingress) && isGatewayLoadBalancerGroup(ingress.group)) continue;
      const ports = `protocol ${show(ingress.protocol)} ports ${show(ingress.fromPort)}-${show(ingress.toPort)}`;
      const why = isHttpsOnly(ingress)
        ? ingress.group === undefined
          ? `its security_group_id ${show(resource.config["security_group_id"])} does not reference an aws_security_group in this stack, so the ${GATEWAY_LOAD_BALANCER_TAG.key} tag cannot be checked`
          : `${ingress.group.address} is not tagged ${GATEWAY_LOAD_BALANCER_TAG.key}=${GATEWAY_LOAD_BALANCER_TAG.value}`
        : "only tcp 443 may be public";
      problems.push(`${ingress.label} ${ingress.openSources.join(" and ")} (${ports}); ${why}`);
    }
    return fromProblems(problems);
  },
};

/**
 * The gateway's public front door on the AWS side: the NLB's security group (the platform's only
 * 0.0.0.0/0 ingress, tcp 443, tagged so the policy pack allows exactly it) and the ACM certificate
 * of the API domain with its DNS validation (a record and a wait in our zone, or an output for the
 * zone's owner). The NLB itself is built by the AWS Load Balancer Controller from the proxy
 * Service's annotations (see chart-values.ts).
 */
import { AcmCertificate } from "@cdktf/provider-aws/lib/acm-certificate/index.js";
import { AcmCertificateValidation } from "@cdktf/provider-aws/lib/acm-certificate-validation/index.js";
import { Route53Record } from "@cdktf/provider-aws/lib/route53-record/index.js";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group/index.js";
import { Fn, TerraformOutput, Token } from "cdktf";
import type { Construct } from "constructs";
import { GATEWAY_LOAD_BALANCER_TAG } from "../policy/rules/no-public-ingress.js";
import { KONG_PORTS } from "./names.js";

const IPV4_ANYWHERE = "0.0.0.0/0";
const IPV6_ANYWHERE = "::/0";

export interface GatewayEdgeProps {
  /** Name prefix of the AWS resources, e.g. `enchanted-prod`. */
  readonly name: string;
  /** The public API host name: the certificate's domain. */
  readonly apiDomain: string;
  readonly vpcId: string;
  /** The VPC's range: where the NLB's targets (the Kong pods, ip targets) are. */
  readonly vpcCidr: string;
  /**
   * Public Route 53 zone of `apiDomain`: the DNS validation record and a validation wait are created.
   * @default - no record; the validation record is a Terraform output for the zone's owner
   */
  readonly hostedZoneId?: string;
}

/** What {@link addGatewayEdge} created. */
export interface GatewayEdge {
  readonly loadBalancerSecurityGroup: SecurityGroup;
  readonly certificate: AcmCertificate;
  /** The wait for the certificate's validation, when the zone was given. @default - none */
  readonly certificateValidation?: AcmCertificateValidation;
}

/**
 * Adds the NLB's security group (`nlb-sg`), the certificate (`certificate`) and its validation
 * (`certificate-validation-record`, `certificate-validation`) to `scope`.
 */
export function addGatewayEdge(scope: Construct, props: GatewayEdgeProps): GatewayEdge {
  // One listener, tcp 443, on a tagged security group.
  const loadBalancerSecurityGroup = new SecurityGroup(scope, "nlb-sg", {
    name: `${props.name}-kong-nlb`,
    description: "Kong gateway NLB: HTTPS from the internet, to the Kong pods only",
    vpcId: props.vpcId,
    ingress: [
      {
        description: "HTTPS from the internet (the platform's only public listener)",
        protocol: "tcp",
        fromPort: KONG_PORTS.publicTls,
        toPort: KONG_PORTS.publicTls,
        cidrBlocks: [IPV4_ANYWHERE],
        ipv6CidrBlocks: [IPV6_ANYWHERE],
      },
    ],
    egress: [KONG_PORTS.proxyTls, KONG_PORTS.status].map((port) => ({
      description: port === KONG_PORTS.status ? "health checks of the Kong pods" : "TLS to the Kong pods",
      protocol: "tcp",
      fromPort: port,
      toPort: port,
      cidrBlocks: [props.vpcCidr],
    })),
    tags: { Name: `${props.name}-kong-nlb`, [GATEWAY_LOAD_BALANCER_TAG.key]: GATEWAY_LOAD_BALANCER_TAG.value },
  });

  const certificate = new AcmCertificate(scope, "certificate", {
    domainName: props.apiDomain,
    validationMethod: "DNS",
    keyAlgorithm: "EC_prime256v1",
    lifecycle: { createBeforeDestroy: true },
    tags: { Name: props.apiDomain },
  });
  const validation = Fn.element(Fn.tolist(certificate.domainValidationOptions), 0);
  const record = {
    name: Fn.lookup(validation, "resource_record_name", ""),
    type: Fn.lookup(validation, "resource_record_type", ""),
    value: Fn.lookup(validation, "resource_record_value", ""),
  };
  if (!props.hostedZoneId) {
    new TerraformOutput(scope, "certificate-validation-record", {
      description: `DNS record that validates the ACM certificate of ${props.apiDomain}; create it in the public zone`,
      value: record,
    });
    return { loadBalancerSecurityGroup, certificate };
  }
  const dns = new Route53Record(scope, "certificate-validation-record", {
    zoneId: props.hostedZoneId,
    name: Token.asString(record.name),
    type: Token.asString(record.type),
    records: [Token.asString(record.value)],
    ttl: 300,
    allowOverwrite: true,
  });
  const certificateValidation = new AcmCertificateValidation(scope, "certificate-validation", { certificateArn: certificate.arn, validationRecordFqdns: [dns.fqdn] });
  return { loadBalancerSecurityGroup, certificate, certificateValidation };
}

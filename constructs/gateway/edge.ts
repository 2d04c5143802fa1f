/**
 * The gateway's public front door on the AWS side: the NLB's security group (the platform's only
 * 0.0.0.0/0 ingress, tcp 443, tagged so the policy pack allows exactly it), the ACM certificate
 * of the API and auth hosts with its DNS validation (records and a wait in our zone, or an output
 * for the zone's owner), and the hosts' DNS records (alias records to the NLB in our zone, or an
 * output). The NLB itself is built by the AWS Load Balancer Controller from the proxy Service's
 * annotations (see chart-values.ts); the host records find it by the tags the controller puts on
 * it (a data source), so nothing is copied by hand and no DNS controller runs in the cluster.
 */
import { AcmCertificate } from "@cdktf/provider-aws/lib/acm-certificate/index.js";
import { AcmCertificateValidation } from "@cdktf/provider-aws/lib/acm-certificate-validation/index.js";
import type { DataAwsLb } from "@cdktf/provider-aws/lib/data-aws-lb/index.js";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group/index.js";
import { TerraformOutput } from "cdktf";
import { certificateValidationRecords } from "../certificate-dns-validation.js";
import type { Construct } from "constructs";
import { GATEWAY_LOAD_BALANCER_TAG } from "../policy/rules/no-public-ingress.js";
import { addLoadBalancerHostRecords } from "../aws-load-balancer-controller/host-records.js";
import { KONG_NAMESPACE, KONG_PORTS, KONG_PROXY_SERVICE } from "./names.js";

const IPV4_ANYWHERE = "0.0.0.0/0";
const IPV6_ANYWHERE = "::/0";

export interface GatewayEdgeProps {
  /** Name prefix of the AWS resources, e.g. `enchanted-prod`. */
  readonly name: string;
  /** The public API host name: the certificate's domain. */
  readonly apiDomain: string;
  /** The public auth host name (Keycloak through the gateway): the certificate's other name. */
  readonly authDomain: string;
  readonly vpcId: string;
  /** The VPC's range: where the NLB's targets (the Kong pods, ip targets) are. */
  readonly vpcCidr: string;
  /**
   * Public Route 53 zone of both hosts: the DNS validation records and a validation wait are created.
   * @default - no record; the validation records are a Terraform output for the zone's owner
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
 * Adds the NLB's security group (`nlb-sg`), the certificate of both hosts (`certificate`) and its
 * validation (`certificate-validation-records`, one per host, and `certificate-validation`) to `scope`.
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
    subjectAlternativeNames: [props.authDomain],
    validationMethod: "DNS",
    keyAlgorithm: "EC_prime256v1",
    lifecycle: { createBeforeDestroy: true },
    tags: { Name: props.apiDomain },
  });
  if (!props.hostedZoneId) {
    new TerraformOutput(scope, "certificate-validation-records", {
      description: `DNS records that validate the ACM certificate of ${props.apiDomain} and ${props.authDomain}; create them in the public zone`,
      value: certificate.domainValidationOptions,
    });
    return { loadBalancerSecurityGroup, certificate };
  }
  const certificateValidation = new AcmCertificateValidation(scope, "certificate-validation", {
    certificateArn: certificate.arn,
    validationRecordFqdns: certificateValidationRecords(scope, certificate, props.hostedZoneId),
  });
  return { loadBalancerSecurityGroup, certificate, certificateValidation };
}

export interface GatewayHostRecordsProps {
  /** The host names the gateway serves by role (`{ api: domains.api, auth: domains.auth }`); the role names the record. */
  readonly hosts: Readonly<Record<string, string>>;
  /** The EKS cluster whose AWS Load Balancer Controller built the NLB (its tag). */
  readonly clusterName: string;
  /** Public Route 53 zone of the hosts. @default - no record; the NLB's name is a Terraform output for the zone's owner */
  readonly hostedZoneId?: string;
}

/**
 * The hosts' DNS records: the NLB the AWS Load Balancer Controller built for Kong's proxy Service,
 * found by its tags (`gateway-load-balancer`, a data source read when the stack plans: deploy it
 * after the stack that installs the chart), and one alias A record per host to it
 * (`<role>-host-record`; the NLB has IPv4 addresses only) in the zone, or an output for the zone's owner.
 */
export function addGatewayHostRecords(scope: Construct, props: GatewayHostRecordsProps): DataAwsLb {
  return addLoadBalancerHostRecords(scope, { idPrefix: "gateway", namespace: KONG_NAMESPACE, service: KONG_PROXY_SERVICE, ...props });
}

/**
 * The Kong `ingress` chart's values (pure, for tests): the controller, the DB-less gateway with the
 * tenant-gate plugin, restricted security contexts, PDBs, and the annotations that make the AWS Load
 * Balancer Controller build an internet-facing NLB with only the TLS port.
 */
import { PLAN_TIER_NAMES, type TierCatalog } from "../../config/tiers.js";
import { TENANT_GATE_PLUGIN } from "../../services/kong-plugins/tenant-gate.js";
import { propFail, type PropScope } from "../core/validation.js";
import { RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT } from "../pinned-helm-release.js";
import { KONG_INGRESS_CLASS, KONG_PORTS, TENANT_GATE_CONFIGMAP } from "./names.js";

const DEFAULT_REPLICAS = 2;
const TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/** The largest `maxRequestBodyKiB` of the catalog: the default global cap. */
export function largestTierBodyKiB(tiers: TierCatalog): number {
  return Math.max(...PLAN_TIER_NAMES.map((t) => tiers[t].gateway.maxRequestBodyKiB));
}

export interface KongChartValuesProps {
  /** Gateway and controller replicas. @default 2 */
  readonly replicas?: number;
  /** ARN of the ACM certificate of the NLB's TLS listener. */
  readonly certificateArn: string;
  /** The NLB's security group (tcp 443 from anywhere, tagged GATEWAY_LOAD_BALANCER_TAG). */
  readonly securityGroupId: string;
  /** Public subnets of the NLB, comma-separated (a token is fine). */
  readonly publicSubnetIds: string;
  /** Global body cap in KiB (nginx `client_max_body_size`). */
  readonly maxRequestBodyKiB: number;
}

/** Annotations of the proxy Service that make the AWS Load Balancer Controller build the NLB. */
export function nlbServiceAnnotations(props: Pick<KongChartValuesProps, "certificateArn" | "securityGroupId" | "publicSubnetIds">): Record<string, string> {
  const a = "service.beta.kubernetes.io/aws-load-balancer-";
  return {
    [`${a}type`]: "external",
    [`${a}nlb-target-type`]: "ip",
    [`${a}scheme`]: "internet-facing",
    [`${a}subnets`]: props.publicSubnetIds,
    [`${a}ssl-cert`]: props.certificateArn,
    [`${a}ssl-ports`]: String(KONG_PORTS.publicTls),
    [`${a}ssl-negotiation-policy`]: TLS_POLICY,
    [`${a}backend-protocol`]: "ssl",
    [`${a}security-groups`]: props.securityGroupId,
    [`${a}manage-backend-security-group-rules`]: "true",
    [`${a}healthcheck-protocol`]: "http",
    [`${a}healthcheck-port`]: String(KONG_PORTS.status),
    [`${a}healthcheck-path`]: "/status/ready",
  };
}

/**
 * The `ingress` chart's values: `controller` (KIC only) and `gateway` (DB-less Kong with the
 * tenant-gate plugin), restricted security contexts, PDBs, an NLB with only the TLS port.
 * `scope` names the caller in errors (a construct, or this builder's name).
 */
export function kongChartValues(props: KongChartValuesProps, scope: PropScope = "kongChartValues"): Record<string, unknown> {
  const fail = propFail(scope);
  const replicas = props.replicas ?? DEFAULT_REPLICAS;
  if (!Number.isInteger(replicas) || replicas < 1) {
    fail("replicas", replicas, "must be a positive integer", "use 1, or 2 or more to keep serving while a pod is replaced");
  }
  if (!Number.isInteger(props.maxRequestBodyKiB) || props.maxRequestBodyKiB < 1) {
    fail("maxRequestBodyKiB", props.maxRequestBodyKiB, "must be a positive integer", "use the largest tier's maxRequestBodyKiB");
  }
  const pdb = { enabled: replicas > 1, maxUnavailable: 1 };
  const container = { enabled: true, ...RESTRICTED_CONTAINER_SECURITY_CONTEXT, runAsUser: 1000, runAsGroup: 1000 };
  const off = { enabled: false };
  return {
    controller: {
      replicaCount: replicas,
      podDisruptionBudget: pdb,
      securityContext: RESTRICTED_POD_SECURITY_CONTEXT,
      containerSecurityContext: container,
      ingressController: {
        ingressClass: KONG_INGRESS_CLASS,
        // No webhook: no certificate to manage and no control-plane path into the namespace.
        admissionWebhook: { enabled: false },
        env: { anonymous_reports: "false" },
      },
    },
    gateway: {
      replicaCount: replicas,
      podDisruptionBudget: pdb,
      securityContext: RESTRICTED_POD_SECURITY_CONTEXT,
      containerSecurityContext: container,
      env: {
        database: "off",
        router_flavor: "traditional",
        anonymous_reports: "off",
        // No Server / Via / X-Kong-* headers that advertise the gateway.
        headers: "off",
        // The global body cap, enforced by nginx even for chunked bodies.
        nginx_http_client_max_body_size: `${props.maxRequestBodyKiB}k`,
      },
      plugins: { configMaps: [{ pluginName: TENANT_GATE_PLUGIN, name: TENANT_GATE_CONFIGMAP }] },
      proxy: {
        enabled: true,
        type: "LoadBalancer",
        annotations: nlbServiceAnnotations(props),
        // Only TLS: the NLB has one listener, 443.
        http: off,
        tls: { enabled: true, servicePort: KONG_PORTS.publicTls, containerPort: KONG_PORTS.proxyTls, parameters: ["http2"] },
      },
      status: { enabled: true, http: { enabled: true, containerPort: KONG_PORTS.status } },
      // Enterprise-only listeners: the chart would otherwise create NodePort Services for them.
      manager: off,
      portal: off,
      portalapi: off,
    },
  };
}

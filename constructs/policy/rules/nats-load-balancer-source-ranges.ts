import { PORTS } from "../../platform-interfaces.js";
import { fromProblems, notApplicable } from "../results.js";
import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { asNumber, asString, asStringArray, blocks, firstBlock, isRecord, show } from "../values.js";

const ANYWHERE = ["0.0.0.0/0", "::/0"];

/** A Service as the rule reads it, from a `kubernetes_manifest` or a typed `kubernetes_service(_v1)`. */
interface ServiceView {
  readonly type: string | undefined;
  readonly ports: readonly { readonly port: number | undefined; readonly targetPort: number | undefined }[];
  readonly sourceRanges: readonly string[];
  readonly label: string;
}

function serviceOf(resource: SynthResource): ServiceView | undefined {
  if (resource.type === "kubernetes_manifest") {
    const manifest = resource.config.manifest;
    if (!isRecord(manifest) || manifest.kind !== "Service" || !isRecord(manifest.spec)) return undefined;
    const spec = manifest.spec;
    return {
      type: asString(spec.type),
      ports: blocks(spec.ports).map((p) => ({ port: asNumber(p.port), targetPort: asNumber(p.targetPort) })),
      sourceRanges: asStringArray(spec.loadBalancerSourceRanges),
      label: "manifest.spec",
    };
  }
  const spec = firstBlock(resource.config.spec);
  if (!spec) return undefined;
  return {
    type: asString(spec.type),
    ports: blocks(spec.port).map((p) => ({ port: asNumber(p.port), targetPort: asNumber(p.target_port) })),
    sourceRanges: asStringArray(spec.load_balancer_source_ranges),
    label: "spec",
  };
}

/**
 * NATS-1: a Service of type LoadBalancer on the NATS client port (4222) admits only listed source
 * ranges: `loadBalancerSourceRanges` is set, and is neither 0.0.0.0/0 nor ::/0 (an accepted
 * exception, `external.allowAnywhere: true` of the Nats construct, is a suppression with its reason).
 */
export const natsLoadBalancerSourceRanges: PolicyRule = {
  id: "NATS-1",
  name: "NatsLoadBalancerSourceRanges",
  level: "error",
  explanation:
    "A load balancer on the NATS client port without source ranges is open to the whole internet: every scanner reaches the servers' TLS and authentication code, and a leaked credential works from anywhere.",
  fix: "set loadBalancerSourceRanges to the ranges agents connect from (Nats external.allowedCidrs); to open it to everyone on purpose set external.allowAnywhere: true",
  resourceTypes: ["kubernetes_manifest", "kubernetes_service_v1", "kubernetes_service"],
  evaluate(resource: SynthResource): RuleResult {
    const service = serviceOf(resource);
    if (!service) return notApplicable("not a Service");
    if (service.type !== "LoadBalancer") return notApplicable(`Service type ${show(service.type)}`);
    if (!service.ports.some((p) => p.port === PORTS.natsClient || p.targetPort === PORTS.natsClient)) return notApplicable(`no port ${PORTS.natsClient}`);
    const problems: string[] = [];
    if (service.sourceRanges.length === 0) problems.push(`${service.label} has no loadBalancerSourceRanges on the NATS client port ${PORTS.natsClient} (open to everyone)`);
    for (const range of service.sourceRanges.filter((r) => ANYWHERE.includes(r))) {
      problems.push(`${service.label}.loadBalancerSourceRanges contains ${show(range)} on the NATS client port ${PORTS.natsClient}`);
    }
    return fromProblems(problems);
  },
};

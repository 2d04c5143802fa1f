import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { compliant, nonCompliant } from "../results.js";
import { asStringArray, show } from "../values.js";

/** Every EKS control plane log type. */
export const EKS_CONTROL_PLANE_LOG_TYPES: readonly string[] = [
  "api",
  "audit",
  "authenticator",
  "controllerManager",
  "scheduler",
];

/** EKS3: `enabled_cluster_log_types` contains every control plane log type. */
export const eksControlPlaneLogsAll: PolicyRule = {
  id: "EKS3",
  name: "EksControlPlaneLogsAll",
  level: "error",
  explanation:
    "Control plane logs (especially audit and authenticator) are the only record of who did what through the Kubernetes API; without them incidents cannot be investigated.",
  fix: `set enabledClusterLogTypes to ${JSON.stringify(EKS_CONTROL_PLANE_LOG_TYPES)}`,
  resourceTypes: ["aws_eks_cluster"],
  evaluate(resource: SynthResource): RuleResult {
    const raw = resource.config["enabled_cluster_log_types"];
    const enabled = asStringArray(raw);
    const missing = EKS_CONTROL_PLANE_LOG_TYPES.filter((t) => !enabled.includes(t));
    if (missing.length === 0) return compliant();
    return nonCompliant(`enabled_cluster_log_types is ${show(raw)}; missing ${missing.join(", ")}`);
  },
};

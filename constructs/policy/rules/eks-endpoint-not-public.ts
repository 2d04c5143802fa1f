import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { fromProblems, nonCompliant } from "../results.js";
import { asStringArray, firstBlock, isExpression, isFalse, isTrue, show } from "../values.js";

/** CIDRs that mean "the whole internet". */
const OPEN_CIDRS: readonly string[] = ["0.0.0.0/0", "::/0"];

/**
 * EKS1: the EKS API endpoint is reachable privately and not from the whole internet:
 * `vpc_config.endpoint_private_access` is true, and `endpoint_public_access` is false or true only
 * with a non-empty `public_access_cidrs` that contains neither 0.0.0.0/0 nor ::/0 (absent CIDRs mean
 * 0.0.0.0/0). Values that are Terraform expressions cannot be verified and are reported.
 */
export const eksEndpointNotPublic: PolicyRule = {
  id: "EKS1",
  name: "EksEndpointNotPublic",
  level: "error",
  explanation:
    "A public Kubernetes API endpoint open to 0.0.0.0/0 exposes the control plane to credential stuffing and API exploits from the whole internet.",
  fix: "set endpointPublicAccess false, or restrict publicAccessCidrs to named corporate ranges",
  resourceTypes: ["aws_eks_cluster"],
  evaluate(resource: SynthResource): RuleResult {
    const vpcConfig = firstBlock(resource.config["vpc_config"]);
    if (vpcConfig === undefined) {
      return nonCompliant(
        "vpc_config is absent (AWS defaults: endpoint_public_access true for 0.0.0.0/0, endpoint_private_access false)",
      );
    }
    const problems: string[] = [];
    const privateAccess = vpcConfig["endpoint_private_access"];
    if (!isTrue(privateAccess)) {
      problems.push(`endpoint_private_access is ${show(privateAccess)} (must be true; AWS default is false)`);
    }
    const publicAccess = vpcConfig["endpoint_public_access"];
    if (isFalse(publicAccess)) return fromProblems(problems);
    if (publicAccess !== undefined && !isTrue(publicAccess)) {
      problems.push(`endpoint_public_access is ${show(publicAccess)}, which cannot be verified at synth time`);
      return fromProblems(problems);
    }
    const publicState = publicAccess === undefined ? "absent (AWS default true)" : "true";
    const rawCidrs = vpcConfig["public_access_cidrs"];
    const cidrs = asStringArray(rawCidrs);
    if (cidrs.length === 0) {
      problems.push(
        `endpoint_public_access is ${publicState} with public_access_cidrs ${show(rawCidrs)} (AWS default ["0.0.0.0/0"])`,
      );
    } else {
      const open = cidrs.filter((c) => OPEN_CIDRS.includes(c.trim()));
      const unknown = cidrs.filter((c) => isExpression(c));
      if (open.length > 0) {
        problems.push(`endpoint_public_access is ${publicState} with public_access_cidrs ${show(cidrs)}`);
      } else if (unknown.length > 0 || isExpression(rawCidrs)) {
        problems.push(
          `endpoint_public_access is ${publicState} with public_access_cidrs ${show(rawCidrs)}, which contains expressions that cannot be verified at synth time`,
        );
      }
    }
    return fromProblems(problems);
  },
};

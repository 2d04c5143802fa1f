import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { compliant, nonCompliant, notApplicable } from "../results.js";
import { isTrue, show } from "../values.js";

/** The only key spec AWS can rotate automatically. */
const ROTATABLE_KEY_SPEC = "SYMMETRIC_DEFAULT";

/** KMS1: symmetric KMS keys have `enable_key_rotation` true (asymmetric and HMAC keys are not applicable). */
export const kmsKeyRotationEnabled: PolicyRule = {
  id: "KMS1",
  name: "KmsKeyRotationEnabled",
  level: "error",
  explanation: "Automatic rotation limits the amount of data protected by one key version and is required by most compliance baselines.",
  fix: "set enableKeyRotation: true on the KmsKey",
  resourceTypes: ["aws_kms_key"],
  evaluate(resource: SynthResource): RuleResult {
    const spec = resource.config["customer_master_key_spec"] ?? resource.config["key_spec"] ?? ROTATABLE_KEY_SPEC;
    if (spec !== ROTATABLE_KEY_SPEC) return notApplicable(`key spec ${show(spec)} cannot be rotated automatically`);
    const rotation = resource.config["enable_key_rotation"];
    return isTrue(rotation) ? compliant() : nonCompliant(`enable_key_rotation is ${show(rotation)} (must be true)`);
  },
};

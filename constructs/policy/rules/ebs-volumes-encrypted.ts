import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { fromProblems, notApplicable } from "../results.js";
import { blocks, firstBlock, isTrue, show } from "../values.js";

/** Problems for a list of volume blocks whose `encrypted` must be true. */
function unencrypted(label: string, volumes: readonly Record<string, unknown>[]): string[] {
  return volumes.flatMap((volume, i) =>
    isTrue(volume["encrypted"]) ? [] : [`${label}[${i}].encrypted is ${show(volume["encrypted"])} (must be true)`],
  );
}

/**
 * EC2-2: EBS volumes are encrypted: aws_ebs_volume `encrypted`, aws_launch_template
 * `block_device_mappings[].ebs.encrypted`, aws_instance `root_block_device` / `ebs_block_device`
 * `encrypted`. Launch templates and instances that declare no volumes are not applicable (their
 * volumes come from the AMI).
 */
export const ebsVolumesEncrypted: PolicyRule = {
  id: "EC2-2",
  name: "EbsVolumesEncrypted",
  level: "error",
  explanation: "Unencrypted EBS volumes and their snapshots expose node data (container layers, secrets mounted as files, logs) to anyone who obtains the snapshot.",
  fix: "set encrypted: true (ebs.encrypted \"true\" in launch template blockDeviceMappings), optionally with kmsKeyId",
  resourceTypes: ["aws_ebs_volume", "aws_launch_template", "aws_instance"],
  evaluate(resource: SynthResource): RuleResult {
    const config = resource.config;
    switch (resource.type) {
      case "aws_ebs_volume":
        return fromProblems(isTrue(config["encrypted"]) ? [] : [`encrypted is ${show(config["encrypted"])} (must be true)`]);
      case "aws_launch_template": {
        const mappings = blocks(config["block_device_mappings"]);
        const problems = mappings.flatMap((mapping, i) => {
          const ebs = firstBlock(mapping["ebs"]);
          if (ebs === undefined) return [];
          return isTrue(ebs["encrypted"])
            ? []
            : [`block_device_mappings[${i}].ebs.encrypted is ${show(ebs["encrypted"])} (must be true)`];
        });
        if (mappings.length === 0) return notApplicable("no block_device_mappings; volumes come from the AMI");
        return fromProblems(problems);
      }
      default: {
        const root = blocks(config["root_block_device"]);
        const extra = blocks(config["ebs_block_device"]);
        if (root.length === 0 && extra.length === 0) {
          return notApplicable("no root_block_device or ebs_block_device; volumes come from the AMI");
        }
        return fromProblems([...unencrypted("root_block_device", root), ...unencrypted("ebs_block_device", extra)]);
      }
    }
  },
};

import type { StackIndex } from "../index-of-stack.js";
import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { compliant, nonCompliant } from "../results.js";

/** VPC1: every aws_vpc has an aws_flow_log whose `vpc_id` references it. */
export const vpcFlowLogsEnabled: PolicyRule = {
  id: "VPC1",
  name: "VpcFlowLogsEnabled",
  level: "error",
  explanation: "Flow logs are the only network-level record of which workloads talked to which destinations, needed for incident response.",
  fix: 'add a FlowLog with vpcId: <vpc>.id, trafficType: "ALL" and a log destination (encrypted log group or S3 bucket)',
  resourceTypes: ["aws_vpc"],
  evaluate(resource: SynthResource, index: StackIndex): RuleResult {
    return index.referrers("aws_flow_log", "vpc_id", resource).length > 0
      ? compliant()
      : nonCompliant("no aws_flow_log has a vpc_id referencing this VPC");
  },
};

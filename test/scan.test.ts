/** `npm run scan`'s comparison on small checkov reports: no checkov needed. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { compareWithBaseline, findingsOfReport, parseBaseline, prepareForCheckov, renderComparison, resolveAddress, ScanError } from "../stacks/scan/compare.js";
import { BASELINE_FILE } from "../stacks/scan/index.js";

const stackJson = {
  terraform: { backend: { s3: { bucket: "b" } }, required_providers: { aws: { source: "aws" } }, required_version: ">= 1.10.0" },
  data: { aws_availability_zones: { network_azs_7B2E26B5: {} } },
  resource: {
    aws_cloudwatch_log_group: { logs_AAAA1111: { retention_in_days: 30 } },
    aws_security_group: { "nlb-sg_BBBB2222": {} },
  },
};
const stacks = new Map<string, Record<string, unknown>>([
  ["dev-foundation", stackJson],
  ["prod-foundation", stackJson],
]);

/** A checkov `--output json` report of one framework, as 3.3.30 prints it. */
function report(failed: { id: string; resource: string; stack: string; guideline?: string }[]) {
  return {
    check_type: "terraform_json",
    results: {
      failed_checks: failed.map((f) => ({
        check_id: f.id,
        check_name: `name of ${f.id}`,
        check_result: { result: "FAILED" },
        resource: f.resource,
        file_abs_path: `/tmp/enchanted-scan-x/${f.stack}/cdk.tf.json`,
        file_path: `/../tmp/enchanted-scan-x/${f.stack}/cdk.tf.json`,
        guideline: f.guideline ?? null,
      })),
    },
    summary: { passed: 10, failed: failed.length, skipped: 0, parsing_errors: 0, resource_count: 0, checkov_version: "3.3.30" },
  };
}

const logRetention = { id: "CKV_AWS_338", resource: "resource.logs_AAAA1111", stack: "dev-foundation", guideline: "https://docs.example/ckv-aws-338" };
const baseline = parseBaseline({
  entries: [{ check: "CKV_AWS_338", resource: "aws_cloudwatch_log_group.logs_AAAA1111", stacks: ["dev-foundation"], reason: "dev keeps 30 days by config; prod a year" }],
});

describe("scan: findings against the baseline", () => {
  it("passes when every finding is in the baseline and every entry matches", () => {
    const result = compareWithBaseline(findingsOfReport(report([logRetention]), stacks), baseline);
    expect(result.unaccepted).toEqual([]);
    expect(result.stale).toEqual([]);
    expect(result.accepted.map((f) => [f.checkId, f.resource, f.stack])).toEqual([["CKV_AWS_338", "aws_cloudwatch_log_group.logs_AAAA1111", "dev-foundation"]]);
    expect(renderComparison(result, [...stacks.keys()])).toMatch(/1 in the baseline, 0 new; 0 stale baseline entries - ok$/);
  });

  it("fails on a new finding, naming the check, its name, the resource, the stack and the guideline", () => {
    const sg = { id: "CKV2_AWS_5", resource: "aws_security_group.nlb-sg_BBBB2222", stack: "dev-foundation", guideline: "https://docs.example/ckv2-aws-5" };
    const result = compareWithBaseline(findingsOfReport(report([logRetention, sg]), stacks), baseline);
    expect(result.unaccepted).toEqual([
      { checkId: "CKV2_AWS_5", checkName: "name of CKV2_AWS_5", stack: "dev-foundation", resource: "aws_security_group.nlb-sg_BBBB2222", guideline: "https://docs.example/ckv2-aws-5" },
    ]);
    const text = renderComparison(result, [...stacks.keys()]);
    expect(text).toContain("NEW CKV2_AWS_5 name of CKV2_AWS_5");
    expect(text).toContain("resource:  aws_security_group.nlb-sg_BBBB2222");
    expect(text).toContain("stack:     dev-foundation");
    expect(text).toContain("guideline: https://docs.example/ckv2-aws-5");
    expect(text).toMatch(/FAILED$/);
  });

  it("fails on the same check and resource in a stack the entry does not list", () => {
    const result = compareWithBaseline(findingsOfReport(report([logRetention, { ...logRetention, stack: "prod-foundation" }]), stacks), baseline);
    expect(result.unaccepted.map((f) => f.stack)).toEqual(["prod-foundation"]);
  });

  it("fails on a stale entry: a baseline entry (or one of its stacks) that matches no finding", () => {
    const result = compareWithBaseline(findingsOfReport(report([]), stacks), baseline);
    expect(result.unaccepted).toEqual([]);
    expect(result.stale).toEqual([{ entry: baseline.entries[0], stacks: ["dev-foundation"] }]);
    expect(renderComparison(result, [...stacks.keys()])).toContain("STALE baseline entry CKV_AWS_338 on aws_cloudwatch_log_group.logs_AAAA1111: no such finding in dev-foundation");

    const twoStacks = parseBaseline({ entries: [{ ...baseline.entries[0], stacks: ["dev-foundation", "prod-foundation"] }] });
    expect(compareWithBaseline(findingsOfReport(report([logRetention]), stacks), twoStacks).stale.map((s) => s.stacks)).toEqual([["prod-foundation"]]);
  });

  it("gives checkov's type-less addresses their type back from the stack", () => {
    expect(resolveAddress("resource.logs_AAAA1111", stackJson)).toBe("aws_cloudwatch_log_group.logs_AAAA1111");
    expect(resolveAddress("data.network_azs_7B2E26B5", stackJson)).toBe("data.aws_availability_zones.network_azs_7B2E26B5");
    expect(resolveAddress("aws_security_group.nlb-sg_BBBB2222", stackJson)).toBe("aws_security_group.nlb-sg_BBBB2222");
  });

  it("refuses a report that scanned nothing or could not parse a stack", () => {
    expect(() => findingsOfReport({ passed: 0, failed: 0, parsing_errors: 0, checkov_version: "3.3.30" }, stacks)).toThrow(ScanError);
    const unparsed = { ...report([]), summary: { ...report([]).summary, parsing_errors: 1 } };
    expect(() => findingsOfReport(unparsed, stacks)).toThrow(/could not parse/);
  });

  it("drops only the terraform block's plain values for checkov's parser", () => {
    const prepared = prepareForCheckov(stackJson) as typeof stackJson;
    expect(prepared.terraform).toEqual({ backend: stackJson.terraform.backend, required_providers: stackJson.terraform.required_providers });
    expect(prepared.resource).toBe(stackJson.resource);
  });
});

describe("scan: the baseline file", () => {
  const entry = { check: "CKV_AWS_338", resource: "aws_cloudwatch_log_group.logs_AAAA1111", stacks: ["dev-foundation"], reason: "r" };

  it.each([
    ["a wildcard resource", { ...entry, resource: "aws_cloudwatch_log_group.*" }],
    ["a check without a resource", { check: "CKV_AWS_338", stacks: ["dev-foundation"], reason: "r" }],
    ["a wildcard stack", { ...entry, stacks: ["*"] }],
    ["no stacks", { ...entry, stacks: [] }],
    ["no reason", { ...entry, reason: "" }],
    ["a multi-line reason", { ...entry, reason: "a\nb" }],
  ])("refuses %s", (_what, bad) => {
    expect(() => parseBaseline({ entries: [bad] })).toThrow(ScanError);
  });

  it("refuses two entries for one check id and resource address", () => {
    expect(() => parseBaseline({ entries: [entry, { ...entry, stacks: ["prod-foundation"] }] })).toThrow(/second entry/);
  });

  it("the committed baseline is valid", () => {
    expect(parseBaseline(JSON.parse(readFileSync(BASELINE_FILE, "utf8")), BASELINE_FILE).entries.length).toBeGreaterThanOrEqual(0);
  });
});

/** Builders of small synthesized-stack JSON objects for rule tests. */
import { StackIndex } from "../../constructs/policy/index-of-stack.js";
import type { PolicyRule, RuleResult, SynthesizedStackJson } from "../../constructs/policy/types.js";

/** `{ <type>: { <logicalId>: attributes } }` without metadata. */
export type Elements = Record<string, Record<string, Record<string, unknown>>>;

/** Stack name used in the construct paths of {@link stackJson}. */
export const TEST_STACK = "test";

/** Adds cdktf's `"//".metadata` to every element: path `test/<logicalId>`. */
function withMetadata(elements: Elements): Elements {
  const out: Elements = {};
  for (const [type, instances] of Object.entries(elements)) {
    out[type] = {};
    for (const [name, body] of Object.entries(instances)) {
      (out[type] as Record<string, Record<string, unknown>>)[name] = {
        ...body,
        "//": { metadata: { path: `${TEST_STACK}/${name}`, uniqueId: name } },
      };
    }
  }
  return out;
}

/** A synthesized stack JSON with the given resources and data sources. */
export function stackJson(resource: Elements, data: Elements = {}): SynthesizedStackJson {
  return { resource: withMetadata(resource), data: withMetadata(data) };
}

/** Evaluates `rule` on the element at `address` of `json`. */
export function evaluateRule(rule: PolicyRule, json: SynthesizedStackJson, address: string): RuleResult {
  const index = new StackIndex(json);
  const element = index.get(address);
  if (element === undefined) throw new Error(`test setup: no element at ${address}`);
  return rule.evaluate(element, index);
}

/** The reason of a non-compliant result, or a string saying it was not non-compliant. */
export function reasonOf(result: RuleResult): string {
  return result.status === "non-compliant" ? result.reason : `<${result.status}>`;
}

import { describe, expect, it } from "vitest";
import { assertReferencesResolve, danglingReferences } from "../stacks/references.js";

describe("references between resources", () => {
  const stack = {
    resource: {
      aws_vpc: { vpc: { cidr_block: "10.0.0.0/16" } },
      aws_subnet: { a: { vpc_id: "${aws_vpc.vpc.id}", tags: { Name: "x-${data.aws_region.current.name}" } } },
      aws_route: { r: { route_table_id: "${element(aws_route_table.private-0_ABC.*.id, 0)}" } },
    },
    data: { aws_region: { current: {} }, terraform_remote_state: { "cross-stack-reference-input-x": {} } },
    provider: { kubernetes: [{ host: "${data.terraform_remote_state.cross-stack-reference-input-x.outputs.endpoint}" }] },
  };

  it("accepts references to resources and data sources the stack declares", () => {
    const { aws_route: _omitted, ...resources } = stack.resource;
    void _omitted;
    expect(danglingReferences({ ...stack, resource: resources })).toEqual([]);
  });

  it("names every reference to a resource the stack does not declare, with the fix", () => {
    expect(danglingReferences(stack)).toEqual(["resource.aws_route.r.route_table_id: aws_route_table.private-0_ABC"]);
    expect(() => assertReferencesResolve(stack, "prod-foundation")).toThrow(
      /prod-foundation: 1 reference\(s\) to resources this stack does not declare:\n {2}resource\.aws_route\.r\.route_table_id: aws_route_table\.private-0_ABC\nFix: /,
    );
  });
});

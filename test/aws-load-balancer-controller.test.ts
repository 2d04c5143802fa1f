/** The AWS Load Balancer Controller: chart values, Pod Identity wiring and a least-privilege IAM policy the pack accepts. */
import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { HelmProvider } from "@cdktf/provider-helm/lib/provider/index.js";
import { TerraformStack, Testing } from "cdktf";
import type { Construct } from "constructs";
import { describe, expect, it } from "vitest";
import { HELM_CHARTS } from "../config/versions.js";
import {
  AWS_LOAD_BALANCER_CONTROLLER_CLUSTER_TAG,
  AwsLoadBalancerController,
  awsLoadBalancerControllerChartValues,
  type AwsLoadBalancerControllerProps,
} from "../constructs/aws-load-balancer-controller/index.js";
import { RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT } from "../constructs/pinned-helm-release.js";
import { applyPolicyPack, evaluateStack, UNSCOPABLE_ACTION_PATTERNS } from "../constructs/policy/index.js";
import { actionCoveredBy } from "../constructs/policy/rules/iam-no-wildcard-resource-for-scopable-actions.js";
import { resourcesOf, synthApp, type SynthesizedStack } from "./support/synth.js";

const PROPS: AwsLoadBalancerControllerProps = {
  clusterName: "enchanted-test",
  accountId: "123456789012",
  region: "eu-west-1",
  vpcId: "vpc-0abc1234def567890",
};
const STACK = "alb-controller-test";
const SERVICE_ACCOUNT = "aws-load-balancer-controller";
/** Unscopable actions the controller needs beyond the pack's list; allowed on "*" only in the suppressed policy. */
const SUPPRESSED_UNSCOPABLE = ["acm:ListCertificates", "iam:ListServerCertificates", "shield:GetSubscriptionState"];
/** IAM's limit on the inline policies of one role, whitespace excluded. */
const ROLE_INLINE_POLICY_CHARS = 10_240;

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

function buildStack(scope: Construct, props: AwsLoadBalancerControllerProps = PROPS): TerraformStack {
  const stack = new TerraformStack(scope, STACK);
  new AwsProvider(stack, "aws", { region: props.region });
  new HelmProvider(stack, "helm", {});
  new AwsLoadBalancerController(stack, "alb-controller", props);
  applyPolicyPack(stack);
  return stack;
}

function synth(props: AwsLoadBalancerControllerProps = PROPS): SynthesizedStack {
  return synthApp((app) => buildStack(app, props))[STACK] as SynthesizedStack;
}

const asList = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);
const only = <T>(record: Record<string, T>): T => {
  const values = Object.values(record);
  expect(values).toHaveLength(1);
  return values[0] as T;
};

function policies(stack: SynthesizedStack): Record<string, { name: string; role: string; statements: Statement[]; text: string }> {
  const out: Record<string, { name: string; role: string; statements: Statement[]; text: string }> = {};
  for (const [id, r] of Object.entries(resourcesOf(stack, "aws_iam_role_policy"))) {
    const text = r.policy as string;
    out[id] = { name: r.name as string, role: r.role as string, text, statements: (JSON.parse(text) as { Statement: Statement[] }).Statement };
  }
  return out;
}

describe("awsLoadBalancerControllerChartValues", () => {
  const values = awsLoadBalancerControllerChartValues({ clusterName: PROPS.clusterName, region: PROPS.region, vpcId: PROPS.vpcId, replicas: 2 });

  it("names the cluster, region and VPC so the controller needs no IMDS lookup", () => {
    expect(values).toMatchObject({ clusterName: "enchanted-test", region: "eu-west-1", vpcId: "vpc-0abc1234def567890" });
  });

  it("creates the service account the Pod Identity association names", () => {
    expect(values.serviceAccount).toEqual({ create: true, name: SERVICE_ACCOUNT });
  });

  it("runs two replicas with a disruption budget and spreads them over zones", () => {
    expect(values.replicaCount).toBe(2);
    expect(values.podDisruptionBudget).toEqual({ maxUnavailable: 1 });
    expect(values.topologySpreadConstraints).toEqual([
      expect.objectContaining({
        topologyKey: "topology.kubernetes.io/zone",
        maxSkew: 1,
        labelSelector: { matchLabels: { "app.kubernetes.io/name": "aws-load-balancer-controller", "app.kubernetes.io/instance": "aws-load-balancer-controller" } },
      }),
    ]);
  });

  it("renders no disruption budget for a single replica (it would block node drains)", () => {
    const single = awsLoadBalancerControllerChartValues({ clusterName: "c", region: "eu-west-1", vpcId: "vpc-1", replicas: 1 });
    expect(single.replicaCount).toBe(1);
    expect(single.podDisruptionBudget).toEqual({});
  });

  it("runs under the restricted Pod Security profile", () => {
    expect(values.podSecurityContext).toEqual(RESTRICTED_POD_SECURITY_CONTEXT);
    expect(values.securityContext).toEqual(RESTRICTED_CONTAINER_SECURITY_CONTEXT);
    expect(values.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } });
  });

  it("turns the Service mutator webhook off, so only Services that opt in get an NLB", () => {
    expect(values.enableServiceMutatorWebhook).toBe(false);
  });
});

describe("AwsLoadBalancerController synthesized", () => {
  const stack = synth();
  const all = policies(stack);
  const statements = Object.values(all).flatMap((p) => p.statements);

  it("installs the pinned chart into kube-system with the values of the pure function, after Pod Identity is in place", () => {
    const release = only(resourcesOf(stack, "helm_release")) as { name: string; namespace: string; chart: string; repository: string; version: string; values: string[]; depends_on: string[] };
    expect(release).toMatchObject({
      name: "aws-load-balancer-controller",
      namespace: "kube-system",
      chart: HELM_CHARTS.awsLoadBalancerController.chart,
      repository: HELM_CHARTS.awsLoadBalancerController.repository,
      version: HELM_CHARTS.awsLoadBalancerController.version,
    });
    expect(JSON.parse(release.values[0] as string)).toEqual(
      awsLoadBalancerControllerChartValues({ clusterName: PROPS.clusterName, region: PROPS.region, vpcId: PROPS.vpcId, replicas: 2 }),
    );
    expect(release.depends_on.some((d) => d.startsWith("aws_eks_pod_identity_association."))).toBe(true);
    expect(release.depends_on.filter((d) => d.startsWith("aws_iam_role_policy."))).toHaveLength(2);
  });

  it("associates the controller's service account in kube-system with its role", () => {
    const association = only(resourcesOf(stack, "aws_eks_pod_identity_association"));
    const roleId = Object.keys(resourcesOf(stack, "aws_iam_role"))[0];
    expect(association).toMatchObject({ cluster_name: "enchanted-test", namespace: "kube-system", service_account: SERVICE_ACCOUNT, role_arn: `\${aws_iam_role.${roleId}.arn}` });
  });

  it("lets only EKS Pod Identity of this account assume the role", () => {
    const role = only(resourcesOf(stack, "aws_iam_role")) as { name: string; assume_role_policy: string };
    expect(role.name).toBe("enchanted-test-aws-load-balancer-controller");
    const trust = JSON.parse(role.assume_role_policy) as { Statement: { Principal: unknown; Condition: unknown }[] };
    expect(trust.Statement).toEqual([expect.objectContaining({ Principal: { Service: "pods.eks.amazonaws.com" }, Condition: { StringEquals: { "aws:SourceAccount": "123456789012" } } })]);
  });

  it("allows only named actions, never \"*\" or a whole-service wildcard", () => {
    for (const s of statements) {
      expect(s.Effect).toBe("Allow");
      for (const a of asList(s.Action)) expect(a, `${s.Sid}`).not.toMatch(/^(\*|\*:\*|[\w-]+:\*)$/);
    }
  });

  it("uses Resource \"*\" only for actions AWS cannot scope", () => {
    const wildcard = statements.filter((s) => asList(s.Resource).includes("*"));
    expect(wildcard.length).toBeGreaterThan(0);
    for (const s of wildcard) {
      for (const action of asList(s.Action)) {
        const unscopable = UNSCOPABLE_ACTION_PATTERNS.some((p) => actionCoveredBy(action, p)) || SUPPRESSED_UNSCOPABLE.includes(action);
        expect(unscopable, `${s.Sid}: ${action} on "*"`).toBe(true);
        expect(action, `${s.Sid}: ${action}`).toMatch(/:(Describe|List|Get)/);
      }
    }
  });

  it("scopes every other resource to this account and region (security groups to this VPC)", () => {
    const arns = statements.flatMap((s) => asList(s.Resource)).filter((r) => r !== "*");
    for (const r of arns) {
      expect(r).toMatch(/^arn:aws:[\w-]+:(eu-west-1)?:123456789012:/);
      expect(r).not.toMatch(/:\*:\*:/);
    }
    expect(arns).toEqual(expect.arrayContaining([
      "arn:aws:ec2:eu-west-1:123456789012:security-group/*",
      "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/*/*",
      "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/*/*",
      "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/*/*",
      "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/*/*/*",
      "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/*/*/*",
    ]));
    const createSg = statements.find((s) => asList(s.Action).includes("ec2:CreateSecurityGroup"));
    expect(createSg?.Resource).toContain("arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-0abc1234def567890");
  });

  it("lets every mutating elasticloadbalancing action touch only resources tagged for this cluster", () => {
    const tagKeys = [`aws:RequestTag/${AWS_LOAD_BALANCER_CONTROLLER_CLUSTER_TAG}`, `aws:ResourceTag/${AWS_LOAD_BALANCER_CONTROLLER_CLUSTER_TAG}`];
    const mutating = statements.filter((s) => asList(s.Action).some((a) => a.startsWith("elasticloadbalancing:") && !a.startsWith("elasticloadbalancing:Describe")));
    const granted = new Set(mutating.flatMap((s) => asList(s.Action)));
    for (const action of ["CreateLoadBalancer", "CreateTargetGroup", "CreateListener", "CreateRule", "DeleteLoadBalancer", "DeleteTargetGroup", "DeleteListener", "DeleteRule", "ModifyLoadBalancerAttributes", "ModifyTargetGroup", "ModifyListener", "ModifyRule", "AddTags", "RemoveTags", "RegisterTargets", "DeregisterTargets", "SetSecurityGroups", "SetWebAcl"]) {
      expect(granted.has(`elasticloadbalancing:${action}`), action).toBe(true);
    }
    for (const s of mutating) {
      expect(asList(s.Resource), `${s.Sid}`).not.toContain("*");
      const clusterTag = tagKeys.find((k) => s.Condition?.StringEquals?.[k] !== undefined);
      expect(clusterTag, `${s.Sid} has no ${AWS_LOAD_BALANCER_CONTROLLER_CLUSTER_TAG} condition`).toBeDefined();
      expect(s.Condition?.StringEquals?.[clusterTag as string]).toBe("enchanted-test");
    }
  });

  it("lets the controller delete or retag only security groups tagged for this cluster", () => {
    for (const action of ["ec2:DeleteSecurityGroup", "ec2:DeleteTags"]) {
      const grants = statements.filter((s) => asList(s.Action).includes(action));
      expect(grants.length).toBeGreaterThan(0);
      for (const s of grants) expect(s.Condition?.StringEquals?.[`aws:ResourceTag/${AWS_LOAD_BALANCER_CONTROLLER_CLUSTER_TAG}`], `${s.Sid}`).toBe("enchanted-test");
    }
    const tagOnCreate = statements.find((s) => s.Sid === "TagNewSecurityGroups");
    expect(tagOnCreate?.Condition).toEqual({ StringEquals: { [`aws:RequestTag/${AWS_LOAD_BALANCER_CONTROLLER_CLUSTER_TAG}`]: "enchanted-test", "ec2:CreateAction": "CreateSecurityGroup" } });
  });

  it("fits IAM's limit on a role's inline policies", () => {
    const chars = Object.values(all).reduce((n, p) => n + p.text.replace(/\s/g, "").length, 0);
    expect(chars).toBeLessThan(ROLE_INLINE_POLICY_CHARS);
  });
});

describe("AwsLoadBalancerController and the policy pack", () => {
  it("synthesizes with the pack applied (synthesis fails on any unsuppressed finding)", () => {
    expect(() => synth()).not.toThrow();
  });

  it("suppresses only IAM2 on the policy of unscopable reads, with a reason", () => {
    const findings = evaluateStack(buildStack(Testing.app()));
    expect(findings.filter((f) => f.suppressed === undefined)).toEqual([]);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ ruleId: "IAM2", path: `${STACK}/alb-controller/unscopable-reads` });
    expect(findings[0]?.suppressed).toMatch(/acm:ListCertificates.*no resource-level permissions/);
  });
});

describe("AwsLoadBalancerController props", () => {
  const build = (overrides: Partial<AwsLoadBalancerControllerProps>) => () => synth({ ...PROPS, ...overrides });

  it("installs the chart version the environment pins", () => {
    const release = only(resourcesOf(synth({ ...PROPS, version: "3.4.0", replicas: 1 }), "helm_release")) as { version: string; values: string[] };
    expect(release.version).toBe("3.4.0");
    expect(JSON.parse(release.values[0] as string)).toMatchObject({ replicaCount: 1, podDisruptionBudget: {} });
  });

  it("rejects replicas that are not a positive integer", () => {
    expect(build({ replicas: 0 })).toThrow(/replicas = 0 is not a positive integer/);
  });

  it("rejects an account id that is not 12 digits", () => {
    expect(build({ accountId: "1234" })).toThrow(/accountId = "1234" is not a 12-digit/);
  });

  it("rejects a VPC id that is not one", () => {
    expect(build({ vpcId: "subnet-123" })).toThrow(/vpcId = "subnet-123" is not a VPC id/);
  });

  it("rejects a cluster name that makes the role name longer than IAM allows", () => {
    expect(build({ clusterName: "c".repeat(40) })).toThrow(/over IAM's 64/);
  });
});

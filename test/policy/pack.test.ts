import { Testing, TerraformStack, type App } from "cdktf";
import { describe, expect, it } from "vitest";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group/index.js";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document/index.js";
import { FlowLog } from "@cdktf/provider-aws/lib/flow-log/index.js";
import { IamPolicy } from "@cdktf/provider-aws/lib/iam-policy/index.js";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key/index.js";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket/index.js";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block/index.js";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration/index.js";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning/index.js";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group/index.js";
import { Vpc } from "@cdktf/provider-aws/lib/vpc/index.js";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule/index.js";
import {
  GATEWAY_LOAD_BALANCER_TAG,
  applyPolicyPack,
  evaluatePolicy,
  evaluateStack,
  suppressPolicyRule,
  type PolicyRule,
  type SynthesizedStackJson,
} from "../../constructs/policy/index.js";
import { buildInsecureStack, INSECURE_STACK_RULE_IDS } from "../fixtures/insecure-stack.js";

/** A reason long enough to be accepted. */
const GOOD_REASON = "Accepted by security review SEC-123 until the private endpoint lands";

/** A small stack that satisfies every rule, built with real provider constructs. */
function buildCompliantStack(app: App, id = "compliant"): TerraformStack {
  const stack = new TerraformStack(app, id);
  new AwsProvider(stack, "aws", { region: "eu-west-1" });
  const key = new KmsKey(stack, "key", { enableKeyRotation: true, description: "data" });
  const vpc = new Vpc(stack, "vpc", { cidrBlock: "10.0.0.0/16" });
  const flowLogs = new CloudwatchLogGroup(stack, "flow-logs", { name: "/vpc/flow", kmsKeyId: key.arn, retentionInDays: 365 });
  new FlowLog(stack, "flow-log", { vpcId: vpc.id, trafficType: "ALL", logDestination: flowLogs.arn, iamRoleArn: "arn:aws:iam::111122223333:role/flow" });
  const lb = new SecurityGroup(stack, "gateway-lb", {
    vpcId: vpc.id,
    tags: { [GATEWAY_LOAD_BALANCER_TAG.key]: GATEWAY_LOAD_BALANCER_TAG.value },
  });
  new VpcSecurityGroupIngressRule(stack, "gateway-lb-https", {
    securityGroupId: lb.id,
    ipProtocol: "tcp",
    fromPort: 443,
    toPort: 443,
    cidrIpv4: "0.0.0.0/0",
  });
  const bucket = new S3Bucket(stack, "bucket", { bucket: "compliant-data" });
  new S3BucketPublicAccessBlock(stack, "bucket-pab", {
    bucket: bucket.id,
    blockPublicAcls: true,
    blockPublicPolicy: true,
    ignorePublicAcls: true,
    restrictPublicBuckets: true,
  });
  new S3BucketServerSideEncryptionConfigurationA(stack, "bucket-sse", {
    bucket: bucket.id,
    rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.arn } }],
  });
  new S3BucketVersioningA(stack, "bucket-versioning", { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } });
  const doc = new DataAwsIamPolicyDocument(stack, "reader", {
    statement: [
      { actions: ["s3:GetObject"], resources: [`${bucket.arn}/*`] },
      { actions: ["ecr:GetAuthorizationToken"], resources: ["*"] },
    ],
  });
  new IamPolicy(stack, "reader-policy", { name: "reader", policy: doc.json });
  return stack;
}

describe("insecure fixture", () => {
  it("triggers exactly the expected set of rule ids", () => {
    const { stack } = buildInsecureStack(Testing.app());
    const ids = new Set(evaluateStack(stack).map((f) => f.ruleId));
    expect([...ids].sort()).toEqual([...INSECURE_STACK_RULE_IDS].sort());
    expect(ids.size).toBeGreaterThanOrEqual(10);
  });

  it("fails app.synth() with messages naming the rule id, the construct path and the fix", () => {
    const app = Testing.app();
    const { stack } = buildInsecureStack(app);
    applyPolicyPack(stack);
    let message = "";
    try {
      app.synth();
    } catch (error) {
      message = error instanceof Error ? error.message : String(error);
    }
    expect(message).toContain("Validation failed");
    expect(message).toMatch(
      /\[EKS1 EksEndpointNotPublic\] insecure\/cluster\/cluster \(aws_eks_cluster\.cluster_[A-F0-9]+\): .*public_access_cidrs \["0\.0\.0\.0\/0"\]\. Fix: set endpointPublicAccess false/,
    );
    expect(message).toContain("[EC2-1 LaunchTemplateImdsv2HopLimit1] insecure/cluster/nodes");
    expect(message).toContain("http_put_response_hop_limit is 2");
    for (const id of INSECURE_STACK_RULE_IDS) expect(message).toContain(`[${id} `);
  });

  it("fails Testing.synth with validations as well", () => {
    const { stack } = buildInsecureStack(Testing.app());
    applyPolicyPack(stack);
    expect(() => Testing.synth(stack, true)).toThrow(/\[VPC1 VpcFlowLogsEnabled\] insecure\/network\/vpc .*Fix:/);
  });
});

describe("suppressions", () => {
  it("silence exactly that rule on that subtree and are reported as suppressed", () => {
    const { stack, cluster } = buildInsecureStack(Testing.app());
    suppressPolicyRule(cluster, "KMS1", GOOD_REASON);
    const findings = evaluateStack(stack);
    const kms = findings.filter((f) => f.ruleId === "KMS1");
    expect(kms.map((f) => [f.path, f.suppressed])).toEqual([
      ["insecure/cluster/logs-key", GOOD_REASON],
      ["insecure/data/data-key", undefined],
    ]);
    // other rules on the same subtree are still active
    expect(findings.filter((f) => f.path.startsWith("insecure/cluster/") && f.ruleId !== "KMS1").every((f) => f.suppressed === undefined)).toBe(true);
  });

  it("remove the finding from the synth errors but keep other errors", () => {
    const app = Testing.app();
    const { stack, cluster } = buildInsecureStack(app);
    suppressPolicyRule(cluster, "KMS1", GOOD_REASON);
    applyPolicyPack(stack);
    expect(() => Testing.synth(stack, true)).toThrow(/\[KMS1 KmsKeyRotationEnabled\] insecure\/data\/data-key/);
    expect(() => Testing.synth(stack, true)).not.toThrow(/insecure\/cluster\/logs-key/);
  });

  it("let a fully suppressed stack synthesize, recording the suppressions as info annotations", () => {
    const app = Testing.app();
    const { stack } = buildInsecureStack(app);
    for (const id of INSECURE_STACK_RULE_IDS) suppressPolicyRule(stack, id, GOOD_REASON);
    applyPolicyPack(stack);
    expect(() => app.synth()).not.toThrow();
    const infos = stack.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === "@cdktf/info").map((m) => String(m.data)));
    expect(infos.some((m) => m.startsWith("[EKS1 EksEndpointNotPublic] insecure/cluster/cluster") && m.includes("Suppressed: Accepted by security review"))).toBe(true);
  });

  it("throw when the reason is empty or shorter than 20 characters", () => {
    const { cluster } = buildInsecureStack(Testing.app());
    expect(() => suppressPolicyRule(cluster, "EKS1", "")).toThrow(/EKS1.*Fix: explain in at least 20 characters/);
    expect(() => suppressPolicyRule(cluster, "EKS1", "   this is nineteen ch    ")).toThrow(/19 characters after trimming/);
    expect(() => suppressPolicyRule(cluster, "EKS1", "  this is twenty chars  ")).not.toThrow();
  });

  it("throw when the rule id is unknown", () => {
    const { cluster } = buildInsecureStack(Testing.app());
    expect(() => suppressPolicyRule(cluster, "EKS99", GOOD_REASON)).toThrow(/ruleId "EKS99" is not a known policy rule id\. Fix: use one of EKS1, /);
  });

  it("passed to evaluatePolicy are validated and matched by construct path", () => {
    const json: SynthesizedStackJson = {
      resource: { aws_vpc: { v: { "//": { metadata: { path: "s/network/vpc", uniqueId: "v" } } } } },
    };
    expect(evaluatePolicy(json, { suppressions: [{ path: "s/network", ruleId: "VPC1", reason: GOOD_REASON }] })[0]?.suppressed).toBe(GOOD_REASON);
    expect(evaluatePolicy(json, { suppressions: [{ path: "s/net", ruleId: "VPC1", reason: GOOD_REASON }] })[0]?.suppressed).toBeUndefined();
    expect(() => evaluatePolicy(json, { suppressions: [{ path: "s", ruleId: "VPC1", reason: "short" }] })).toThrow(/VPC1/);
  });
});

describe("compliant stack", () => {
  it("yields zero findings and synthesizes with the pack applied", () => {
    const app = Testing.app();
    const stack = buildCompliantStack(app);
    expect(evaluateStack(stack)).toEqual([]);
    applyPolicyPack(stack);
    expect(() => app.synth()).not.toThrow();
  });
});

describe("warning-level rules", () => {
  it("become cdktf warning annotations on the resource instead of synth errors", () => {
    const warnAboutVpcs: PolicyRule = {
      id: "TEST1",
      name: "VpcHasName",
      level: "warning",
      explanation: "test rule",
      fix: "set tags.Name",
      resourceTypes: ["aws_vpc"],
      evaluate: (resource) =>
        resource.config["tags"] === undefined ? { status: "non-compliant", reason: "tags is absent" } : { status: "compliant" },
    };
    const app = Testing.app();
    const stack = buildCompliantStack(app);
    applyPolicyPack(stack, { rules: [warnAboutVpcs] });
    expect(() => app.synth()).not.toThrow();
    const vpc = stack.node.findChild("vpc");
    const warnings = vpc.node.metadata.filter((m) => m.type === "@cdktf/warn").map((m) => String(m.data));
    expect(warnings).toEqual(["[TEST1 VpcHasName] compliant/vpc (aws_vpc.vpc): tags is absent. Fix: set tags.Name."]);
  });

  it("refuse a second application of the pack on the same stack", () => {
    const stack = buildCompliantStack(Testing.app());
    applyPolicyPack(stack);
    expect(() => applyPolicyPack(stack)).toThrow(/already applied/);
  });
});

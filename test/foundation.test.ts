import { EcrRepository } from "@cdktf/provider-aws/lib/ecr-repository/index.js";
import { EksAddon } from "@cdktf/provider-aws/lib/eks-addon/index.js";
import { EksCluster } from "@cdktf/provider-aws/lib/eks-cluster/index.js";
import { FlowLog } from "@cdktf/provider-aws/lib/flow-log/index.js";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key/index.js";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, loadEnvironment, RAW_ENVIRONMENTS, validateEnvironment, type EnvironmentName } from "../config/index.js";
import { CONTROL_PLANE_LOG_TYPES } from "../constructs/eks-cluster.js";
import { DEFAULT_INTERFACE_ENDPOINTS } from "../constructs/network.js";
import { evaluatePolicy } from "../constructs/policy/index.js";
import { addEnvironment } from "../stacks/app.js";
import { referencedId, resourcesOf, stackOf, synthApp, type SynthesizedStack } from "./support/synth.js";

const only = <T>(record: Record<string, T>): T => {
  const values = Object.values(record);
  expect(values).toHaveLength(1);
  return values[0] as T;
};

/** The private subnets' logical ids, by their tier tag. */
function subnetIdsByTier(stack: SynthesizedStack, tier: string): string[] {
  return Object.entries(resourcesOf(stack, "aws_subnet"))
    .filter(([, s]) => (s.tags as Record<string, string>)["enchanted.io/subnet-tier"] === tier)
    .map(([id]) => id);
}

describe.each(ENVIRONMENT_NAMES)("%s-foundation", (env: EnvironmentName) => {
  const config = loadEnvironment(env);
  const stack = () => stackOf(env, "foundation");

  it("creates the cluster at the pinned version with all five control-plane log types", () => {
    expect(stack().text).toHaveResourceWithProperties(EksCluster, {
      name: `enchanted-${env}`,
      version: config.eks.version,
      enabled_cluster_log_types: [...CONTROL_PLANE_LOG_TYPES],
    });
    expect(CONTROL_PLANE_LOG_TYPES).toEqual(["api", "audit", "authenticator", "controllerManager", "scheduler"]);
  });

  it("keeps the API endpoint private unless dev allowlists ranges", () => {
    const vpc = only(resourcesOf(stack(), "aws_eks_cluster")).vpc_config as Record<string, unknown>;
    expect(vpc.endpoint_private_access).toBe(true);
    expect(vpc.endpoint_public_access).toBe(config.eks.publicAccessCidrs.length > 0);
    if (env !== "dev") expect(vpc.endpoint_public_access).toBe(false);
  });

  it("envelope-encrypts Secrets with a customer key that rotates", () => {
    const cluster = only(resourcesOf(stack(), "aws_eks_cluster"));
    const enc = cluster.encryption_config as { resources: string[]; provider: { key_arn: string } };
    expect(enc.resources).toEqual(["secrets"]);
    const keyId = referencedId(enc.provider.key_arn, "aws_kms_key");
    expect(keyId).toBeDefined();
    const key = resourcesOf(stack(), "aws_kms_key")[keyId as string];
    expect(key).toMatchObject({ enable_key_rotation: true, customer_master_key_spec: "SYMMETRIC_DEFAULT" });
    expect(stack().text).toHaveResourceWithProperties(KmsKey, { enable_key_rotation: true });
  });

  it("uses access entries and Pod Identity, never the aws-auth ConfigMap", () => {
    const cluster = only(resourcesOf(stack(), "aws_eks_cluster"));
    expect(cluster.access_config).toEqual({ authentication_mode: "API", bootstrap_cluster_creator_admin_permissions: false });
    const entries = Object.values(resourcesOf(stack(), "aws_eks_access_entry")).map((e) => e.principal_arn);
    expect(entries).toEqual(config.eks.adminRoleArns);
    expect(stack().text).not.toContain("aws-auth");
    expect(stack().text).toHaveResourceWithProperties(EksAddon, { addon_name: "eks-pod-identity-agent" });
  });

  it("pins every core add-on, with network policy enforcement on in the VPC CNI", () => {
    const addons = Object.values(resourcesOf(stack(), "aws_eks_addon"));
    const versions = Object.fromEntries(addons.map((a) => [a.addon_name, a.addon_version]));
    expect(versions).toEqual({
      "eks-pod-identity-agent": config.eks.addons.podIdentityAgent,
      "vpc-cni": config.eks.addons.vpcCni,
      "kube-proxy": config.eks.addons.kubeProxy,
      coredns: config.eks.addons.coredns,
      "aws-ebs-csi-driver": config.eks.addons.ebsCsiDriver,
    });
    const cni = addons.find((a) => a.addon_name === "vpc-cni") as Record<string, unknown>;
    expect(JSON.parse(cni.configuration_values as string)).toMatchObject({ enableNetworkPolicy: "true" });
  });

  it("requires IMDSv2 with a hop limit of 1 and encrypted gp3 root volumes on every launch template", () => {
    const templates = Object.values(resourcesOf(stack(), "aws_launch_template"));
    expect(templates).toHaveLength(config.eks.nodeGroups.length);
    for (const lt of templates) {
      expect(lt.metadata_options).toMatchObject({ http_tokens: "required", http_put_response_hop_limit: 1, http_endpoint: "enabled" });
      const [root] = lt.block_device_mappings as { ebs: Record<string, unknown> }[];
      expect(root?.ebs).toMatchObject({ volume_type: "gp3", encrypted: "true" });
      expect(referencedId(root?.ebs.kms_key_id, "aws_kms_key")).toBeDefined();
    }
  });

  it("puts every node group in the private subnets only, through its launch template", () => {
    const privateIds = subnetIdsByTier(stack(), "private");
    expect(privateIds).toHaveLength(config.network.azCount);
    const groups = resourcesOf(stack(), "aws_eks_node_group");
    expect(Object.values(groups).map((g) => g.node_group_name).sort()).toEqual(config.eks.nodeGroups.map((g) => g.name).sort());
    for (const group of Object.values(groups)) {
      const subnets = (group.subnet_ids as string[]).map((ref) => referencedId(ref, "aws_subnet"));
      expect(subnets.sort()).toEqual([...privateIds].sort());
      expect(referencedId((group.launch_template as { id: string }).id, "aws_launch_template")).toBeDefined();
    }
    // ... and those subnets route to the internet only through NAT, never an internet gateway.
    const routes = Object.values(resourcesOf(stack(), "aws_route"));
    const privateTables = Object.values(resourcesOf(stack(), "aws_route_table_association"))
      .filter((a) => privateIds.includes(referencedId(a.subnet_id, "aws_subnet") as string))
      .map((a) => a.route_table_id);
    for (const table of privateTables) {
      const defaults = routes.filter((r) => r.route_table_id === table && r.destination_cidr_block === "0.0.0.0/0");
      expect(defaults).toHaveLength(1);
      expect(defaults[0]?.nat_gateway_id).toMatch(/^\$\{aws_nat_gateway\./);
      expect(defaults[0]?.gateway_id).toBeUndefined();
    }
    for (const id of privateIds) expect(resourcesOf(stack(), "aws_subnet")[id]?.map_public_ip_on_launch).not.toBe(true);
  });

  it("builds the VPC over the configured AZs with public, private and data subnets", () => {
    const vpc = only(resourcesOf(stack(), "aws_vpc"));
    expect(vpc.cidr_block).toBe(config.network.vpcCidr);
    const cidrs = (tier: string) => subnetIdsByTier(stack(), tier).map((id) => resourcesOf(stack(), "aws_subnet")[id]?.cidr_block);
    expect(cidrs("public")).toEqual(config.network.subnets.public);
    expect(cidrs("private")).toEqual(config.network.subnets.private);
    expect(cidrs("data")).toEqual(config.network.subnets.data);
  });

  it("gives data subnets no route to the internet", () => {
    const dataIds = subnetIdsByTier(stack(), "data");
    const tables = new Set(
      Object.values(resourcesOf(stack(), "aws_route_table_association"))
        .filter((a) => dataIds.includes(referencedId(a.subnet_id, "aws_subnet") as string))
        .map((a) => a.route_table_id),
    );
    expect(tables.size).toBe(1);
    const routes = Object.values(resourcesOf(stack(), "aws_route")).filter((r) => tables.has(r.route_table_id as string));
    expect(routes).toEqual([]);
  });

  it(`runs ${env === "dev" ? "one NAT gateway" : "a NAT gateway per AZ"}`, () => {
    const expected = config.network.natGateways === "single" ? 1 : config.network.azCount;
    expect(Object.keys(resourcesOf(stack(), "aws_nat_gateway"))).toHaveLength(expected);
    if (env === "dev") expect(expected).toBe(1);
    if (env === "prod") expect(expected).toBe(config.network.azCount);
  });

  it("has an S3 gateway endpoint and interface endpoints for ECR, STS, Secrets Manager, KMS and logs", () => {
    const endpoints = Object.values(resourcesOf(stack(), "aws_vpc_endpoint"));
    const byType = (t: string) => endpoints.filter((e) => e.vpc_endpoint_type === t).map((e) => String(e.service_name).split(".").slice(3).join("."));
    expect(byType("Gateway")).toEqual(["s3"]);
    expect(byType("Interface").sort()).toEqual([...DEFAULT_INTERFACE_ENDPOINTS].sort());
    expect(DEFAULT_INTERFACE_ENDPOINTS).toEqual(expect.arrayContaining(["ecr.api", "ecr.dkr", "sts", "secretsmanager", "kms", "logs"]));
  });

  it("logs all VPC traffic into a KMS-encrypted log group", () => {
    expect(stack().text).toHaveResourceWithProperties(FlowLog, { traffic_type: "ALL", log_destination_type: "cloud-watch-logs" });
    for (const group of Object.values(resourcesOf(stack(), "aws_cloudwatch_log_group"))) {
      expect(referencedId(group.kms_key_id, "aws_kms_key")).toBeDefined();
      expect(group.retention_in_days).toBeGreaterThan(0);
    }
  });

  it("creates immutable, scanned, KMS-encrypted ECR repositories with a lifecycle policy", () => {
    const repos = resourcesOf(stack(), "aws_ecr_repository");
    expect(Object.values(repos).map((r) => r.name).sort()).toEqual(config.ecr.repositories.map((s) => `enchanted/${s}`).sort());
    expect(stack().text).toHaveResourceWithProperties(EcrRepository, {
      image_tag_mutability: "IMMUTABLE",
      image_scanning_configuration: { scan_on_push: true },
    });
    for (const r of Object.values(repos)) expect((r.encryption_configuration as { encryption_type: string }[])[0]?.encryption_type).toBe("KMS");
    expect(Object.keys(resourcesOf(stack(), "aws_ecr_lifecycle_policy"))).toHaveLength(config.ecr.repositories.length);
  });

  it("has no Kubernetes or Helm provider (they live in stacks that do not create the cluster)", () => {
    const providers = Object.keys(stack().json.provider ?? {});
    expect(providers).toEqual(["aws"]);
    expect(stack().text).toHaveProviderWithProperties(AwsProvider, { allowed_account_ids: [config.aws.accountId] });
  });

  it("has no unsuppressed policy finding", () => {
    expect(evaluatePolicy(stack().json as never, { suppressions: stack().suppressions }).filter((f) => !f.suppressed)).toEqual([]);
  });
});

describe("dev API endpoint allowlist", () => {
  it("opens the dev endpoint only to the configured ranges", () => {
    const raw = structuredClone(RAW_ENVIRONMENTS.dev) as { eks: { publicAccessCidrs: string[] } };
    raw.eks.publicAccessCidrs = ["198.51.100.0/24"];
    const config = validateEnvironment(raw, "dev");
    const stacks = synthApp((app) => addEnvironment(app, config));
    const cluster = only(resourcesOf(stacks["dev-foundation"] as SynthesizedStack, "aws_eks_cluster"));
    expect(cluster.vpc_config).toMatchObject({
      endpoint_private_access: true,
      endpoint_public_access: true,
      public_access_cidrs: ["198.51.100.0/24"],
    });
  });
});

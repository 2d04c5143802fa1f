import { describe, expect, it } from "vitest";
import { StackIndex } from "../../constructs/policy/index-of-stack.js";
import { evaluatePolicy, GATEWAY_LOAD_BALANCER_TAG, POLICY_RULES } from "../../constructs/policy/pack.js";
import { ebsVolumesEncrypted } from "../../constructs/policy/rules/ebs-volumes-encrypted.js";
import { ecrImmutableScannedEncrypted } from "../../constructs/policy/rules/ecr-immutable-scanned-encrypted.js";
import { eksControlPlaneLogsAll } from "../../constructs/policy/rules/eks-control-plane-logs-all.js";
import { eksEndpointNotPublic } from "../../constructs/policy/rules/eks-endpoint-not-public.js";
import { eksNodesInPrivateSubnets } from "../../constructs/policy/rules/eks-nodes-in-private-subnets.js";
import { eksSecretsEncryptedWithKms } from "../../constructs/policy/rules/eks-secrets-encrypted-with-kms.js";
import { iamNoWildcardAction } from "../../constructs/policy/rules/iam-no-wildcard-action.js";
import {
  actionCoveredBy,
  iamNoWildcardResourceForScopableActions,
} from "../../constructs/policy/rules/iam-no-wildcard-resource-for-scopable-actions.js";
import { keycloakAdminNotPublic } from "../../constructs/policy/rules/keycloak-admin-not-public.js";
import { kmsKeyRotationEnabled } from "../../constructs/policy/rules/kms-key-rotation-enabled.js";
import { kongRoutesAuthenticated } from "../../constructs/policy/rules/kong-routes-authenticated.js";
import { launchTemplateImdsv2HopLimit1 } from "../../constructs/policy/rules/launch-template-imdsv2-hop-limit-1.js";
import { logGroupsEncrypted } from "../../constructs/policy/rules/log-groups-encrypted.js";
import { natsLoadBalancerSourceRanges } from "../../constructs/policy/rules/nats-load-balancer-source-ranges.js";
import { natsExternalServiceManifest } from "../../constructs/nats/external.js";
import { noPublicIngress } from "../../constructs/policy/rules/no-public-ingress.js";
import { s3Encrypted } from "../../constructs/policy/rules/s3-encrypted.js";
import { s3PublicAccessBlocked } from "../../constructs/policy/rules/s3-public-access-blocked.js";
import { s3Versioned } from "../../constructs/policy/rules/s3-versioned.js";
import { secretsManagerCustomerKey } from "../../constructs/policy/rules/secrets-manager-customer-key.js";
import { vpcFlowLogsEnabled } from "../../constructs/policy/rules/vpc-flow-logs-enabled.js";
import type { PolicyRule, RuleResult } from "../../constructs/policy/types.js";
import { evaluateRule, reasonOf, stackJson, type Elements } from "./helpers.js";

/** Evaluates `rule` on `address` in a stack made of `resource` (and `data`). */
function check(rule: PolicyRule, address: string, resource: Elements, data: Elements = {}): RuleResult {
  return evaluateRule(rule, stackJson(resource, data), address);
}

/** Asserts non-compliance and that the reason contains every fragment. */
function expectFlagged(result: RuleResult, ...fragments: string[]): void {
  expect(result.status, reasonOf(result)).toBe("non-compliant");
  for (const fragment of fragments) expect(reasonOf(result)).toContain(fragment);
}

const TAGGED = { tags: { [GATEWAY_LOAD_BALANCER_TAG.key]: GATEWAY_LOAD_BALANCER_TAG.value } };

describe("pack", () => {
  it("has unique rule ids and a fix and explanation for every rule", () => {
    const ids = POLICY_RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(23);
    for (const rule of POLICY_RULES) {
      expect(rule.fix.length, rule.id).toBeGreaterThan(10);
      expect(rule.explanation.length, rule.id).toBeGreaterThan(10);
      expect(rule.resourceTypes.length, rule.id).toBeGreaterThan(0);
    }
  });
});

describe("StackIndex references", () => {
  const json = stackJson(
    {
      aws_s3_bucket: { "data_bucket-1_AB12": { bucket: "b" } },
      aws_subnet: { "network_private-subnet-0_0C79": { cidr_block: "10.0.0.0/24" } },
    },
    { aws_iam_policy_document: { doc_1: {} } },
  );
  const index = new StackIndex(json);

  it("resolves a reference embedded in a longer string", () => {
    expect(index.resolve("arn:${aws_s3_bucket.data_bucket-1_AB12.arn}/*")?.address).toBe("aws_s3_bucket.data_bucket-1_AB12");
  });

  it("resolves references inside arrays, objects and function calls", () => {
    const found = index.resolveAll({
      a: ["x", "${element([aws_subnet.network_private-subnet-0_0C79.id], 0)}"],
      b: "${data.aws_iam_policy_document.doc_1.json}",
    });
    expect(found.map((r) => r.address)).toEqual([
      "aws_subnet.network_private-subnet-0_0C79",
      "data.aws_iam_policy_document.doc_1",
    ]);
  });

  it("ignores variables, locals and references to elements outside the stack", () => {
    expect(index.resolveAll(["${var.subnet}", "${local.x}", "${aws_subnet.elsewhere.id}", "subnet-123"])).toEqual([]);
  });

  it("filters resolved references by type", () => {
    expect(index.resolve("${aws_s3_bucket.data_bucket-1_AB12.id}", "aws_subnet")).toBeUndefined();
  });

  it("records the construct path from the metadata", () => {
    expect(index.get("aws_subnet.network_private-subnet-0_0C79")?.path).toBe("test/network_private-subnet-0_0C79");
  });
});

describe("EKS1 EksEndpointNotPublic", () => {
  const cluster = (vpcConfig: unknown): Elements => ({ aws_eks_cluster: { c: { name: "c", vpc_config: vpcConfig } } });

  it("accepts a private-only endpoint", () => {
    expect(check(eksEndpointNotPublic, "aws_eks_cluster.c", cluster({ endpoint_private_access: true, endpoint_public_access: false })).status).toBe("compliant");
  });

  it("accepts a public endpoint restricted to named CIDRs (string booleans, list-shaped block)", () => {
    const result = check(
      eksEndpointNotPublic,
      "aws_eks_cluster.c",
      cluster([{ endpoint_private_access: "true", endpoint_public_access: "true", public_access_cidrs: ["203.0.113.0/24"] }]),
    );
    expect(result.status).toBe("compliant");
  });

  it("flags a public endpoint open to 0.0.0.0/0", () => {
    const result = check(eksEndpointNotPublic, "aws_eks_cluster.c", cluster({ endpoint_private_access: true, endpoint_public_access: true, public_access_cidrs: ["0.0.0.0/0"] }));
    expectFlagged(result, 'endpoint_public_access is true with public_access_cidrs ["0.0.0.0/0"]');
  });

  it("flags a public endpoint whose public_access_cidrs is absent (AWS default 0.0.0.0/0)", () => {
    const result = check(eksEndpointNotPublic, "aws_eks_cluster.c", cluster({ endpoint_private_access: true, endpoint_public_access: true }));
    expectFlagged(result, "public_access_cidrs absent");
  });

  it("flags ::/0 among the public CIDRs", () => {
    const result = check(eksEndpointNotPublic, "aws_eks_cluster.c", cluster({ endpoint_private_access: true, public_access_cidrs: ["10.1.0.0/16", "::/0"] }));
    expectFlagged(result, "public_access_cidrs", "::/0");
  });

  it("flags a cluster without private endpoint access", () => {
    const result = check(eksEndpointNotPublic, "aws_eks_cluster.c", cluster({ endpoint_private_access: false, endpoint_public_access: false }));
    expectFlagged(result, "endpoint_private_access is false");
  });
});

describe("EKS2 EksSecretsEncryptedWithKms", () => {
  it("accepts secrets encryption with a KMS key", () => {
    const result = check(eksSecretsEncryptedWithKms, "aws_eks_cluster.c", {
      aws_eks_cluster: { c: { encryption_config: { resources: ["secrets"], provider: { key_arn: "${aws_kms_key.k.arn}" } } } },
    });
    expect(result.status).toBe("compliant");
  });

  it("flags a cluster without encryption_config", () => {
    expectFlagged(check(eksSecretsEncryptedWithKms, "aws_eks_cluster.c", { aws_eks_cluster: { c: {} } }), "encryption_config is absent");
  });

  it("flags encryption_config whose resources do not include secrets", () => {
    const result = check(eksSecretsEncryptedWithKms, "aws_eks_cluster.c", {
      aws_eks_cluster: { c: { encryption_config: [{ resources: ["configmaps"], provider: [{ key_arn: "arn:k" }] }] } },
    });
    expectFlagged(result, 'encryption_config.resources is ["configmaps"]');
  });

  it("flags encryption_config without provider.key_arn", () => {
    const result = check(eksSecretsEncryptedWithKms, "aws_eks_cluster.c", {
      aws_eks_cluster: { c: { encryption_config: { resources: ["secrets"], provider: {} } } },
    });
    expectFlagged(result, "encryption_config.provider.key_arn is absent");
  });
});

describe("EKS3 EksControlPlaneLogsAll", () => {
  it("accepts all five control plane log types", () => {
    const result = check(eksControlPlaneLogsAll, "aws_eks_cluster.c", {
      aws_eks_cluster: { c: { enabled_cluster_log_types: ["scheduler", "api", "audit", "authenticator", "controllerManager"] } },
    });
    expect(result.status).toBe("compliant");
  });

  it("flags partial logs and names the missing types", () => {
    const result = check(eksControlPlaneLogsAll, "aws_eks_cluster.c", { aws_eks_cluster: { c: { enabled_cluster_log_types: ["api", "audit"] } } });
    expectFlagged(result, 'enabled_cluster_log_types is ["api","audit"]', "missing authenticator, controllerManager, scheduler");
  });
});

describe("EKS4 EksNodesInPrivateSubnets", () => {
  const base: Elements = {
    aws_vpc: { vpc: { cidr_block: "10.0.0.0/16" } },
    aws_internet_gateway: { igw: { vpc_id: "${aws_vpc.vpc.id}" } },
    aws_nat_gateway: { nat: { subnet_id: "${aws_subnet.public-0.id}" } },
    aws_subnet: {
      "private-0": { vpc_id: "${aws_vpc.vpc.id}", cidr_block: "10.0.1.0/24" },
      "public-0": { vpc_id: "${aws_vpc.vpc.id}", cidr_block: "10.0.0.0/24", map_public_ip_on_launch: true },
    },
    aws_route_table: {
      private: { vpc_id: "${aws_vpc.vpc.id}", route: [{ cidr_block: "0.0.0.0/0", nat_gateway_id: "${aws_nat_gateway.nat.id}", gateway_id: null }] },
      public: { vpc_id: "${aws_vpc.vpc.id}", route: [{ cidr_block: "0.0.0.0/0", gateway_id: "${aws_internet_gateway.igw.id}" }] },
    },
    aws_route_table_association: {
      "private-0": { subnet_id: "${aws_subnet.private-0.id}", route_table_id: "${aws_route_table.private.id}" },
      "public-0": { subnet_id: "${aws_subnet.public-0.id}", route_table_id: "${aws_route_table.public.id}" },
    },
  };
  const withNodeGroup = (subnetIds: unknown, extra: Elements = {}): Elements => ({
    ...base,
    ...extra,
    aws_eks_node_group: { ng: { cluster_name: "c", subnet_ids: subnetIds } },
  });

  it("accepts a node group in a subnet routed through a NAT gateway", () => {
    const result = check(eksNodesInPrivateSubnets, "aws_eks_node_group.ng", withNodeGroup(["${aws_subnet.private-0.id}"]));
    expect(result.status, reasonOf(result)).toBe("compliant");
  });

  it("flags a node group in a subnet that maps public IPs and routes 0.0.0.0/0 to an internet gateway", () => {
    const result = check(eksNodesInPrivateSubnets, "aws_eks_node_group.ng", withNodeGroup(["${aws_subnet.private-0.id}", "${aws_subnet.public-0.id}"]));
    expectFlagged(result, "subnet_ids[1] is aws_subnet.public-0, whose map_public_ip_on_launch is true", "aws_route_table.public route[0] sends 0.0.0.0/0 to internet gateway");
    expect(reasonOf(result)).not.toContain("subnet_ids[0]");
  });

  it("flags a subnet whose route table gets its internet route from an aws_route resource", () => {
    const result = check(
      eksNodesInPrivateSubnets,
      "aws_eks_node_group.ng",
      withNodeGroup(["${aws_subnet.private-0.id}"], {
        aws_route: { "to-igw": { route_table_id: "${aws_route_table.private.id}", destination_cidr_block: "0.0.0.0/0", gateway_id: "${aws_internet_gateway.igw.id}" } },
      }),
    );
    expectFlagged(result, "aws_route.to-igw sends 0.0.0.0/0");
  });

  it("flags a subnet without explicit association whose VPC default route table goes to an internet gateway", () => {
    const result = check(
      eksNodesInPrivateSubnets,
      "aws_eks_node_group.ng",
      withNodeGroup(["${aws_subnet.lonely.id}"], {
        aws_subnet: { ...base["aws_subnet"], lonely: { vpc_id: "${aws_vpc.vpc.id}", cidr_block: "10.0.9.0/24" } },
        aws_default_route_table: {
          main: { default_route_table_id: "${aws_vpc.vpc.default_route_table_id}", route: { cidr_block: "0.0.0.0/0", gateway_id: "${aws_internet_gateway.igw.id}" } },
        },
      }),
    );
    expectFlagged(result, "aws_subnet.lonely, which is public", "aws_default_route_table.main");
  });

  it("flags a literal subnet id that cannot be resolved", () => {
    const result = check(eksNodesInPrivateSubnets, "aws_eks_node_group.ng", withNodeGroup(["subnet-0abc"]));
    expectFlagged(result, 'subnet_ids[0] is "subnet-0abc"', "cannot be proven private");
  });
});

describe("EC2-1 LaunchTemplateImdsv2HopLimit1", () => {
  const lt = (metadataOptions: unknown): Elements => ({ aws_launch_template: { lt: { metadata_options: metadataOptions } } });

  it("accepts IMDSv2 required with hop limit 1", () => {
    expect(check(launchTemplateImdsv2HopLimit1, "aws_launch_template.lt", lt({ http_tokens: "required", http_put_response_hop_limit: 1 })).status).toBe("compliant");
  });

  it("flags a launch template whose hop limit is 2", () => {
    const result = check(launchTemplateImdsv2HopLimit1, "aws_launch_template.lt", lt({ http_tokens: "required", http_put_response_hop_limit: 2 }));
    expectFlagged(result, "metadata_options.http_put_response_hop_limit is 2 (must be 1)");
  });

  it("flags a launch template that allows IMDSv1", () => {
    const result = check(launchTemplateImdsv2HopLimit1, "aws_launch_template.lt", lt({ http_tokens: "optional", http_put_response_hop_limit: 1 }));
    expectFlagged(result, 'metadata_options.http_tokens is "optional"');
  });

  it("flags a launch template without metadata_options", () => {
    expectFlagged(check(launchTemplateImdsv2HopLimit1, "aws_launch_template.lt", { aws_launch_template: { lt: {} } }), "metadata_options is absent");
  });

  it("flags an instance without a hop limit and accepts one with the metadata endpoint disabled", () => {
    const result = check(launchTemplateImdsv2HopLimit1, "aws_instance.i", { aws_instance: { i: { metadata_options: [{ http_tokens: "required" }] } } });
    expectFlagged(result, "http_put_response_hop_limit is absent");
    const disabled = check(launchTemplateImdsv2HopLimit1, "aws_instance.i", { aws_instance: { i: { metadata_options: { http_endpoint: "disabled" } } } });
    expect(disabled.status).toBe("compliant");
  });
});

describe("EC2-2 EbsVolumesEncrypted", () => {
  it("accepts an encrypted EBS volume and flags an unencrypted one", () => {
    expect(check(ebsVolumesEncrypted, "aws_ebs_volume.v", { aws_ebs_volume: { v: { encrypted: true } } }).status).toBe("compliant");
    expectFlagged(check(ebsVolumesEncrypted, "aws_ebs_volume.v", { aws_ebs_volume: { v: { size: 10 } } }), "encrypted is absent");
  });

  it('accepts a launch template whose ebs.encrypted is "true"', () => {
    const result = check(ebsVolumesEncrypted, "aws_launch_template.lt", {
      aws_launch_template: { lt: { block_device_mappings: [{ device_name: "/dev/xvda", ebs: { encrypted: "true" } }] } },
    });
    expect(result.status).toBe("compliant");
  });

  it("flags a launch template with an unencrypted block device mapping", () => {
    const result = check(ebsVolumesEncrypted, "aws_launch_template.lt", {
      aws_launch_template: { lt: { block_device_mappings: [{ device_name: "/dev/xvda", ebs: { encrypted: "true" } }, { device_name: "/dev/xvdb", ebs: { encrypted: "false" } }] } },
    });
    expectFlagged(result, 'block_device_mappings[1].ebs.encrypted is "false"');
  });

  it("flags an instance whose root_block_device is unencrypted", () => {
    const result = check(ebsVolumesEncrypted, "aws_instance.i", { aws_instance: { i: { root_block_device: { volume_size: 20 } } } });
    expectFlagged(result, "root_block_device[0].encrypted is absent");
  });

  it("does not apply to a launch template that declares no volumes", () => {
    expect(check(ebsVolumesEncrypted, "aws_launch_template.lt", { aws_launch_template: { lt: {} } }).status).toBe("not-applicable");
  });
});

describe("EC2-3 NoPublicIngress", () => {
  it("flags SSH from 0.0.0.0/0 in an inline ingress block", () => {
    const result = check(noPublicIngress, "aws_security_group.sg", {
      aws_security_group: { sg: { ingress: [{ protocol: "tcp", from_port: 22, to_port: 22, cidr_blocks: ["0.0.0.0/0"] }] } },
    });
    expectFlagged(result, 'ingress[0] cidr_blocks contains "0.0.0.0/0"', "ports 22-22");
  });

  it("allows tcp 443 from the internet on a security group tagged as the gateway load balancer", () => {
    const result = check(noPublicIngress, "aws_security_group.lb", {
      aws_security_group: { lb: { ...TAGGED, ingress: [{ protocol: "tcp", from_port: 443, to_port: 443, cidr_blocks: ["0.0.0.0/0"], ipv6_cidr_blocks: ["::/0"] }] } },
    });
    expect(result.status, reasonOf(result)).toBe("compliant");
  });

  it("flags tcp 443 from the internet on an untagged security group", () => {
    const result = check(noPublicIngress, "aws_security_group.sg", {
      aws_security_group: { sg: { tags: { Name: "web" }, ingress: [{ protocol: "tcp", from_port: 443, to_port: 443, cidr_blocks: ["0.0.0.0/0"] }] } },
    });
    expectFlagged(result, "aws_security_group.sg is not tagged enchanted.io/exposure=gateway-load-balancer");
  });

  it("flags port 22 from the internet even on the tagged gateway load balancer security group", () => {
    const result = check(noPublicIngress, "aws_security_group.lb", {
      aws_security_group: { lb: { ...TAGGED, ingress: [{ protocol: "tcp", from_port: 22, to_port: 22, cidr_blocks: ["0.0.0.0/0"] }] } },
    });
    expectFlagged(result, "ports 22-22", "only tcp 443 may be public");
  });

  it("allows a standalone 443 ingress rule whose security_group_id references the tagged group", () => {
    const result = check(noPublicIngress, "aws_vpc_security_group_ingress_rule.https", {
      aws_security_group: { lb: TAGGED },
      aws_vpc_security_group_ingress_rule: { https: { security_group_id: "${aws_security_group.lb.id}", ip_protocol: "tcp", from_port: 443, to_port: 443, cidr_ipv4: "0.0.0.0/0" } },
    });
    expect(result.status, reasonOf(result)).toBe("compliant");
  });

  it("flags a standalone 443 security_group_rule on an untagged group, and ::/0 on any port", () => {
    const resources: Elements = {
      aws_security_group: { sg: {} },
      aws_security_group_rule: {
        https: { type: "ingress", security_group_id: "${aws_security_group.sg.id}", protocol: "tcp", from_port: 443, to_port: 443, cidr_blocks: ["0.0.0.0/0"] },
        all6: { type: "ingress", security_group_id: "${aws_security_group.sg.id}", protocol: "-1", from_port: 0, to_port: 0, ipv6_cidr_blocks: ["::/0"] },
        egress: { type: "egress", security_group_id: "${aws_security_group.sg.id}", protocol: "-1", from_port: 0, to_port: 0, cidr_blocks: ["0.0.0.0/0"] },
      },
    };
    expectFlagged(check(noPublicIngress, "aws_security_group_rule.https", resources), "aws_security_group.sg is not tagged");
    expectFlagged(check(noPublicIngress, "aws_security_group_rule.all6", resources), 'ipv6_cidr_blocks contains "::/0"');
    expect(check(noPublicIngress, "aws_security_group_rule.egress", resources).status).toBe("not-applicable");
  });

  it("accepts ingress from private ranges", () => {
    const result = check(noPublicIngress, "aws_vpc_security_group_ingress_rule.r", {
      aws_vpc_security_group_ingress_rule: { r: { ip_protocol: "tcp", from_port: 22, to_port: 22, cidr_ipv4: "10.0.0.0/8" } },
    });
    expect(result.status).toBe("compliant");
  });
});

describe("KMS1 KmsKeyRotationEnabled", () => {
  it("accepts a symmetric key with rotation", () => {
    expect(check(kmsKeyRotationEnabled, "aws_kms_key.k", { aws_kms_key: { k: { enable_key_rotation: true } } }).status).toBe("compliant");
  });

  it("flags a symmetric key without rotation", () => {
    expectFlagged(check(kmsKeyRotationEnabled, "aws_kms_key.k", { aws_kms_key: { k: { enable_key_rotation: false } } }), "enable_key_rotation is false");
  });

  it("does not apply to an asymmetric key", () => {
    expect(check(kmsKeyRotationEnabled, "aws_kms_key.k", { aws_kms_key: { k: { customer_master_key_spec: "RSA_2048" } } }).status).toBe("not-applicable");
  });
});

describe("IAM1 IamNoWildcardAction", () => {
  const policy = (statement: unknown): string => JSON.stringify({ Version: "2012-10-17", Statement: statement });

  it('flags an aws_iam_policy allowing Action "*"', () => {
    const result = check(iamNoWildcardAction, "aws_iam_policy.p", { aws_iam_policy: { p: { policy: policy([{ Effect: "Allow", Action: "*", Resource: "*" }]) } } });
    expectFlagged(result, 'policy Statement[0] allows Action "*"');
  });

  it('flags "*:*" inside an action list of a role inline policy', () => {
    const result = check(iamNoWildcardAction, "aws_iam_role.r", {
      aws_iam_role: { r: { inline_policy: [{ name: "x", policy: policy({ Effect: "Allow", Action: ["s3:GetObject", "*:*"], Resource: "arn:aws:s3:::b/*" }) }] } },
    });
    expectFlagged(result, 'inline_policy[0].policy Statement[0] allows Action ["s3:GetObject","*:*"]');
  });

  it("flags an aws_iam_policy_document data source whose actions contain *", () => {
    const result = check(iamNoWildcardAction, "data.aws_iam_policy_document.d", {}, { aws_iam_policy_document: { d: { statement: [{ actions: ["*"], resources: ["arn:aws:s3:::b"] }] } } });
    expectFlagged(result, 'statement[0] allows actions ["*"]');
  });

  it('does not flag a Deny of "*" and accepts specific actions', () => {
    const result = check(iamNoWildcardAction, "aws_iam_user_policy.u", {
      aws_iam_user_policy: { u: { policy: policy([{ Effect: "Deny", Action: "*", Resource: "*" }, { Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/*" }]) } },
    });
    expect(result.status).toBe("compliant");
  });

  it("does not apply to a policy given as a Terraform expression (its source document is checked)", () => {
    const result = check(iamNoWildcardAction, "aws_iam_role_policy.p", { aws_iam_role_policy: { p: { policy: "${data.aws_iam_policy_document.d.json}" } } });
    expect(result.status).toBe("not-applicable");
  });
});

describe("IAM2 IamNoWildcardResourceForScopableActions", () => {
  const policy = (action: unknown): Elements => ({
    aws_iam_policy: { p: { policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: action, Resource: "*" }] }) } },
  });

  it('allows ecr:GetAuthorizationToken and ec2:Describe* on "*"', () => {
    const result = check(iamNoWildcardResourceForScopableActions, "aws_iam_policy.p", policy(["ecr:GetAuthorizationToken", "ec2:DescribeInstances", "ec2:Describe*"]));
    expect(result.status, reasonOf(result)).toBe("compliant");
  });

  it('flags s3:GetObject on "*"', () => {
    const result = check(iamNoWildcardResourceForScopableActions, "aws_iam_policy.p", policy(["ecr:GetAuthorizationToken", "s3:GetObject"]));
    expectFlagged(result, 'allows scopable Action ["s3:GetObject"] on Resource "*"');
  });

  it('flags s3:* on "*" in a policy document data source', () => {
    const result = check(iamNoWildcardResourceForScopableActions, "data.aws_iam_policy_document.d", {}, {
      aws_iam_policy_document: { d: { statement: { effect: "Allow", actions: ["s3:*"], resources: ["*"] } } },
    });
    expectFlagged(result, 'statement[0] allows scopable actions ["s3:*"] on resources ["*"]');
  });

  it("accepts scopable actions on named ARNs", () => {
    const result = check(iamNoWildcardResourceForScopableActions, "data.aws_iam_policy_document.d", {}, {
      aws_iam_policy_document: { d: { statement: [{ actions: ["s3:GetObject"], resources: ["${aws_s3_bucket.b.arn}/*"] }] } },
    });
    expect(result.status).toBe("compliant");
  });

  it('does not flag a KMS key policy with Resource "*" (it means the key itself)', () => {
    const keyPolicy = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: "arn:aws:iam::111122223333:root" }, Action: "kms:*", Resource: "*" }] });
    const findings = evaluatePolicy(stackJson({ aws_kms_key: { k: { enable_key_rotation: true, policy: keyPolicy } } }));
    expect(findings).toEqual([]);
  });

  it("matches unscopable patterns without widening wildcards", () => {
    expect(actionCoveredBy("ec2:DescribeSubnets", "ec2:Describe*")).toBe(true);
    expect(actionCoveredBy("EC2:describeSubnets", "ec2:Describe*")).toBe(true);
    expect(actionCoveredBy("ec2:DescribeInstance*", "ec2:Describe*")).toBe(true);
    expect(actionCoveredBy("ec2:*", "ec2:Describe*")).toBe(false);
    expect(actionCoveredBy("ec2:Desc*", "ec2:Describe*")).toBe(false);
    expect(actionCoveredBy("ecr:GetAuthorization*", "ecr:GetAuthorizationToken")).toBe(false);
  });
});

describe("S3-1 S3PublicAccessBlocked, S3-2 S3Encrypted, S3-3 S3Versioned", () => {
  const secureBucket: Elements = {
    aws_s3_bucket: { b: { bucket: "tenant-data" } },
    aws_s3_bucket_public_access_block: {
      pab: { bucket: "${aws_s3_bucket.b.id}", block_public_acls: true, block_public_policy: true, ignore_public_acls: "true", restrict_public_buckets: true },
    },
    aws_s3_bucket_server_side_encryption_configuration: {
      sse: { bucket: "${aws_s3_bucket.b.bucket}", rule: [{ apply_server_side_encryption_by_default: { sse_algorithm: "aws:kms", kms_master_key_id: "${aws_kms_key.k.arn}" } }] },
    },
    aws_s3_bucket_versioning: { v: { bucket: "tenant-data", versioning_configuration: { status: "Enabled" } } },
  };

  it("accepts a bucket with a public access block, KMS encryption and versioning (by reference or literal name)", () => {
    for (const rule of [s3PublicAccessBlocked, s3Encrypted, s3Versioned]) {
      const result = check(rule, "aws_s3_bucket.b", secureBucket);
      expect(result.status, `${rule.id}: ${reasonOf(result)}`).toBe("compliant");
    }
  });

  it("flags a bare bucket under all three rules", () => {
    const bare: Elements = { aws_s3_bucket: { b: { bucket: "x" } } };
    expectFlagged(check(s3PublicAccessBlocked, "aws_s3_bucket.b", bare), "no aws_s3_bucket_public_access_block references this bucket");
    expectFlagged(check(s3Encrypted, "aws_s3_bucket.b", bare), "no aws_s3_bucket_server_side_encryption_configuration references this bucket");
    expectFlagged(check(s3Versioned, "aws_s3_bucket.b", bare), "no aws_s3_bucket_versioning references this bucket");
  });

  it("flags a public access block with block_public_policy false", () => {
    const pab = secureBucket["aws_s3_bucket_public_access_block"]?.["pab"];
    const result = check(s3PublicAccessBlocked, "aws_s3_bucket.b", { ...secureBucket, aws_s3_bucket_public_access_block: { pab: { ...pab, block_public_policy: false } } });
    expectFlagged(result, "aws_s3_bucket_public_access_block.pab block_public_policy is false");
  });

  it("flags AES256 encryption", () => {
    const result = check(s3Encrypted, "aws_s3_bucket.b", {
      ...secureBucket,
      aws_s3_bucket_server_side_encryption_configuration: { sse: { bucket: "${aws_s3_bucket.b.id}", rule: { apply_server_side_encryption_by_default: { sse_algorithm: "AES256" } } } },
    });
    expectFlagged(result, 'sse_algorithm is "AES256"', "kms_master_key_id is absent");
  });

  it("flags suspended versioning", () => {
    const result = check(s3Versioned, "aws_s3_bucket.b", {
      ...secureBucket,
      aws_s3_bucket_versioning: { v: { bucket: "${aws_s3_bucket.b.id}", versioning_configuration: { status: "Suspended" } } },
    });
    expectFlagged(result, 'versioning_configuration.status is "Suspended"');
  });
});

describe("SM1 SecretsManagerCustomerKey", () => {
  it("accepts a secret with a customer key and flags one without", () => {
    expect(check(secretsManagerCustomerKey, "aws_secretsmanager_secret.s", { aws_secretsmanager_secret: { s: { kms_key_id: "${aws_kms_key.k.arn}" } } }).status).toBe("compliant");
    expectFlagged(check(secretsManagerCustomerKey, "aws_secretsmanager_secret.s", { aws_secretsmanager_secret: { s: { name: "x" } } }), "kms_key_id is absent");
  });
});

describe("LOG1 LogGroupsEncrypted", () => {
  it("accepts a log group with a KMS key and retention", () => {
    expect(check(logGroupsEncrypted, "aws_cloudwatch_log_group.l", { aws_cloudwatch_log_group: { l: { kms_key_id: "arn:k", retention_in_days: 365 } } }).status).toBe("compliant");
  });

  it("flags a log group without a KMS key and with retention 0", () => {
    const result = check(logGroupsEncrypted, "aws_cloudwatch_log_group.l", { aws_cloudwatch_log_group: { l: { retention_in_days: 0 } } });
    expectFlagged(result, "kms_key_id is absent", "retention_in_days is 0 (must be > 0)");
  });
});

describe("ECR1 EcrImmutableScannedEncrypted", () => {
  it("accepts an immutable, scanned, KMS-encrypted repository", () => {
    const result = check(ecrImmutableScannedEncrypted, "aws_ecr_repository.r", {
      aws_ecr_repository: { r: { image_tag_mutability: "IMMUTABLE", image_scanning_configuration: { scan_on_push: true }, encryption_configuration: [{ encryption_type: "KMS" }] } },
    });
    expect(result.status).toBe("compliant");
  });

  it("flags a mutable repository without scanning", () => {
    const result = check(ecrImmutableScannedEncrypted, "aws_ecr_repository.r", {
      aws_ecr_repository: { r: { image_tag_mutability: "MUTABLE", encryption_configuration: [{ encryption_type: "KMS" }] } },
    });
    expectFlagged(result, 'image_tag_mutability is "MUTABLE"', "image_scanning_configuration.scan_on_push is absent");
    expect(reasonOf(result)).not.toContain("encryption_type");
  });
});

describe("VPC1 VpcFlowLogsEnabled", () => {
  it("accepts a VPC with a flow log and flags a VPC whose only flow log is for another VPC", () => {
    const resources: Elements = {
      aws_vpc: { a: {}, b: {} },
      aws_flow_log: { fl: { vpc_id: "${aws_vpc.a.id}", traffic_type: "ALL" } },
    };
    expect(check(vpcFlowLogsEnabled, "aws_vpc.a", resources).status).toBe("compliant");
    expectFlagged(check(vpcFlowLogsEnabled, "aws_vpc.b", resources), "no aws_flow_log has a vpc_id referencing this VPC");
  });
});

/** A Kong Ingress as cdktf synthesizes it, with paths to one Service. */
function kongIngress(paths: readonly string[], service: string, options: { plugins?: string; port?: number; className?: string; defaultBackend?: boolean } = {}): Record<string, unknown> {
  const backend = { service: { name: service, port: { number: options.port ?? 8080 } } };
  return {
    metadata: { name: "i", namespace: "platform", annotations: options.plugins ? { "konghq.com/plugins": options.plugins } : {} },
    spec: {
      ingress_class_name: options.className ?? "kong",
      ...(options.defaultBackend ? { default_backend: backend } : {}),
      rule: [{ host: "h.example.com", http: { path: paths.map((path) => ({ path, path_type: "ImplementationSpecific", backend })) } }],
    },
  };
}
const kongPlugin = (name: string, plugin: string, kind = "KongClusterPlugin") => ({ manifest: { apiVersion: "configuration.konghq.com/v1", kind, metadata: { name }, plugin, config: {} } });

describe("GW-1 KongRoutesAuthenticated", () => {
  const plugins = { auth: kongPlugin("tenant-gate-tenant", "tenant-gate"), strip: kongPlugin("strip", "request-transformer") };

  it("accepts an Ingress naming a tenant-gate plugin of the stack, and the webhook, key set, agent and Keycloak browser paths without one", () => {
    const resources: Elements = {
      kubernetes_manifest: plugins,
      kubernetes_ingress_v1: {
        api: kongIngress(["/~^/v1/"], "provisioning", { plugins: "tenant-gate-tenant" }),
        webhook: kongIngress(["/~^/v1/billing/events$"], "provisioning", { plugins: "strip" }),
        jwks: kongIngress(["/~^/\\.well-known/jwks\\.json$"], "provisioning"),
        agent: kongIngress(["/~^/v1/agent/"], "provisioning", { plugins: "strip" }),
        keycloak: kongIngress(["/realms/enchanted/", "/resources/"], "keycloak-http", { port: 80 }),
        other: kongIngress(["/"], "anything", { className: "alb" }),
      },
    };
    for (const name of ["api", "webhook", "jwks", "agent", "keycloak"]) expect(check(kongRoutesAuthenticated, `kubernetes_ingress_v1.${name}`, resources).status, name).toBe("compliant");
    expect(check(kongRoutesAuthenticated, "kubernetes_ingress_v1.other", resources).status).toBe("not-applicable");
  });

  it("flags a route without the plugin, a plugin name that is not in the stack, and a default backend", () => {
    const resources: Elements = {
      kubernetes_manifest: plugins,
      kubernetes_ingress_v1: {
        bare: kongIngress(["/~^/v1/"], "provisioning", { plugins: "strip" }),
        typo: kongIngress(["/~^/v1/admin/"], "provisioning", { plugins: "tenant-gate-operatr" }),
        mixed: kongIngress(["/~^/v1/billing/events$", "/~^/v1/tenants$"], "provisioning"),
        everything: kongIngress([], "provisioning", { defaultBackend: true }),
      },
    };
    expectFlagged(check(kongRoutesAuthenticated, "kubernetes_ingress_v1.bare", resources), 'spec.rule[0].http.path[0] "/~^/v1/" to "provisioning" runs no tenant-gate plugin');
    expectFlagged(check(kongRoutesAuthenticated, "kubernetes_ingress_v1.typo", resources), 'konghq.com/plugins names "tenant-gate-operatr", which is no KongPlugin or KongClusterPlugin of this stack');
    const mixed = check(kongRoutesAuthenticated, "kubernetes_ingress_v1.mixed", resources);
    expectFlagged(mixed, '"/~^/v1/tenants$"');
    expect(reasonOf(mixed)).not.toContain("billing");
    expectFlagged(check(kongRoutesAuthenticated, "kubernetes_ingress_v1.everything", resources), "spec.default_backend (every path)");
  });
});

describe("GW-2 KeycloakAdminNotPublic", () => {
  it("accepts the realm's and the resources' paths on port 80 and ignores Ingresses to other Services", () => {
    const resources: Elements = { kubernetes_ingress_v1: { kc: kongIngress(["/realms/enchanted/", "/resources/"], "keycloak-http", { port: 80 }), api: kongIngress(["/admin/"], "provisioning") } };
    expect(check(keycloakAdminNotPublic, "kubernetes_ingress_v1.kc", resources).status).toBe("compliant");
    expect(check(keycloakAdminNotPublic, "kubernetes_ingress_v1.api", resources).status).toBe("not-applicable");
  });

  it("flags /admin, the master realm, the whole host, a default backend and another port", () => {
    const resources: Elements = {
      kubernetes_ingress_v1: {
        admin: kongIngress(["/admin/"], "keycloak-http", { port: 80 }),
        master: kongIngress(["/realms/master/"], "keycloak-http", { port: 80 }),
        all: kongIngress(["/"], "keycloak-http", { port: 80 }),
        fallback: kongIngress([], "keycloak-http", { port: 80, defaultBackend: true }),
        management: kongIngress(["/realms/enchanted/"], "keycloak-http", { port: 9000 }),
      },
    };
    expectFlagged(check(keycloakAdminNotPublic, "kubernetes_ingress_v1.admin", resources), '"/admin/" publishes the admin console or API');
    expectFlagged(check(keycloakAdminNotPublic, "kubernetes_ingress_v1.master", resources), '"/realms/master/" is not under /realms/enchanted/ or /resources/');
    expectFlagged(check(keycloakAdminNotPublic, "kubernetes_ingress_v1.all", resources), '"/" is not under');
    expectFlagged(check(keycloakAdminNotPublic, "kubernetes_ingress_v1.fallback", resources), "spec.default_backend publishes every path of keycloak-http");
    expectFlagged(check(keycloakAdminNotPublic, "kubernetes_ingress_v1.management", resources), "backend port is 9000 (must be 80)");
  });
});

describe("NATS-1 NatsLoadBalancerSourceRanges", () => {
  const service = (spec: Record<string, unknown>) => ({ manifest: { apiVersion: "v1", kind: "Service", metadata: { name: "s", namespace: "nats" }, spec } });
  const lb = (extra: Record<string, unknown>) => service({ type: "LoadBalancer", ports: [{ name: "nats", port: 4222, targetPort: 4222, protocol: "TCP" }], ...extra });

  it("accepts the Nats construct's external Service and a load balancer with listed ranges; ignores other Services", () => {
    const resources: Elements = {
      kubernetes_manifest: {
        external: { manifest: natsExternalServiceManifest({ hostname: "nats.example.com", allowedCidrs: ["203.0.113.0/24"] }) },
        listed: lb({ loadBalancerSourceRanges: ["198.51.100.0/24", "203.0.113.0/24"] }),
        clusterIp: service({ type: "ClusterIP", ports: [{ port: 4222 }] }),
        otherPort: service({ type: "LoadBalancer", ports: [{ port: 443, targetPort: 8443 }] }),
        configMap: { manifest: { apiVersion: "v1", kind: "ConfigMap", data: {} } },
      },
      kubernetes_service_v1: { typed: { metadata: [{ name: "t" }], spec: [{ type: "LoadBalancer", port: [{ port: 4222 }], load_balancer_source_ranges: ["203.0.113.0/24"] }] } },
    };
    for (const address of ["kubernetes_manifest.external", "kubernetes_manifest.listed", "kubernetes_service_v1.typed"]) {
      expect(check(natsLoadBalancerSourceRanges, address, resources).status, address).toBe("compliant");
    }
    for (const address of ["kubernetes_manifest.clusterIp", "kubernetes_manifest.otherPort", "kubernetes_manifest.configMap"]) {
      expect(check(natsLoadBalancerSourceRanges, address, resources).status, address).toBe("not-applicable");
    }
  });

  it("flags a load balancer on the client port without source ranges, with 0.0.0.0/0 or ::/0, typed or not, by port or targetPort", () => {
    const resources: Elements = {
      kubernetes_manifest: {
        none: lb({}),
        empty: lb({ loadBalancerSourceRanges: [] }),
        anywhere: lb({ loadBalancerSourceRanges: ["203.0.113.0/24", "0.0.0.0/0"] }),
        byTarget: service({ type: "LoadBalancer", ports: [{ port: 443, targetPort: 4222 }], loadBalancerSourceRanges: ["::/0"] }),
      },
      kubernetes_service_v1: { typed: { metadata: [{ name: "t" }], spec: [{ type: "LoadBalancer", port: [{ port: 4222, target_port: "4222" }] }] } },
    };
    expectFlagged(check(natsLoadBalancerSourceRanges, "kubernetes_manifest.none", resources), "manifest.spec has no loadBalancerSourceRanges on the NATS client port 4222");
    expectFlagged(check(natsLoadBalancerSourceRanges, "kubernetes_manifest.empty", resources), "no loadBalancerSourceRanges");
    expectFlagged(check(natsLoadBalancerSourceRanges, "kubernetes_manifest.anywhere", resources), 'manifest.spec.loadBalancerSourceRanges contains "0.0.0.0/0"');
    expectFlagged(check(natsLoadBalancerSourceRanges, "kubernetes_manifest.byTarget", resources), '"::/0"');
    expectFlagged(check(natsLoadBalancerSourceRanges, "kubernetes_service_v1.typed", resources), "spec has no loadBalancerSourceRanges");
  });
});

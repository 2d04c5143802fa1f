import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { compliant, nonCompliant } from "../results.js";
import { asStringArray, blocks, firstBlock, nonEmptyString, show } from "../values.js";

/**
 * EKS2: Kubernetes secrets are envelope-encrypted with a customer KMS key: some `encryption_config`
 * block lists `"secrets"` in `resources` and sets `provider.key_arn`.
 */
export const eksSecretsEncryptedWithKms: PolicyRule = {
  id: "EKS2",
  name: "EksSecretsEncryptedWithKms",
  level: "error",
  explanation:
    "Without envelope encryption, Kubernetes Secrets are stored in etcd protected only by AWS-managed disk encryption; a customer KMS key adds an auditable, revocable layer.",
  fix: 'set encryptionConfig { resources: ["secrets"], provider: { keyArn: <aws_kms_key arn with rotation> } }',
  resourceTypes: ["aws_eks_cluster"],
  evaluate(resource: SynthResource): RuleResult {
    const configs = blocks(resource.config["encryption_config"]);
    if (configs.length === 0) return nonCompliant("encryption_config is absent");
    const problems: string[] = [];
    for (const [i, config] of configs.entries()) {
      const resources = asStringArray(config["resources"]);
      const keyArn = nonEmptyString(firstBlock(config["provider"])?.["key_arn"]);
      if (resources.includes("secrets") && keyArn !== undefined) return compliant();
      const where = configs.length > 1 ? `encryption_config[${i}]` : "encryption_config";
      if (!resources.includes("secrets")) problems.push(`${where}.resources is ${show(config["resources"])} (must include "secrets")`);
      if (keyArn === undefined) problems.push(`${where}.provider.key_arn is ${show(firstBlock(config["provider"])?.["key_arn"])}`);
    }
    return nonCompliant(problems.join("; "));
  },
};

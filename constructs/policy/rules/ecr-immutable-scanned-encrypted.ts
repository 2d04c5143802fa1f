import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { fromProblems } from "../results.js";
import { firstBlock, isTrue, show } from "../values.js";

/** Tag mutability settings that prevent overwriting a pushed tag. */
const IMMUTABLE_SETTINGS: readonly string[] = ["IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"];
/** Encryption types that use KMS. */
const KMS_ENCRYPTION_TYPES: readonly string[] = ["KMS", "KMS_DSSE"];

/**
 * ECR1: repositories have immutable tags, scan on push and KMS encryption
 * (`image_tag_mutability` IMMUTABLE[_WITH_EXCLUSION], `image_scanning_configuration.scan_on_push`
 * true, `encryption_configuration.encryption_type` KMS).
 */
export const ecrImmutableScannedEncrypted: PolicyRule = {
  id: "ECR1",
  name: "EcrImmutableScannedEncrypted",
  level: "error",
  explanation: "Mutable tags let a pushed image be silently replaced; unscanned images ship known CVEs; AES256 encryption cannot be restricted by key policy.",
  fix: 'set imageTagMutability: "IMMUTABLE", imageScanningConfiguration: { scanOnPush: true }, encryptionConfiguration: [{ encryptionType: "KMS", kmsKey: <key arn> }]',
  resourceTypes: ["aws_ecr_repository"],
  evaluate(resource: SynthResource): RuleResult {
    const c = resource.config;
    const problems: string[] = [];
    const mutability = c["image_tag_mutability"];
    if (typeof mutability !== "string" || !IMMUTABLE_SETTINGS.includes(mutability)) {
      problems.push(`image_tag_mutability is ${show(mutability)}${mutability === undefined ? ', so AWS uses "MUTABLE"' : ""} (must be "IMMUTABLE")`);
    }
    const scanOnPush = firstBlock(c["image_scanning_configuration"])?.["scan_on_push"];
    if (!isTrue(scanOnPush)) problems.push(`image_scanning_configuration.scan_on_push is ${show(scanOnPush)} (must be true)`);
    const encryptionType = firstBlock(c["encryption_configuration"])?.["encryption_type"];
    if (typeof encryptionType !== "string" || !KMS_ENCRYPTION_TYPES.includes(encryptionType)) {
      problems.push(`encryption_configuration.encryption_type is ${show(encryptionType)}${encryptionType === undefined ? ', so AWS uses "AES256"' : ""} (must be "KMS")`);
    }
    return fromProblems(problems);
  },
};

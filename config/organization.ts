/**
 * Facts about the organization that runs the platform: its AWS accounts, its DNS zone, the
 * state bucket and the roles that administer clusters. They are the one home of these values;
 * every environment derives ARNs and names from them.
 *
 * Before the first `cdktf deploy`, set these to your organization's real accounts and zone
 * (README, "Deploying"). Synthesis and the tests only need them to be well-formed.
 */
import type { EnvironmentName } from "./environment.js";

export const ORGANIZATION = {
  /** Prefix of every name the platform creates (clusters, buckets, secrets). */
  namePrefix: "enchanted",
  /** The public DNS zone under which each environment gets `api.` and `auth.` hosts. */
  dnsZone: "enchanted-platform.dev",
  /** One AWS account per environment (AWS Organizations best practice). */
  accounts: {
    dev: "111122223333",
    staging: "444455556666",
    prod: "777788889999",
  } satisfies Record<EnvironmentName, string>,
  /** Home region of the platform and of the Terraform state. */
  region: "eu-west-1",
  /** Role assumed by CI (OIDC) to deploy; it gets cluster-admin through an EKS access entry. */
  deployRoleName: "enchanted-deploy",
  /** Role of the on-call platform engineers; cluster-admin through an EKS access entry. */
  platformAdminRoleName: "enchanted-platform-admin",
} as const;

/** The state bucket of an environment's account (created once per account, see README). */
export function stateBucketName(env: EnvironmentName): string {
  return `${ORGANIZATION.namePrefix}-tfstate-${ORGANIZATION.accounts[env]}`;
}

export function roleArn(env: EnvironmentName, roleName: string): string {
  return `arn:aws:iam::${ORGANIZATION.accounts[env]}:role/${roleName}`;
}

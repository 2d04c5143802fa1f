import type { Construct } from "constructs";
import { ENVIRONMENT_NAMES, loadEnvironment, loadTierCatalog, type EnvironmentConfig, type EnvironmentName, type EnvironmentOverrides, type TierCatalog } from "../config/index.js";
import { FoundationStack } from "./foundation-stack.js";
import { PlatformStack } from "./platform-stack.js";
import { WorkloadsStack } from "./workloads-stack.js";

export interface EnvironmentStacks {
  readonly foundation: FoundationStack;
  readonly platform: PlatformStack;
  readonly workloads: WorkloadsStack;
}

/**
 * Adds one environment's stacks to an app, each reading the previous one's outputs:
 * foundation (AWS) → platform (operators, namespaces) → workloads (custom resources).
 */
export function addEnvironment(scope: Construct, config: EnvironmentConfig, tiers: TierCatalog = loadTierCatalog()): EnvironmentStacks {
  const foundation = new FoundationStack(scope, config);
  const platform = new PlatformStack(scope, {
    config,
    tiers,
    cluster: foundation.cluster,
    network: foundation.network,
    ebsKey: foundation.keys.ebs,
    secretsKey: foundation.keys.secrets,
    logsKey: foundation.keys.logs,
  });
  const workloads = new WorkloadsStack(scope, {
    config,
    tiers,
    cluster: foundation.cluster,
    workerPools: platform.tenancy.workerPools,
    keycloakDatabase: platform.keycloak,
    kong: platform.kong,
    repositoryUrls: foundation.registry.repositoryUrls,
    tenantDataKey: foundation.keys.tenantData,
    secretsKey: foundation.keys.secrets,
    externalSecretsRole: { roleName: platform.externalSecrets.roleName, roleArn: platform.externalSecrets.roleArn },
    foundationDbCidrs: platform.foundationDb.destinationCidrs,
  });
  workloads.addDependency(platform);
  return { foundation, platform, workloads };
}

/** Validated configs of the named environments (all by default); the first bad value throws. */
export function loadEnvironments(only: readonly EnvironmentName[] = ENVIRONMENT_NAMES, overrides: EnvironmentOverrides = {}): EnvironmentConfig[] {
  return only.map((name) => loadEnvironment(name, overrides));
}

/** Adds the stacks of several environments (by default all, validated by `loadEnvironments`). */
export function addAllEnvironments(
  scope: Construct,
  configs: readonly EnvironmentConfig[] = loadEnvironments(),
  tiers: TierCatalog = loadTierCatalog(),
): Record<EnvironmentName, EnvironmentStacks | undefined> {
  const result: Record<string, EnvironmentStacks> = {};
  for (const config of configs) result[config.name] = addEnvironment(scope, config, tiers);
  return result as Record<EnvironmentName, EnvironmentStacks | undefined>;
}

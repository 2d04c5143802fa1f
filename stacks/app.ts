import type { Construct } from "constructs";
import { ENVIRONMENT_NAMES, loadEnvironment, type EnvironmentConfig, type EnvironmentName } from "../config/index.js";
import { FoundationStack } from "./foundation-stack.js";
import { PlatformStack } from "./platform-stack.js";

export interface EnvironmentStacks {
  readonly foundation: FoundationStack;
  readonly platform: PlatformStack;
}

/** Adds one environment's stacks to an app; the platform stack reads the foundation's outputs. */
export function addEnvironment(scope: Construct, config: EnvironmentConfig): EnvironmentStacks {
  const foundation = new FoundationStack(scope, config);
  const platform = new PlatformStack(scope, { config, cluster: foundation.cluster, ebsKey: foundation.keys.ebs });
  return { foundation, platform };
}

/** Validated configs of the named environments (all by default); the first bad value throws. */
export function loadEnvironments(only: readonly EnvironmentName[] = ENVIRONMENT_NAMES): EnvironmentConfig[] {
  return only.map((name) => loadEnvironment(name));
}

/**
 * Adds the stacks of several environments (by default all, validated by `loadEnvironments`).
 */
export function addAllEnvironments(
  scope: Construct,
  configs: readonly EnvironmentConfig[] = loadEnvironments(),
): Record<EnvironmentName, EnvironmentStacks | undefined> {
  const result: Record<string, EnvironmentStacks> = {};
  for (const config of configs) result[config.name] = addEnvironment(scope, config);
  return result as Record<EnvironmentName, EnvironmentStacks | undefined>;
}

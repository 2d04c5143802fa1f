/**
 * Loads and validates configuration. Every stack gets its config from here; nothing reads an
 * environment file directly, so nothing can skip validation.
 */
import { checkEnvironment, ENVIRONMENT_NAMES, type EnvironmentConfig, type EnvironmentName } from "./environment.js";
import { dev } from "./environments/dev.js";
import { prod } from "./environments/prod.js";
import { staging } from "./environments/staging.js";
import { ConfigError, IssueCollector } from "./schema.js";
import { PLAN_TIERS, tierCatalogSchema, USER_LIMITS, userLimitsSchemaChecked, type TierCatalog, type UserLimits } from "./tiers.js";

export * from "./environment.js";
export * from "./tiers.js";
export * from "./versions.js";
export * from "./tenancy.js";
export * from "./names.js";
export { ConfigError, formatIssue, type ConfigIssue } from "./schema.js";
export { ORGANIZATION } from "./organization.js";

/** The raw (unvalidated) environment files, by name. */
export const RAW_ENVIRONMENTS: Readonly<Record<EnvironmentName, unknown>> = { dev, staging, prod };

/** Validates a raw environment config; throws a ConfigError listing every problem. */
export function validateEnvironment(raw: unknown, name: string, source = `config/environments/${name}.ts`): EnvironmentConfig {
  const out = new IssueCollector();
  if (!checkEnvironment(raw, name, out) || out.issues.length > 0) throw new ConfigError(source, out.issues);
  return deepFreeze(structuredClone(raw));
}

/** Validates a raw tier catalog; throws a ConfigError listing every problem. */
export function validateTierCatalog(raw: unknown, source = "config/tiers.ts"): TierCatalog {
  const out = new IssueCollector();
  if (!tierCatalogSchema.check(raw, "tiers", out) || out.issues.length > 0) throw new ConfigError(source, out.issues);
  return deepFreeze(structuredClone(raw)) as TierCatalog;
}

/** Validates the signed-in user's limits (`USER_LIMITS`); throws a ConfigError naming each bad field. */
export function validateUserLimits(raw: unknown, source = "config/tiers.ts"): UserLimits {
  const out = new IssueCollector();
  if (!userLimitsSchemaChecked.check(raw, "userLimits", out) || out.issues.length > 0) throw new ConfigError(source, out.issues);
  return deepFreeze(structuredClone(raw)) as UserLimits;
}

/** The validated config of one environment. */
export function loadEnvironment(name: EnvironmentName, overrides: EnvironmentOverrides = {}): EnvironmentConfig {
  if (!ENVIRONMENT_NAMES.includes(name)) {
    throw new ConfigError("config", [{ path: "environment", value: name, problem: "unknown environment", fix: `use one of ${ENVIRONMENT_NAMES.join(", ")}` }]);
  }
  const raw = RAW_ENVIRONMENTS[name] as { images?: Record<string, { tag?: unknown }> };
  if (overrides.imageTag === undefined || raw.images === undefined) return validateEnvironment(raw, name);
  // The override is validated like the file's own value (images.<service>.tag).
  const images = Object.fromEntries(Object.entries(raw.images).map(([service, image]) => [service, { ...image, tag: overrides.imageTag }]));
  return validateEnvironment({ ...raw, images }, name, `config/environments/${name}.ts with ENCHANTED_IMAGE_TAG`);
}

/** What a pipeline may set on top of an environment file. */
export interface EnvironmentOverrides {
  /** Every service image's tag (the commit the pipeline built and pushed). */
  readonly imageTag?: string;
}

/** The validated plan-tier catalog. */
export function loadTierCatalog(): TierCatalog {
  return validateTierCatalog(PLAN_TIERS);
}

/** The validated limits of a signed-in user. */
export function loadUserLimits(): UserLimits {
  return validateUserLimits(USER_LIMITS);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

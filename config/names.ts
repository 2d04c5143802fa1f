/**
 * Names derived from an environment's config that more than one stack uses: each stack takes
 * them from here, never from another stack's module.
 */
import type { EnvironmentConfig } from "./environment.js";

/** Secrets Manager prefix of Keycloak's own secrets (client secrets, SMTP). */
export function keycloakSecretPrefix(config: EnvironmentConfig): string {
  return `enchanted/${config.name}/keycloak`;
}

/** Secrets Manager prefix of the gateway's secrets (realm public key, Redis auth token). */
export function kongSecretPrefix(config: EnvironmentConfig): string {
  return `enchanted/${config.name}/kong`;
}

/** Secrets Manager prefix of the provisioning service's own secrets (the billing webhook's signing secret). */
export function provisioningSecretPrefix(config: EnvironmentConfig): string {
  return `enchanted/${config.name}/provisioning`;
}

/**
 * Keycloak: its names (names.ts), its AWS side in the platform stack (platform.ts: the Aurora
 * database and the empty Secrets Manager containers), the chart's values (chart-values.ts), the
 * realm import (realm-import.ts) and the workload in the cluster (keycloak.ts).
 */
export {
  BOOTSTRAP_ADMIN_CLIENT_ID,
  KEYCLOAK_CHART,
  KEYCLOAK_CLIENT_LABEL,
  KEYCLOAK_CONFIG_CLI_IMAGE,
  KEYCLOAK_DATABASE,
  KEYCLOAK_DB_SECRET,
  KEYCLOAK_POD_LABELS,
  KEYCLOAK_PORTS,
  KEYCLOAK_RELEASE,
  keycloakSecrets,
  keycloakServiceUrl,
} from "./names.js";
export { KeycloakPlatform, type IKeycloakDatabase, type KeycloakPlatformProps } from "./platform.js";
export { keycloakChartValues, type KeycloakChartInput } from "./chart-values.js";
export { realmDocument } from "./realm-import.js";
export { Keycloak, type KeycloakProps } from "./keycloak.js";

/**
 * Keycloak: its names (names.ts), its AWS side in the platform stack (platform.ts: the Aurora
 * database and the empty Secrets Manager containers), the chart's values (chart-values.ts), the
 * realm import (realm-import.ts) and the workload in the cluster (keycloak.ts).
 */
export * from "./chart-values.js";
export * from "./keycloak.js";
export * from "./names.js";
export * from "./platform.js";
export * from "./realm-import.js";

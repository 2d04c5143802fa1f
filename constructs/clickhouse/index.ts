/**
 * ClickHouse, the event history: the operator and its CRDs (platform stack) and the replicated
 * installation, its passwords, its migration and who may connect to it (workloads stack).
 */
export * from "./clickhouse.js";
export * from "./manifests.js";
export * from "./names.js";
export * from "./operator.js";
export * from "./props.js";

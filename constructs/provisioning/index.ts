/** The provisioning service's construct: its names, props, Secrets and the workload. */
export * from "./names.js";
export * from "./props.js";
export * from "./provisioning.js";
export * from "./secrets.js";

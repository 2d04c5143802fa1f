/** The events API's construct: its names, props and the workload (Deployment, Service, HPA, PDB, policies, dashboard). */
export * from "./events-api.js";
export * from "./names.js";
export * from "./props.js";

/** The AWS Load Balancer Controller: names and chart values, its IAM permissions, the construct. */
export * from "./chart-values.js";
export * from "./controller.js";
export * from "./host-records.js";
export * from "./iam-policy.js";

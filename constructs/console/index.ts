/**
 * The web console's delivery: static assets on the API's own origin through CloudFront, the API
 * paths passed to the gateway, the console's security headers and its runtime configuration
 * (web-console.ts). The console's own contract (CSP, headers, `/config.json`) is console/contract.ts.
 */
export * from "./names.js";
export * from "./buckets.js";
export * from "./headers.js";
export * from "./spa-function.js";
export * from "./web-console.js";

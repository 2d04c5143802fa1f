/**
 * Public entry point `@enchanted/platform/stacks`: the environment stacks and the functions that
 * add them to any cdktf App (`addEnvironment`, `addAllEnvironments`, `loadEnvironments`), so
 * another app can deploy this platform's stacks next to its own:
 *
 *   import { App } from "cdktf";
 *   import { loadEnvironment } from "@enchanted/platform/config";
 *   import { addEnvironment } from "@enchanted/platform/stacks";
 *   const app = new App();
 *   addEnvironment(app, loadEnvironment("dev"));
 *   app.synth();
 */
export * from "./app.js";
export * from "./environment-stack.js";
export * from "./foundation-stack.js";
export * from "./kubernetes-stack.js";
export * from "./platform-stack.js";
export * from "./workloads-stack.js";
export { assertReferencesResolve, danglingReferences } from "./references.js";

/**
 * The cdktf app: every environment's stacks. `npm run synth` and `npx cdktf synth` both run
 * this file and write `cdktf.out/stacks/<env>-<stack>/cdk.tf.json`.
 *
 * ENCHANTED_ENVIRONMENTS=dev,staging limits the app to some environments (default: all).
 */
import { App } from "cdktf";
import { ConfigError, ENVIRONMENT_NAMES, loadTierCatalog, type EnvironmentName } from "../config/index.js";
import { addAllEnvironments, loadEnvironments } from "./app.js";

function selectedEnvironments(): EnvironmentName[] {
  const raw = process.env.ENCHANTED_ENVIRONMENTS;
  if (!raw) return [...ENVIRONMENT_NAMES];
  const names = raw.split(",").map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(ENVIRONMENT_NAMES as readonly string[]).includes(n)) {
      throw new ConfigError("ENCHANTED_ENVIRONMENTS", [{ path: "ENCHANTED_ENVIRONMENTS", value: raw, problem: `names unknown environment "${n}"`, fix: `use a comma-separated subset of ${ENVIRONMENT_NAMES.join(",")}` }]);
    }
  }
  return names as EnvironmentName[];
}

try {
  // Validate every config before the App exists: a bad value must stop synth before anything is written.
  const configs = loadEnvironments(selectedEnvironments());
  const tiers = loadTierCatalog();
  const app = new App();
  addAllEnvironments(app, configs, tiers);
  app.synth();
} catch (error) {
  // Config and policy errors are for people: print the message, not a stack trace.
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`synth failed:\n${message}\n`);
  process.exit(1);
}

/**
 * The cdktf app: every environment's stacks. `npm run synth` and `npx cdktf synth` both run
 * this file (through stacks/synth.cjs) and write `cdktf.out/stacks/<env>-<stack>/cdk.tf.json`.
 *
 * ENCHANTED_ENVIRONMENTS=dev,staging limits the app to some environments (default: all).
 * ENCHANTED_IMAGE_TAG=<tag> sets the tag of every service image (CI: the commit it built and
 * pushed); default: each environment's `images.<service>.tag`.
 * ENCHANTED_STACK_TRACES=1 keeps the stack traces cdktf records for every token and resource
 * (useful when a token fails to resolve; they cost about a fifth of the synth time).
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

/**
 * Runs `fn` with Error.captureStackTrace disabled: cdktf captures a full stack trace for every
 * token it creates, only to name a token's origin if it later fails to resolve.
 */
function withoutTokenStackTraces<T>(fn: () => T): T {
  if (process.env.ENCHANTED_STACK_TRACES === "1") return fn();
  const capture = Error.captureStackTrace;
  Error.captureStackTrace = () => undefined;
  try {
    return fn();
  } finally {
    Error.captureStackTrace = capture;
  }
}

try {
  // Validate every config before the App exists: a bad value must stop synth before anything is written.
  const imageTag = process.env.ENCHANTED_IMAGE_TAG?.trim() || undefined;
  const configs = loadEnvironments(selectedEnvironments(), imageTag === undefined ? {} : { imageTag });
  const tiers = loadTierCatalog();
  const stackTraces = process.env.ENCHANTED_STACK_TRACES === "1";
  withoutTokenStackTraces(() => {
    const app = new App({ stackTraces });
    addAllEnvironments(app, configs, tiers);
    app.synth();
  });
} catch (error) {
  // Config and policy errors are for people: print the message, not a stack trace.
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`synth failed:\n${message}\n`);
  process.exit(1);
}

/**
 * The worker's entry point (the image's command): reads the configuration (exit 2 on a bad
 * value), starts the runtime (exit 1 when it cannot), and drains on SIGTERM within
 * WORKER_SHUTDOWN_TIMEOUT_MS. `npm run worker` runs it with the environment of the shell.
 */
import { pathToFileURL } from "node:url";
import { pino } from "pino";
import { exitOnSignals } from "../../runtime/shutdown.js";
import { loadWorkerConfig, WorkerConfigError, type WorkerConfig } from "./config.js";
import { startWorker, type RunningWorker } from "./runtime.js";

async function main(): Promise<void> {
  let config: WorkerConfig;
  try {
    config = loadWorkerConfig();
  } catch (error) {
    pino({ base: { service: "worker" } }).error({ err: error instanceof Error ? error.message : String(error), code: error instanceof WorkerConfigError ? error.code : undefined }, "bad configuration");
    process.exit(2);
  }
  const log = pino({ level: config.logLevel, base: { service: "worker", tier: config.tier } });
  let running: RunningWorker;
  try {
    running = await startWorker(config, { log });
  } catch (error) {
    log.error({ err: error instanceof Error ? error.message : String(error) }, "start failed");
    process.exit(1);
  }
  exitOnSignals({
    log,
    timeoutMs: config.shutdownTimeoutMs + 5_000,
    stop: () => running.stop(),
    stoppedFields: () => ({ running: running.running }),
    timedOutMessage: "shutdown timed out: running jobs are redelivered",
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}

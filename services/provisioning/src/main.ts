/**
 * The provisioning service's entry point: `npm run provisioning`
 * (`node --import tsx services/provisioning/src/main.ts`).
 *
 * Reads the configuration (config.ts; exit 2 on a bad value, naming the variable), opens the
 * store, starts the HTTP API and the outbox worker; logs are pino JSON lines on stdout at
 * `PROVISIONING_LOG_LEVEL`. SIGTERM / SIGINT: `/readyz` and new requests answer 503, requests in
 * flight finish, the worker finishes its batch (a half-applied effect is retried by whichever
 * replica holds the lease next), the store closes, exit 0; after
 * `PROVISIONING_SHUTDOWN_TIMEOUT_MS`, exit 1.
 */
import { pathToFileURL } from "node:url";
import { pino } from "pino";
import { exitOnSignals } from "../../runtime/shutdown.js";
import { loadProvisioningConfig, ProvisioningConfigError, type ProvisioningConfig } from "./config.js";
import { startProvisioning, type RunningProvisioning } from "./service.js";

async function main(): Promise<void> {
  let config: ProvisioningConfig;
  try {
    config = loadProvisioningConfig();
  } catch (error) {
    pino().error({ err: error instanceof Error ? error.message : String(error), code: error instanceof ProvisioningConfigError ? error.code : undefined }, "bad configuration");
    process.exit(2);
  }
  const log = pino({ level: config.logLevel, base: { service: "provisioning" } });
  let running: RunningProvisioning;
  try {
    running = await startProvisioning(config, { log });
  } catch (error) {
    log.error({ err: error instanceof Error ? error.message : String(error) }, "start failed");
    process.exit(1);
  }
  log.info({ port: running.port, store: running.store.kind, keycloak: running.identity.enabled, dataKeys: running.dataKeys.kind }, "provisioning ready");

  exitOnSignals({ log, timeoutMs: config.shutdownTimeoutMs, stop: () => running.stop() });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}

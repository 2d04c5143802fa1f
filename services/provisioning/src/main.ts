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

  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal, timeoutMs: config.shutdownTimeoutMs }, "draining");
    const timer = setTimeout(() => {
      log.error({ timeoutMs: config.shutdownTimeoutMs }, "shutdown timed out");
      process.exit(1);
    }, config.shutdownTimeoutMs);
    running.stop().then(
      () => {
        clearTimeout(timer);
        log.info("stopped");
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: String(error) }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}

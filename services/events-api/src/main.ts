/**
 * The events API's entry point: `npm run events-api`
 * (`node --import tsx services/events-api/src/main.ts`).
 *
 * Reads the configuration (config.ts; exit 2 on a bad value, naming the variable), opens the
 * tier readers' ClickHouse clients and the data-key store, starts the HTTP API; logs are pino
 * JSON lines on stdout at `EVENTS_API_LOG_LEVEL`. SIGTERM / SIGINT: `/readyz` and new requests
 * answer 503, requests in flight finish, the clients and the store close, exit 0; after
 * `EVENTS_API_SHUTDOWN_TIMEOUT_MS`, exit 1.
 */
import { pathToFileURL } from "node:url";
import { pino } from "pino";
import { exitOnSignals } from "../../runtime/shutdown.js";
import { EventsApiConfigError, loadEventsApiConfig, type EventsApiConfig } from "./config.js";
import { startEventsApi, type RunningEventsApi } from "./service.js";

async function main(): Promise<void> {
  let config: EventsApiConfig;
  try {
    config = loadEventsApiConfig();
  } catch (error) {
    pino().error({ err: error instanceof Error ? error.message : String(error), code: error instanceof EventsApiConfigError ? error.code : undefined }, "bad configuration");
    process.exit(2);
  }
  const log = pino({ level: config.logLevel, base: { service: "events-api" } });
  let running: RunningEventsApi;
  try {
    running = await startEventsApi(config, { log });
  } catch (error) {
    log.error({ err: error instanceof Error ? error.message : String(error), code: error instanceof EventsApiConfigError ? error.code : undefined }, "start failed");
    process.exit(error instanceof EventsApiConfigError ? 2 : 1);
  }
  log.info({ port: running.port, clickhouse: config.clickhouse.connection?.url, dataKeys: config.dataKeys.kind }, "events API ready");

  exitOnSignals({ log, timeoutMs: config.shutdownTimeoutMs, stop: () => running.stop() });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}

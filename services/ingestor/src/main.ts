/**
 * The ingestor's entry point: `node --import tsx services/ingestor/src/main.ts`.
 *
 * Resolves the configuration (exit 2 on a bad value, naming the variable), connects to NATS,
 * checks that the streams and the durable consumer exist with the settings it needs (exit 1
 * naming the resource, the setting and the fix: it creates none of them, see ./topology.ts),
 * opens the sink and runs the loop, with
 * `/healthz` (alive), `/readyz` (ready to take work) and `/metrics` (Prometheus, {@link createIngestorMetrics})
 * on `INGESTOR_HTTP_PORT`; logs are pino JSON lines on stdout at `INGESTOR_LOG_LEVEL`.
 * SIGTERM / SIGINT: fetch no more, insert and ack the batch in hand, drain the NATS connection,
 * close the sink, exit 0; if that takes longer than `INGESTOR_SHUTDOWN_TIMEOUT_MS`, exit 1 (the
 * unacked messages are redelivered and deduplicated).
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { exitOnSignals } from "../../runtime/shutdown.js";
import { jetstream, jetstreamManager, type Consumer } from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { STREAM_NAMES } from "../../nats-auth/jetstream-names.js";
import { IngestorConfigError, loadIngestorConfig, type IngestorConfig } from "./config.js";
import { EventConsumer, jsonLogger, pinoLogger, type Logger } from "./consumer.js";
import { checkTopology, type CheckedTopology } from "./topology.js";
import type { TierCatalog } from "../../../config/tiers.js";
import { createIngestorMetrics, type IngestorMetrics } from "./metrics.js";
import { isTenantStore, openSink, type Sink, type TenantStore } from "./sink.js";

export interface RunningIngestor {
  readonly consumer: EventConsumer;
  /** The health server's port, if any. */
  readonly httpPort: number | undefined;
  /** This replica's metrics (served on `/metrics`). */
  readonly metrics: IngestorMetrics;
  /** Drains, flushes, acks and closes everything (no time bound: the caller races it). */
  stop(): Promise<void>;
}

export interface StartIngestorOptions {
  /**
   * Where tenants' plans and usage are read and refusals counted. Default: the sink, when it is
   * one (the configured `ClickHouseSink` is; an override may be). Without either, tenant policies
   * are unenforced and the consumer logs so.
   */
  readonly tenants?: TenantStore;
  /** The tier catalog tenants' plans name (tests pass a small allowance). @default PLAN_TIERS */
  readonly catalog?: TierCatalog;
}

/**
 * Starts a replica. `sinkOverride`: where rows go instead of the configured store (tests, tools);
 * `options`: its tenant store and catalog.
 */
export async function startIngestor(config: IngestorConfig, log: Logger = pinoLogger(config.logLevel), sinkOverride?: Sink, options: StartIngestorOptions = {}): Promise<RunningIngestor> {
  const nc: NatsConnection = await connect({
    servers: [...config.nats.servers],
    name: `ingestor-${process.pid}`,
    maxReconnectAttempts: -1,
    ...(config.nats.credsFile ? { authenticator: credsAuthenticator(readFileSync(config.nats.credsFile)) } : {}),
  });
  const sink = sinkOverride ?? (await openSink(config.clickhouse));
  let topology: CheckedTopology;
  try {
    topology = await checkTopology(await jetstreamManager(nc), config);
  } catch (error) {
    await nc.close();
    await sink.close();
    throw error;
  }
  const js = jetstream(nc);
  // The pending gauges read the durable consumer's info when Prometheus scrapes.
  let pull: Promise<Consumer> | undefined;
  const metrics = createIngestorMetrics(async () => {
    pull ??= js.consumers.get(STREAM_NAMES.events, config.nats.consumer);
    try {
      return await (await pull).info();
    } catch (error) {
      pull = undefined;
      throw error;
    }
  });
  const tenants = options.tenants ?? (isTenantStore(sink) ? sink : undefined);
  let consumer: EventConsumer;
  try {
    // Checks the catalog: a bad one stops the start, naming the field.
    consumer = new EventConsumer({ js, sink, ...(tenants ? { tenants } : {}), ...(options.catalog ? { catalog: options.catalog } : {}), config, ackWaitMs: topology.ackWaitMs, log, metrics });
  } catch (error) {
    await nc.close();
    await sink.close();
    throw error;
  }
  const loop = consumer.start().catch((error: unknown) => {
    log.error({ err: String(error) }, "consumer loop crashed");
  });

  let server: Server | undefined;
  if (config.httpPort !== undefined) {
    const srv = createServer((req, res) => {
      if (req.url === "/metrics") {
        metrics.registry.metrics().then(
          (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
          (error: unknown) => {
            log.error({ err: String(error) }, "metrics collection failed");
            res.writeHead(500, { "content-type": "application/json" }).end('{"error":"metrics unavailable"}');
          },
        );
        return;
      }
      const health = consumer.health();
      const ok = req.url === "/healthz" ? !nc.isClosed() : req.url === "/readyz" ? health.ready : undefined;
      if (ok === undefined) {
        res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
        return;
      }
      res.writeHead(ok ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify(health));
    });
    server = srv;
    await new Promise<void>((resolve) => srv.listen(config.httpPort, resolve));
  }
  const httpPort = server ? (server.address() as AddressInfo).port : undefined;

  return {
    consumer,
    httpPort,
    metrics,
    async stop() {
      await consumer.stop();
      await loop;
      await nc.drain();
      await sink.close();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    },
  };
}

async function main(): Promise<void> {
  let config: IngestorConfig;
  try {
    config = loadIngestorConfig();
  } catch (error) {
    jsonLogger.error({ err: error instanceof Error ? error.message : String(error), code: error instanceof IngestorConfigError ? error.code : undefined }, "bad configuration");
    process.exit(2);
  }
  const log = pinoLogger(config.logLevel);
  let running: RunningIngestor;
  try {
    running = await startIngestor(config, log);
  } catch (error) {
    log.error({ err: error instanceof Error ? error.message : String(error) }, "start failed");
    process.exit(1);
  }
  log.info({ consumer: config.nats.consumer, sink: config.clickhouse.kind, httpPort: running.httpPort }, "ingestor ready");

  exitOnSignals({
    log,
    timeoutMs: config.shutdownTimeoutMs,
    stop: () => running.stop(),
    stoppedFields: () => ({ ...running.consumer.health() }),
    timedOutMessage: "shutdown timed out: exiting with unacked messages (they are redelivered)",
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}

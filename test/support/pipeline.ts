/**
 * The shared fixture of the ingestor pipeline tests: a plain JetStream nats-server with the
 * ingestor's topology (the events and dead-letter streams and the durable consumer, created by
 * `createTopology` from their declarations, as NACK creates them in a cluster), a client
 * connection, and the real ClickHouse engine with the schema applied.
 * (Kept apart from ./ingestor.ts, which child ingestors preload, so they never load the engine.)
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { loadEnvironment, loadTierCatalog } from "../../config/index.js";
import { schemaSql } from "../../services/clickhouse-schema/index.js";
import { STREAM_NAMES } from "../../services/nats-auth/streams.js";
import { createTopology } from "../../services/nats-auth/topology.js";
import { ADMIN, EmbeddedClickHouse } from "./chdb.js";
import { startJetStreamServer } from "./ingestor.js";
import type { NatsServer } from "./nats-server.js";

/** The durable consumer the pipeline tests' ingestors share. */
export const PIPELINE_CONSUMER = "swarm-ingestor";
/** The consumer's AckWait: short, so redeliveries after a kill happen within a test. */
export const PIPELINE_ACK_WAIT_MS = 2_000;
const MiB = 1024 * 1024;

export interface PipelineFixture {
  readonly server: NatsServer;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly engine: EmbeddedClickHouse;
  /** Every message of the events stream is delivered to `consumer` and acked (or terminated). */
  drained(consumer: string): Promise<boolean>;
  /** The environment of an ingestor on this fixture (its nats-server and engine), plus `extra`. */
  ingestorEnv(extra?: Readonly<Record<string, string>>): Record<string, string>;
  stop(): Promise<void>;
}

export async function startPipelineFixture(): Promise<PipelineFixture> {
  const server = await startJetStreamServer();
  const nc = await connect({ servers: server.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  // The server's 1 GiB of storage holds the two streams the ingestor needs; no job stream.
  await createTopology(jsm, {
    nats: loadEnvironment("dev").nats,
    replicas: 1,
    streams: ["events", "deadLetters"],
    maxBytes: { events: 512 * MiB, deadLetters: 128 * MiB },
    ingestor: { name: PIPELINE_CONSUMER, ackWaitMs: PIPELINE_ACK_WAIT_MS },
  });
  const engine = EmbeddedClickHouse.create({ catalog: loadTierCatalog() });
  await engine.as(ADMIN, async (client) => {
    for (const statement of schemaSql({ eventTtlDays: loadEnvironment("dev").clickhouse.eventTtlDays })) await client.command({ query: statement });
  });
  return {
    server,
    nc,
    js,
    jsm,
    engine,
    ingestorEnv: (extra = {}) => ({
      INGESTOR_NATS_URL: server.url,
      INGESTOR_CONSUMER: PIPELINE_CONSUMER,
      INGESTOR_CHDB_PATH: `${engine.root}/data`,
      INGESTOR_FLUSH_INTERVAL_MS: "1000",
      INGESTOR_RETRY_INITIAL_MS: "50",
      INGESTOR_RETRY_MAX_MS: "400",
      INGESTOR_PULL_EXPIRES_MS: "1000", // a SIGTERM waits out open pull requests: keep the idle stops short
      INGESTOR_HTTP_PORT: "off",
      ...extra,
    }),
    async drained(consumer) {
      const [info, stream] = await Promise.all([jsm.consumers.info(STREAM_NAMES.events, consumer), jsm.streams.info(STREAM_NAMES.events)]);
      return info.num_pending === 0 && info.num_ack_pending === 0 && info.ack_floor.stream_seq === stream.state.last_seq;
    },
    async stop() {
      await nc.close();
      await server.stop();
      await engine.destroy();
    },
  };
}

/**
 * The shared fixture of the ingestor pipeline tests: a plain JetStream nats-server with the
 * events stream, a client connection, and the real ClickHouse engine with the schema applied.
 * (Kept apart from ./ingestor.ts, which child ingestors preload, so they never load the engine.)
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { loadEnvironment, loadTierCatalog } from "../../config/index.js";
import { schemaSql } from "../../services/clickhouse-schema/index.js";
import { STREAM_NAMES } from "../../services/nats-auth/streams.js";
import { ADMIN, EmbeddedClickHouse } from "./chdb.js";
import { addEventsStream, startJetStreamServer } from "./ingestor.js";
import type { NatsServer } from "./nats-server.js";

export interface PipelineFixture {
  readonly server: NatsServer;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly engine: EmbeddedClickHouse;
  /** Every message of the events stream is delivered to `consumer` and acked (or terminated). */
  drained(consumer: string): Promise<boolean>;
  stop(): Promise<void>;
}

export async function startPipelineFixture(): Promise<PipelineFixture> {
  const server = await startJetStreamServer();
  const nc = await connect({ servers: server.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await addEventsStream(jsm);
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

/**
 * What the ingestor checks at start, and never creates: the JetStream topology it needs, declared
 * in `services/nats-auth` (`swarmStreamConfigs`, `deadLetterStreamConfig`, `ingestorConsumerConfig`)
 * and created by NACK in a cluster or by `createTopology` locally. A missing stream or consumer, or
 * a consumer setting the ingestor cannot run with, stops the start with an {@link IngestorStartError}
 * naming the resource, the setting and the fix.
 */
import { AckPolicy, DeliverPolicy, type ConsumerInfo, type JetStreamManager, type StreamInfo } from "@nats-io/jetstream";
import { FieldError } from "../../runtime/errors.js";
import { INGESTOR_ENV, INGESTOR_JETSTREAM, prefetchMessages } from "../contract.js";
import type { IngestorConfig } from "./config.js";

/** A dependency the ingestor cannot start without, or one with settings it cannot run with. */
export class IngestorStartError extends FieldError {
  override readonly name = "IngestorStartError";
  readonly code = "E_INGESTOR_START";
}

/** What the check read of the durable consumer, for the loop. */
export interface CheckedTopology {
  /** The consumer's AckWait: the loop signals progress on a batch in the sink a few times within it. */
  readonly ackWaitMs: number;
  /** The consumer's MaxAckPending (-1: unlimited). */
  readonly maxAckPending: number;
}

const NANOS_PER_MS = 1_000_000;
/** Where the topology comes from, for the fixes. */
const STREAMS_DECLARED = "the streams are declared in services/nats-auth/streams.ts and created by NACK (the Nats construct) in a cluster, by createTopology locally";
const CONSUMER_DECLARED = "the consumer is declared by ingestorConsumerConfig (services/nats-auth/consumers.ts) and created by NACK (the Ingestor construct) in a cluster, by createTopology locally";

/** `stream.info()`, or an {@link IngestorStartError} saying the stream is missing (or unreadable). */
async function streamInfo(jsm: JetStreamManager, name: string, role: string): Promise<StreamInfo> {
  try {
    return await jsm.streams.info(name);
  } catch (cause) {
    const missing = /stream not found/i.test(String(cause));
    throw new IngestorStartError(
      "stream",
      name,
      missing ? `does not exist (${role})` : `cannot be read (${role}): ${String(cause)}`,
      missing ? `create it; ${STREAMS_DECLARED}` : "check the ingestor's NATS credentials and their JetStream permissions",
      { cause },
    );
  }
}

/**
 * Checks that `SWARM_EVENTS`, the dead-letter stream and the durable consumer `config.nats.consumer`
 * exist, and that the consumer has the settings this replica needs: a pull consumer with explicit
 * acks and unlimited deliveries, from the stream's start, on every tenant's events, MaxAckPending
 * at least this replica's prefetch and AckWait above the flush interval. Creates and changes
 * nothing. Resolves with what the loop needs of the consumer.
 */
export async function checkTopology(jsm: JetStreamManager, config: Pick<IngestorConfig, "nats" | "batch">): Promise<CheckedTopology> {
  const J = INGESTOR_JETSTREAM;
  const events = await streamInfo(jsm, J.reads, "the stream the ingestor consumes");
  if (!events.config.subjects?.includes(J.capturedSubject)) {
    throw new IngestorStartError("subjects", events.config.subjects ?? [], `do not include ${J.capturedSubject}`, `recreate the stream from its declaration; ${STREAMS_DECLARED}`, { context: `stream ${J.reads}: ` });
  }
  const dlq = await streamInfo(jsm, J.writes, "where the ingestor publishes the events it refuses");
  if (!dlq.config.subjects?.includes(J.deadLetterSubjects)) {
    throw new IngestorStartError("subjects", dlq.config.subjects ?? [], `do not include ${J.deadLetterSubjects}, where dead letters are published`, `recreate the stream from its declaration; ${STREAMS_DECLARED}`, { context: `stream ${J.writes}: ` });
  }

  const name = config.nats.consumer;
  let info: ConsumerInfo;
  try {
    info = await jsm.consumers.info(J.reads, name);
  } catch (cause) {
    const missing = /consumer not found/i.test(String(cause));
    throw new IngestorStartError(
      "consumer",
      name,
      missing ? `does not exist on ${J.reads} (the ingestor no longer creates it)` : `on ${J.reads} cannot be read: ${String(cause)}`,
      missing
        ? `create it from ingestorConsumerConfig: the Ingestor construct's NACK Consumer in a cluster, createTopology(jsm, { ingestor: { name: ${JSON.stringify(name)} } }) locally; or set ${INGESTOR_ENV.consumer} to the consumer that exists`
        : "check the ingestor's NATS credentials and their JetStream permissions",
      { cause },
    );
  }

  const c = info.config;
  const wrong = (setting: string, value: unknown, problem: string, fix: string): never => {
    throw new IngestorStartError(setting, value, problem, `${fix}; ${CONSUMER_DECLARED}`, { context: `consumer ${name} on ${J.reads}: ` });
  };
  if (c.deliver_subject) wrong("deliver_subject", c.deliver_subject, "makes it a push consumer; the ingestor pulls", "recreate it as a pull consumer (no deliver_subject)");
  if (c.ack_policy !== AckPolicy.Explicit) wrong("ack_policy", c.ack_policy, "is not explicit: messages would count as delivered before their rows are stored", "recreate it with ack_policy explicit");
  if (c.deliver_policy !== DeliverPolicy.All) wrong("deliver_policy", c.deliver_policy, "is not all: events stored before the consumer was created would never be ingested", "recreate it with deliver_policy all");
  const filters = c.filter_subjects ?? (c.filter_subject ? [c.filter_subject] : []);
  if (filters.length !== 1 || filters[0] !== J.filterSubject) {
    wrong("filter_subject", filters.length === 1 ? filters[0] : filters, `is not ${J.filterSubject}: the ingestor would miss some tenants' events`, `set it to ${J.filterSubject}`);
  }
  if (c.max_deliver !== J.maxDeliver) {
    wrong("max_deliver", c.max_deliver, `is not ${J.maxDeliver} (unlimited): a message still unstored after that many deliveries, in a ClickHouse outage, would be dropped`, `set it to ${J.maxDeliver}`);
  }
  const prefetch = prefetchMessages(config.batch);
  const maxAckPending = c.max_ack_pending ?? -1;
  if (maxAckPending !== -1 && maxAckPending < prefetch) {
    wrong(
      "max_ack_pending",
      maxAckPending,
      `is below this replica's prefetch of ${prefetch} messages (${INGESTOR_ENV.batchMaxRows} × (${INGESTOR_ENV.maxInflightBatches} + 1)): batches would never fill and every insert would wait for the flush interval`,
      `declare it for the replicas that share it (max replicas × ${prefetch}), or lower ${INGESTOR_ENV.batchMaxRows}`,
    );
  }
  const ackWaitMs = (c.ack_wait ?? 0) / NANOS_PER_MS;
  if (ackWaitMs <= config.batch.flushIntervalMs) {
    wrong("ack_wait", `${ackWaitMs} ms`, `is not above ${INGESTOR_ENV.flushIntervalMs} = ${config.batch.flushIntervalMs}: messages would be redelivered while their batch fills`, `declare an ack wait several times the flush interval, or lower ${INGESTOR_ENV.flushIntervalMs}`);
  }
  return { ackWaitMs, maxAckPending };
}

/**
 * The ingestor's loop: a durable pull consumer on `SWARM_EVENTS`, shared by every replica.
 *
 * explicit pulls (`fetch`) ask for what fits in the budget of one prefetch (`maxRows` ×
 * (`maxInflight` + 1)) → every delivered message is taken at once into a batch → read what the
 * batch's tenants are entitled to and have used (./tenants.ts: cached, one query per batch at
 * most) → check each message against its tenant's plan and write its row into the batch's insert
 * body ({@link appendEvent}: every check of `decodeEvent`, the tenant's retention; then its daily
 * allowance) → dead-letter the refused ones (publish to `SWARM_EVENTS_DLQ`, count the plan's
 * refusals into `tenant_usage_daily`, then `term()`) → insert the accepted rows in one block (up
 * to `maxInflight` at once; full batches wait for a slot) → ack them (one command; the server's
 * reply to the last ack confirms them all, awaited apart: the slot and the room of a batch are free
 * once its acks are sent, and the loop ends only after every confirmation). A message is acked
 * only after its row is stored, so with any number of replicas no acked message lacks its row.
 *
 * Holds nothing it cannot keep: everything pulled and not yet acked is in the replica's own hands
 * (the batch filling, the batches waiting for a slot, those in the sink) and gets `working()`
 * signals three times per AckWait until it is acked; what does not fit in the budget is not
 * pulled. So a sink stall longer than AckWait redelivers nothing (with a continuous pull, messages
 * queued in the client behind a waiting loop outlived AckWait and were inserted twice: issue 14).
 *
 * Same block on redelivery: a crash between insert and ack redelivers the batch. Its boundaries
 * come from the stream, not from timing (one window of `maxRows` stream sequences, one bucket of
 * {@link blockTimeBucketMs} of stored time), so the redelivered batch holds the same messages and
 * gets the same deduplication token ({@link batchToken}, a hash of its stream sequences), and
 * ClickHouse drops the copy at insert. Where a batch was cut otherwise (its flush timer fired
 * before a late message of its bucket arrived, or `maxBytes`), the copy differs and the table's
 * ReplacingMergeTree + FINAL keep it invisible.
 *
 * Transient sink errors (of an insert, of a tenants' lookup) are retried with exponential backoff
 * and nothing is acked meanwhile; a permanent one (missing table, no grant) stops the loop without
 * acking and stops the progress signals: the replica turns unready and says why
 * ({@link EventConsumer.health}), and what it held is redelivered to a healthy one.
 */
import { createHash } from "node:crypto";
import type { ConsumerMessages, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import pino from "pino";
import type { PlanTierName, TierCatalog } from "../../../config/tiers.js";
import { qualified, TENANT_PLANS_TABLE, TENANT_USAGE_TABLE, type TenantRefusals } from "../../clickhouse-schema/index.js";
import { DEAD_LETTER_STREAM, DEAD_LETTER_SUBJECT_PREFIX, STREAM_NAMES } from "../../nats-auth/jetstream-names.js";
import { prefetchMessages, type IngestorConfig, type IngestorLogLevel } from "./config.js";
import { POLICY_REJECT_REASONS, tenantOfSubject, type PolicyRejectReason, type RejectReason } from "./event.js";
import type { IngestorMetrics } from "./metrics.js";
import { appendEvent, RowBlock } from "./row-encoder.js";
import { classifySinkError, type Sink, type SinkError, type TenantStore } from "./sink.js";
import { dayText, offboardedDetail, quotaDetail, TenantPolicies, utcDay, type Admission, type TenantPlan } from "./tenants.js";
import { IngestorStartError } from "./topology.js";

/** The dead-letter stream of refused events (its name and subject root live with the other streams). */
export const DLQ_STREAM = DEAD_LETTER_STREAM;
export const DLQ_SUBJECT_PREFIX = DEAD_LETTER_SUBJECT_PREFIX;
export function dlqSubject(reason: RejectReason): string {
  return `${DLQ_SUBJECT_PREFIX}.${reason}`;
}
/** Headers of a dead letter. */
export const DLQ_HEADERS = {
  reason: "Enchanted-Reason",
  detail: "Enchanted-Detail",
  subject: "Enchanted-Subject",
  streamSeq: "Enchanted-Stream-Seq",
} as const;

const NANOS_PER_MS = 1_000_000n;
/** working() is sent this many times per AckWait while a batch is in the sink. */
const PROGRESS_PER_ACK_WAIT = 3;
const ACK_ACK_TIMEOUT_MS = 5_000;

/** The start check's error (./topology.ts), where it was exported before the check moved there. */
export { IngestorStartError };

export type ConsumerState = "starting" | "running" | "retrying" | "failed" | "stopping" | "stopped";

export interface ConsumerHealth {
  readonly state: ConsumerState;
  /** Ready to take work: running, or retrying a transient failure. */
  readonly ready: boolean;
  readonly lastError: string | undefined;
  readonly batches: number;
  readonly rowsInserted: number;
  readonly deadLettered: number;
  readonly insertRetries: number;
  /**
   * Most messages held unacked at once (the batch filling, batches waiting for a slot, in the
   * sink): at most one prefetch, however slow the sink is, since pulls ask only for what fits.
   */
  readonly backlogPeak: number;
}

export interface Logger {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

/**
 * A {@link Logger} over pino: one JSON line per entry on stdout (`level` as its label, `time`,
 * `pid`, `hostname`, the fields, `msg`), written synchronously so the last lines before
 * `process.exit` are not lost. Entries below `level` are dropped.
 */
export function pinoLogger(level: IngestorLogLevel = "info"): Logger {
  const log = pino({ level, formatters: { level: (label) => ({ level: label }) } }, pino.destination({ dest: 1, sync: true }));
  return {
    info: (fields, msg) => log.info(fields, msg),
    warn: (fields, msg) => log.warn(fields, msg),
    error: (fields, msg) => log.error(fields, msg),
  };
}

/** The default logger: pino at level `info` on stdout. */
export const jsonLogger: Logger = pinoLogger();

export interface EventConsumerOptions {
  readonly js: JetStreamClient;
  readonly sink: Sink;
  /**
   * Where tenants' plans and usage are read and refusals counted (./tenants.ts); production's is
   * the sink's own client (`ClickHouseSink`). None: tenant policies are unenforced (every tenant
   * on the default tier, active, no daily allowance), and the consumer says so at start.
   */
  readonly tenants?: TenantStore;
  /** The tier catalog tenants' plans name. @default PLAN_TIERS */
  readonly catalog?: TierCatalog;
  readonly config: Pick<IngestorConfig, "batch" | "retry" | "tenants"> & { readonly nats: Pick<IngestorConfig["nats"], "consumer" | "pullExpiresMs"> };
  /** The durable consumer's AckWait, as `checkTopology` read it at start: progress signals keep a batch in the sink from being redelivered. */
  readonly ackWaitMs: number;
  readonly log?: Logger;
  /** Counters and histograms of the loop; none: not measured. */
  readonly metrics?: IngestorMetrics;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A JetStream delivery as its ack subject states it. */
export interface Delivery {
  readonly streamSeq: number;
  readonly deliveryCount: number;
  /** When the stream stored the message, in whole milliseconds since the epoch. */
  readonly timestampMs: number;
}

const DOT = 46;
const ZERO = 48;
const ACK_PREFIX = "$JS.ACK.";
const dots = new Int32Array(16);

/** The decimal number in `s[start, end)`, or NaN. */
function decimal(s: string, start: number, end: number): number {
  if (end <= start) return NaN;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = s.charCodeAt(i) - ZERO;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Reads a message's ack subject, `$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<stream
 * seq>.<delivery seq>.<nanos>.<pending>[.<token>]` or the older form without domain and account,
 * in one pass without splitting it (nats.js splits it into strings twice per message: for the
 * delivery info and again for the timestamp). `undefined` when it is neither form.
 */
export function parseDelivery(reply: string): Delivery | undefined {
  const out = { streamSeq: 0, deliveryCount: 0, timestampMs: 0 };
  return parseDeliveryInto(reply, out) ? out : undefined;
}

/** {@link parseDelivery} into `out` (no allocation per message); false when the subject has neither form. */
function parseDeliveryInto(reply: string, out: { streamSeq: number; deliveryCount: number; timestampMs: number }): boolean {
  if (!reply.startsWith(ACK_PREFIX)) return false;
  let count = 0;
  for (let i = reply.indexOf(".", 0); i >= 0 && count < dots.length; i = reply.indexOf(".", i + 1)) dots[count++] = i;
  // Tokens = dots + 1: 9 (old form) or at least 11; `first` is the index of the dot before <delivered>.
  const tokens = count + 1;
  // `first`: the index (in `dots`) of the dot before <delivered>; then <stream seq>, <delivery seq>, <nanos>.
  const first = tokens === 9 ? 3 : tokens >= 11 ? 5 : -1;
  if (first < 0 || reply.charCodeAt(reply.length - 1) === DOT) return false;
  const d0 = dots[first] as number;
  const d1 = dots[first + 1] as number;
  const d2 = dots[first + 2] as number;
  const d3 = dots[first + 3] as number;
  const nanosEnd = first + 4 < count ? (dots[first + 4] as number) : reply.length;
  const deliveryCount = decimal(reply, d0 + 1, d1);
  const streamSeq = decimal(reply, d1 + 1, d2);
  // Nanoseconds to whole milliseconds: drop the last six digits (exact; no float rounding).
  const timestampMs = nanosEnd - (d3 + 1) > 6 ? decimal(reply, d3 + 1, nanosEnd - 6) : 0;
  if (Number.isNaN(deliveryCount) || Number.isNaN(streamSeq) || Number.isNaN(timestampMs) || Number.isNaN(decimal(reply, nanosEnd - 6, nanosEnd))) return false;
  out.streamSeq = streamSeq;
  out.deliveryCount = deliveryCount;
  out.timestampMs = timestampMs;
  return true;
}

/** The delivery of `m`, written into `out`: from its ack subject, or from nats.js when the subject has another form. */
function deliveryOf(m: JsMsg, out: { streamSeq: number; deliveryCount: number; timestampMs: number }): void {
  // nats.js 3 exposes the ack subject as `reply` at runtime but not in the JsMsg type.
  const reply = (m as JsMsg & { readonly reply?: unknown }).reply;
  if (typeof reply === "string" && parseDeliveryInto(reply, out)) return;
  out.streamSeq = m.info.streamSequence;
  out.deliveryCount = m.info.deliveryCount;
  out.timestampMs = Number(m.timestampNanos / NANOS_PER_MS);
}

/** What a JetStream ack is on the wire: `PUB <ack subject> 4` and the payload `+ACK`. */
const ACK_COMMAND_TAIL = " 4\r\n+ACK\r\n";

/** nats.js 3 internals used to write a batch's acks in one command; checked before use. */
interface AckInternals {
  readonly msg?: { readonly reply?: unknown; readonly publisher?: { sendCommand?: unknown; outMsgs?: unknown; outBytes?: unknown } };
  didAck?: unknown;
}

/**
 * Acks every message of `messages` except `skip` (explicit acks: each message its own `+ACK` to
 * its ack subject, exactly what `m.ack()` sends). Written as one protocol command instead of one
 * publish per message, which costs a string, an encode and a buffer append each: ~1 µs of the
 * JavaScript thread per event at 70,000 events/s. Falls back to `m.ack()` when this nats.js does
 * not have the internals (so an upgrade degrades, never breaks).
 */
export function ackAllBut(messages: readonly JsMsg[], skip: JsMsg | undefined): void {
  const publisher = (messages[0] as unknown as AckInternals | undefined)?.msg?.publisher;
  const send = publisher?.sendCommand;
  if (typeof send !== "function" || typeof publisher?.outMsgs !== "number" || typeof publisher.outBytes !== "number") {
    for (const m of messages) if (m !== skip) m.ack();
    return;
  }
  let command = "";
  let count = 0;
  for (const m of messages) {
    if (m === skip) continue;
    const internal = m as unknown as AckInternals;
    const reply = internal.msg?.reply;
    if (internal.didAck !== false || typeof reply !== "string" || internal.msg?.publisher !== publisher) {
      m.ack(); // already acked (no-op), or not the shape this path knows
      continue;
    }
    internal.didAck = true;
    command += `PUB ${reply}${ACK_COMMAND_TAIL}`;
    count++;
  }
  if (count === 0) return;
  send.call(publisher, command);
  (publisher as { outMsgs: number }).outMsgs += count;
  (publisher as { outBytes: number }).outBytes += 4 * count;
}

/** A message the batch refuses, and what its refusal counts against. */
interface Refusal {
  readonly m: JsMsg;
  readonly seq: number;
  readonly reason: RejectReason;
  readonly detail: string;
  /** The subject's tenant (undefined: the subject names none). */
  readonly tenant: string | undefined;
  /** UTC day of the message's stream time. */
  readonly day: number;
  /** The tenant's tier when it was decided. */
  readonly tier: PlanTierName | undefined;
}

const isPolicyReason = (reason: RejectReason): reason is PolicyRejectReason => (POLICY_REJECT_REASONS as readonly RejectReason[]).includes(reason);

/** Bytes of a row beyond its message's own: timestamps, enum names, separators. */
const ROW_OVERHEAD_BYTES = 160;

/** How long past the pull expiry a stop waits for the server's timeout notices before it drains. */
const STOP_GRACE_MS = 1_000;

/**
 * Turns a continuous pull (nats.js `consume()`) into one that asks for nothing more: it ends by
 * itself once the open pull requests are fulfilled or expire. nats.js 3 keeps the switch and
 * the count of requested-but-undelivered messages internal; false when they are not there
 * (the caller then drains instead), so a nats.js upgrade degrades, never hangs.
 */
function stopRefilling(messages: ConsumerMessages): boolean {
  const internal = messages as unknown as { isConsume?: unknown; pending?: { msgs?: unknown; bytes?: unknown } };
  if (typeof internal.isConsume !== "boolean" || typeof internal.pending?.msgs !== "number" || typeof internal.pending.bytes !== "number") return false;
  internal.isConsume = false;
  // Nothing requested and undelivered: no message will arrive to end the iterator, so end it now.
  if (internal.pending.msgs === 0 && internal.pending.bytes === 0) void messages.close();
  return true;
}

/**
 * The stored-time bucket of the insert blocks: half the flush interval. A batch's first message
 * was stored at most this long before its bucket ends, so when the flush timer inserts it
 * (`flushIntervalMs` after that message arrived) the bucket has been over for at least this long,
 * and the batch holds the whole bucket (of its sequence window) unless a message of it was
 * delivered later than that.
 */
export function blockTimeBucketMs(flushIntervalMs: number): number {
  return Math.max(1, Math.floor(flushIntervalMs / 2));
}

/** The insert deduplication token of a batch: its stream, then a hash of its sorted stream sequences. */
export function batchToken(sequences: readonly number[]): string {
  const sorted = [...sequences].sort((a, b) => a - b);
  const hash = createHash("sha256").update(sorted.join(",")).digest("hex").slice(0, 32);
  return `${STREAM_NAMES.events}:${sorted[0] ?? 0}-${sorted[sorted.length - 1] ?? 0}:${sorted.length}:${hash}`;
}

export class EventConsumer {
  private state: ConsumerState = "starting";
  private lastError: string | undefined;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private messages: ConsumerMessages | undefined;
  private counters = { batches: 0, rowsInserted: 0, deadLettered: 0, insertRetries: 0, backlogPeak: 0 };
  /** Insert bodies whose inserts are over, for the next batches (at most one more than in flight). */
  private readonly freeBlocks: RowBlock[] = [];
  private readonly log: Logger;
  /** The tenants' plans and usage, and the order of the batches' decisions. */
  readonly policies: TenantPolicies;

  constructor(private readonly options: EventConsumerOptions) {
    this.log = options.log ?? jsonLogger;
    const store = options.tenants;
    const plansAndUsage = `${qualified(TENANT_PLANS_TABLE)} and ${qualified(TENANT_USAGE_TABLE)}`;
    this.policies = new TenantPolicies({
      lookup:
        store === undefined
          ? undefined
          : async (tenants, days) => {
              let rows: Awaited<ReturnType<TenantStore["readTenants"]>> = [];
              const ok = await this.retrying({ operation: "read", table: plansAndUsage, count: tenants.length }, async () => {
                rows = await store.readTenants(tenants, days);
              });
              return ok ? rows : undefined;
            },
      ...(options.catalog ? { catalog: options.catalog } : {}),
      config: options.config.tenants,
      onOverQuota: (n) => options.metrics?.tenantsOverQuota.set(n),
      onBadRow: (fields) => this.log.error(fields, "tenant plan or usage row not usable as it is"),
    });
  }

  health(): ConsumerHealth {
    return { state: this.state, ready: this.state === "running" || this.state === "retrying", lastError: this.lastError, ...this.counters };
  }

  /** Starts the loop; the returned promise settles when it ends (stop, or a permanent failure). */
  start(): Promise<void> {
    this.loop ??= this.run();
    return this.loop;
  }

  /**
   * Asks for no more messages, inserts and acks everything already delivered, and resolves when
   * the loop has ended.
   *
   * Unsubscribing from the pull's inbox would race the server: a message it sends just before it
   * sees the unsubscribe is counted as delivered but dropped by the client, and waits out AckWait.
   * So the pull stops refilling and the iterator ends by itself once every open pull request is
   * fulfilled or has expired (`pullExpiresMs`). Only if that does not happen in time (or this
   * nats.js cannot stop refilling) is the subscription drained and closed.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.state !== "failed") this.state = "stopping";
    this.wake();
    const messages = this.messages;
    if (messages !== undefined && this.state !== "failed") {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.options.config.nats.pullExpiresMs + STOP_GRACE_MS)));
      const ended = stopRefilling(messages) && this.loop !== undefined ? await Promise.race([this.loop.then(() => true), deadline]) : false;
      clearTimeout(timer);
      if (!ended) {
        this.log.warn({ pullExpiresMs: this.options.config.nats.pullExpiresMs }, "open pull requests did not end in time; draining the subscription");
        const sub = (messages as unknown as { sub?: { drain?: () => Promise<void> } }).sub;
        try {
          await sub?.drain?.();
        } catch (error) {
          this.log.warn({ err: String(error) }, "subscription drain failed; closing");
        }
      }
    }
    await this.messages?.close();
    await this.loop;
    if (this.state !== "failed") this.state = "stopped";
  }

  private async run(): Promise<void> {
    const { js, config, metrics } = this.options;
    if (!this.policies.enforced) {
      this.log.warn({ tier: this.policies.defaultPlan.tier }, "tenant policies unenforced: no tenant store, so every tenant is taken as on the default tier and active, without a daily allowance");
    }
    const consumer = await js.consumers.get(STREAM_NAMES.events, config.nats.consumer);
    // Everything pulled and not yet acked is held here, in our own hands, and kept in progress
    // (`working()`) until it is acked: the batch filling, the batches waiting for an insert slot
    // and those in the sink. Pulls are explicit (`fetch`) and ask only for what fits in the
    // budget, so nothing sits unseen in a client buffer while the sink stalls (issue 14 item 7:
    // with a continuous pull, messages queued in nats.js behind a stalled loop outlived AckWait,
    // were redelivered while still held, and both copies were inserted).
    const budget = prefetchMessages(config.batch);
    const window = config.batch.maxRows;
    const bucketMs = blockTimeBucketMs(config.batch.flushIntervalMs);
    if (!this.stopping) this.state = "running";
    const progress = setInterval(() => {
      for (const group of this.held) for (const m of group) m.working();
    }, Math.max(100, Math.floor(this.options.ackWaitMs / PROGRESS_PER_ACK_WAIT)));

    const inflight = new Set<Promise<void>>();
    const ready: { batch: JsMsg[]; sequences: number[]; storedMs: number[]; bytes: number }[] = [];
    let batch: JsMsg[] = [];
    // The batch's stream sequences and stored times, by message index (numbers, not objects).
    let sequences: number[] = [];
    let storedMs: number[] = [];
    let batchWindow = -1;
    let batchBucket = -1;
    const delivery = { streamSeq: 0, deliveryCount: 0, timestampMs: 0 };
    let bytes = 0;
    let redelivered = 0; // of the batch in hand (counters move once per batch, not per message)
    let timer: NodeJS.Timeout | undefined;
    // The flush timer cuts a batch only while a pull is open: when it fires between pulls (the
    // budget is full, or the last pull was filled), the rest of the batch's window and bucket may
    // still be on the server, and cutting now would split a block that a redelivery would not
    // split the same way. The cut then waits for a pull that ends with less than it asked for
    // (nothing more to deliver) or for a message of another window or bucket.
    let pulling = false;
    let cutDeferred = false;
    const flushDue = () => {
      if (pulling) dispatch();
      else cutDeferred = true;
    };
    const pump = () => {
      while (inflight.size < config.batch.maxInflight && ready.length > 0 && this.state !== "failed") {
        const next = ready.shift()!;
        const done: Promise<void> = this.process(next.batch, next.sequences, next.storedMs, next.bytes).finally(() => {
          inflight.delete(done);
          this.release(next.batch);
          pump();
        });
        inflight.add(done);
      }
    };
    const dispatch = () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      cutDeferred = false;
      if (batch.length === 0) return;
      metrics?.consumed.inc(batch.length);
      if (redelivered > 0) metrics?.redelivered.inc(redelivered);
      redelivered = 0;
      ready.push({ batch, sequences, storedMs, bytes });
      batch = [];
      sequences = [];
      storedMs = [];
      bytes = 0;
      pump();
    };
    try {
      while (!this.stopping && this.state !== "failed") {
        const want = budget - this.heldCount;
        if (want < Math.min(window, budget)) {
          // Not a batch's worth of room: wait until an insert settles (or a stop).
          if (this.heldCount > this.counters.backlogPeak) this.counters.backlogPeak = this.heldCount;
          await this.roomFreed();
          continue;
        }
        let messages: ConsumerMessages;
        try {
          messages = await consumer.fetch({ max_messages: want, expires: config.nats.pullExpiresMs });
        } catch (error) {
          this.log.warn({ err: String(error) }, "pull request failed; retrying");
          await sleep(config.retry.initialMs);
          continue;
        }
        this.messages = messages;
        let got = 0;
        pulling = true;
        try {
          for await (const m of messages) {
            got++;
            if ((this.state as ConsumerState) === "failed") break; // not acked and not kept in progress: redelivered to a healthy replica
            deliveryOf(m, delivery);
            if (delivery.deliveryCount > 1) redelivered++;
            // Block boundaries come from the stream, not from timing, so that a redelivered batch
            // is cut as it was the first time and carries the same deduplication token (ClickHouse
            // then drops the copy): a batch holds messages of one window of `maxRows` stream
            // sequences stored in one bucket of `blockTimeBucketMs` (both read from the delivery,
            // the same on every redelivery). Besides, a batch is inserted when the next message
            // would take it past maxBytes (a larger single message is a batch of its own), and at
            // the latest flushIntervalMs after its first message arrived, by when its bucket is over
            // (while a pull is open; between pulls the cut waits for one: see `flushDue`).
            const w = Math.floor(delivery.streamSeq / window);
            const t = Math.floor(delivery.timestampMs / bucketMs);
            if (batch.length > 0 && (w !== batchWindow || t !== batchBucket || bytes + m.data.byteLength > config.batch.maxBytes)) dispatch();
            if (batch.length === 0) {
              batchWindow = w;
              batchBucket = t;
              this.held.add(batch);
              timer = setTimeout(flushDue, config.batch.flushIntervalMs);
            }
            batch.push(m);
            this.heldCount++;
            sequences.push(delivery.streamSeq);
            storedMs.push(delivery.timestampMs);
            bytes += m.data.byteLength;
            if (batch.length >= config.batch.maxRows) dispatch();
          }
        } catch (error) {
          this.log.warn({ err: String(error) }, "pull ended by an error; pulling again");
          await sleep(config.retry.initialMs);
        } finally {
          pulling = false;
        }
        // A deferred flush is due once a pull found nothing more to deliver.
        if (cutDeferred && got < want) dispatch();
        if (this.heldCount > this.counters.backlogPeak) this.counters.backlogPeak = this.heldCount;
      }
    } catch (error) {
      this.log.error({ err: String(error) }, "consume loop ended by an error");
    } finally {
      // The partial batch in hand is inserted and acked before the loop ends; after a permanent
      // failure it is dropped instead: never acked, redelivered after AckWait.
      if (this.state === "failed") {
        clearTimeout(timer);
        ready.length = 0;
      } else dispatch();
      while (inflight.size > 0) await Promise.all(inflight);
      while (this.confirming.size > 0) await Promise.all(this.confirming);
      clearInterval(progress);
    }
  }

  /** Confirmations of batches' acks not yet received (the batches are settled; the loop waits for these before it ends). */
  private readonly confirming = new Set<Promise<void>>();
  /** Messages pulled and not yet settled, by batch (the filling one included): kept in progress. */
  private readonly held = new Set<readonly JsMsg[]>();
  private heldCount = 0;
  private roomWaiters: (() => void)[] = [];

  /** Resolves when held messages were settled (acked, terminated or given up) or a stop began. */
  private roomFreed(): Promise<void> {
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private wake(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) w();
  }

  /** `batch` is settled (or given up): no more progress signals for it, its room is free. */
  private release(batch: readonly JsMsg[]): void {
    if (this.held.delete(batch)) this.heldCount -= batch.length;
    this.wake();
  }

  /**
   * `batchSequences`, `storedMs`: by message index; `bytes`: the batch's payload bytes. The rows
   * go into a block whose buffer is reused batch after batch (a fresh 10 MB buffer per batch is
   * garbage the collector has to account for).
   */
  private async process(batch: readonly JsMsg[], batchSequences: readonly number[], storedMs: readonly number[], bytes: number): Promise<void> {
    const accepted: JsMsg[] = [];
    const sequences: number[] = [];
    const refused: Refusal[] = [];
    let acceptedBytes = 0;
    // Room for every row without growing: raw bytes and text escaped (at most doubled) plus ids and times.
    const rows = this.freeBlocks.pop() ?? new RowBlock(2 * bytes + ROW_OVERHEAD_BYTES * batch.length);
    const release = () => {
      rows.clear();
      if (this.freeBlocks.length <= this.options.config.batch.maxInflight) this.freeBlocks.push(rows);
    };
    // Each message's tenant (from its subject: a batch holds few distinct subjects, read once each) and quota day.
    const tenants: (string | undefined)[] = new Array<string | undefined>(batch.length);
    const days: number[] = new Array<number>(batch.length);
    let lastSubject = "";
    let lastTenant: string | undefined;
    for (let i = 0; i < batch.length; i++) {
      const subject = (batch[i] as JsMsg).subject;
      if (subject !== lastSubject) {
        lastSubject = subject;
        lastTenant = tenantOfSubject(subject);
      }
      tenants[i] = lastTenant;
      days[i] = utcDay(storedMs[i] as number);
    }

    const meta = { streamTimestampMs: 0, retentionDays: 0 }; // one object for the batch: read before the next message
    // A tenant over its allowance can have thousands of refusals in a batch: its detail text is built once per tenant and day.
    let quotaKeyTenant: string | undefined;
    let quotaKeyDay = -1;
    let quotaText = "";
    // The i-th message is refused (one function for the batch, not a closure per message).
    const refuse = (i: number, plan: TenantPlan, reason: RejectReason, detail: string) => {
      const tenant = tenants[i];
      refused.push({ m: batch[i] as JsMsg, seq: batchSequences[i] as number, reason, detail, tenant, day: days[i] as number, tier: tenant === undefined ? undefined : plan.tier });
    };
    const decided = await this.policies.decide(tenants, days, (admission) => {
      for (let i = 0; i < batch.length; i++) {
        const m = batch[i] as JsMsg;
        const tenant = tenants[i];
        const day = days[i] as number;
        const plan = tenant === undefined ? this.policies.defaultPlan : admission.plan(tenant);
        if (tenant !== undefined && plan.status === "offboarded") {
          refuse(i, plan, "offboarded", offboardedDetail(tenant));
          continue;
        }
        meta.streamTimestampMs = storedMs[i] as number;
        meta.retentionDays = plan.retentionDays;
        const start = rows.byteLength;
        const result = appendEvent(rows, m.subject, m.data, meta);
        if (!result.ok) {
          refuse(i, plan, result.reason, result.detail);
        } else if (tenant !== undefined && !admission.take(tenant, day)) {
          // Valid, but beyond the tenant's allowance: its row is taken back out of the block.
          rows.removeLastRow(start);
          if (tenant !== quotaKeyTenant || day !== quotaKeyDay) {
            quotaKeyTenant = tenant;
            quotaKeyDay = day;
            quotaText = quotaDetail(tenant, plan, day);
          }
          refuse(i, plan, "quota", quotaText);
        } else {
          accepted.push(m);
          sequences.push(batchSequences[i] as number);
          acceptedBytes += m.data.byteLength;
        }
      }
    });
    if (decided === undefined) {
      // A tenants' lookup failed for good (the consumer is failed): nothing decided, nothing acked.
      release();
      return;
    }
    const admission = decided.admission;
    try {
      if (!(await this.deadLetterAll(refused))) return release();
      if (rows.length === 0) {
        admission.stored();
        return release();
      }
      await this.insertAndAck(rows, accepted, sequences, acceptedBytes, admission, release);
    } finally {
      // Not stored (a permanent failure, or an error): the accepted events count for nothing.
      if (!admission.isSettled) admission.dropped();
    }
  }

  /** Inserts the accepted rows in one block, settles the batch's admission, acks. */
  private async insertAndAck(rows: RowBlock, accepted: readonly JsMsg[], sequences: readonly number[], acceptedBytes: number, admission: Admission, release: () => void): Promise<void> {
    const token = batchToken(sequences);
    const rowCount = rows.length; // the block is emptied for reuse once the insert is over
    this.options.metrics?.batchRows.observe(rowCount);
    this.options.metrics?.batchBytes.observe(acceptedBytes);
    try {
      const stored = await this.retrying({ operation: "insert", table: "swarm_events", count: rowCount, token, timed: true }, () => this.options.sink.insert(rows, token));
      if (!stored) {
        // Permanent failure: nothing is acked, and no longer kept in progress: redelivered elsewhere.
        this.held.clear();
        this.heldCount = 0;
        return;
      }
      admission.stored(); // before the acks: a decision waiting for this insert to end may go on
    } finally {
      release(); // the insert is over (stored, or given up): the buffer serves a later batch
    }
    const last = accepted[accepted.length - 1];
    ackAllBut(accepted, last);
    this.counters.batches++;
    this.counters.rowsInserted += rowCount;
    this.options.metrics?.inserted.inc(rowCount);
    // The server handles a connection's acks in order: its reply to the last one confirms the
    // batch. The acks are sent (the last one with the request for that reply), so the batch is
    // settled here: its insert slot and its room in the prefetch are free while the server works
    // through them (waiting for the reply held both for 30-200 ms a batch, when the engine and
    // the bus could have gone on). The loop still waits for every confirmation before it ends.
    // Meanwhile the server may count the batch as pending: a pull then waits for that only where
    // MaxAckPending is reached (it is checked at start to hold at least this replica's prefetch).
    if (last !== undefined) {
      const confirmation: Promise<void> = last.ackAck({ timeout: ACK_ACK_TIMEOUT_MS }).then(
        () => {},
        // The rows are stored: at worst the batch is redelivered and deduplicated.
        (error: unknown) => this.log.warn({ err: String(error), token }, "ack not confirmed"),
      );
      this.confirming.add(confirmation);
      void confirmation.finally(() => this.confirming.delete(confirmation));
    }
  }

  /**
   * Dead-letters the batch's refused messages: publishes each to the DLQ, counts the plan's
   * refusals (quota, expired) into `tenant_usage_daily`, then terminates the published ones. A
   * message whose publish failed is neither counted nor terminated: it is redelivered after
   * AckWait and decided again. The counts are stored before the terms, so a crash between the two
   * redelivers the messages rather than losing their count; their insert's token (the counted
   * messages' stream sequences) keeps a redelivered batch refused alike from counting twice.
   * false: the count's insert failed for good (the consumer is failed; nothing terminated).
   */
  private async deadLetterAll(refused: readonly Refusal[]): Promise<boolean> {
    if (refused.length === 0) return true;
    const published = await Promise.all(refused.map((r) => this.publishDeadLetter(r)));
    const store = this.options.tenants;
    const counts = new Map<string, { tenantId: string; day: string; quota: number; expired: number }>();
    const countedSeqs: number[] = [];
    refused.forEach((r, i) => {
      if (!published[i] || r.tenant === undefined || (r.reason !== "quota" && r.reason !== "expired")) return;
      const key = `${r.tenant} ${r.day}`;
      let c = counts.get(key);
      if (c === undefined) counts.set(key, (c = { tenantId: r.tenant, day: dayText(r.day), quota: 0, expired: 0 }));
      c[r.reason]++;
      countedSeqs.push(r.seq);
    });
    if (store !== undefined && counts.size > 0) {
      const refusals: TenantRefusals[] = [...counts.values()];
      const token = `refused:${batchToken(countedSeqs)}`;
      const ok = await this.retrying({ operation: "insert", table: qualified(TENANT_USAGE_TABLE), count: refusals.length, token }, () => store.recordRefusals(refusals, token));
      if (!ok) return false;
    }
    // One log line per tenant and policy reason per batch (a tenant over its allowance can send thousands), one per message otherwise.
    const byTenant = new Map<string, { tenant: string; tier: PlanTierName | undefined; reason: PolicyRejectReason; count: number; firstSeq: number; detail: string }>();
    refused.forEach((r, i) => {
      if (!published[i]) return;
      r.m.term(); // no reason text: the dead-letter message carries the reason
      this.counters.deadLettered++;
      this.options.metrics?.deadLetter(r.reason);
      if (isPolicyReason(r.reason) && r.tenant !== undefined) {
        if (r.tier !== undefined) this.options.metrics?.refuse(r.reason, r.tier);
        const key = `${r.tenant} ${r.reason}`;
        const entry = byTenant.get(key);
        if (entry === undefined) byTenant.set(key, { tenant: r.tenant, tier: r.tier, reason: r.reason, count: 1, firstSeq: r.seq, detail: r.detail });
        else entry.count++;
      } else {
        this.log.warn({ seq: r.seq, subject: r.m.subject, reason: r.reason, detail: r.detail }, "event dead-lettered");
      }
    });
    for (const e of byTenant.values()) this.log.warn({ tenant: e.tenant, tier: e.tier, reason: e.reason, count: e.count, firstSeq: e.firstSeq, detail: e.detail }, "events refused by the tenant's plan");
    return true;
  }

  /**
   * Runs `op` (an insert, a tenants' lookup) until it succeeds (true) or fails permanently
   * (false: the consumer is failed, nothing it holds is acked or kept in progress). Transient
   * failures are retried with exponential backoff, the replica "retrying" meanwhile.
   */
  private async retrying(what: { readonly operation: "insert" | "read"; readonly table: string; readonly count: number; readonly token?: string; readonly timed?: boolean }, op: () => Promise<void>): Promise<boolean> {
    const { config, metrics } = this.options;
    for (let attempt = 0; ; attempt++) {
      const endTimer = what.timed ? metrics?.insertDuration.startTimer() : undefined;
      try {
        await op();
        endTimer?.();
        if (what.operation === "read") metrics?.tenantLookups.inc({ outcome: "ok" });
        else if (what.timed) metrics?.lastInsert.set(Date.now() / 1_000);
        if (this.state === "retrying") this.state = this.stopping ? "stopping" : "running";
        return true;
      } catch (error) {
        endTimer?.();
        const e: SinkError = classifySinkError(error, what.table, what.count, what.operation);
        if (what.operation === "read") metrics?.tenantLookups.inc({ outcome: "error" });
        else metrics?.insertError(e.kind);
        this.lastError = e.message;
        if (e.kind === "permanent") {
          this.state = "failed";
          this.held.clear(); // nothing held is kept in progress any more: redelivered to a healthy replica
          this.heldCount = 0;
          this.wake();
          this.log.error({ err: e.message, code: e.code, clickhouseCode: e.clickhouseCode, token: what.token }, "PERMANENT sink failure: acking stopped, replica unready");
          void this.messages?.close(); // no more deliveries to a replica that cannot store them
          return false;
        }
        if (what.operation === "insert") this.counters.insertRetries++; // a lookup's retries: tenantLookups{outcome="error"}
        if (this.state === "running") this.state = "retrying";
        const wait = Math.min(config.retry.maxMs, config.retry.initialMs * 2 ** Math.min(attempt, 20));
        this.log.warn({ err: e.message, clickhouseCode: e.clickhouseCode, attempt, waitMs: wait, token: what.token }, `transient sink failure (${what.operation}): retrying, nothing acked`);
        await sleep(wait);
      }
    }
  }

  /** Publishes a refused message to the DLQ with its reason, subject and sequence; true when stored there. */
  private async publishDeadLetter(r: Refusal): Promise<boolean> {
    const { m, reason, detail } = r;
    const h = headers();
    h.set(DLQ_HEADERS.reason, reason);
    h.set(DLQ_HEADERS.detail, detail.replace(/[\r\n]/g, " "));
    h.set(DLQ_HEADERS.subject, m.subject);
    h.set(DLQ_HEADERS.streamSeq, String(m.seq));
    try {
      // msgID: a redelivered poison message is stored once in the DLQ.
      await this.options.js.publish(dlqSubject(reason), m.data, { headers: h, msgID: `${STREAM_NAMES.events}:${m.seq}` });
      return true;
    } catch (error) {
      // Not terminated: the message is redelivered after AckWait and dead-lettered again.
      this.log.warn({ err: String(error), seq: m.seq, reason }, "dead-letter publish failed");
      return false;
    }
  }
}

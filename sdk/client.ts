/**
 * The agent's client: connect with the credentials the API handed out, then `emit()` events.
 *
 * Publishing is asynchronous and batched: `emit()` completes, checks (and, when the tenant
 * encrypts, seals) and encodes the event, then queues it and returns as soon as it is accepted;
 * up to `maxInFlight` publishes wait for their JetStream acks at once, the socket writer batches
 * them. Acks come back on one inbox subscription (a reply token per publish, like the Go
 * client's PublishAsync) and one timer sweeps the overdue ones, instead of a request, a
 * subscription entry and a timer per event. An accepted event is published until JetStream acks it: a timeout, a stream that is
 * momentarily unavailable, a full backlog or a reconnect is retried with exponential backoff, and
 * every retry carries the event id as `Nats-Msg-Id`, so the stream stores it once. `emit()` waits
 * while `maxBuffered` events are unacknowledged (backpressure, bounded memory). `flush()`
 * resolves when everything accepted so far is acked; `close()` flushes, then closes. Nothing
 * accepted is dropped silently: what cannot be delivered (a denied subject, refused credentials,
 * retries exhausted) is handed back in a {@link PublishFailedError} by the next `flush()` or
 * `close()`, and reported to `onError` at once.
 */
import { toBinary } from "@bufbuild/protobuf";
import { connect, createInbox, headers, jwtAuthenticator, PermissionViolationError, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { MAX_EVENT_BYTES } from "../services/ingestor/src/event.js";
import { SwarmEventSchema, type SwarmEvent } from "../services/ingestor/src/gen/enchanted/events/v1/events_pb.js";
import { tenantInboxPrefix } from "../services/nats-auth/claims.js";
import { eventSubject } from "../services/nats-auth/jetstream-names.js";
import { openEvent, sealField, type DataKey } from "./cipher.js";
import { checkCredentials, type AgentCredentials, type CredentialClaims } from "./credentials.js";
import { ClosedError, CredentialsRejectedError, InvalidOptionError, PayloadTooLargeError, PermissionDeniedError, PublishFailedError, type SdkError } from "./errors.js";
import { completeEvent, decision, signal, stateChange, type DecisionInput, type EventDraft, type SignalInput, type StateChangeInput } from "./events.js";
import { DataKeyClient } from "./keys.js";

/** Whether events are encrypted: `auto` follows the tenant's setting (from the data-key service). */
export type EncryptionMode = "auto" | "on" | "off";

export interface AgentClientOptions {
  readonly credentials: AgentCredentials;
  /** The project events go to unless an event names another. */
  readonly projectId: string;
  /** NATS URLs. @default credentials.servers */
  readonly servers?: readonly string[];
  /**
   * The tenant whose subjects are published to. @default the credentials' tenant. Only for tests of
   * isolation: any other tenant's subjects are refused by the server ({@link PermissionDeniedError}).
   */
  readonly tenantId?: string;
  /** @default "auto" (needs credentials.api; without it, "auto" means off) */
  readonly encryption?: EncryptionMode;
  /** Publishes awaiting their ack at once. @default 512 */
  readonly maxInFlight?: number;
  /** Accepted, unacknowledged events before `emit()` waits. @default 20000 */
  readonly maxBuffered?: number;
  /** How long one publish waits for its ack before it is retried. @default 5000 */
  readonly ackTimeoutMs?: number;
  /** First and longest wait between retries of one event. @default 100 and 5000 */
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  /** An event still unacknowledged this long after it was accepted is given up (handed back). @default 300000 */
  readonly giveUpAfterMs?: number;
  /** Connection name the server shows. @default "enchanted-agent" */
  readonly name?: string;
  /** Called at once for every event that cannot be delivered, and for background problems (key refresh). */
  readonly onError?: (error: SdkError | Error) => void;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
}

interface Pending {
  readonly subject: string;
  readonly eventId: string;
  readonly data: Uint8Array;
  readonly acceptedAt: number;
  attempts: number;
  /** When the current attempt is overdue (ms). */
  deadline: number;
}

/** JetStream's answer to a publish: a PubAck, or an API error. */
interface PubAckBody {
  readonly stream?: string;
  readonly seq?: number;
  readonly error?: { readonly code?: number; readonly err_code?: number; readonly description?: string };
}

const DEFAULTS = { maxInFlight: 512, maxBuffered: 20_000, ackTimeoutMs: 5_000, retryInitialMs: 100, retryMaxMs: 5_000, giveUpAfterMs: 300_000 } as const;
/** JetStream answers that mean "try again": the stream is catching up, electing a leader, or the tenant's backlog is at its bound. */
const RETRYABLE = /no responders|timeout|timed out|maximum messages per subject exceeded|maximum messages exceeded|insufficient resources|not ready|disconnect|reconnect|connection/i;

function positive(field: keyof typeof DEFAULTS, value: number | undefined): number {
  const v = value ?? DEFAULTS[field];
  if (!Number.isInteger(v) || v < 1) throw new InvalidOptionError(field, `= ${JSON.stringify(value)} is not a positive whole number`, `use at least 1 (default ${DEFAULTS[field]})`);
  return v;
}

export class AgentClient {
  /** The credentials' claims (tenant, tier, expiry). */
  readonly claims: CredentialClaims;
  readonly tenantId: string;
  readonly projectId: string;
  private readonly queue: Pending[] = [];
  private queueHead = 0;
  private inFlight = 0;
  private readonly failures: { pending: Pending; error: SdkError | Error }[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private readonly roomWaiters: (() => void)[] = [];
  private fatal: SdkError | undefined;
  private closed = false;
  private dataKey: DataKey | undefined;
  private keyTimer: NodeJS.Timeout | undefined;
  private readonly limits: Required<Pick<AgentClientOptions, "maxInFlight" | "maxBuffered" | "ackTimeoutMs" | "retryInitialMs" | "retryMaxMs" | "giveUpAfterMs">>;
  private readonly now: () => number;
  private readonly maxPayload: number;
  private sawRevocation = false;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  /** Publishes awaiting their ack, by reply token. */
  private readonly awaiting = new Map<number, Pending>();
  private nextToken = 1;
  private readonly inbox: string;
  private readonly acks: Subscription;
  private readonly sweeper: NodeJS.Timeout;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly options: AgentClientOptions,
    claims: CredentialClaims,
    private readonly keys: DataKeyClient | undefined,
  ) {
    this.claims = claims;
    this.tenantId = options.tenantId ?? claims.tenantId;
    this.projectId = options.projectId;
    this.now = options.now ?? Date.now;
    this.limits = {
      maxInFlight: positive("maxInFlight", options.maxInFlight),
      maxBuffered: positive("maxBuffered", options.maxBuffered),
      ackTimeoutMs: positive("ackTimeoutMs", options.ackTimeoutMs),
      retryInitialMs: positive("retryInitialMs", options.retryInitialMs),
      retryMaxMs: positive("retryMaxMs", options.retryMaxMs),
      giveUpAfterMs: positive("giveUpAfterMs", options.giveUpAfterMs),
    };
    this.maxPayload = Math.min(MAX_EVENT_BYTES, nc.info?.max_payload ?? MAX_EVENT_BYTES);
    this.inbox = createInbox(tenantInboxPrefix(claims.tenantId));
    const prefixLength = this.inbox.length + 1;
    this.acks = nc.subscribe(`${this.inbox}.*`, { callback: (_error, msg) => this.acked(Number(msg.subject.slice(prefixLength)), msg) });
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.floor(this.limits.ackTimeoutMs / 4)));
    this.sweeper.unref();
    void this.watch();
  }

  /**
   * Connects with the credentials: checks them, opens the NATS connection (TLS with the
   * credentials' CA when they carry one), and, with encryption `auto` or `on`, reads the tenant's
   * setting and current data key from the API with the same credentials.
   */
  static async connect(options: AgentClientOptions): Promise<AgentClient> {
    const claims = checkCredentials(options.credentials);
    // Every option is checked before anything connects.
    for (const field of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) positive(field, options[field]);
    eventSubject(options.tenantId ?? claims.tenantId, options.projectId);
    const servers = options.servers ?? options.credentials.servers;
    if (!servers || servers.length === 0) throw new InvalidOptionError("servers", "are not given and the credentials carry none", "pass the servers of the credentials answer (or servers: [...])");
    const mode = options.encryption ?? "auto";
    if (!["auto", "on", "off"].includes(mode)) throw new InvalidOptionError("encryption", `= ${JSON.stringify(mode)} is not a mode`, 'use "auto", "on" or "off"');
    if (mode === "on" && !options.credentials.api) throw new InvalidOptionError("credentials.api", "is missing, and encryption is on", "use credentials from the API (they carry api) or pass api");
    const keys = mode !== "off" && options.credentials.api ? new DataKeyClient(options.credentials.api, options.credentials) : undefined;
    const tls = options.credentials.ca ? { ca: options.credentials.ca } : servers.some((s) => s.startsWith("tls://")) ? {} : undefined;
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: [...servers],
        name: options.name ?? "enchanted-agent",
        authenticator: jwtAuthenticator(options.credentials.jwt, new TextEncoder().encode(options.credentials.seed)),
        inboxPrefix: tenantInboxPrefix(claims.tenantId),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        ...(tls ? { tls } : {}),
      });
    } catch (error) {
      throw AgentClient.credentialsError(error) ?? error;
    }
    const client = new AgentClient(nc, options, claims, keys);
    try {
      if (keys) await client.loadKey(mode === "on");
    } catch (error) {
      await nc.close();
      throw error;
    }
    return client;
  }

  /** Whether events are sealed with the tenant's data key now. */
  get encrypting(): boolean {
    return this.dataKey !== undefined;
  }

  private async loadKey(required: boolean): Promise<void> {
    const current = await (this.keys as DataKeyClient).current();
    if (required && !current.key) throw new InvalidOptionError("encryption", "is on, but the tenant has no payload encryption", "turn it on for the tenant (PATCH /v1/tenants/{tenantId} {payloadEncryption: true}) or use encryption: \"auto\"");
    this.dataKey = current.key;
    this.keyTimer = setTimeout(() => {
      this.loadKey(required).catch((error: Error) => {
        this.options.onError?.(error);
        // Keep the key in use; try again in a minute.
        if (!this.closed) this.keyTimer = setTimeout(() => void this.loadKey(required).catch((e: Error) => this.options.onError?.(e)), 60_000);
      });
    }, current.refreshAfterMs);
    this.keyTimer.unref();
  }

  private static credentialsError(error: unknown): CredentialsRejectedError | undefined {
    const text = `${(error as Error)?.message ?? ""} ${((error as Error)?.cause as Error | undefined)?.message ?? ""}`.toLowerCase();
    if (text.includes("expired")) return new CredentialsRejectedError("expired", text.trim(), { cause: error });
    if (text.includes("revoked")) return new CredentialsRejectedError("revoked", text.trim(), { cause: error });
    if (text.includes("authorization violation") || text.includes("authentication")) return new CredentialsRejectedError("refused", text.trim(), { cause: error });
    return undefined;
  }

  /** Watches the connection: a revocation or expiry ends it, and everything unacked is handed back. */
  private async watch(): Promise<void> {
    (async () => {
      for await (const s of this.nc.status()) {
        if (s.type !== "error") continue;
        const error = (s as { error?: Error }).error;
        if (/revoked/i.test(String(error?.message))) this.sawRevocation = true;
        if (error instanceof PermissionViolationError && error.operation === "publish") this.denied(error);
      }
    })().catch(() => undefined);
    const error = await this.nc.closed();
    if (this.closed && !error) return;
    let fatal = AgentClient.credentialsError(error) ?? new CredentialsRejectedError("refused", (error as Error | undefined)?.message ?? "the connection closed", { cause: error });
    if (this.sawRevocation && fatal.problem !== "expired") fatal = new CredentialsRejectedError("revoked", fatal.message, { cause: error });
    this.fail(fatal);
  }

  /** Everything queued or in flight fails with `error`; later emits throw it. */
  private fail(error: SdkError): void {
    this.fatal ??= error;
    for (let i = this.queueHead; i < this.queue.length; i++) this.failures.push({ pending: this.queue[i] as Pending, error });
    this.queue.length = 0;
    this.queueHead = 0;
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    for (const p of this.awaiting.values()) this.failures.push({ pending: p, error });
    this.inFlight -= this.awaiting.size;
    this.awaiting.clear();
    clearInterval(this.sweeper);
    this.options.onError?.(error);
    this.settle();
  }

  /** The encoded event of a draft, for this client's tenant (sealed when encrypting). */
  encode(draft: EventDraft): { readonly event: SwarmEvent; readonly subject: string; readonly data: Uint8Array } {
    const key = this.dataKey;
    const event = completeEvent(draft, { tenantId: this.tenantId, projectId: this.projectId, userId: this.options.credentials.userId }, key ? (text, field, ids) => sealField(key, text, field, ids) : undefined);
    const data = toBinary(SwarmEventSchema, event);
    if (data.byteLength > this.maxPayload) throw new PayloadTooLargeError(data.byteLength, this.maxPayload);
    return { event, subject: eventSubject(this.tenantId, event.projectId), data };
  }

  /**
   * Accepts one event for publishing: resolves once it is queued (waiting while `maxBuffered`
   * events are unacknowledged), with its event id. Throws for an event the platform would refuse,
   * and once the credentials were refused or the client closed.
   */
  async emit(draft: EventDraft): Promise<string> {
    if (this.closed) throw new ClosedError();
    if (this.fatal) throw this.fatal;
    const { subject, data, event } = this.encode(draft);
    while (this.queue.length - this.queueHead + this.inFlight >= this.limits.maxBuffered) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
      if (this.fatal) throw this.fatal;
    }
    this.queue.push({ subject, eventId: event.eventId, data, acceptedAt: this.now(), attempts: 0, deadline: 0 });
    this.pump();
    return event.eventId;
  }

  /** {@link emit} of a decision. */
  decision(input: DecisionInput): Promise<string> {
    return this.emit(decision(input));
  }
  /** {@link emit} of a state change. */
  stateChange(input: StateChangeInput): Promise<string> {
    return this.emit(stateChange(input));
  }
  /** {@link emit} of a system signal. */
  signal(input: SignalInput): Promise<string> {
    return this.emit(signal(input));
  }

  private pump(): void {
    while (this.inFlight < this.limits.maxInFlight && this.queueHead < this.queue.length) {
      const p = this.queue[this.queueHead++] as Pending;
      this.send(p);
    }
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  private send(p: Pending): void {
    this.inFlight++;
    p.attempts++;
    p.deadline = this.now() + this.limits.ackTimeoutMs;
    const token = this.nextToken++;
    this.awaiting.set(token, p);
    const h = headers();
    h.set("Nats-Msg-Id", p.eventId);
    try {
      this.nc.publish(p.subject, p.data, { reply: `${this.inbox}.${token}`, headers: h });
    } catch (error) {
      this.awaiting.delete(token);
      this.retry(p, error as Error);
    }
  }

  /** One ack (or JetStream error, or no-responders status) for the publish of `token`. */
  private acked(token: number, msg: Msg): void {
    const p = this.awaiting.get(token);
    if (!p) return; // Overdue and already retried: the stream de-duplicates the copy.
    this.awaiting.delete(token);
    if (msg.headers?.hasError) {
      // 503: no stream answered (a leader election, a stream not there yet).
      this.retry(p, new Error(`no responders (${msg.headers.code} ${msg.headers.description})`));
      return;
    }
    let body: PubAckBody;
    try {
      body = msg.json<PubAckBody>();
    } catch (error) {
      this.retry(p, error as Error);
      return;
    }
    if (body.error) this.retry(p, new Error(`JetStream refused the publish: ${body.error.description ?? JSON.stringify(body.error)}`));
    else this.done();
  }

  /** Publishes whose ack is overdue are retried (same Nats-Msg-Id: stored once). */
  private sweep(): void {
    if (this.awaiting.size === 0) return;
    const now = this.now();
    for (const [token, p] of this.awaiting) {
      if (p.deadline > now) continue;
      this.awaiting.delete(token);
      this.retry(p, new Error(`no ack within ${this.limits.ackTimeoutMs} ms (timeout)`));
    }
  }

  /** The server denied publishing to a subject: every publish awaiting an ack there fails. */
  private denied(violation: PermissionViolationError): void {
    for (const [token, p] of this.awaiting) {
      if (p.subject !== violation.subject) continue;
      this.awaiting.delete(token);
      this.inFlight--;
      const e = new PermissionDeniedError(p.subject, { cause: violation });
      this.failures.push({ pending: p, error: e });
      this.options.onError?.(e);
    }
    this.pump();
    this.settle();
  }

  private done(): void {
    this.inFlight--;
    this.pump();
    this.settle();
  }

  private retry(p: Pending, error: Error): void {
    this.inFlight--;
    if (this.fatal) {
      this.failures.push({ pending: p, error: this.fatal });
    } else if (RETRYABLE.test(`${error.message} ${(error.cause as Error | undefined)?.message ?? ""}`) && this.now() - p.acceptedAt < this.limits.giveUpAfterMs) {
      const delay = Math.min(this.limits.retryMaxMs, this.limits.retryInitialMs * 2 ** Math.min(p.attempts - 1, 16)) * (0.5 + Math.random() / 2);
      this.inFlight++; // The retry holds its place in the window.
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        this.inFlight--;
        if (this.fatal) this.failures.push({ pending: p, error: this.fatal });
        else this.send(p);
        this.settle();
      }, delay);
      this.retryTimers.add(timer);
    } else {
      const e = new PublishFailedError(`event ${p.eventId} was not acknowledged after ${p.attempts} attempt(s) (${error.message})`, [p], { cause: error });
      this.failures.push({ pending: p, error: e });
      this.options.onError?.(e);
    }
    this.pump();
    this.settle();
  }

  private settle(): void {
    if (this.roomWaiters.length > 0 && (this.fatal || this.queue.length - this.queueHead + this.inFlight < this.limits.maxBuffered)) {
      for (const w of this.roomWaiters.splice(0)) w();
    }
    if (this.inFlight === 0 && this.queueHead >= this.queue.length) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Events accepted and not yet acknowledged. */
  get pending(): number {
    return this.queue.length - this.queueHead + this.inFlight;
  }

  /**
   * Resolves when every event accepted so far is acknowledged. Throws a {@link PublishFailedError}
   * holding every event that could not be delivered since the last flush (they are not retried
   * further: publish them again, or keep them).
   */
  async flush(): Promise<void> {
    if (this.pending > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    if (this.failures.length > 0) {
      const failed = this.failures.splice(0);
      const first = failed[0]?.error as Error;
      throw new PublishFailedError(`${failed.length} accepted event(s) were not acknowledged: ${first.message}`, failed.map((f) => ({ subject: f.pending.subject, eventId: f.pending.eventId, data: f.pending.data })), { cause: first });
    }
  }

  /** Flushes, then closes the connection. Throws what {@link flush} throws, after closing. */
  async close(): Promise<void> {
    if (this.closed) return;
    let error: unknown;
    try {
      await this.flush();
    } catch (e) {
      error = e;
    }
    this.closed = true;
    if (this.keyTimer) clearTimeout(this.keyTimer);
    clearInterval(this.sweeper);
    this.acks.unsubscribe();
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
    if (error) throw error;
  }

  /** Opens an encrypted event of this tenant with its data keys (fetched by id with these credentials). */
  open(event: SwarmEvent): Promise<SwarmEvent> {
    const keys = this.keys ?? (this.options.credentials.api ? new DataKeyClient(this.options.credentials.api, this.options.credentials) : undefined);
    if (!keys) return Promise.reject(new InvalidOptionError("credentials.api", "is missing", "use credentials from the API (they carry api) to read encrypted events"));
    return openEvent(event, (keyId) => keys.key(keyId));
  }
}

/**
 * The worker runtime of one tier's pool (`workers-<tier>`, scaled by KEDA on the lane's lag):
 *
 * 1. connects with the tier's worker user (platform account; services/nats-auth/claims.ts
 *    `workerUserPermissions`: pull from its consumer, ack, request tenant credentials, publish
 *    dead letters, nothing else), reads its durable consumer's `max_deliver` and `ack_wait`;
 * 2. runs `concurrency` pull loops; each takes one job, and:
 *    - trusts the tenant only from the SUBJECT (`swarm.<tenant>.jobs.<tier>`, where the server
 *      put it): a job whose body names another tenant, or is not a job, is dead-lettered at once;
 *    - asks the provisioning service for short-lived credentials of that tenant on
 *      `platform.credentials.<tier>` (answered only for an active tenant of exactly this tier;
 *      an offboarded tenant's job is terminated, not retried);
 *    - runs the handler of the job's type with an SDK client of those credentials, telling
 *      JetStream it is still working every third of the ack wait, within `handlerTimeoutMs`;
 *    - acks only after the handler finished AND the client flushed every event it accepted;
 *    - on failure naks with exponential backoff, and on the consumer's last delivery (or an
 *      input no attempt can fix) publishes the job to `workers.dlq.<tier>` with
 *      {@link JOB_DEAD_LETTER_HEADERS} and terminates it.
 * 3. serves `/healthz`, `/readyz` and `/metrics`; `stop()` stops pulling, waits for the running
 *    jobs (up to `shutdownTimeoutMs`; what is left is redelivered) and closes.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createClient, type ClickHouseClient } from "@clickhouse/client";
import { jetstream, type Consumer, type JsMsg } from "@nats-io/jetstream";
import { connect, credsAuthenticator, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { pino, type Logger } from "pino";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { TENANT_ID_PATTERN } from "../../../config/tenancy.js";
import type { PlanTierName } from "../../../config/tiers.js";
import { AgentClient, type AgentClientOptions } from "../../../sdk/client.js";
import { jobDeadLetterSubject, PROJECT_ID_PATTERN, STREAM_NAMES, workerConsumerName, workerCredentialsSubject, workerInboxPrefix } from "../../nats-auth/jetstream-names.js";
import { JOB_DEAD_LETTER_HEADERS, JOB_ID_HEADER, WORKER_HTTP_PATHS, WORKER_METRICS, type JobMessage } from "../contract.js";
import type { WorkerConfig } from "./config.js";
import { BUILTIN_HANDLERS, JobInputError, tenantHistory, type JobHandler } from "./handlers.js";

/** Outcomes of {@link WORKER_METRICS.jobs}. */
export type JobOutcome = "ok" | "retried" | "dead_lettered" | "refused";

export interface WorkerOverrides {
  /** Handlers by job type, instead of {@link BUILTIN_HANDLERS}. */
  readonly handlers?: Readonly<Record<string, JobHandler>>;
  /** The history's ClickHouse client (tests: the embedded engine). @default - from config.clickhouse */
  readonly history?: ClickHouseClient;
  readonly log?: Logger;
  /** First and longest wait before a failed job is redelivered. @default 1000 and 60000 */
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  /** How long one pull waits for a job. @default 5000 */
  readonly pullExpiresMs?: number;
  /** Extra options of the tenants' SDK clients (tests: short timeouts). */
  readonly agentOptions?: Partial<Pick<AgentClientOptions, "ackTimeoutMs" | "retryInitialMs" | "retryMaxMs" | "giveUpAfterMs">>;
}

export interface RunningWorker {
  readonly httpPort: number | undefined;
  readonly registry: Registry;
  /** Jobs running now. */
  readonly running: number;
  stop(): Promise<void>;
}

/** Why a worker could not start (its consumer is missing, the credentials were refused, …). */
export class WorkerStartError extends Error {
  override readonly name = "WorkerStartError";
}

const CREDENTIALS_TIMEOUT_MS = 5_000;

/** The tenant's credentials as the provisioning service answers `platform.credentials.<tier>`. */
interface CredentialsAnswer {
  readonly tenantId?: string;
  readonly jwt?: string;
  readonly seed?: string;
  readonly error?: { readonly code: string; readonly message: string };
}

/** A job that must not be retried: dead-lettered (`deadLetter`) or just terminated. */
class Permanent extends Error {
  constructor(
    message: string,
    readonly deadLetter: boolean,
  ) {
    super(message);
  }
}

function metricsOf(registry: Registry) {
  const m = WORKER_METRICS;
  return {
    jobs: new Counter({ name: m.jobs.name, help: m.jobs.help, labelNames: ["tier", "type", "outcome"] as const, registers: [registry] }),
    duration: new Histogram({ name: m.duration.name, help: m.duration.help, labelNames: ["tier", "type"] as const, buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600], registers: [registry] }),
    running: new Gauge({ name: m.running.name, help: m.running.help, registers: [registry] }),
    credentials: new Counter({ name: m.credentials.name, help: m.credentials.help, labelNames: ["outcome"] as const, registers: [registry] }),
  };
}

/** The job of a message, checked against its subject (the tenant the server filed it under). */
export function parseJob(subject: string, data: Uint8Array, tier: PlanTierName): JobMessage {
  const m = /^swarm\.([^.]+)\.jobs\.([^.]+)$/.exec(subject);
  if (!m || m[2] !== tier || !TENANT_ID_PATTERN.test(m[1] ?? "")) throw new Permanent(`subject ${subject} is not a job lane of the ${tier} tier`, true);
  let job: Partial<JobMessage>;
  try {
    job = JSON.parse(new TextDecoder().decode(data)) as Partial<JobMessage>;
  } catch {
    throw new Permanent("the job is not JSON", true);
  }
  if (job === null || typeof job !== "object") throw new Permanent("the job is not a JSON object", true);
  if (job.tenantId !== m[1]) throw new Permanent(`the job names tenant ${JSON.stringify(job.tenantId)} but was filed under ${m[1]}`, true);
  if (typeof job.jobId !== "string" || typeof job.type !== "string" || typeof job.submittedBy !== "string") throw new Permanent("the job lacks jobId, type or submittedBy", true);
  if (typeof job.projectId !== "string" || !PROJECT_ID_PATTERN.test(job.projectId)) throw new Permanent(`projectId ${JSON.stringify(job.projectId)} is not a project id`, true);
  if (job.input === null || typeof job.input !== "object" || Array.isArray(job.input)) throw new Permanent("input is not a JSON object", true);
  return job as JobMessage;
}

export async function startWorker(config: WorkerConfig, o: WorkerOverrides = {}): Promise<RunningWorker> {
  const log = o.log ?? pino({ level: config.logLevel, base: { service: "worker", tier: config.tier } });
  const tier = config.tier;
  const handlers = o.handlers ?? BUILTIN_HANDLERS;
  const retryInitialMs = o.retryInitialMs ?? 1_000;
  const retryMaxMs = o.retryMaxMs ?? 60_000;
  const nc: NatsConnection = await connect({
    servers: [...config.nats.servers],
    name: `worker-${tier}-${process.pid}`,
    authenticator: credsAuthenticator(readFileSync(config.nats.credsFile)),
    inboxPrefix: workerInboxPrefix(tier),
    maxReconnectAttempts: -1,
    ...(config.nats.ca ? { tls: { ca: config.nats.ca } } : {}),
  });
  const js = jetstream(nc);
  let consumer: Consumer;
  let maxDeliver: number;
  let ackWaitMs: number;
  try {
    consumer = await js.consumers.get(STREAM_NAMES.jobs, workerConsumerName(tier));
    const info = await consumer.info(true);
    maxDeliver = info.config.max_deliver ?? -1;
    ackWaitMs = Math.floor((info.config.ack_wait ?? 30e9) / 1e6);
  } catch (error) {
    await nc.close();
    throw new WorkerStartError(`the ${tier} tier's job consumer ${STREAM_NAMES.jobs}/${workerConsumerName(tier)} cannot be read (${(error as Error).message}); it is declared by the topology (NACK): check the stream and consumer exist and the worker user is workers-${tier}'s`, { cause: error });
  }
  const ownHistory = !o.history && config.clickhouse ? createClient({ url: config.clickhouse.url, username: config.clickhouse.username, password: config.clickhouse.password, application: `worker-${tier}` }) : undefined;
  const historyClient = o.history ?? ownHistory;
  const registry = new Registry();
  const metrics = metricsOf(registry);
  let stopping = false;
  let running = 0;
  const stopController = new AbortController();
  const idle: (() => void)[] = [];

  const deadLetter = async (msg: JsMsg, tenantId: string, error: string): Promise<void> => {
    const h = natsHeaders();
    const jobId = msg.headers?.get(JOB_ID_HEADER);
    if (jobId) h.set(JOB_ID_HEADER, jobId);
    h.set(JOB_DEAD_LETTER_HEADERS.tenant, tenantId);
    h.set(JOB_DEAD_LETTER_HEADERS.subject, msg.subject);
    h.set(JOB_DEAD_LETTER_HEADERS.deliveries, String(msg.info.deliveryCount));
    h.set(JOB_DEAD_LETTER_HEADERS.error, error.slice(0, 1_024).replace(/[\r\n]+/g, " "));
    h.set(JOB_DEAD_LETTER_HEADERS.streamSequence, String(msg.seq));
    await js.publish(jobDeadLetterSubject(tier), msg.data, { headers: h, timeout: 5_000 });
  };

  const tenantCredentials = async (tenantId: string): Promise<{ jwt: string; seed: string }> => {
    let answer: CredentialsAnswer;
    try {
      answer = (await nc.request(workerCredentialsSubject(tier), JSON.stringify({ tenantId }), { timeout: CREDENTIALS_TIMEOUT_MS })).json<CredentialsAnswer>();
    } catch (error) {
      metrics.credentials.inc({ outcome: "unavailable" });
      throw new Error(`no answer to the credentials request (${(error as Error).message})`);
    }
    if (answer.error?.code === "not_found") {
      metrics.credentials.inc({ outcome: "refused" });
      throw new Permanent(answer.error.message, false);
    }
    if (answer.error || !answer.jwt || !answer.seed || answer.tenantId !== tenantId) {
      metrics.credentials.inc({ outcome: "failed" });
      throw new Error(`credentials refused: ${answer.error?.message ?? "incomplete answer"}`);
    }
    metrics.credentials.inc({ outcome: "ok" });
    return { jwt: answer.jwt, seed: answer.seed };
  };

  const runJob = async (msg: JsMsg): Promise<void> => {
    const attempt = msg.info.deliveryCount;
    const last = maxDeliver > 0 && attempt >= maxDeliver;
    const subjectTenant = /^swarm\.([^.]+)\./.exec(msg.subject)?.[1] ?? "";
    let type = "unknown";
    const started = process.hrtime.bigint();
    let agent: AgentClient | undefined;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error(`the handler ran longer than ${config.handlerTimeoutMs} ms`)), config.handlerTimeoutMs);
    const heartbeat = setInterval(() => msg.working(), Math.max(1_000, Math.floor(ackWaitMs / 3)));
    const signal = AbortSignal.any([timeout.signal, stopController.signal]);
    try {
      const job = parseJob(msg.subject, msg.data, tier);
      type = job.type;
      const handler = handlers[job.type];
      if (!handler) throw new Permanent(`no handler for job type ${JSON.stringify(job.type)} (this worker runs ${Object.keys(handlers).join(", ")})`, true);
      const creds = await tenantCredentials(job.tenantId);
      agent = await AgentClient.connect({
        ...o.agentOptions,
        credentials: { ...creds, servers: config.nats.servers, ...(config.nats.ca ? { ca: config.nats.ca } : {}), ...(config.provisioningUrl ? { api: config.provisioningUrl } : {}), userId: job.submittedBy },
        projectId: job.projectId,
        name: `worker-${tier}-job-${job.jobId}`,
      });
      const aborted = new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason as Error), { once: true }));
      aborted.catch(() => {});
      await Promise.race([handler({ job, tier, attempt, agent, history: historyClient ? tenantHistory(historyClient, job.tenantId) : undefined, signal }), aborted]);
      // Every event the handler emitted is stored before the job is acked.
      await agent.close();
      agent = undefined;
      await msg.ackAck();
      metrics.jobs.inc({ tier, type, outcome: "ok" });
      log.info({ jobId: job.jobId, tenantId: job.tenantId, type, attempt }, "job done");
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const permanent = error instanceof Permanent || error instanceof JobInputError;
      if (permanent && error instanceof Permanent && !error.deadLetter) {
        msg.term(reason);
        metrics.jobs.inc({ tier, type, outcome: "refused" });
        log.warn({ subject: msg.subject, attempt, err: reason }, "job refused");
      } else if (permanent || last) {
        try {
          await deadLetter(msg, subjectTenant, reason);
          msg.term(reason);
          metrics.jobs.inc({ tier, type, outcome: "dead_lettered" });
          log.warn({ subject: msg.subject, attempt, err: reason }, "job dead-lettered");
        } catch (dlqError) {
          // Not stored in the dead-letter stream: leave it to redelivery (max_deliver reached: the server stops).
          msg.nak(retryMaxMs);
          log.error({ subject: msg.subject, err: String(dlqError) }, "dead-lettering failed");
        }
      } else {
        const delay = Math.min(retryMaxMs, retryInitialMs * 2 ** (attempt - 1));
        msg.nak(delay);
        metrics.jobs.inc({ tier, type, outcome: "retried" });
        log.warn({ subject: msg.subject, attempt, maxDeliver, retryInMs: delay, err: reason }, "job failed");
      }
    } finally {
      clearTimeout(timer);
      clearInterval(heartbeat);
      metrics.duration.observe({ tier, type }, Number(process.hrtime.bigint() - started) / 1e9);
      if (agent) await agent.close().catch(() => {});
    }
  };

  const loop = async (): Promise<void> => {
    while (!stopping && !nc.isClosed()) {
      let msg: JsMsg | null;
      try {
        msg = await consumer.next({ expires: o.pullExpiresMs ?? 5_000 });
      } catch (error) {
        if (stopping || nc.isClosed()) return;
        log.warn({ err: String(error) }, "pull failed");
        await new Promise((r) => setTimeout(r, 1_000));
        continue;
      }
      if (!msg) continue;
      if (stopping) {
        msg.nak();
        return;
      }
      running++;
      metrics.running.set(running);
      try {
        await runJob(msg);
      } finally {
        running--;
        metrics.running.set(running);
        if (running === 0) for (const resolve of idle.splice(0)) resolve();
      }
    }
  };
  const loops = Array.from({ length: config.concurrency }, () => loop());

  let server: Server | undefined;
  if (config.httpPort !== undefined) {
    const srv = createServer((req, res) => {
      if (req.url === WORKER_HTTP_PATHS.metrics) {
        registry.metrics().then(
          (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
          () => res.writeHead(500).end(),
        );
        return;
      }
      const ok = req.url === WORKER_HTTP_PATHS.health ? !nc.isClosed() : req.url === WORKER_HTTP_PATHS.ready ? !stopping && !nc.isClosed() : undefined;
      if (ok === undefined) return void res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
      res.writeHead(ok ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify({ tier, running, stopping }));
    });
    server = srv;
    await new Promise<void>((resolve) => srv.listen(config.httpPort, resolve));
  }
  log.info({ consumer: workerConsumerName(tier), maxDeliver, ackWaitMs, concurrency: config.concurrency, handlers: Object.keys(handlers) }, "worker ready");

  let stopped: Promise<void> | undefined;
  return {
    httpPort: server ? (server.address() as AddressInfo).port : undefined,
    registry,
    get running() {
      return running;
    },
    stop() {
      stopped ??= (async () => {
        stopping = true;
        if (running > 0) {
          await Promise.race([new Promise<void>((resolve) => idle.push(resolve)), new Promise((r) => setTimeout(r, config.shutdownTimeoutMs))]);
          // Whatever still runs is abandoned: its job is redelivered after the ack wait.
          stopController.abort(new Error("the worker is stopping"));
        }
        await nc.drain().catch(() => nc.close());
        await Promise.allSettled(loops);
        await ownHistory?.close();
        await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      })();
      return stopped;
    },
  };
}

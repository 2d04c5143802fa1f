/**
 * `npm run local`: the whole pipeline on one machine, in one command. Starts a plain JetStream
 * `nats-server` on a free loopback port (temporary directory), creates the streams and the
 * ingestor's durable consumer as the dev environment declares them (`createTopology`, from the
 * declarations NACK creates in a cluster), applies the event-store schema to an embedded engine (chdb) in a
 * temporary directory, runs the ingestor in this process, publishes a realistic mix of agent
 * events for several tenants (with a crash and hallucination loops), waits until the consumer
 * has acked every message, prints the two questions' answers for one tenant (and proves that
 * another tenant's events are not in them), then stops everything and removes the directories.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { loadEnvironment } from "../../../config/index.js";
import { NATS_SERVER_VERSION } from "../../../config/versions.js";
import { requireNatsServer, startJetStreamServer, type NatsServer } from "../../nats-auth/nats-server-process.js";
import type { EventType } from "../../clickhouse-schema/table.js";
import { schemaSql } from "../../clickhouse-schema/index.js";
import { DEAD_LETTER_STREAM, eventSubject, STREAM_NAMES } from "../../nats-auth/jetstream-names.js";
import { createTopology, type TopologyStreamKey } from "../../nats-auth/topology.js";
import { renderResult, runCommand, type CrashContextCommand, type LoopsCommand } from "./cli.js";
import { loadIngestorConfig } from "./config.js";
import type { Logger } from "./consumer.js";
import { ChangeKind, SignalKind, SwarmEventSchema, SystemSignalSchema } from "./gen/enchanted/events/v1/events_pb.js";
import { buildEvent, typicalKind } from "./generator.js";
import { startIngestor } from "./main.js";
import { ClickHouseSink, openEmbeddedEngine } from "./sink.js";

/** The tenants, their one project each, and the agents of every tenant. */
export const LOCAL_TENANTS = ["acme", "globex", "initech", "umbrella"] as const;
export const LOCAL_PROJECT = "checkout-service";
export const LOCAL_AGENTS = ["architect-1", "coder-1", "reviewer-1"] as const;
/** The tenant whose answers are printed, and the one whose absence from them is shown. */
const SHOWN_TENANT = "acme";
const OTHER_TENANT = "globex";
const CRASHED_AGENT = "coder-1";
/** Background events per tenant, spread over the last day (so only the loops stand out in the last hour). */
const BACKGROUND_PER_TENANT = 490;
const BACKGROUND_SPAN_MS = 24 * 3_600_000;
/** The hallucination loops: one agent modifying one resource this many times in the last minutes. */
const LOOPS: readonly { tenant: string; agent: string; resource: string; times: number }[] = [
  { tenant: SHOWN_TENANT, agent: CRASHED_AGENT, resource: "src/services/billing.ts", times: 8 },
  { tenant: OTHER_TENANT, agent: "coder-1", resource: "infra/helm/values.yaml", times: 9 },
];
const PUBLISH_WINDOW = 100;
const PUBLISH_PAUSE_MS = 100;
const DRAIN_TIMEOUT_MS = 20_000;
/** The stream limits of a laptop: the dev config's sizes, capped to what the temporary server allows (1 GiB). */
const MiB = 1024 * 1024;
/** Every stream the topology creates has a cap here (the type says so): one left at its declared size fails the run. */
const LOCAL_MAX_BYTES: Record<TopologyStreamKey, number> = { events: 256 * MiB, jobs: 256 * MiB, deadLetters: 128 * MiB, jobDeadLetters: 64 * MiB };

const progress = (line: string) => process.stdout.write(`» ${line}\n`);

interface Published {
  readonly tenantId: string;
  readonly eventId: string;
  readonly subject: string;
  readonly data: Uint8Array;
}

/** The local mix: background work of every tenant's agents, the loops, and a crash of acme's coder. */
export function localEvents(now: Date): { events: Published[]; crashAt: Date } {
  const events: Published[] = [];
  const push = (tenantId: string, agentId: string, kind: EventType, at: Date, seed: number, edit?: (e: ReturnType<typeof buildEvent>) => void) => {
    const event = buildEvent({ tenantId, projectId: LOCAL_PROJECT, agentId, userId: `${tenantId}-dev-${seed % 3}`, kind, now: at, seed });
    edit?.(event);
    events.push({ tenantId, eventId: event.eventId, subject: eventSubject(tenantId, LOCAL_PROJECT), data: toBinary(SwarmEventSchema, event) });
  };
  const start = now.getTime() - BACKGROUND_SPAN_MS;
  const quietEnd = now.getTime() - 15 * 60_000;
  LOCAL_TENANTS.forEach((tenantId, t) => {
    for (let i = 0; i < BACKGROUND_PER_TENANT; i++) {
      const at = new Date(start + Math.floor(((quietEnd - start) * i) / BACKGROUND_PER_TENANT));
      push(tenantId, LOCAL_AGENTS[i % LOCAL_AGENTS.length] ?? "coder-1", typicalKind(i), at, 1_000 * (t + 1) + i);
    }
  });
  for (const [l, loop] of LOOPS.entries()) {
    for (let i = 0; i < loop.times; i++) {
      const at = new Date(now.getTime() - 10 * 60_000 + i * 45_000);
      // The agent reasons, then rewrites the same file again.
      push(loop.tenant, loop.agent, "decision", new Date(at.getTime() - 5_000), 900_000 + l * 100 + i);
      push(loop.tenant, loop.agent, "state_change", at, 800_000 + l * 100 + i, (e) => {
        if (e.payload.case === "stateChange") {
          e.payload.value.targetResource = loop.resource;
          e.payload.value.changeKind = ChangeKind.MODIFIED;
        }
      });
    }
  }
  const crashAt = new Date(now.getTime() - 2 * 60_000);
  push(SHOWN_TENANT, CRASHED_AGENT, "system_signal", crashAt, 700_000, (e) => {
    e.payload = { case: "systemSignal", value: create(SystemSignalSchema, { kind: SignalKind.CRASHED, message: "Worker process exited with signal SIGKILL (OOMKilled) while rewriting src/services/billing.ts for the 8th time." }) };
  });
  return { events, crashAt };
}

const quietLog: Logger = {
  info: () => {},
  warn: (fields, msg) => process.stdout.write(`  ingestor warn: ${msg} ${JSON.stringify(fields)}\n`),
  error: (fields, msg) => process.stderr.write(`  ingestor error: ${msg} ${JSON.stringify(fields)}\n`),
};

export async function runLocal(): Promise<number> {
  const started = Date.now();
  try {
    progress(`nats-server ${NATS_SERVER_VERSION}: ${requireNatsServer()}`);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    const server: NatsServer = await startJetStreamServer();
    cleanups.push(() => server.stop());
    progress(`nats-server with JetStream listening on ${server.url} (data in ${server.layout.root})`);
    const nc = await connect({ servers: server.url, name: "local-publisher" });
    cleanups.push(() => nc.close());
    const jsm = await jetstreamManager(nc);
    // The ingestor's consumer gets its default name, the one the ingestor's configuration below uses.
    await createTopology(jsm, { nats: loadEnvironment("dev").nats, replicas: 1, maxBytes: LOCAL_MAX_BYTES });
    progress(`streams ${[...Object.values(STREAM_NAMES), DEAD_LETTER_STREAM].join(", ")} and the ingestor's durable consumer created from their declarations (dev config)`);

    const chdbPath = mkdtempSync(join(tmpdir(), "enchanted-local-chdb-"));
    cleanups.push(() => rmSync(chdbPath, { recursive: true, force: true }));
    // One engine session for the whole run: the schema, the ingestor's sink and the queries share it.
    const engine = await openEmbeddedEngine(chdbPath);
    const client = engine.client;
    cleanups.push(async () => {
      await client.close();
      await engine.release();
    });
    for (const statement of schemaSql({ eventTtlDays: loadEnvironment("dev").clickhouse.eventTtlDays })) await client.command({ query: statement });
    progress(`ClickHouse schema applied to the embedded engine (chdb) in ${chdbPath}`);

    const config = loadIngestorConfig({ INGESTOR_NATS_URL: server.url, INGESTOR_CHDB_PATH: chdbPath, INGESTOR_HTTP_PORT: "off", INGESTOR_PULL_EXPIRES_MS: "1000" });
    const sink = new ClickHouseSink(client);
    // The engine outlives the ingestor (the queries below use it): the ingestor's sink does not close it. Tenants' plans and usage come from the same engine.
    const running = await startIngestor(config, quietLog, { insert: (rows, token) => sink.insert(rows, token), close: async () => {} }, { tenants: sink });
    let stopped = false;
    cleanups.push(async () => {
      if (!stopped) await running.stop();
    });
    progress(`ingestor running: durable consumer ${config.nats.consumer} on ${STREAM_NAMES.events}, batches of up to ${config.batch.maxRows} rows`);

    const now = new Date();
    const { events, crashAt } = localEvents(now);
    const js = jetstream(nc);
    progress(`publishing ${events.length} events of ${LOCAL_TENANTS.length} tenants × ${LOCAL_AGENTS.length} agents (${LOCAL_TENANTS.join(", ")})`);
    for (let i = 0; i < events.length; i += PUBLISH_WINDOW) {
      await Promise.all(events.slice(i, i + PUBLISH_WINDOW).map((e) => js.publish(e.subject, e.data, { msgID: e.eventId })));
      await new Promise((r) => setTimeout(r, PUBLISH_PAUSE_MS));
    }
    progress(`published ${events.length} events; waiting for the ingestor to insert and ack them`);

    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    for (;;) {
      const [info, stream] = await Promise.all([jsm.consumers.info(STREAM_NAMES.events, config.nats.consumer), jsm.streams.info(STREAM_NAMES.events)]);
      if (info.num_pending === 0 && info.num_ack_pending === 0 && info.ack_floor.stream_seq === stream.state.last_seq) break;
      if (Date.now() > deadline) throw new Error(`the ingestor did not ack every message within ${DRAIN_TIMEOUT_MS} ms (pending ${info.num_pending}, unacked ${info.num_ack_pending}); health: ${JSON.stringify(running.consumer.health())}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const health = running.consumer.health();
    progress(`all ${events.length} acked: ${health.rowsInserted} rows inserted in ${health.batches} batches, ${health.deadLettered} dead-lettered`);

    const crash: CrashContextCommand = { command: "crash-context", tenantId: SHOWN_TENANT, agentId: CRASHED_AGENT, before: crashAt, limit: 10 };
    const loops: LoopsCommand = { command: "loops", tenantId: SHOWN_TENANT, until: new Date(), windowSeconds: 3_600, minModifications: 5, limit: 100 };
    const crashResult = await runCommand(client, crash);
    const loopsResult = await runCommand(client, loops);
    process.stdout.write(
      `\n== Crash context: the last ${crash.limit} decisions of ${SHOWN_TENANT}/${CRASHED_AGENT} before its crash at ${crashAt.toISOString()}\n` +
        `   (npm run query -- crash-context --tenant ${SHOWN_TENANT} --agent ${CRASHED_AGENT} --before ${crashAt.toISOString()} --limit ${crash.limit})\n` +
        `${renderResult(crashResult)}\n` +
        `\n== Hallucination loops of ${SHOWN_TENANT}: resources modified more than ${loops.minModifications} times in the last hour\n` +
        `   (npm run query -- loops --tenant ${SHOWN_TENANT} --window 1h --min ${loops.minModifications})\n` +
        `${renderResult(loopsResult)}\n`,
    );

    // Tenant isolation: the other tenant has the same agent names and its own loop; none of it shows.
    const otherIds = new Set(events.filter((e) => e.tenantId !== SHOWN_TENANT).map((e) => e.eventId));
    const foreignDecisions = crashResult.command === "crash-context" ? crashResult.rows.filter((r) => otherIds.has(r.event_id)).length : 0;
    const otherLoop = LOOPS.find((l) => l.tenant === OTHER_TENANT);
    const otherLoops = await runCommand(client, { ...loops, tenantId: OTHER_TENANT });
    const otherLoopVisible = loopsResult.command === "loops" && loopsResult.rows.some((r) => r.target_resource === otherLoop?.resource);
    process.stdout.write(
      `\n== Tenant isolation: ${OTHER_TENANT} also has a ${CRASHED_AGENT} and a loop on ${otherLoop?.resource ?? "?"}\n` +
        `   ${OTHER_TENANT}'s own loops answer:\n${renderResult(otherLoops).replace(/^/gm, "   ")}\n` +
        `   rows of other tenants in ${SHOWN_TENANT}'s crash context: ${foreignDecisions}; ${OTHER_TENANT}'s loop in ${SHOWN_TENANT}'s loops: ${otherLoopVisible ? "yes" : "no"}\n\n`,
    );

    await running.stop();
    stopped = true;
    progress("ingestor stopped (drained, flushed, acked)");
    if (foreignDecisions > 0 || otherLoopVisible) {
      process.stderr.write("tenant isolation FAILED: another tenant's events are in the answers\n");
      return 1;
    }
    return 0;
  } catch (error) {
    process.stderr.write(`local run failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        process.stderr.write(`cleanup: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    }
    progress(`stopped nats-server and removed the temporary directories (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
}

runLocal().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`local run failed: ${String(error)}\n`);
    process.exitCode = 1;
  },
);

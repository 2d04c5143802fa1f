/**
 * `npm run bench:flood`: how long one tenant's events wait behind another tenant who floods the
 * shared events stream, on a real nats-server with the data-plane configuration and tenant
 * accounts made as the provisioning service makes them.
 *
 * A drainer stands in for the ingestor: the ingestor's durable consumer, pulled and acked at a
 * fixed pace (BENCH_FLOOD_DRAIN_PER_SECOND, default 2,000 messages/s: slower than the flooder can
 * publish, so the flooder sits at its bound; the real ingestor's drain rate is
 * `npm run bench:ingest`'s). Tenant B publishes one event every BENCH_FLOOD_INTERVAL_MS;
 * first alone (baseline), then while tenant F publishes as fast as it can, which keeps F at its
 * bound (`tenantBacklogMessages`) with most of its publishes refused. For each of B's events the
 * bench records the time from publish to delivery, and how many of F's messages were delivered
 * between them. The stated bound: at most `bound` of F's messages are delivered ahead of one of
 * B's, so B waits at most bound / drain rate longer than alone.
 *
 * Prints figures as it goes; the last line is one JSON object.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { loadEnvironment, loadTierCatalog } from "../../config/index.js";
import { NATS_SERVER_VERSION } from "../../config/versions.js";
import { INGESTOR_DEFAULTS } from "../../services/ingestor/contract.js";
import { natsAuthClaims } from "../../services/nats-auth/claims.js";
import { generateNatsSeeds, mintPlatformUser, mintSystemUser, publicKeysOf, signNatsAuth } from "../../services/nats-auth/sign.js";
import { eventSubject, STREAM_NAMES, storedEventSubject, tenantBacklogMessages } from "../../services/nats-auth/streams.js";
import { createTopology } from "../../services/nats-auth/topology.js";
import { provisionTenant, startDataPlaneServer } from "../support/nats-server.js";
import { percentile, progressOf, runBench } from "./support.js";

const PHASE_MS = Number(process.env["BENCH_FLOOD_PHASE_MS"] ?? 15_000);
const INTERVAL_MS = Number(process.env["BENCH_FLOOD_INTERVAL_MS"] ?? 50);
/** The drainer's pace: slower than a flooder can publish, so the flooder reaches its bound (the real ingestor's rate is bench:ingest's). */
const DRAIN_PER_SECOND = Number(process.env["BENCH_FLOOD_DRAIN_PER_SECOND"] ?? 2_000);
const DRAIN_TICK_MS = 50;
const PAYLOAD_BYTES = 512;
const FLOOD_WINDOW = 512;

const env = loadEnvironment("dev");
const tiers = loadTierCatalog();

const progress = progressOf("flood");

interface Phase {
  readonly latenciesMs: number[];
  /** F's messages delivered between the start of B's publish and B's delivery (B's publish round trip included). */
  readonly floodAhead: number[];
  /** F's messages delivered between B's publish acknowledgement (B stored) and B's delivery. */
  readonly floodAheadAfterAck: number[];
  delivered: number;
  floodAccepted: number;
  floodRefused: number;
  readonly startedAt: number;
  endedAt: number;
  /** Messages delivered and the time when B's last publish was done (the flood stops then). */
  deliveredAtStop: number;
  stoppedAt: number;
}

async function main(): Promise<void> {
  const seeds = generateNatsSeeds([]);
  const keys = publicKeysOf(seeds);
  const signed = await signNatsAuth(natsAuthClaims({ name: env.name, nats: env.nats }, tiers, keys), seeds.operator);
  const server = await startDataPlaneServer({ serverName: "bench-flood", signed, tiers, jetStreamStorageGiB: env.nats.storageGiB });
  const open: NatsConnection[] = [];
  const conn = async (creds: string, inboxPrefix?: string) => {
    const nc = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), ...(inboxPrefix ? { inboxPrefix } : {}) });
    open.push(nc);
    return nc;
  };
  try {
    const platform = await conn((await mintPlatformUser(seeds.swarmAccount)).creds);
    await createTopology(await jetstreamManager(platform), { nats: env.nats, replicas: 1, streams: ["events"], maxBytes: { events: 2 * 1024 ** 3 } });
    const system = await conn((await mintSystemUser(seeds.systemAccount)).creds);
    const flooderTenant = await provisionTenant(system, seeds, "flooder", "free", tiers);
    const victimTenant = await provisionTenant(system, seeds, "victim", "free", tiers);
    const fCreds = await flooderTenant.mint();
    const bCreds = await victimTenant.mint();
    const flooder = await conn(fCreds.creds, fCreds.inboxPrefix);
    const victim = await conn(bCreds.creds, bCreds.inboxPrefix);
    const bound = tenantBacklogMessages(tiers);
    progress(`nats-server ${NATS_SERVER_VERSION}; per-tenant bound ${bound} messages; B publishes every ${INTERVAL_MS} ms, ${PHASE_MS / 1000} s per phase; drain paced at ${DRAIN_PER_SECOND} msg/s`);

    // The drainer: the ingestor's consumer, batches of 1,000, acked as soon as they arrive.
    const consumer = await jetstream(platform).consumers.get(STREAM_NAMES.events, INGESTOR_DEFAULTS.consumer);
    // B's stream sequence → publish time and how many of F's messages had been delivered then.
    const published = new Map<number, { at: number; fDelivered: number; fDeliveredAtAck: number }>();
    let phase: Phase | undefined;
    let fDelivered = 0;
    let running = true;
    const drainer = (async () => {
      const perTick = Math.max(1, Math.round((DRAIN_PER_SECOND * DRAIN_TICK_MS) / 1000));
      while (running) {
        const tick = performance.now();
        const batch = await consumer.fetch({ max_messages: perTick, expires: 1_000 });
        for await (const m of batch) {
          m.ack();
          if (!phase) continue;
          phase.delivered++;
          if (m.subject === storedEventSubject("flooder")) fDelivered++;
          else if (m.subject === storedEventSubject("victim")) {
            const b = published.get(m.seq);
            if (b !== undefined) {
              // Delivery is in stream order: F's messages delivered since B published were ahead of it.
              phase.latenciesMs.push(performance.now() - b.at);
              phase.floodAhead.push(fDelivered - b.fDelivered);
              phase.floodAheadAfterAck.push(fDelivered - b.fDeliveredAtAck);
            }
          }
        }
        const rest = DRAIN_TICK_MS - (performance.now() - tick);
        if (rest > 0) await new Promise((r) => setTimeout(r, rest));
      }
    })();

    const payload = new Uint8Array(PAYLOAD_BYTES);
    const runPhase = async (name: string, flood: boolean): Promise<Phase> => {
      const p: Phase = { latenciesMs: [], floodAhead: [], floodAheadAfterAck: [], delivered: 0, floodAccepted: 0, floodRefused: 0, startedAt: performance.now(), endedAt: 0, deliveredAtStop: 0, stoppedAt: 0 };
      phase = p;
      let flooding = flood;
      const floodLoop = (async () => {
        const js = jetstream(flooder);
        while (flooding) {
          const results = await Promise.allSettled(Array.from({ length: FLOOD_WINDOW }, (_, k) => js.publish(eventSubject("flooder", `p${k % 64}`), payload)));
          for (const r of results) {
            if (r.status === "fulfilled") p.floodAccepted++;
            else p.floodRefused++;
          }
        }
      })();
      const js = jetstream(victim);
      const deadline = performance.now() + PHASE_MS;
      while (performance.now() < deadline) {
        const at = performance.now();
        const before = fDelivered;
        const ack = await js.publish(eventSubject("victim", "p1"), payload);
        published.set(ack.seq, { at, fDelivered: before, fDeliveredAtAck: fDelivered });
        await new Promise((r) => setTimeout(r, INTERVAL_MS));
      }
      p.deliveredAtStop = p.delivered;
      p.stoppedAt = performance.now();
      flooding = false;
      await floodLoop;
      // Let the drainer reach B's last events.
      await new Promise((r) => setTimeout(r, 2_000));
      p.endedAt = performance.now();
      const lat = [...p.latenciesMs].sort((a, b) => a - b);
      progress(
        `${name}: B ${lat.length} events, publish→delivery p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms, max ${(lat.at(-1) ?? NaN).toFixed(1)} ms; ` +
          `F's messages delivered between one of B's publish and its delivery: max ${Math.max(0, ...p.floodAhead)}; F accepted ${p.floodAccepted}, refused ${p.floodRefused}; delivered ${Math.round(p.deliveredAtStop / ((p.stoppedAt - p.startedAt) / 1000))} msg/s`,
      );
      return p;
    };
    const alone = await runPhase("alone", false);
    const flooded = await runPhase("with F flooding", true);
    running = false;
    await drainer;

    const summarize = (p: Phase) => {
      const lat = [...p.latenciesMs].sort((a, b) => a - b);
      return {
        events: lat.length,
        latencyMs: { p50: Number(percentile(lat, 50).toFixed(1)), p99: Number(percentile(lat, 99).toFixed(1)), max: Number((lat.at(-1) ?? NaN).toFixed(1)) },
        floodAheadMax: Math.max(0, ...p.floodAhead),
        floodAheadAfterStoredMax: Math.max(0, ...p.floodAheadAfterAck),
        floodAccepted: p.floodAccepted,
        floodRefused: p.floodRefused,
      };
    };
    // The drain rate under flood: messages delivered while F flooded, over that time.
    const drainPerSecond = Math.round(flooded.deliveredAtStop / ((flooded.stoppedAt - flooded.startedAt) / 1000));
    const boundDelayMs = Math.round((bound / drainPerSecond) * 1000);
    const [aloneSummary, floodedSummary] = [summarize(alone), summarize(flooded)];
    progress(`stated bound: ≤ ${bound} of F's messages ahead of each of B's once B is stored (measured max ${floodedSummary.floodAheadAfterStoredMax}; ${floodedSummary.floodAheadMax} counted from the start of B's publish); at this drain rate (${drainPerSecond} msg/s) that is ≤ ${boundDelayMs} ms of extra wait (measured: p99 ${floodedSummary.latencyMs.p99} ms, alone ${aloneSummary.latencyMs.p99} ms)`);
    console.log(
      JSON.stringify({
        natsServer: NATS_SERVER_VERSION,
        boundMessages: bound,
        boundBytesFree: bound * tiers.free.bus.maxPayloadBytes,
        payloadBytes: PAYLOAD_BYTES,
        alone: aloneSummary,
        flooded: floodedSummary,
        drainPerSecond,
        boundDelayMs,
      }),
    );
  } finally {
    await Promise.allSettled(open.map((nc) => nc.close()));
    await server.stop();
  }
}

runBench(main);

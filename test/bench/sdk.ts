/**
 * `npm run bench:sdk`: events per second from one SDK process with JetStream acks, beside raw
 * nats.js publishing of the same bytes, in the same run and against the same server. The server
 * runs the data-plane configuration (operator mode; a tenant account that imports its subjects
 * into the platform account's `SWARM_EVENTS`), the tenant connects with credentials minted as the
 * API mints them.
 *
 * - raw: the SDK's own encoded events (same subjects, same bytes, same `Nats-Msg-Id`), published
 *   with `js.publish` keeping the same number of acks outstanding;
 * - sdk: `client.emit(draft)` for every event (completing, checking and encoding it), then
 *   `flush()`.
 * The two alternate for ROUNDS rounds; each figure is the median. Target: sdk / raw ≥ 0.8.
 * Last line: `{"events":…,"raw_per_s":…,"sdk_per_s":…,"ratio":…,"target":0.8}`.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, jwtAuthenticator } from "@nats-io/transport-node";
import { loadEnvironment, loadTierCatalog } from "../../config/index.js";
import { natsAuthClaims } from "../../services/nats-auth/claims.js";
import { generateNatsSeeds, mintPlatformUser, mintSystemUser, publicKeysOf, signNatsAuth } from "../../services/nats-auth/sign.js";
import { STREAM_NAMES } from "../../services/nats-auth/streams.js";
import { createTopology } from "../../services/nats-auth/topology.js";
import { tenantInboxPrefix } from "../../services/nats-auth/claims.js";
import { AgentClient, decision, stateChange, stateHashOf, type EventDraft } from "../../sdk/index.js";
import { provisionTenant, startDataPlaneServer } from "../support/nats-server.js";
import { progressOf, runBench } from "./support.js";

const EVENTS = Number(process.env["BENCH_SDK_EVENTS"] ?? 50_000);
const ROUNDS = Number(process.env["BENCH_SDK_ROUNDS"] ?? 3);
const WINDOW = 512;
const TARGET = 0.8;
const progress = progressOf("sdk");

function draftOf(i: number): EventDraft {
  return i % 3 === 1
    ? stateChange({ agentId: `coder-${i % 7}`, agentRole: "coder", resource: `src/module-${i % 50}.ts`, change: "modified", stateHash: stateHashOf(`state ${i}`), previousStateHash: stateHashOf(`state ${i - 1}`), summary: `Refactored the handler of module ${i % 50} to stream its results instead of buffering them.` })
    : decision({ agentId: `architect-${i % 5}`, agentRole: "architect", confidence: (i % 100) / 100, action: `split module ${i % 50}`, rationale: `Module ${i % 50} mixes request parsing with persistence; splitting it lets the tests cover each part alone and keeps the hot path free of allocations that the profiler showed at 12% of CPU.`, alternatives: ["leave it", "rewrite"] });
}

async function main(): Promise<void> {
  const env = loadEnvironment("dev");
  const tiers = loadTierCatalog();
  const seeds = generateNatsSeeds([]);
  const signed = await signNatsAuth(natsAuthClaims({ name: env.name, nats: env.nats }, tiers, publicKeysOf(seeds)), seeds.operator);
  const server = await startDataPlaneServer({ serverName: "bench-sdk", signed, tiers, jetStreamStorageGiB: env.nats.storageGiB });
  const platform = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode((await mintPlatformUser(seeds.swarmAccount)).creds)) });
  const system = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode((await mintSystemUser(seeds.systemAccount)).creds)) });
  try {
    const jsm = await jetstreamManager(platform);
    // The events stream only, no consumer: messages are acked when stored, and gone at once (interest retention).
    await createTopology(jsm, { nats: env.nats, replicas: 1, streams: ["events"], ingestor: false });
    const tenant = await provisionTenant(system, seeds, "bench-tenant", "enterprise", tiers);
    const creds = await tenant.mint(3_600);
    const credentials = { jwt: creds.jwt, seed: creds.seed, servers: [server.url], userId: "bench-user" };
    const drafts = Array.from({ length: EVENTS }, (_, i) => draftOf(i));

    // The raw side publishes the SDK's bytes: encode once with a client (no network use).
    const encoder = await AgentClient.connect({ credentials, projectId: "bench", encryption: "off" });
    const encoded = drafts.map((d) => encoder.encode(d));
    await encoder.close();
    const bytes = encoded.reduce((sum, e) => sum + e.data.byteLength, 0);
    progress(`${EVENTS} events, ${(bytes / EVENTS).toFixed(0)} bytes each on average, window ${WINDOW}, ${ROUNDS} rounds`);

    const raw = async (): Promise<number> => {
      const nc = await connect({ servers: server.url, authenticator: jwtAuthenticator(creds.jwt, new TextEncoder().encode(creds.seed)), inboxPrefix: tenantInboxPrefix(tenant.tenantId) });
      const js = jetstream(nc);
      const started = performance.now();
      let next = 0;
      const lane = async () => {
        while (next < encoded.length) {
          const e = encoded[next++]!;
          await js.publish(e.subject, e.data, { msgID: `${e.event.eventId.slice(0, 35)}${next % 10}` });
        }
      };
      await Promise.all(Array.from({ length: WINDOW }, lane));
      const seconds = (performance.now() - started) / 1000;
      await nc.close();
      return EVENTS / seconds;
    };
    const sdk = async (): Promise<number> => {
      const client = await AgentClient.connect({ credentials, projectId: "bench", encryption: "off", maxInFlight: WINDOW });
      const started = performance.now();
      for (const d of drafts) await client.emit({ ...d, eventId: undefined });
      await client.flush();
      const seconds = (performance.now() - started) / 1000;
      await client.close();
      return EVENTS / seconds;
    };
    const rawRates: number[] = [];
    const sdkRates: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      rawRates.push(await raw());
      sdkRates.push(await sdk());
      progress(`round ${round}: raw ${rawRates.at(-1)!.toFixed(0)} ev/s, sdk ${sdkRates.at(-1)!.toFixed(0)} ev/s`);
    }
    const info = await jsm.streams.info(STREAM_NAMES.events);
    progress(`stream ${STREAM_NAMES.events}: ${info.state.messages} messages held (interest retention, no consumer)`);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const rawPerS = median(rawRates);
    const sdkPerS = median(sdkRates);
    console.log(JSON.stringify({ events: EVENTS, raw_per_s: Math.round(rawPerS), sdk_per_s: Math.round(sdkPerS), ratio: Number((sdkPerS / rawPerS).toFixed(2)), target: TARGET }));
  } finally {
    await platform.close();
    await system.close();
    await server.stop();
  }
}

runBench(main);

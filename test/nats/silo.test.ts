/**
 * Silo tenants on a real nats-server with the data-plane configuration (operator mode, full
 * resolver, the bootstrap's claims with two silo tenants): each silo account holds its own copy
 * of the topology (siloTopologyDeclarations), its tenant's users (minted with the silo's signing
 * key) publish into it, and the ingestor, run in-process with the silo's ingestor user, stores
 * every event in the real ClickHouse engine once, under the silo tenant. Nothing of a silo
 * reaches the platform account's streams, and nobody else reaches a silo's.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, PermissionViolationError, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnvironment, loadTierCatalog } from "../../config/index.js";
import { qualified, schemaSql, SWARM_EVENTS_TABLE } from "../../services/clickhouse-schema/index.js";
import { INGESTOR_DEFAULTS } from "../../services/ingestor/contract.js";
import { loadIngestorConfig } from "../../services/ingestor/src/config.js";
import { startIngestor } from "../../services/ingestor/src/main.js";
import { ClickHouseSink } from "../../services/ingestor/src/sink.js";
import { natsAuthClaims, SILO_TIER } from "../../services/nats-auth/claims.js";
import { workerInboxPrefix, workerConsumerName } from "../../services/nats-auth/jetstream-names.js";
import { JETSTREAM_VOLUME_HEADROOM } from "../../services/nats-auth/server-config.js";
import { mintTenantCredentials, type TenantCredentials } from "../../services/nats-auth/mint.js";
import { generateNatsSeeds, mintPlatformUser, mintSiloIngestorUser, mintSiloPlatformUser, mintSiloWorkerUser, mintSystemUser, publicKeysOf, signNatsAuth, type NatsSeeds } from "../../services/nats-auth/sign.js";
import { accountReservationBytes, DEAD_LETTER_STREAM, eventSubject, JOB_DEAD_LETTER_STREAM, jobSubject, STREAM_NAMES, storedEventSubject, swarmStreamConfigs } from "../../services/nats-auth/streams.js";
import { createSiloTopology, createTopology, siloTopologyDeclarations } from "../../services/nats-auth/topology.js";
import { ADMIN, EmbeddedClickHouse, INGESTOR } from "../support/chdb.js";
import { audit, collectingLogger, makeEvents, publishAll, until as untilAsync } from "../support/ingestor.js";
import { collectErrors, provisionTenant, startDataPlaneServer, until, type NatsServer, type TestTenant } from "../support/nats-server.js";

const env = loadEnvironment("dev");
const tiers = loadTierCatalog();
const SILO = "silo-corp";
const OTHER_SILO = "other-silo";
const POOLED = "pooled-co";
const nats = { ...env.nats, siloTenants: [SILO, OTHER_SILO] };
const CONSUMER = INGESTOR_DEFAULTS.consumer;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

let server: NatsServer;
let seeds: NatsSeeds;
let engine: EmbeddedClickHouse;
let credsDir: string;
let platformJsm: JetStreamManager;
let siloJsm: JetStreamManager;
let pooled: TestTenant;
const open: NatsConnection[] = [];

async function connectCreds(creds: string, name: string, inboxPrefix?: string): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url, name, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), reconnect: false, ...(inboxPrefix ? { inboxPrefix } : {}) });
  open.push(nc);
  return nc;
}

function siloUser(tenantId: string): Promise<TenantCredentials> {
  const keys = publicKeysOf(seeds);
  return mintTenantCredentials({ tenantId, tier: SILO_TIER, signingKeySeed: seeds.silos[tenantId]!.signingKey, accountPublicKey: keys.silos[tenantId]!.account, expiresInSeconds: 600 });
}

/** How many messages `stream` holds under `subject` in the account `jsm` talks to. */
async function held(jsm: JetStreamManager, stream: string, subject?: string): Promise<number> {
  const info = await jsm.streams.info(stream, subject ? { subjects_filter: subject } : {});
  return subject ? (info.state.subjects?.[subject] ?? 0) : info.state.messages;
}

/** Each request's outcome: "denied" (a permission violation) or what answered. */
async function outcomes(nc: NatsConnection, subjects: readonly string[]): Promise<string[]> {
  return Promise.all(subjects.map((s) => nc.request(s, "{}", { timeout: 2_000 }).then((m) => `answered: ${m.string().slice(0, 80)}`, (e: Error) => (e.cause instanceof PermissionViolationError ? "denied" : e.message))));
}

beforeAll(async () => {
  seeds = generateNatsSeeds(nats.siloTenants);
  const keys = publicKeysOf(seeds);
  const signed = await signNatsAuth(natsAuthClaims({ name: env.name, nats }, tiers, keys), seeds.operator);
  // A single server enables an account's JetStream only when every account's allowance fits its
  // max_file_store (a cluster does not check): the platform's and two enterprise silos' (a
  // reservation only; the streams below use little disk).
  const accountsGiB = env.nats.account.jetstreamMaxStorageGiB + (nats.siloTenants.length * tiers[SILO_TIER].bus.jetstreamStorageMiB) / 1024;
  server = await startDataPlaneServer({ serverName: "nats-silo-test", signed, tiers, jetStreamStorageGiB: Math.ceil(accountsGiB / (1 - JETSTREAM_VOLUME_HEADROOM)) + 1 });
  // The platform account's topology, small (the server's storage also holds the silo's).
  const platform = await connectCreds((await mintPlatformUser(seeds.swarmAccount)).creds, "platform");
  platformJsm = await jetstreamManager(platform);
  await createTopology(platformJsm, { nats: env.nats, replicas: 1, streams: ["events", "deadLetters"], maxBytes: { events: 256 * MiB, deadLetters: 64 * MiB } });
  // The silo's topology, as declared (sized from the enterprise tier), by the silo's NACK user.
  const siloAdmin = await connectCreds((await mintSiloPlatformUser(seeds.silos[SILO]!.account, SILO)).creds, "silo-platform");
  siloJsm = await jetstreamManager(siloAdmin);
  await createSiloTopology(siloJsm, SILO, { nats: env.nats, tiers, replicas: 1 });
  // A pooled tenant, its account made and pushed as the provisioning service does.
  const system = await connectCreds((await mintSystemUser(seeds.systemAccount)).creds, "system");
  pooled = await provisionTenant(system, seeds, POOLED, "pro", tiers);

  engine = EmbeddedClickHouse.create({ catalog: tiers });
  await engine.as(ADMIN, async (client) => {
    for (const statement of schemaSql({ eventTtlDays: env.clickhouse.eventTtlDays })) await client.command({ query: statement });
  });
  credsDir = mkdtempSync(join(tmpdir(), "silo-creds-"));
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(open.map((nc) => nc.close()));
  await server?.stop();
  await engine?.destroy();
  if (credsDir) rmSync(credsDir, { recursive: true, force: true });
});

describe("a silo's topology declarations", () => {
  it("keep the platform's names, subjects and consumers, and fit the enterprise tier's JetStream allowance and MaxAckPending in every environment", () => {
    for (const name of ["dev", "staging", "prod"] as const) {
      const n = loadEnvironment(name).nats;
      const { streams, consumers } = siloTopologyDeclarations(SILO, { nats: n, tiers });
      const pooledStreams = swarmStreamConfigs(n, tiers);
      expect(streams.map((s) => s.name)).toEqual([STREAM_NAMES.events, STREAM_NAMES.jobs, DEAD_LETTER_STREAM, JOB_DEAD_LETTER_STREAM]);
      expect(streams[0]!.subjects).toEqual(pooledStreams.events.subjects);
      expect(streams[0]!.subject_transform).toEqual(pooledStreams.events.subject_transform);
      expect(streams[1]!.subjects).toEqual([`swarm.*.jobs.${SILO_TIER}`]);
      expect(accountReservationBytes(streams)).toBeLessThanOrEqual(tiers[SILO_TIER].bus.jetstreamStorageMiB * MiB);
      expect(streams[0]!.max_bytes).toBeLessThanOrEqual(pooledStreams.events.max_bytes);
      expect(streams[1]!.max_bytes).toBeLessThanOrEqual(pooledStreams.jobs.max_bytes);
      for (const s of streams) expect([s.deny_purge || s.name.endsWith("_DLQ"), s.deny_delete]).toEqual([true, true]);
      expect(consumers.map((c) => `${c.stream}.${c.durable_name}`)).toEqual([`${STREAM_NAMES.events}.${CONSUMER}`, `${STREAM_NAMES.jobs}.${workerConsumerName(SILO_TIER)}`]);
      for (const c of consumers) expect(c.max_ack_pending).toBeLessThanOrEqual(tiers[SILO_TIER].bus.maxAckPending);
    }
    // prod's pooled streams (600 + 50 GiB, 3 replicas) exceed the allowance: scaled down alike.
    const prod = siloTopologyDeclarations(SILO, { nats: loadEnvironment("prod").nats, tiers }).streams;
    expect(prod[0]!.max_bytes).toBeLessThan(600 * GiB);
    expect(accountReservationBytes(prod)).toBeGreaterThan(0.99 * tiers[SILO_TIER].bus.jetstreamStorageMiB * MiB);
    expect(() => siloTopologyDeclarations("Bad.Id", { nats: env.nats, tiers })).toThrow(/tenant id/);
    expect(() => siloTopologyDeclarations(SILO, { nats: env.nats, tiers, ingestor: { maxReplicas: 2 } })).toThrow(/maxAckPending/);
  });
});

describe("silo tenants on a real nats-server", () => {
  let tenant: NatsConnection;
  let tenantCreds: TenantCredentials;

  beforeAll(async () => {
    tenantCreds = await siloUser(SILO);
    tenant = await connectCreds(tenantCreds.creds, "silo-tenant", tenantCreds.inboxPrefix);
  });

  it("creates the declared topology in the silo account, within its limits, and none of it in the platform account", async () => {
    const names = (await siloJsm.streams.names().next()).sort();
    expect(names).toEqual([DEAD_LETTER_STREAM, STREAM_NAMES.events, STREAM_NAMES.jobs, JOB_DEAD_LETTER_STREAM].sort());
    expect((await siloJsm.streams.info(STREAM_NAMES.events)).config.description).toContain(SILO);
    expect((await platformJsm.streams.info(STREAM_NAMES.events)).config.description).not.toContain(SILO);
    expect((await siloJsm.consumers.info(STREAM_NAMES.jobs, workerConsumerName(SILO_TIER))).config.filter_subject).toBe(`swarm.*.jobs.${SILO_TIER}`);
  });

  it("a silo tenant's publishes land in its own account's stream, a reply subject aimed at its JetStream API changes nothing, and it reaches no one else's subjects", async () => {
    const js = jetstream(tenant);
    const ack = await js.publish(eventSubject(SILO, "p1"), "hello", { msgID: "silo-hello" });
    expect(ack.stream).toBe(STREAM_NAMES.events);
    expect(await held(siloJsm, STREAM_NAMES.events, storedEventSubject(SILO))).toBe(1);
    expect(await held(platformJsm, STREAM_NAMES.events, storedEventSubject(SILO))).toBe(0);
    expect((await js.publish(jobSubject(SILO, SILO_TIER), "job")).stream).toBe(STREAM_NAMES.jobs);

    // Issue 14's attack 1 inside the silo: the server's publish acks go to these reply subjects.
    const apiCalls = [
      `$JS.API.STREAM.PURGE.${STREAM_NAMES.events}`,
      `$JS.API.STREAM.DELETE.${STREAM_NAMES.events}`,
      `$JS.API.STREAM.DELETE.${STREAM_NAMES.jobs}`,
      `$JS.API.CONSUMER.DELETE.${STREAM_NAMES.events}.${CONSUMER}`,
      `$JS.API.STREAM.MSG.DELETE.${STREAM_NAMES.events}`,
    ];
    for (const reply of apiCalls) tenant.publish(eventSubject(SILO, "p1"), JSON.stringify({ seq: 1 }), { reply });
    await tenant.flush();
    await new Promise((r) => setTimeout(r, 300));
    expect(await held(siloJsm, STREAM_NAMES.events, storedEventSubject(SILO))).toBe(1 + apiCalls.length);
    expect((await siloJsm.consumers.info(STREAM_NAMES.events, CONSUMER)).config.durable_name).toBe(CONSUMER);
    expect(await held(siloJsm, STREAM_NAMES.jobs)).toBe(1);
    // Made directly, the same calls are denied; so are the pooled tenant's, another tier's lane and other subjects.
    expect(await outcomes(tenant, [...apiCalls, "$JS.API.INFO", `$JS.API.CONSUMER.MSG.NEXT.${STREAM_NAMES.events}.${CONSUMER}`])).toEqual([...apiCalls, "", ""].map(() => "denied"));
    const errors = collectErrors(tenant);
    for (const subject of [eventSubject(POOLED, "p1"), eventSubject(OTHER_SILO, "p1"), jobSubject(SILO, "free"), "ingestor.dlq.forged", "workers.dlq.enterprise"]) tenant.publish(subject, "forged");
    await tenant.flush();
    await until(() => errors.length >= 5);
    expect(errors.filter((e) => e instanceof PermissionViolationError).length).toBe(5);
    expect(await held(platformJsm, STREAM_NAMES.events, storedEventSubject(POOLED))).toBe(0);
    expect(await held(siloJsm, DEAD_LETTER_STREAM)).toBe(0);
  });

  it("a pooled tenant and another silo's tenant cannot publish into the silo's subjects", async () => {
    const before = await held(siloJsm, STREAM_NAMES.events);
    const p = await pooled.mint();
    const pooledNc = await connectCreds(p.creds, "pooled", p.inboxPrefix);
    const otherCreds = await siloUser(OTHER_SILO);
    const other = await connectCreds(otherCreds.creds, "other-silo", otherCreds.inboxPrefix);
    for (const nc of [pooledNc, other]) {
      const errors = collectErrors(nc);
      nc.publish(eventSubject(SILO, "p1"), "forged");
      nc.publish(jobSubject(SILO, SILO_TIER), "forged");
      await nc.flush();
      await until(() => errors.length >= 2);
      expect(errors.filter((e) => e instanceof PermissionViolationError).map((e) => (e as PermissionViolationError).subject).sort()).toEqual([eventSubject(SILO, "p1"), jobSubject(SILO, SILO_TIER)].sort());
    }
    // The pooled tenant's own events go to the platform account, never to the silo's.
    expect((await jetstream(pooledNc).publish(eventSubject(POOLED, "p1"), "pooled-1")).stream).toBe(STREAM_NAMES.events);
    expect(await held(platformJsm, STREAM_NAMES.events, storedEventSubject(POOLED))).toBe(1);
    expect(await held(siloJsm, STREAM_NAMES.events)).toBe(before);
  });

  it("the silo's worker user pulls the silo's jobs and nothing else", async () => {
    const worker = await connectCreds((await mintSiloWorkerUser(seeds.silos[SILO]!.account, SILO)).creds, "silo-worker", workerInboxPrefix(SILO_TIER));
    const consumer = await jetstream(worker).consumers.get(STREAM_NAMES.jobs, workerConsumerName(SILO_TIER));
    const jobs = await consumer.fetch({ max_messages: 1, expires: 2_000 });
    const got: string[] = [];
    for await (const m of jobs) {
      got.push(`${m.subject}: ${m.string()}`);
      m.ack();
    }
    expect(got).toEqual([`${jobSubject(SILO, SILO_TIER)}: job`]);
    await worker.flush();
    await untilAsync(async () => (await held(siloJsm, STREAM_NAMES.jobs)) === 0, "the acked job removed");
    expect(await outcomes(worker, [`$JS.API.STREAM.INFO.${STREAM_NAMES.events}`, `$JS.API.CONSUMER.MSG.NEXT.${STREAM_NAMES.events}.${CONSUMER}`, `$JS.API.STREAM.DELETE.${STREAM_NAMES.jobs}`])).toEqual(["denied", "denied", "denied"]);
  });

  it("the ingestor, with the silo's ingestor user, stores every silo event in ClickHouse once under the silo tenant, dead-letters a bad one in the silo, and reads nothing of the platform account", async () => {
    const events = makeEvents([SILO], 300, 16);
    await publishAll(jetstream(tenant), events);
    // A payload the ingestor refuses: dead-lettered into the silo's own dead-letter stream.
    await jetstream(tenant).publish(eventSubject(SILO, "p1"), "not an event");
    // The earlier test's publishes (not events either) are dead letters too.
    const stored = await held(siloJsm, STREAM_NAMES.events);
    expect(stored).toBe(events.length + 1 + 6);
    const platformBefore = await held(platformJsm, STREAM_NAMES.events);

    const ingestorUser = await mintSiloIngestorUser(seeds.silos[SILO]!.account, SILO);
    const credsFile = join(credsDir, "silo-ingestor.creds");
    writeFileSync(credsFile, ingestorUser.creds, { mode: 0o600 });
    const log = collectingLogger();
    await engine.as(INGESTOR, async (client) => {
      const config = loadIngestorConfig({
        INGESTOR_NATS_URL: server.url,
        INGESTOR_NATS_CREDS: credsFile,
        INGESTOR_CONSUMER: CONSUMER,
        INGESTOR_CHDB_PATH: `${engine.root}/data`,
        INGESTOR_FLUSH_INTERVAL_MS: "200",
        INGESTOR_PULL_EXPIRES_MS: "1000",
        INGESTOR_HTTP_PORT: "off",
      });
      const sink = new ClickHouseSink(client);
      // Plans and usage from the same engine: the silo's events pass its allowance and retention checks.
      const running = await startIngestor(config, log, { insert: (rows, token) => sink.insert(rows, token), close: async () => {} }, { tenants: sink });
      try {
        await untilAsync(async () => {
          const info = await siloJsm.consumers.info(STREAM_NAMES.events, CONSUMER);
          return info.num_pending === 0 && info.num_ack_pending === 0;
        }, "the silo's events ingested and acked");
      } finally {
        await running.stop();
      }
    });
    expect(log.lines.filter((l) => l.level === "error" || /permission/i.test(`${l.msg} ${JSON.stringify(l.fields)}`))).toEqual([]);
    // Interest retention: acked events leave the silo's stream; the refused ones are in its dead letters.
    expect(await held(siloJsm, STREAM_NAMES.events)).toBe(0);
    expect(await held(siloJsm, DEAD_LETTER_STREAM)).toBe(7);
    expect(await held(platformJsm, DEAD_LETTER_STREAM)).toBe(0);
    expect(await held(platformJsm, STREAM_NAMES.events)).toBe(platformBefore);

    await engine.as(ADMIN, async (client) => {
      expect(await audit(client, `${qualified(SWARM_EVENTS_TABLE)} FINAL`, [SILO], events.map((e) => e.eventId))).toEqual({ rows: events.length, distinct: events.length, missing: 0, unexpected: 0 });
      const rs = await client.query({ query: `SELECT tenant_id, count() AS n FROM ${qualified(SWARM_EVENTS_TABLE)} GROUP BY tenant_id`, format: "JSONEachRow" });
      expect((await rs.json<{ tenant_id: string; n: number | string }>()).map((r) => [r.tenant_id, Number(r.n)])).toEqual([[SILO, events.length]]);
    });

    // The same user, on its own connection: only its consumer and the info it needs, all in the silo account.
    const nc = await connectCreds(ingestorUser.creds, "silo-ingestor-probe");
    expect((await (await jetstreamManager(nc)).streams.info(STREAM_NAMES.events)).config.description).toContain(SILO);
    expect(
      await outcomes(nc, [
        "$JS.API.STREAM.LIST",
        `$JS.API.STREAM.INFO.${STREAM_NAMES.jobs}`,
        `$JS.API.STREAM.DELETE.${STREAM_NAMES.events}`,
        `$JS.API.CONSUMER.CREATE.${STREAM_NAMES.events}`,
        `$JS.API.CONSUMER.MSG.NEXT.${STREAM_NAMES.jobs}.${workerConsumerName(SILO_TIER)}`,
        `$JS.API.STREAM.MSG.GET.${STREAM_NAMES.events}`,
      ]),
    ).toEqual(Array(6).fill("denied"));
    const errors = collectErrors(nc);
    nc.subscribe(`swarm.>`);
    nc.subscribe(`${tenantCreds.inboxPrefix}.>`);
    nc.publish(eventSubject(SILO, "p1"), "forged by the ingestor");
    await nc.flush();
    await until(() => errors.length >= 3);
    expect(errors.filter((e) => e instanceof PermissionViolationError).length).toBe(3);
  }, 120_000);
});

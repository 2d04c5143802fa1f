/**
 * Replays and encrypted payloads on the real stack: a nats-server running the data-plane
 * configuration (the jobs stream and its lanes), the provisioning service (the harness: real
 * HTTP, real store, its platform bus, tenant tokens it signs and publishes in its key set), the
 * events API verifying those tokens through the provisioning service's JWKS over HTTP, reading the
 * real ClickHouse engine (chdb) as the free tier's reader, and opening payloads with the tenants'
 * data keys read from the provisioning service's own store and unwrapped by its own provider.
 *
 * - A replay finds the state in the resource's history and files a `state.revert` job through the
 *   jobs API with the caller's token: the job is in the tenant's own lane, submitted by the caller,
 *   and a retry files it once. By time, the last state at or before it. An unknown state, or
 *   another tenant's, is 404 with the hashes the resource does know.
 * - An encrypted event (sealed by the SDK with the key the tenant's agent obtained from the API)
 *   is answered decrypted; after offboarding its key is destroyed and the event is answered with
 *   `payload: null`, never an error; the jobs API then refuses the tenant's replays.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnvironment, loadTierCatalog } from "../../config/index.js";
import { PLAN_TIER_NAMES } from "../../config/tiers.js";
import { fromBinary } from "@bufbuild/protobuf";
import { credentialsFromAnswer, DataKeyClient, decision, sealedKeyId, stateChange, stateHashOf, type DataKey } from "../../sdk/index.js";
import { SwarmEventSchema } from "../../services/ingestor/src/gen/enchanted/events/v1/events_pb.js";
import { schemaSql, type SwarmEventRow } from "../../services/clickhouse-schema/index.js";
import { EVENTS_API_ENV, REPLAY_JOB_TYPE } from "../../services/events-api/contract.js";
import { loadEventsApiConfig } from "../../services/events-api/src/config.js";
import { openDataKeySource, StoreDataKeySource } from "../../services/events-api/src/datakeys.js";
import { replayJobId } from "../../services/events-api/src/replays.js";
import { startEventsApi, type RunningEventsApi } from "../../services/events-api/src/service.js";
import { JWKS_PATH } from "../../services/identity/names.js";
import { natsAuthClaims } from "../../services/nats-auth/claims.js";
import { jobSubject, STREAM_NAMES } from "../../services/nats-auth/jetstream-names.js";
import { generateNatsSeeds, mintPlatformUser, mintProvisioningBusUser, mintSystemUser, publicKeysOf, signNatsAuth } from "../../services/nats-auth/sign.js";
import { createTopology } from "../../services/nats-auth/topology.js";
import { NATS_ACCOUNT_KEY_FILES } from "../../services/provisioning/contract.js";
import { JOB_ID_HEADER, type JobMessage } from "../../services/worker/contract.js";
import { ADMIN, EmbeddedClickHouse } from "../support/chdb.js";
import { KEYCLOAK_WAIT_MS, type RealmUser } from "../support/keycloak.js";
import { startDataPlaneServer, type NatsServer } from "../support/nats-server.js";
import { eventually, startHarness, TEST_TOKEN_ISSUER, type Harness } from "../provisioning/harness.js";
import { call, eventRow, eventsApiEnv, holdEngine, insertEvents, rfc3339Of } from "./support.js";

const env = loadEnvironment("dev");
const tiers = loadTierCatalog();
const PROJECT = "checkout-service";
const RESOURCE = "src/billing.ts";
const NOW = Date.now();
const STORED = new Date(NOW);
const at = (secondsAgo: number) => new Date(NOW - secondsAgo * 1000);
const SECRET = "the secret plan: move invoices to the new ledger";

let server: NatsServer;
let h: Harness;
let dir: string;
let platform: NatsConnection;
let jsm: JetStreamManager;
let engine: EmbeddedClickHouse;
let held: { release: () => Promise<void> } | undefined;
let api: RunningEventsApi;

type Name = "A" | "B";
const tenants = {} as Record<Name, { id: string; user: RealmUser; states: SwarmEventRow[] }>;
let sealed: SwarmEventRow;

/** The sealed rationale of the encrypted decision, as stored. */
const sealedRationale = (): string => {
  const e = fromBinary(SwarmEventSchema, Buffer.from(sealed.raw_proto_base64, "base64"));
  return e.payload.case === "decision" ? e.payload.value.rationale : "";
};
const tenantToken = (name: Name) => h.tenantToken(tenants[name].user, tenants[name].id);

/** A's states of the resource: hash H0..H3, then H1 again (a state it returned to), newest last. */
const HASHES = [0, 1, 2, 3, 1].map((k) => stateHashOf(`billing-v${k}`));

beforeAll(async () => {
  const seeds = generateNatsSeeds([]);
  const keys = publicKeysOf(seeds);
  const signed = await signNatsAuth(natsAuthClaims({ name: env.name, nats: env.nats }, tiers, keys), seeds.operator);
  server = await startDataPlaneServer({ serverName: "nats-events-api-replays", signed, tiers, jetStreamStorageGiB: env.nats.storageGiB });
  dir = mkdtempSync(join(tmpdir(), "events-api-replays-"));
  const platformUser = await mintPlatformUser(seeds.swarmAccount);
  platform = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode(platformUser.creds)) });
  jsm = await jetstreamManager(platform);
  await createTopology(jsm, { nats: env.nats, workers: { tiers, options: { maxDeliver: 3, ackWait: "30s" } } });

  // The provisioning service with its NATS side, as the construct mounts it.
  for (const t of PLAN_TIER_NAMES) writeFileSync(join(dir, `${t}.seed`), seeds.swarmSigningKeys[t], { mode: 0o600 });
  writeFileSync(join(dir, NATS_ACCOUNT_KEY_FILES.tenantAccounts), seeds.tenantAccountSigningKey, { mode: 0o600 });
  writeFileSync(join(dir, NATS_ACCOUNT_KEY_FILES.tenantImports), seeds.tenantImportSigningKey, { mode: 0o600 });
  writeFileSync(join(dir, "system-user.creds"), (await mintSystemUser(seeds.systemAccount)).creds, { mode: 0o600 });
  writeFileSync(join(dir, "provisioning-bus.creds"), (await mintProvisioningBusUser(seeds.swarmAccount)).creds, { mode: 0o600 });
  // No event store for the provisioning service: this process's one ClickHouse engine is the events
  // API's reader here. Its plan rows and deletions (their own outbox lane) wait; nothing below reads them.
  const harnessOptions = {
    keycloak: false,
    eventStore: false as const,
    env: {
      PROVISIONING_NATS_SIGNING_KEYS_DIR: dir,
      PROVISIONING_NATS_ACCOUNT: keys.swarmAccount,
      PROVISIONING_NATS_URL: server.url,
      PROVISIONING_NATS_SYSTEM_CREDS_FILE: join(dir, "system-user.creds"),
      PROVISIONING_NATS_PLATFORM_CREDS_FILE: join(dir, "provisioning-bus.creds"),
    },
  };
  h = await startHarness(harnessOptions);
  for (const name of ["A", "B"] as const) {
    const user = await h.addUser();
    const res = await h.request("POST", "/v1/tenants", { token: await h.token(user), body: { name: `replays ${name}`, slug: `replays-${name.toLowerCase()}-${NOW.toString(36)}` } });
    expect(res.status, res.text).toBe(201);
    tenants[name] = { id: (res.body as { tenant: { id: string } }).tenant.id, user, states: [] };
  }
  for (const name of ["A", "B"] as const) {
    await eventually(async () => {
      const t = (await h.request("GET", `/v1/tenants/${tenants[name].id}`, { token: await tenantToken(name) })).body as { tenant: { bus: string; dataKey: string } };
      return t.tenant.bus === "ready" && t.tenant.dataKey === "ready";
    }, 15_000, `tenant ${name}'s account pushed and data key made`);
  }

  // A encrypts its payloads: its agent gets the key from the API with its own bus credentials, as the SDK does.
  const patched = await h.request("PATCH", `/v1/tenants/${tenants.A.id}`, { token: await tenantToken("A"), body: { payloadEncryption: true } });
  expect(patched.status, patched.text).toBe(200);
  const minted = await h.request("POST", `/v1/tenants/${tenants.A.id}/bus-credentials`, { token: await tenantToken("A"), body: {} });
  expect(minted.status, minted.text).toBe(201);
  const current = await new DataKeyClient(h.svc.url, credentialsFromAnswer({ ...(minted.body as Record<string, unknown>), api: h.svc.url })).current();
  expect(current.encryption).toBe(true);
  const key = current.key as DataKey;

  // Histories: the same resource in both tenants, different states; A's payloads sealed.
  tenants.A.states = HASHES.map((stateHash, k) =>
    eventRow(stateChange({ agentId: `coder-${k % 2}`, resource: RESOURCE, change: k === 0 ? "created" : "modified", stateHash, summary: `billing v${k}`, timestamp: at(600 - k * 60) }), tenants.A.id, { projectId: PROJECT, userId: tenants.A.user.id, key, storedAt: STORED }),
  );
  tenants.B.states = [0, 1].map((k) =>
    eventRow(stateChange({ agentId: "coder-0", resource: RESOURCE, change: "modified", stateHash: stateHashOf(`b-billing-v${k}`), summary: `b ${k}`, timestamp: at(500 - k * 60) }), tenants.B.id, { projectId: PROJECT, userId: tenants.B.user.id, storedAt: STORED }),
  );
  sealed = eventRow(decision({ agentId: "architect-1", agentRole: "architect", confidence: 0.82, action: "rewrite the billing module", rationale: SECRET, alternatives: ["keep the old ledger"], timestamp: at(30) }), tenants.A.id, {
    projectId: PROJECT,
    userId: tenants.A.user.id,
    key,
    storedAt: STORED,
  });

  engine = EmbeddedClickHouse.create({ catalog: tiers });
  await engine.as(ADMIN, async (c) => {
    for (const s of schemaSql({ eventTtlDays: env.clickhouse.eventTtlDays })) await c.command({ query: s });
    await insertEvents(c, [...tenants.A.states, ...tenants.B.states, sealed]);
  });
  const reader = await holdEngine(engine, { kind: "reader", tier: "free" });
  held = reader;
  const config = loadEventsApiConfig(
    eventsApiEnv(dir, { jwksUrl: `${h.svc.url}${JWKS_PATH}`, issuer: TEST_TOKEN_ISSUER, provisioningUrl: h.svc.url, extra: { [EVENTS_API_ENV.dataKeyCacheSeconds]: "0" } }),
  );
  api = await startEventsApi(config, {
    readers: { free: reader.client },
    dataKeys: new StoreDataKeySource({ store: h.svc.store, provider: h.svc.dataKeys, cacheMs: config.dataKeyCacheSeconds * 1000 }),
    host: "127.0.0.1",
    log: pino({ level: "silent" }),
  });
}, KEYCLOAK_WAIT_MS + 90_000);

afterAll(async () => {
  await api?.stop();
  await held?.release();
  await engine?.destroy();
  await h?.stop();
  await platform?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface ReplayAnswer {
  replay: {
    projectId: string;
    resource: string;
    state: { stateHash: string; eventId: string; timestamp: string; agentId: string; userId: string };
    job: { jobId: string; type: string; tenantId: string };
    lane: string;
    tier: string;
    sequence: number;
    duplicate: boolean;
  };
}

/** The job the jobs stream holds at `seq`, its subject and its id header. */
async function storedJob(seq: number): Promise<{ subject: string; msgId: string | undefined; job: JobMessage }> {
  const m = await jsm.streams.getMessage(STREAM_NAMES.jobs, { seq });
  if (!m) throw new Error(`no job at sequence ${seq}`);
  return { subject: m.subject, msgId: m.header?.get(JOB_ID_HEADER), job: m.json<JobMessage>() };
}

describe("replays through the provisioning jobs API", () => {
  it("by hash: the latest change into that state, filed once as a state.revert job in the tenant's own lane, submitted by the caller", async () => {
    const token = await tenantToken("A");
    const target = tenants.A.states[4]!; // H1's latest occurrence (it was also the state at index 1)
    const res = await call<ReplayAnswer>(api.url, "POST", `/v1/projects/${PROJECT}/replays`, { token, body: { resource: RESOURCE, stateHash: HASHES[1] } });
    expect(res.status, res.text).toBe(202);
    const jobId = replayJobId({ tenantId: tenants.A.id, projectId: PROJECT, resource: RESOURCE, eventId: target.event_id });
    expect(res.body.replay).toMatchObject({
      projectId: PROJECT,
      resource: RESOURCE,
      state: { stateHash: HASHES[1], eventId: target.event_id, timestamp: rfc3339Of(target.timestamp), agentId: target.agent_id, userId: tenants.A.user.id },
      job: { jobId, type: REPLAY_JOB_TYPE, tenantId: tenants.A.id },
      lane: jobSubject(tenants.A.id, "free"),
      tier: "free",
      duplicate: false,
    });
    const stored = await storedJob(res.body.replay.sequence);
    expect(stored.subject).toBe(jobSubject(tenants.A.id, "free"));
    expect(stored.msgId).toBe(jobId);
    expect(stored.job).toMatchObject({
      jobId,
      type: REPLAY_JOB_TYPE,
      tenantId: tenants.A.id,
      projectId: PROJECT,
      submittedBy: tenants.A.user.id,
      input: { resource: RESOURCE, stateHash: HASHES[1], eventId: target.event_id, timestamp: rfc3339Of(target.timestamp) },
    });

    // A retry (the same request) is filed once.
    const before = (await jsm.streams.info(STREAM_NAMES.jobs)).state.messages;
    const again = await call<ReplayAnswer>(api.url, "POST", `/v1/projects/${PROJECT}/replays`, { token, body: { resource: RESOURCE, stateHash: HASHES[1] } });
    expect(again.status, again.text).toBe(202);
    expect(again.body.replay).toMatchObject({ duplicate: true, job: { jobId }, sequence: res.body.replay.sequence });
    expect((await jsm.streams.info(STREAM_NAMES.jobs)).state.messages).toBe(before);
  });

  it("by time: the last state at or before the moment", async () => {
    const token = await tenantToken("A");
    const third = tenants.A.states[2]!;
    // Between the third and the fourth change: the third state.
    const between = new Date(Date.parse(rfc3339Of(third.timestamp)) + 30_000).toISOString();
    const res = await call<ReplayAnswer>(api.url, "POST", `/v1/projects/${PROJECT}/replays`, { token, body: { resource: RESOURCE, at: between } });
    expect(res.status, res.text).toBe(202);
    expect(res.body.replay.state).toMatchObject({ eventId: third.event_id, stateHash: HASHES[2] });
    expect((await storedJob(res.body.replay.sequence)).job.input).toMatchObject({ eventId: third.event_id, stateHash: HASHES[2] });
    // Exactly at a change's time: that change.
    const exact = await call<ReplayAnswer>(api.url, "POST", `/v1/projects/${PROJECT}/replays`, { token, body: { resource: RESOURCE, at: rfc3339Of(tenants.A.states[3]!.timestamp) } });
    expect(exact.body.replay.state.eventId).toBe(tenants.A.states[3]!.event_id);
    // Before the first change: nothing to go back to.
    const early = await call<{ error: { field: string; knownHashes: unknown[] } }>(api.url, "POST", `/v1/projects/${PROJECT}/replays`, { token, body: { resource: RESOURCE, at: at(3_600).toISOString() } });
    expect(early.status).toBe(404);
    expect(early.body.error.field).toBe("body.at");
  });

  it("an unknown state, or another tenant's, is 404 with the states the resource does know; the other tenant's own replay lands in its own lane", async () => {
    const res = await call<{ error: { code: string; field: string; message: string; knownHashes: { stateHash: string; lastSeen: string; changes: number }[] } }>(api.url, "POST", `/v1/projects/${PROJECT}/replays`, {
      token: await tenantToken("A"),
      body: { resource: RESOURCE, stateHash: tenants.B.states[0]!.state_hash },
    });
    expect(res.status, res.text).toBe(404);
    expect(res.body.error.code).toBe("not_found");
    expect(res.body.error.field).toBe("body.stateHash");
    // A's distinct states, the most recently entered first: H1 (again, last), H3, H2, H0.
    expect(res.body.error.knownHashes.map((k) => k.stateHash)).toEqual([HASHES[1], HASHES[3], HASHES[2], HASHES[0]]);
    expect(res.body.error.knownHashes[0]).toEqual({ stateHash: HASHES[1], lastSeen: rfc3339Of(tenants.A.states[4]!.timestamp), changes: 2 });

    const own = await call<ReplayAnswer>(api.url, "POST", `/v1/projects/${PROJECT}/replays`, { token: await tenantToken("B"), body: { resource: RESOURCE, stateHash: tenants.B.states[0]!.state_hash } });
    expect(own.status, own.text).toBe(202);
    expect(own.body.replay.lane).toBe(jobSubject(tenants.B.id, "free"));
    const stored = await storedJob(own.body.replay.sequence);
    expect(stored.subject).toBe(jobSubject(tenants.B.id, "free"));
    expect(stored.job).toMatchObject({ tenantId: tenants.B.id, submittedBy: tenants.B.user.id });
  });
});

describe("encrypted payloads", () => {
  it("answers an encrypted event decrypted with the tenant's data key from the provisioning service", async () => {
    const token = await tenantToken("A");
    const res = await call<{ event: Record<string, unknown> }>(api.url, "GET", `/v1/events/${sealed.event_id}`, { token });
    expect(res.status, res.text).toBe(200);
    expect(res.body.event).toMatchObject({
      eventId: sealed.event_id,
      encrypted: true,
      decrypted: true,
      // The column holds no text of an encrypted event.
      rationale: null,
      payload: { kind: "decision", rationale: SECRET, action: "rewrite the billing module", alternatives: ["keep the old ledger"] },
    });
    // The state changes' summaries too; the timeline never carries sealed text.
    const change = await call<{ event: { payload: { summary: string } } }>(api.url, "GET", `/v1/events/${tenants.A.states[0]!.event_id}`, { token });
    expect(change.body.event.payload.summary).toBe("billing v0");
    const timeline = await call<{ events: { eventId: string; rationale: string | null }[] }>(api.url, "GET", `/v1/events?eventType=decision`, { token });
    expect(timeline.body.events).toEqual([expect.objectContaining({ eventId: sealed.event_id, rationale: null })]);
    // Another tenant cannot read it at all.
    expect((await call(api.url, "GET", `/v1/events/${sealed.event_id}`, { token: await tenantToken("B") })).status).toBe(404);
  });

  it("finds the same key through the configured source: the provisioning service's store and key-encryption key, as EVENTS_API_LMDB_PATH and EVENTS_API_LOCAL_KEK_FILE name them", async () => {
    const store = h.config.store;
    if (store.kind !== "lmdb") throw new Error("the harness runs on LMDB");
    const config = loadEventsApiConfig(
      eventsApiEnv(dir, { jwksUrl: `${h.svc.url}${JWKS_PATH}`, issuer: TEST_TOKEN_ISSUER, provisioningUrl: h.svc.url, extra: { [EVENTS_API_ENV.lmdbPath]: store.path, [EVENTS_API_ENV.localKekFile]: join(h.config.lmdbPath, "dev-kek") } }),
    );
    const opened = await openDataKeySource(config.dataKeys, config.dataKeyCacheSeconds);
    if (!opened) throw new Error("data-key access is configured");
    try {
      expect(await opened.ping()).toBe(true);
      const keyId = sealedKeyId(sealedRationale())!;
      expect(keyId).toMatch(/^dk-[0-9a-f]+$/);
      const key = await opened.source.key(tenants.A.id, keyId);
      expect(key?.length).toBe(32);
      expect(key?.equals((await new StoreDataKeySource({ store: h.svc.store, provider: h.svc.dataKeys, cacheMs: 0 }).key(tenants.A.id, keyId))!)).toBe(true);
      // Another tenant's id, or another key id, finds nothing.
      expect(await opened.source.key(tenants.B.id, keyId)).toBeUndefined();
      expect(await opened.source.key(tenants.A.id, "dk-0000000000000000")).toBeUndefined();
    } finally {
      await opened.close();
    }
  });

  it("after offboarding: the key is destroyed, the event answers payload null with the reason, and the jobs API refuses replays", async () => {
    // A token issued before the offboarding (valid for its few minutes).
    const token = await tenantToken("A");
    const off = await h.request("DELETE", `/v1/tenants/${tenants.A.id}`, { token });
    expect(off.status, off.text).toBe(202);
    await eventually(async () => (await h.svc.plane.tenant(tenants.A.id))?.dataKey === "destroyed", 10_000, "A's data key destroyed");

    const res = await call<{ event: Record<string, unknown> }>(api.url, "GET", `/v1/events/${sealed.event_id}`, { token });
    expect(res.status, res.text).toBe(200);
    expect(res.body.event).toMatchObject({ eventId: sealed.event_id, encrypted: true, decrypted: false, payload: null, reason: "key_destroyed" });
    expect(String(res.body.event.detail)).toContain("destroyed when the tenant was offboarded");
    const metrics = (await call<string>(api.url, "GET", "/metrics")).text;
    expect(metrics).toMatch(/^events_api_payload_decryptions_total\{outcome="key_destroyed"\} [1-9]\d*$/m);

    // The provisioning service checks the tenant and membership now: the replay is refused, and passed on as its answer.
    const replay = await call<{ error: { code: string; message: string } }>(api.url, "POST", `/v1/projects/${PROJECT}/replays`, { token, body: { resource: RESOURCE, stateHash: HASHES[0] } });
    expect(replay.status, replay.text).toBe(404);
    expect(replay.body.error.message).toContain("the jobs service refused the replay");
  });
});

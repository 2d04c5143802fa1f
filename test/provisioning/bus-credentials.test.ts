/**
 * The bus as a hostile tenant meets it: credentials exactly as this service hands them out, used
 * against a real nats-server running the chart-shaped data-plane configuration (operator mode,
 * full resolver, the generated claims and streams, the ingestor's and the worker pools'
 * consumers). The service pushes each tenant's account JWT itself (PROVISIONING_NATS_URL).
 *
 * Issue 14's attacks, each of which must fail:
 * 1. purge every tenant's stream through the reply subject of a publish;
 * 2. inject into another tenant through reply subjects (acks into its inbox or subjects, pulls);
 * 3. exceed the tier on the bus (connections, subscriptions, payload, storage/flooding);
 * 4. keep bus access after offboarding, or get it back through a later bootstrap push.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import { connect, credsAuthenticator, headers, PermissionViolationError, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { KEYCLOAK_WAIT_MS, type RealmUser } from "../support/keycloak.js";
import { loadEnvironment, loadTierCatalog } from "../../config/index.js";
import { PLAN_TIER_NAMES } from "../../config/tiers.js";
import { pushAccountJwts } from "../../services/nats-auth/bootstrap.js";
import { natsAuthClaims } from "../../services/nats-auth/claims.js";
import { INGESTOR_DEFAULTS } from "../../services/ingestor/contract.js";
import { AUTH_INCLUDE_FILE, renderAuthInclude } from "../../services/nats-auth/server-config.js";
import { generateNatsSeeds, mintPlatformUser, mintSystemUser, publicKeysOf, signNatsAuth, type NatsSeeds, type SignedNatsAuth } from "../../services/nats-auth/sign.js";
import { eventSubject, jobSubject, STREAM_NAMES, storedEventSubject, tenantBacklogMessages } from "../../services/nats-auth/streams.js";
import { createTopology } from "../../services/nats-auth/topology.js";
import { NATS_ACCOUNT_KEY_FILES } from "../../services/provisioning/contract.js";
import { collectErrors, DATA_PLANE_AUTH_FILE, RawNatsConnection, startDataPlaneServer, until, type NatsServer } from "../support/nats-server.js";
import { eventually, startHarness, type Harness } from "./harness.js";

const env = loadEnvironment("dev");
const tiers = loadTierCatalog();
const free = tiers.free.bus;
const INGESTOR = INGESTOR_DEFAULTS.consumer;

let server: NatsServer;
let seeds: NatsSeeds;
let signedAtStart: SignedNatsAuth;
let h: Harness;
let keyDir: string;
let platform: NatsConnection;
let jsm: JetStreamManager;
const open: NatsConnection[] = [];

interface Minted {
  tenantId: string;
  jwt: string;
  seed: string;
  creds: string;
  inboxPrefix: string;
  publicKey: string;
  account: string;
  expiresAt: number;
}

type Name = "A" | "B" | "C";
const tenants = {} as Record<Name, { id: string; token: string; account: string; user: RealmUser }>;

async function connectWith(m: Minted, name: string): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url, name, authenticator: credsAuthenticator(new TextEncoder().encode(m.creds)), inboxPrefix: m.inboxPrefix, reconnect: false });
  open.push(nc);
  return nc;
}

async function mint(name: Name): Promise<Minted> {
  const res = await h.request("POST", `/v1/tenants/${tenants[name].id}/bus-credentials`, { token: tenants[name].token, body: {} });
  expect(res.status).toBe(201);
  expect(res.headers.get("cache-control")).toBe("no-store");
  return res.body as Minted;
}

/** How many messages the stream holds under a tenant's one stored subject. */
async function held(stream: string, subject: string): Promise<number> {
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

beforeAll(async () => {
  seeds = generateNatsSeeds([]);
  const keys = publicKeysOf(seeds);
  signedAtStart = await signNatsAuth(natsAuthClaims({ name: env.name, nats: env.nats }, tiers, keys), seeds.operator);
  server = await startDataPlaneServer({ serverName: "nats-provisioning-test", signed: signedAtStart, tiers, jetStreamStorageGiB: env.nats.storageGiB });
  platform = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode((await mintPlatformUser(seeds.swarmAccount)).creds)) });
  jsm = await jetstreamManager(platform);
  // The topology NACK creates: the streams, the ingestor's consumer (not consuming here) and the worker pools'.
  await createTopology(jsm, { nats: env.nats, workers: { tiers } });

  // The service's NATS side, as the construct mounts it: tier keys, the account-side keys, the system user.
  keyDir = mkdtempSync(join(tmpdir(), "provisioning-signing-keys-"));
  for (const t of PLAN_TIER_NAMES) writeFileSync(join(keyDir, `${t}.seed`), seeds.swarmSigningKeys[t], { mode: 0o600 });
  writeFileSync(join(keyDir, NATS_ACCOUNT_KEY_FILES.tenantAccounts), seeds.tenantAccountSigningKey, { mode: 0o600 });
  writeFileSync(join(keyDir, NATS_ACCOUNT_KEY_FILES.tenantImports), seeds.tenantImportSigningKey, { mode: 0o600 });
  writeFileSync(join(keyDir, "system-user.creds"), (await mintSystemUser(seeds.systemAccount)).creds, { mode: 0o600 });
  h = await startHarness({
    keycloak: false,
    env: {
      PROVISIONING_NATS_SIGNING_KEYS_DIR: keyDir,
      PROVISIONING_NATS_ACCOUNT: keys.swarmAccount,
      PROVISIONING_NATS_URL: server.url,
      PROVISIONING_NATS_SYSTEM_CREDS_FILE: join(keyDir, "system-user.creds"),
      PROVISIONING_CREDENTIALS_TTL_SECONDS: "600",
    },
  });
  for (const [name, slug] of [["A", "tenant-a-co"], ["B", "tenant-b-co"], ["C", "tenant-c-co"]] as const) {
    const user = await h.addUser();
    const res = await h.request("POST", "/v1/tenants", { token: await h.token(user), body: { name, slug } });
    expect(res.status).toBe(201);
    const tenant = (res.body as { tenant: { id: string; busAccount: string } }).tenant;
    tenants[name] = { id: tenant.id, token: await h.tenantToken(user, tenant.id), account: tenant.busAccount, user };
  }
  // The outbox pushes each tenant's account JWT to the resolver by itself.
  for (const name of ["A", "B", "C"] as const) {
    await eventually(async () => ((await h.request("GET", `/v1/tenants/${tenants[name].id}`, { token: tenants[name].token })).body as { tenant: { bus: string } }).tenant.bus === "ready", 15_000, `tenant ${name}'s account pushed`);
  }
}, KEYCLOAK_WAIT_MS);

// Each test starts with fresh tenant tokens (they live minutes).
beforeEach(async () => {
  for (const t of Object.values(tenants)) t.token = await h.tenantToken(t.user, t.id);
});

afterAll(async () => {
  await Promise.allSettled(open.map((nc) => nc.close()));
  await platform?.close();
  await h?.stop();
  await server?.stop();
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
});

describe("bus credentials from the API, on a real nats-server with the data-plane configuration", () => {
  let a: Minted;
  let b: Minted;
  let ncA: NatsConnection;
  let ncB: NatsConnection;
  let A: string;
  let B: string;

  beforeAll(async () => {
    a = await mint("A");
    b = await mint("B");
    A = tenants.A.id;
    B = tenants.B.id;
    expect(a.account).toBe(tenants.A.account);
    expect(a.account).not.toBe(b.account);
    expect(a.expiresAt - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(600);
    ncA = await connectWith(a, "tenant-a");
    ncB = await connectWith(b, "tenant-b");
  });

  it("stores a tenant's events and jobs in the shared streams under its own subject, with a publish acknowledgement", async () => {
    const ack = await jetstream(ncA).publish(eventSubject(A, "p1"), "decision-1", { msgID: "evt-1" });
    expect(ack.stream).toBe(STREAM_NAMES.events);
    expect((await jetstream(ncA).publish(eventSubject(A, "p1"), "decision-1", { msgID: "evt-1" })).duplicate).toBe(true);
    expect((await jetstream(ncA).publish(jobSubject(A, "free"), "job-1")).stream).toBe(STREAM_NAMES.jobs);
    expect(await held(STREAM_NAMES.events, storedEventSubject(A))).toBe(1);
    expect(await held(STREAM_NAMES.jobs, jobSubject(A, "free"))).toBe(1);
    // Another tier's lane is neither permitted nor imported: nothing arrives there.
    const errors = collectErrors(ncA);
    ncA.publish(jobSubject(A, "pro"), "jump the queue");
    await ncA.flush();
    await until(() => errors.length > 0);
    expect(errors.filter((e) => e instanceof PermissionViolationError).map((e) => (e as PermissionViolationError).subject)).toEqual([jobSubject(A, "pro")]);
    expect(await held(STREAM_NAMES.jobs, jobSubject(A, "pro"))).toBe(0);
  });

  it("answers a request between two connections of the same tenant", async () => {
    const responder = await connectWith(await mint("A"), "tenant-a-responder");
    responder.subscribe(`swarm.${A}.agents.planner`, {
      callback: (_e, m) => {
        m.respond(`pong:${m.string()}`);
      },
    });
    await responder.flush();
    const reply = await ncA.request(`swarm.${A}.agents.planner`, "ping", { timeout: 5_000 });
    expect(reply.string()).toBe("pong:ping");
  });

  it("attack 1: a publish whose reply subject is the platform's purge (or delete) API purges and deletes nothing", async () => {
    for (let i = 0; i < 10; i++) await jetstream(ncB).publish(eventSubject(B, "p1"), `b-${i}`);
    await jetstream(ncB).publish(jobSubject(B, "free"), "b-job");
    const before = { events: await held(STREAM_NAMES.events, storedEventSubject(B)), jobs: await held(STREAM_NAMES.jobs, jobSubject(B, "free")), a: await held(STREAM_NAMES.events, storedEventSubject(A)) };
    expect(before).toMatchObject({ events: 10, jobs: 1 });

    // The ack of each publish goes to the reply subject; in the old design the server then ran it
    // as the pooled account's API call. Now the reply is rewritten into the platform account
    // (`_R_.…`) and answered back inside A's own account, which has no JetStream.
    const apiCalls = [
      `$JS.API.STREAM.PURGE.${STREAM_NAMES.events}`,
      `$JS.API.STREAM.PURGE.${STREAM_NAMES.jobs}`,
      `$JS.API.STREAM.DELETE.${STREAM_NAMES.events}`,
      `$JS.API.STREAM.DELETE.${STREAM_NAMES.jobs}`,
      `$JS.API.CONSUMER.DELETE.${STREAM_NAMES.events}.${INGESTOR}`,
      `$JS.API.STREAM.MSG.DELETE.${STREAM_NAMES.events}`,
    ];
    for (const reply of apiCalls) {
      ncA.publish(eventSubject(A, "p1"), JSON.stringify({ seq: 1 }), { reply });
      ncA.publish(jobSubject(A, "free"), JSON.stringify({ seq: 1 }), { reply });
    }
    await ncA.flush();
    // The same calls made directly: A's account has no JetStream API of the platform's to reach.
    const direct = await Promise.all(apiCalls.map((s) => ncA.request(s, "{}", { timeout: 2_000 }).then((m) => `answered: ${m.string()}`, (e: Error) => e.cause instanceof PermissionViolationError ? "denied" : e.message)));
    expect(direct).toEqual(apiCalls.map(() => "denied"));
    // A's publishes were stored (each is an event like any other); B's are all there.
    await eventually(async () => (await held(STREAM_NAMES.events, storedEventSubject(A))) === before.a + apiCalls.length, 5_000, "A's publishes stored");
    expect(await held(STREAM_NAMES.events, storedEventSubject(B))).toBe(before.events);
    expect(await held(STREAM_NAMES.jobs, jobSubject(B, "free"))).toBe(before.jobs);
    expect(await held(STREAM_NAMES.events, storedEventSubject(A))).toBe(before.a + apiCalls.length);
    expect((await jsm.consumers.info(STREAM_NAMES.events, INGESTOR)).config.durable_name).toBe(INGESTOR);
    // And the streams refuse a message delete even from the platform account. A purge the stream
    // allows (offboarding's subject-filtered purge): only the provisioning user's and NACK's
    // permissions can send one, and the attack's purge above purged nothing.
    expect((await jsm.streams.info(STREAM_NAMES.events)).config).toMatchObject({ deny_purge: false, deny_delete: true });
    await expect(jsm.streams.deleteMessage(STREAM_NAMES.events, 1)).rejects.toThrow(/delete/i);
    expect(await held(STREAM_NAMES.events, storedEventSubject(B))).toBe(before.events);
  });

  it("attack 2: A's acknowledgements, messages and pulls never reach B through a reply subject or B's subjects", async () => {
    const received: string[] = [];
    for (const subject of [`${b.inboxPrefix}.>`, `swarm.${B}.>`]) ncB.subscribe(subject, {
      callback: (_e, m) => {
        received.push(`${m.subject}: ${m.string()}`);
      },
    });
    await ncB.flush();
    const bStored = await held(STREAM_NAMES.events, storedEventSubject(B));
    const aStored = await held(STREAM_NAMES.events, storedEventSubject(A));
    const ingestorBefore = await jsm.consumers.info(STREAM_NAMES.events, INGESTOR);

    // Publish acknowledgements aimed at B's inbox and at B's subjects.
    for (const reply of [`${b.inboxPrefix}.stolen`, `swarm.${B}.p1.events`, `swarm.${B}.jobs.free`]) ncA.publish(eventSubject(A, "p1"), "a-event", { reply });
    // A request whose answer would go to B's inbox.
    ncA.publish(`swarm.${A}.agents.planner`, "ping", { reply: `${b.inboxPrefix}.x` });
    // Forged events on B's subjects, with and without a reply.
    const errors = collectErrors(ncA);
    ncA.publish(eventSubject(B, "p1"), "forged");
    ncA.publish(eventSubject(B, "p1"), "forged", { reply: `${a.inboxPrefix}.x` });
    // A pull of the ingestor's consumer (every tenant's events) answered to B's inbox.
    ncA.publish(`$JS.API.CONSUMER.MSG.NEXT.${STREAM_NAMES.events}.${INGESTOR}`, JSON.stringify({ batch: 10 }), { reply: `${b.inboxPrefix}.pull` });
    const h2 = headers();
    h2.set("Nats-Msg-Id", "forged-id");
    ncA.publish(jobSubject(B, "free"), "forged-job", { headers: h2 });
    await ncA.flush();
    await until(() => errors.length >= 4);
    expect(errors.filter((e) => e instanceof PermissionViolationError).map((e) => (e as PermissionViolationError).subject).sort()).toEqual(
      [eventSubject(B, "p1"), eventSubject(B, "p1"), `$JS.API.CONSUMER.MSG.NEXT.${STREAM_NAMES.events}.${INGESTOR}`, jobSubject(B, "free")].sort(),
    );

    // B keeps working and gets only its own traffic.
    ncB.publish(`swarm.${B}.agents.own`, "b-own");
    await ncB.flush();
    await until(() => received.length >= 1);
    await eventually(async () => (await held(STREAM_NAMES.events, storedEventSubject(A))) === aStored + 3, 5_000, "A's publishes stored");
    await ncB.flush();
    expect(received).toEqual([`swarm.${B}.agents.own: b-own`]);
    expect(await held(STREAM_NAMES.events, storedEventSubject(B))).toBe(bStored);
    expect(await held(STREAM_NAMES.jobs, jobSubject(B, "free"))).toBe(1);
    expect(await held(STREAM_NAMES.events, storedEventSubject(A))).toBe(aStored + 3);
    const ingestorAfter = await jsm.consumers.info(STREAM_NAMES.events, INGESTOR);
    expect(ingestorAfter.delivered.consumer_seq).toBe(ingestorBefore.delivered.consumer_seq);
  });

  it("attack 3: the server holds a free tenant to its tier's connections, subscriptions and payload, whatever the client does", async () => {
    const c = await mint("C");
    const conns: NatsConnection[] = [];
    for (let i = 0; i < free.connections; i++) conns.push(await connectWith(c, `c-${i}`));
    // A raw client, which waits for the server's answer (nats.js may see the closed socket first).
    await expect(RawNatsConnection.connect(server.layout.port, c.jwt, c.seed)).rejects.toThrow(/maximum account active connections exceeded/i);
    await Promise.all(conns.splice(1).map((nc) => nc.close()));

    const nc = conns[0] as NatsConnection;
    const errors = collectErrors(nc);
    for (let i = 0; i <= free.subscriptions; i++) nc.subscribe(`swarm.${tenants.C.id}.s${i}`);
    await nc.flush();
    await until(() => errors.length > 0);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/maximum subscriptions exceeded/i)]);
    await nc.close();

    expect((await connectWith(c, "c-payload")).info?.max_payload).toBe(free.maxPayloadBytes);
    const raw = await RawNatsConnection.connect(server.layout.port, c.jwt, c.seed);
    try {
      expect(await raw.publish(eventSubject(tenants.C.id, "p1"), free.maxPayloadBytes)).toContain("PONG");
      expect(await raw.publish(eventSubject(tenants.C.id, "p1"), free.maxPayloadBytes + 1)).toContain("-ERR 'Maximum Payload Violation'");
    } finally {
      raw.close();
    }
  });

  it("attack 3: a flooding tenant holds at most its bound, cannot evict, refuse or queue more than the bound ahead of another tenant's event", async () => {
    const bound = tenantBacklogMessages(tiers);
    const C = tenants.C.id;
    const nc = await connectWith(await mint("C"), "c-flood");
    const js = jetstream(nc);
    const bBefore = await held(STREAM_NAMES.events, storedEventSubject(B));
    const already = await held(STREAM_NAMES.events, storedEventSubject(C));
    // C floods: far more than its bound, as fast as the acks come back.
    const attempts = bound + 500 - already;
    let accepted = 0;
    const refusals = new Set<string>();
    const WINDOW = 256;
    for (let i = 0; i < attempts; i += WINDOW) {
      const results = await Promise.allSettled(Array.from({ length: Math.min(WINDOW, attempts - i) }, (_, k) => js.publish(eventSubject(C, `p${(i + k) % 50}`), `c-${i + k}`)));
      for (const r of results) {
        if (r.status === "fulfilled") accepted++;
        else refusals.add((r.reason as Error).message);
      }
    }
    // The bound holds whatever project ids C uses: one stored subject per tenant.
    expect(accepted).toBe(bound - already);
    expect([...refusals]).toEqual([expect.stringMatching(/maximum messages per subject exceeded/i)]);
    expect(await held(STREAM_NAMES.events, storedEventSubject(C))).toBe(bound);
    // B is neither evicted nor refused while C sits at its bound.
    const ack = await jetstream(ncB).publish(eventSubject(B, "p1"), "b-after-flood");
    expect(await held(STREAM_NAMES.events, storedEventSubject(B))).toBe(bBefore + 1);

    // Delivery order: the ingestor's consumer reaches B's event after at most `bound` of C's.
    const js0 = jetstream(platform);
    const consumer = await js0.consumers.get(STREAM_NAMES.events, INGESTOR);
    let cBeforeB = 0;
    let seenB = false;
    const acked: JsMsg[] = [];
    for (let round = 0; !seenB && round < 50; round++) {
      const batch = await consumer.fetch({ max_messages: 1_000, expires: 2_000 });
      for await (const m of batch) {
        acked.push(m);
        if (m.seq === ack.seq) seenB = true;
        else if (!seenB && m.subject === storedEventSubject(C)) cBeforeB++;
      }
    }
    expect(seenB).toBe(true);
    expect(cBeforeB).toBeLessThanOrEqual(bound);
    // The ingestor's ack frees C's room: C may publish again.
    await Promise.all(acked.map((m) => m.ackAck()));
    expect(await held(STREAM_NAMES.events, storedEventSubject(C))).toBeLessThan(bound);
    expect((await js.publish(eventSubject(C, "p1"), "c-after-drain")).stream).toBe(STREAM_NAMES.events);

    // The same bound per tenant in the job queue.
    let jobs = 0;
    for (let i = 0; i < bound + 10; i += WINDOW) {
      const results = await Promise.allSettled(Array.from({ length: Math.min(WINDOW, bound + 10 - i) }, () => js.publish(jobSubject(C, "free"), "job")));
      jobs += results.filter((r) => r.status === "fulfilled").length;
    }
    expect(jobs).toBe(bound);
    expect((await jetstream(ncB).publish(jobSubject(B, "free"), "b-job-after-flood")).stream).toBe(STREAM_NAMES.jobs);
  });

  it("revoking one credential closes its connections and refuses it, and leaves the tenant's other credentials working", async () => {
    const keep = await mint("B");
    const drop = await mint("B");
    const ncKeep = await connectWith(keep, "b-keep");
    const ncDrop = await connectWith(drop, "b-drop");
    // Only the credential's minter or a tenant admin may revoke it; another tenant learns nothing.
    expect((await h.request("DELETE", `/v1/tenants/${B}/bus-credentials/${drop.publicKey}`, { token: tenants.C.token })).status).toBe(404);
    const res = await h.request("DELETE", `/v1/tenants/${B}/bus-credentials/${drop.publicKey}`, { token: tenants.B.token });
    expect(res.status).toBe(202);
    await until(() => ncDrop.isClosed(), 15_000);
    expect(ncDrop.isClosed()).toBe(true);
    await expect(connectWith(drop, "b-drop-again")).rejects.toThrow(/authorization violation/i);
    // Revoking again is answered as the first time (idempotent); an unknown key is not found.
    expect((await h.request("DELETE", `/v1/tenants/${B}/bus-credentials/${drop.publicKey}`, { token: tenants.B.token })).status).toBe(202);
    expect((await h.request("DELETE", `/v1/tenants/${B}/bus-credentials/U${"A".repeat(55)}`, { token: tenants.B.token })).status).toBe(404);
    expect(ncKeep.isClosed()).toBe(false);
    expect((await jetstream(ncKeep).publish(eventSubject(B, "p1"), "still-here")).stream).toBe(STREAM_NAMES.events);
  });

  it("attack 4: offboarding closes the tenant's open connections and refuses its credentials, and no bootstrap push undoes it", async () => {
    const publishing = await connectWith(await mint("A"), "tenant-a-publishing");
    const off = await h.request("DELETE", `/v1/tenants/${A}`, { token: tenants.A.token });
    expect(off.status).toBe(202);
    // No manual step: the outbox pushes A's offboarded account JWT and the servers apply it.
    await until(() => ncA.isClosed() && publishing.isClosed(), 15_000);
    expect([ncA.isClosed(), publishing.isClosed()]).toEqual([true, true]);
    await expect(connectWith(a, "tenant-a-again")).rejects.toThrow(/authorization violation/i);
    expect((await h.request("POST", `/v1/tenants/${A}/bus-credentials`, { token: tenants.A.token, body: {} })).status).toBe(404);

    // An operator re-runs the bootstrap (a changed platform limit re-signs the platform account),
    // pushes everything it signs and reloads the servers' config.
    await new Promise((r) => setTimeout(r, 1_100)); // newer iat (seconds) than the JWTs pushed at start
    const nats = { ...env.nats, account: { ...env.nats.account, maxConnections: env.nats.account.maxConnections + 1 } };
    const resigned = await signNatsAuth(natsAuthClaims({ name: env.name, nats }, tiers, publicKeysOf(seeds)), seeds.operator, signedAtStart);
    const system = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode((await mintSystemUser(seeds.systemAccount)).creds)), reconnect: false });
    open.push(system);
    expect(Object.keys(await pushAccountJwts(system, resigned))).not.toContain(tenants.A.account);
    writeFileSync(join(server.layout.root, DATA_PLANE_AUTH_FILE), renderAuthInclude(resigned));
    server.reload();
    await until(() => /Reloaded server configuration|Failed to reload/.test(server.log()));
    expect(server.log()).not.toMatch(/Failed to reload/);
    await expect(connectWith(a, "tenant-a-after-bootstrap")).rejects.toThrow(/authorization violation/i);
    // B is unaffected throughout.
    const ncB2 = await connectWith(await mint("B"), "tenant-b-2");
    expect((await jetstream(ncB2).publish(eventSubject(B, "p1"), "b-still-here")).stream).toBe(STREAM_NAMES.events);
    expect(AUTH_INCLUDE_FILE).toBe("auth.conf");
  });
});

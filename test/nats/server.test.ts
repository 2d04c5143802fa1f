/**
 * The bus's tenant isolation and limits, proven against a real nats-server (the chart's version)
 * running the configuration, claims and credentials this repository generates: the same claims
 * functions, signing code and server-config rendering that `nats:bootstrap` and the chart use,
 * tenant accounts made as the provisioning service makes them (test/provisioning/bus-credentials
 * does the same through the service's API), with throwaway keys.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeUser, fmtCreds } from "@nats-io/jwt";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { createUser, fromSeed } from "@nats-io/nkeys";
import { connect, credsAuthenticator, PermissionViolationError, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidTenantIdError, loadEnvironment, loadTierCatalog, type PlanTierName, type TierCatalog } from "../../config/index.js";
import { natsAuthClaims, tenantInboxPrefix } from "../../services/nats-auth/claims.js";
import { mintTenantCredentials, type TenantCredentials } from "../../services/nats-auth/mint.js";
import { INGESTOR_DEFAULTS } from "../../services/ingestor/contract.js";
import { AUTH_INCLUDE_FILE, renderAuthInclude } from "../../services/nats-auth/server-config.js";
import { pushAccountJwts } from "../../services/nats-auth/bootstrap.js";
import { generateNatsSeeds, mintPlatformUser, mintSystemUser, publicKeysOf, signNatsAuth, type NatsSeeds, type SignedNatsAuth } from "../../services/nats-auth/sign.js";
import { workerConsumerName } from "../../services/nats-auth/jetstream-names.js";
import { eventSubject, jobLane, jobSubject, STREAM_NAMES, storedEventSubject, swarmStreamConfigs } from "../../services/nats-auth/streams.js";
import { createTopology } from "../../services/nats-auth/topology.js";
import { collectErrors, DATA_PLANE_AUTH_FILE, provisionTenant, RawNatsConnection, startDataPlaneServer, until, type NatsServer, type TestTenant } from "../support/nats-server.js";

const A = "tenant-a";
const B = "tenant-b";
const SILO = "acme-corp";
const DENIAL_SAMPLES = 1_000;

const env = loadEnvironment("dev");
const nats = { ...env.nats, siloTenants: [SILO] };
const tiers = loadTierCatalog();

/** The chart's layout: nats.conf in one directory, the auth include in a sibling one. */
const AUTH_FILE = DATA_PLANE_AUTH_FILE;

let server: NatsServer;
let signedAtStart: SignedNatsAuth;
let seeds: NatsSeeds;
const open: NatsConnection[] = [];

async function connectAs(creds: string | TenantCredentials, name: string): Promise<NatsConnection> {
  const text = typeof creds === "string" ? creds : creds.creds;
  const nc = await connect({
    servers: server.url,
    name,
    authenticator: credsAuthenticator(new TextEncoder().encode(text)),
    ...(typeof creds === "string" ? {} : { inboxPrefix: creds.inboxPrefix }),
    reconnect: false,
  });
  open.push(nc);
  return nc;
}

let system: NatsConnection;
const accounts = new Map<string, TestTenant>();

/** A user of the tenant's own account (made and pushed on first use, as provisioning does). */
async function mintTenant(tenantId: string, tier: "free" | "pro" | "enterprise" = "free"): Promise<TenantCredentials> {
  let t = accounts.get(tenantId);
  if (!t) {
    t = await provisionTenant(system, seeds, tenantId, tier, tiers);
    accounts.set(tenantId, t);
  }
  return t.mint();
}

const token = () => randomBytes(6).toString("hex");
const permissionErrors = (errors: Error[], operation: "publish" | "subscription") =>
  errors.filter((e): e is PermissionViolationError => e instanceof PermissionViolationError && e.operation === operation).map((e) => e.subject);

let platform: NatsConnection;
let jsm: JetStreamManager;
let credsA: TenantCredentials;
let credsB: TenantCredentials;
let ncA: NatsConnection;
let ncB: NatsConnection;

beforeAll(async () => {
  seeds = generateNatsSeeds(nats.siloTenants);
  signedAtStart = await signNatsAuth(natsAuthClaims({ name: env.name, nats }, tiers, publicKeysOf(seeds)), seeds.operator);
  server = await startDataPlaneServer({ serverName: "nats-test-0", signed: signedAtStart, tiers, jetStreamStorageGiB: nats.storageGiB });
  platform = await connectAs((await mintPlatformUser(seeds.swarmAccount)).creds, "platform");
  system = await connectAs((await mintSystemUser(seeds.systemAccount)).creds, "operator-push");
  jsm = await jetstreamManager(platform);
  // The whole topology as NACK creates it in the cluster: the streams, the ingestor's and the worker pools' consumers.
  await createTopology(jsm, { nats, workers: { tiers } });
  credsA = await mintTenant(A);
  credsB = await mintTenant(B);
  ncA = await connectAs(credsA, A);
  ncB = await connectAs(credsB, B);
});

afterAll(async () => {
  await Promise.allSettled(open.map((nc) => nc.close()));
  await server?.stop();
});

describe("nats-server with the generated operator-mode configuration", () => {
  it("starts on the rendered config and holds both streams exactly as streams.ts declares them", async () => {
    expect(AUTH_FILE).toBe(`nats-config/../nats-auth/${AUTH_INCLUDE_FILE}`);
    const declared = swarmStreamConfigs(nats, tiers);
    for (const key of ["events", "jobs"] as const) {
      const { config } = await jsm.streams.info(STREAM_NAMES[key]);
      const want = declared[key];
      expect(config).toMatchObject({
        name: want.name,
        subjects: want.subjects,
        retention: want.retention,
        storage: want.storage,
        num_replicas: nats.streams[key].replicas,
        max_bytes: nats.streams[key].maxBytesGiB * 1024 ** 3,
        max_age: nats.streams[key].maxAgeHours * 3_600 * 1e9,
        duplicate_window: nats.streams[key].duplicateWindowSeconds * 1e9,
        discard: want.discard,
        discard_new_per_subject: true,
        max_msgs_per_subject: want.max_msgs_per_subject,
        deny_purge: false,
        deny_delete: true,
      });
    }
    expect((await jsm.streams.info(STREAM_NAMES.events)).config.subject_transform).toEqual(declared.events.subject_transform);
  });

  it("puts a tenant's jobs in its tier's lane only, where that tier's worker consumer finds them", async () => {
    // A is free, B is pro (minted by their tiers' signing keys); each tier's pool owns one consumer.
    const pro = await mintTenant("tenant-pro", "pro");
    const ncPro = await connectAs(pro, "tenant-pro");
    const errors = collectErrors(ncA);
    // The tiers' worker consumers are the declared ones (createTopology in beforeAll), each on its lane.
    for (const tier of ["free", "pro"] as const) expect((await jsm.consumers.info(STREAM_NAMES.jobs, workerConsumerName(tier))).config.filter_subject).toBe(jobLane(tier));
    ncA.publish(jobSubject(A, "free"), "a-job");
    ncA.publish(jobSubject(A, "enterprise"), "a-jumps-the-queue");
    ncA.publish(jobSubject(A, "pro"), "a-jumps-the-queue");
    ncPro.publish(jobSubject("tenant-pro", "pro"), "pro-job");
    await Promise.all([ncA.flush(), ncPro.flush()]);
    await until(() => errors.length >= 2);
    expect(permissionErrors(errors, "publish").sort()).toEqual([jobSubject(A, "enterprise"), jobSubject(A, "pro")].sort());
    const js = jetstream(platform);
    const take = async (tier: PlanTierName) => {
      const c = await js.consumers.get(STREAM_NAMES.jobs, workerConsumerName(tier));
      const pending = (await c.info()).num_pending;
      const batch = await c.fetch({ max_messages: pending, expires: 1_000 });
      const got: string[] = [];
      for await (const m of batch) {
        got.push(m.string());
        m.ack();
      }
      return got;
    };
    expect(await take("free")).toEqual(["a-job"]);
    expect(await take("pro")).toEqual(["pro-job"]);
  });

  it("stores a tenant's events under its one subject, from any project, and lets it create no consumer", async () => {
    const seen: string[] = [];
    const sub = ncA.subscribe(`swarm.${A}.>`, {
      callback: (_e, m) => {
        seen.push(m.subject);
      },
    });
    const subject = eventSubject(A, "p1");
    const ack = await jetstream(ncA).publish(subject, "decision-1", { msgID: "evt-1" });
    expect(ack.stream).toBe(STREAM_NAMES.events);
    const dup = await jetstream(ncA).publish(subject, "decision-1", { msgID: "evt-1" });
    expect(dup.duplicate).toBe(true);
    await jetstream(ncA).publish(eventSubject(A, "p2"), "decision-2");

    // Tenants read through the events API: no consumer of their own on the shared stream.
    const reply = await ncA.request(`$JS.API.CONSUMER.CREATE.${STREAM_NAMES.events}.${A}.swarm.${A}.*.events`, JSON.stringify({ stream_name: STREAM_NAMES.events, config: { name: A, ack_policy: "explicit" } }), { timeout: 2_000 }).then(
      () => "answered",
      (e: Error) => (e.cause instanceof PermissionViolationError ? "denied" : e.message),
    );
    expect(reply).toBe("denied");

    // Core subscribers in the tenant's account see every publish; the stream keeps them under one subject.
    await until(() => seen.length >= 3);
    expect(seen).toEqual([subject, subject, eventSubject(A, "p2")]);
    const info = await jsm.streams.info(STREAM_NAMES.events, { subjects_filter: `swarm.${A}.>` });
    expect(info.state.subjects).toEqual({ [storedEventSubject(A)]: 2 });
    sub.unsubscribe();
  });

  it(`denies a tenant ${DENIAL_SAMPLES} random publish and subscribe subjects of another tenant, and that tenant receives nothing`, async () => {
    const received: string[] = [];
    const record = (label: string) => (err: Error | null, m: { subject: string }) => {
      if (!err) received.push(`${label}${m.subject}`);
    };
    ncB.subscribe(`swarm.${B}.>`, { callback: record("") });
    ncB.subscribe(`_INBOX.${B}.>`, { callback: record("") });
    await ncB.flush();

    const nc = await connectAs(credsA, `${A}-probe`);
    const errors = collectErrors(nc);
    const shapes = [(t: string) => `swarm.${B}.${t}.events`, () => `swarm.${B}.jobs`, (t: string) => `swarm.${B}.${t}`, (t: string) => `swarm.${B}.${t}.${token()}.x`, (t: string) => `_INBOX.${B}.${t}`];
    const publishes = Array.from({ length: DENIAL_SAMPLES }, (_, i) => (shapes[i % shapes.length] as (t: string) => string)(token()));
    // Wildcards that would cover B (or everyone) are denied as subscriptions too.
    const wildcards = [`swarm.${B}.>`, `swarm.${B}.*.events`, "swarm.*.*.events", "swarm.*.jobs", "swarm.>", ">", `_INBOX.${B}.>`, "_INBOX.>", "$JS.>"];
    const subscriptions = [...wildcards, ...Array.from({ length: DENIAL_SAMPLES }, (_, i) => (shapes[(i + 1) % shapes.length] as (t: string) => string)(token()))];

    for (const s of publishes) nc.publish(s, "leak?");
    // A denied subscription's callback gets the permission error, never a message.
    for (const s of subscriptions) nc.subscribe(s, { callback: record("A got ") });
    await nc.flush();
    await until(() => errors.length >= publishes.length + subscriptions.length);

    expect(new Set(permissionErrors(errors, "publish"))).toEqual(new Set(publishes));
    expect(new Set(permissionErrors(errors, "subscription"))).toEqual(new Set(subscriptions));
    expect(errors).toHaveLength(publishes.length + subscriptions.length);

    // B keeps publishing; nothing of it reaches A, and nothing of A's reached B or B's stream subjects.
    const bSubjects = Array.from({ length: 50 }, (_, i) => eventSubject(B, `p${i}`));
    for (const s of bSubjects) ncB.publish(s, "b-only");
    await ncB.flush();
    await nc.flush();
    await until(() => received.length >= bSubjects.length);
    expect(received).toEqual(bSubjects);
    // Stored under B's one subject (the stream's transform drops the project token). B published
    // without JetStream acks: its subscriber may see a message before the stream has stored it.
    const storedOfB = async () => (await jsm.streams.info(STREAM_NAMES.events, { subjects_filter: `swarm.${B}.>` })).state.subjects;
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && ((await storedOfB())?.[storedEventSubject(B)] ?? 0) < bSubjects.length) await new Promise((r) => setTimeout(r, 50));
    expect(await storedOfB()).toEqual({ [storedEventSubject(B)]: bSubjects.length });
  });

  it("refuses a tenant every JetStream API call: the shared streams' data, consumers and management", async () => {
    await jetstream(ncB).publish(eventSubject(B, "secret"), "b-private");
    const ev = STREAM_NAMES.events;
    const denied = [
      `$JS.API.CONSUMER.CREATE.${ev}.${B}.swarm.${B}.*.events`,
      `$JS.API.CONSUMER.CREATE.${ev}.${A}.swarm.${B}.*.events`,
      `$JS.API.CONSUMER.CREATE.${ev}.${A}.swarm.*.*.events`,
      `$JS.API.CONSUMER.CREATE.${ev}.${A}`,
      `$JS.API.CONSUMER.CREATE.${ev}`,
      `$JS.API.CONSUMER.DURABLE.CREATE.${ev}.${A}`,
      `$JS.API.CONSUMER.INFO.${ev}.${B}`,
      `$JS.API.CONSUMER.DELETE.${ev}.${B}`,
      `$JS.API.CONSUMER.MSG.NEXT.${ev}.${B}`,
      `$JS.API.CONSUMER.NAMES.${ev}`,
      `$JS.API.CONSUMER.LIST.${ev}`,
      `$JS.API.CONSUMER.CREATE.${STREAM_NAMES.jobs}.${A}.swarm.${A}.jobs`,
      `$JS.API.STREAM.INFO.${ev}`,
      `$JS.API.STREAM.MSG.GET.${ev}`,
      `$JS.API.DIRECT.GET.${ev}`,
      `$JS.API.STREAM.PURGE.${ev}`,
      `$JS.API.STREAM.DELETE.${ev}`,
      `$JS.API.STREAM.LIST`,
      `$JS.API.STREAM.NAMES`,
      `$JS.API.INFO`,
      `$JS.ACK.${ev}.${B}.1.1.1.1.0`,
    ];
    const outcomes = await Promise.all(
      denied.map((subject) =>
        ncA.request(subject, JSON.stringify({ stream_name: ev, config: { filter_subject: `swarm.${B}.*.events` } }), { timeout: 2_000 }).then(
          () => `answered: ${subject}`,
          (e: Error) => (e.cause instanceof PermissionViolationError && e.cause.subject === subject ? "denied" : `${e.name} ${e.message}: ${subject}`),
        ),
      ),
    );
    expect(outcomes).toEqual(denied.map(() => "denied"));

    // Nothing of B's was delivered to anyone: the only consumer of the events stream is the ingestor's.
    const stored = await jsm.streams.info(ev, { subjects_filter: storedEventSubject(B) });
    expect(stored.state.subjects?.[storedEventSubject(B)]).toBeGreaterThan(0);
    expect((await jsm.consumers.list(ev).next()).map((c) => c.name)).toEqual([INGESTOR_DEFAULTS.consumer]);
  });

  it("refuses tenant ids with '.', '*', '>' or whitespace before any key is parsed or created", async () => {
    for (const bad of ["a.b", "tenant.*", "*", ">", "tenant-a.>", "ten ant", " tenant-a", "tenant-a\n", "", "Tenant-A"]) {
      // The seed and key are garbage: only an id check that runs first can explain the error.
      await expect(mintTenantCredentials({ tenantId: bad, tier: "free", signingKeySeed: "not-a-seed", accountPublicKey: "not-a-key" })).rejects.toSatisfy(
        (e: unknown) => e instanceof InvalidTenantIdError && e.code === "E_INVALID_TENANT_ID",
      );
    }
  });

  it("enforces the free tier's payload limit from the catalog in the server, not only in the client", async () => {
    const limit = tiers.free.bus.maxPayloadBytes;
    const nc = await connectAs(credsA, `${A}-payload`);
    expect(nc.info?.max_payload).toBe(limit);
    const raw = await RawNatsConnection.connect(server.layout.port, credsA.jwt, credsA.seed);
    try {
      expect(await raw.publish(`swarm.${A}.p1.events`, limit)).toContain("PONG");
      expect(await raw.publish(`swarm.${A}.p1.events`, limit + 1)).toContain("-ERR 'Maximum Payload Violation'");
      expect(await raw.waitClosed()).toBe(true);
    } finally {
      raw.close();
    }
    // A pro tenant may send what the free one may not.
    const pro = await mintTenant("tenant-pro", "pro");
    const rawPro = await RawNatsConnection.connect(server.layout.port, pro.jwt, pro.seed);
    try {
      expect(await rawPro.publish(`swarm.tenant-pro.p1.events`, limit + 1)).toContain("PONG");
    } finally {
      rawPro.close();
    }
  });

  it("enforces the free tier's subscription limit from the catalog", async () => {
    const nc = await connectAs(credsA, `${A}-subs`);
    const errors = collectErrors(nc);
    const limit = tiers.free.bus.subscriptions;
    for (let i = 0; i <= limit; i++) nc.subscribe(`swarm.${A}.s${i}.events`);
    await nc.flush();
    await until(() => errors.length > 0);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/maximum subscriptions exceeded/i)]);
  });

  it("refuses a user of a tenant account signed by another tier's key, or by a key of no account", async () => {
    await mintTenant(A);
    const account = accounts.get(A)?.account as string;
    for (const signerSeed of [seeds.swarmSigningKeys.pro, seeds.tenantImportSigningKey]) {
      const user = createUser();
      const jwt = await encodeUser(A, user, account, { tags: [`tenant:${A}`] }, { signer: fromSeed(new TextEncoder().encode(signerSeed)), scopedUser: true });
      await expect(connectAs(new TextDecoder().decode(fmtCreds(jwt, user)), "wrong-signer")).rejects.toThrow(/Authorization Violation/);
    }
  });

  it("lets a silo tenant into its own account only, with the same template", async () => {
    const keys = publicKeysOf(seeds);
    const silo = keys.silos[SILO] as { account: string };
    const creds = await mintTenantCredentials({
      tenantId: SILO,
      tier: "enterprise",
      signingKeySeed: (seeds.silos[SILO] as { signingKey: string }).signingKey,
      accountPublicKey: silo.account,
    });
    expect(creds.inboxPrefix).toBe(tenantInboxPrefix(SILO));
    const nc = await connectAs(creds, SILO);
    const errors = collectErrors(nc);
    const got: string[] = [];
    nc.subscribe(jobSubject(SILO, "enterprise"), {
      callback: (_e, m) => {
        got.push(m.string());
      },
    });
    nc.publish(jobSubject(SILO, "enterprise"), "silo-job");
    nc.publish(eventSubject(A, "p1"), "cross");
    await nc.flush();
    await until(() => got.length > 0 && errors.length > 0);
    expect(got).toEqual(["silo-job"]);
    expect(permissionErrors(errors, "publish")).toEqual([eventSubject(A, "p1")]);
    expect(nc.info?.max_payload).toBe(tiers.enterprise.bus.maxPayloadBytes);
  });

  it("applies a changed tier number to a tenant account when provisioning re-pushes it, and a re-signed platform account after a reload", async () => {
    const changed = structuredClone(tiers) as { -readonly [K in keyof TierCatalog]: TierCatalog[K] };
    const free = changed.free as { bus: { maxPayloadBytes: number } };
    free.bus.maxPayloadBytes = 2_048;
    // The bootstrap re-signs what changed: with the tenant accounts out of its hands, nothing here.
    await new Promise((r) => setTimeout(r, 1_100));
    const signed = await signNatsAuth(natsAuthClaims({ name: env.name, nats }, changed as TierCatalog, publicKeysOf(seeds)), seeds.operator, signedAtStart);
    expect(signed).toEqual(signedAtStart);
    const changedPlatform = await signNatsAuth(natsAuthClaims({ name: env.name, nats: { ...nats, account: { ...nats.account, maxConnections: nats.account.maxConnections + 1 } } }, tiers, publicKeysOf(seeds)), seeds.operator, signedAtStart);
    expect(changedPlatform.operatorJwt).toBe(signedAtStart.operatorJwt);
    expect(Object.keys(changedPlatform.accountJwts).filter((k) => changedPlatform.accountJwts[k] !== signedAtStart.accountJwts[k])).toEqual([publicKeysOf(seeds).swarmAccount]);
    writeFileSync(join(server.layout.root, AUTH_FILE), renderAuthInclude(changedPlatform));
    server.reload();
    await until(() => /Reloaded server configuration|Failed to reload/.test(server.log()));
    expect(server.log()).not.toMatch(/Failed to reload/);
    // The reload closed the system-account connection here (nats-server 2.14.2): push over a new one.
    system = await connectAs((await mintSystemUser(seeds.systemAccount)).creds, "operator-push-2");
    expect(Object.keys(await pushAccountJwts(system, changedPlatform))).toEqual(Object.keys(changedPlatform.accountJwts));
    // Provisioning re-pushes a tenant's account with the changed catalog: the server applies it at once.
    const before = await connectAs(await mintTenant("tenant-c"), "tenant-c");
    expect(before.info?.max_payload).toBe(tiers.free.bus.maxPayloadBytes);
    const account = accounts.get("tenant-c")?.account as string;
    const repushed = await provisionTenant(system, seeds, "tenant-c", "free", changed as TierCatalog, account);
    // The update's answer can precede the account's reload on a loaded machine: a new connection shows it within moments.
    let payload: number | undefined;
    for (const deadline = Date.now() + 5_000; payload !== 2_048 && Date.now() < deadline; ) {
      const nc = await connectAs(await repushed.mint(), "tenant-c-after");
      payload = nc.info?.max_payload;
      if (payload !== 2_048) await nc.close().then(() => new Promise((r) => setTimeout(r, 100)));
    }
    expect(payload).toBe(2_048);
    expect(tiers.free.bus.maxPayloadBytes).not.toBe(2_048);
  });
});

/**
 * Offboarding deletes the tenant's history, on real components: a nats-server running the
 * data-plane configuration (operator mode, the generated claims, the streams of `createTopology`,
 * whose pooled streams accept purges) to which the service pushes tenant accounts and purges through its own platform-account user
 * (`provisioningBusPermissions`), and the real ClickHouse engine (chdb) on which the service's
 * statements run as the lifecycle user. Three tenants put events and jobs into the streams with
 * their own credentials and have rows in the event store; one is offboarded through the HTTP API
 * while ClickHouse does not answer its deletion: the deletion fails, is retried (its `lastError`
 * in the outbox), and completes once ClickHouse answers again: nothing of that tenant is left, in
 * the event and usage tables or in either stream, and the other two keep every row and message.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, jwtAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { createTopology } from "../../services/nats-auth/topology.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnvironment, loadTierCatalog } from "../../config/index.js";
import { PLAN_TIER_NAMES } from "../../config/tiers.js";
import { natsAuthClaims, PROVISIONING_INBOX_PREFIX } from "../../services/nats-auth/claims.js";
import { DEAD_LETTER_STREAM, eventSubject, jobSubject, storedEventSubject, STREAM_NAMES } from "../../services/nats-auth/jetstream-names.js";
import { generateNatsSeeds, mintPlatformUser, mintProvisioningBusUser, mintSystemUser, publicKeysOf, signNatsAuth } from "../../services/nats-auth/sign.js";
import { NATS_ACCOUNT_KEY_FILES, PROVISIONING_ENV } from "../../services/provisioning/contract.js";
import type { OutboxEntry } from "../../services/provisioning/src/control-plane.js";
import { tenantJobsFilter } from "../../services/provisioning/src/jobs.js";
import { parseJson } from "../../services/provisioning/src/store/kv.js";
import { KEYCLOAK_WAIT_MS, type RealmUser } from "../support/keycloak.js";
import { collectErrors, startDataPlaneServer, type NatsServer } from "../support/nats-server.js";
import { eventually, startHarness, type Harness } from "./harness.js";

const GRACE_MS = 1_500;
const env = loadEnvironment("dev");
const tiers = loadTierCatalog();

let server: NatsServer;
let h: Harness;
let dir: string;
let platform: NatsConnection;
let jsm: JetStreamManager;

interface Tenant {
  readonly name: string;
  readonly id: string;
  readonly user: RealmUser;
  /** What it put into the streams and the event store. */
  readonly events: number;
  readonly jobs: number;
  readonly rows: number;
}
const tenants: Tenant[] = [];

/** The tenant's messages in SWARM_EVENTS and SWARM_JOBS, as the platform account's stream info counts them. */
async function streamCounts(tenantId: string): Promise<{ events: number; jobs: number }> {
  const events = await jsm.streams.info(STREAM_NAMES.events, { subjects_filter: storedEventSubject(tenantId) });
  const jobs = await jsm.streams.info(STREAM_NAMES.jobs, { subjects_filter: tenantJobsFilter(tenantId) });
  const sum = (subjects: Record<string, number> | undefined) => Object.values(subjects ?? {}).reduce((n, c) => n + c, 0);
  return { events: sum(events.state.subjects), jobs: sum(jobs.state.subjects) };
}

/** Everything of a tenant the platform holds outside the control-plane store. */
async function holdings(t: Tenant): Promise<{ rows: { events: number; usage: number }; messages: { events: number; jobs: number } }> {
  return { rows: await h.events!.counts(t.id), messages: await streamCounts(t.id) };
}

/** The tenant's pending outbox entry of `kind`, if any. */
async function pending(tenantId: string, kind: OutboxEntry["kind"]): Promise<OutboxEntry | undefined> {
  const rows = await h.svc.store.transact((tx) => tx.getRange(["o"]));
  return rows.map((r) => parseJson<OutboxEntry>(r.value) as OutboxEntry).find((e) => e.tenantId === tenantId && e.kind === kind);
}

beforeAll(async () => {
  const seeds = generateNatsSeeds([]);
  const keys = publicKeysOf(seeds);
  const signed = await signNatsAuth(natsAuthClaims({ name: env.name, nats: env.nats }, tiers, keys), seeds.operator);
  server = await startDataPlaneServer({ serverName: "nats-offboarding", signed, tiers, jetStreamStorageGiB: env.nats.storageGiB });
  dir = mkdtempSync(join(tmpdir(), "offboarding-"));
  const platformUser = await mintPlatformUser(seeds.swarmAccount);
  platform = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode(platformUser.creds)) });
  jsm = await jetstreamManager(platform);
  // The streams and the ingestor's consumer (SWARM_EVENTS keeps a message while a consumer has not
  // acked it); nothing consumes here, so what the tenants put there stays until it is purged.
  await createTopology(jsm, { nats: env.nats, tiers });

  // The service's NATS side, as the construct mounts it; its event store is the harness's chdb.
  for (const t of PLAN_TIER_NAMES) writeFileSync(join(dir, `${t}.seed`), seeds.swarmSigningKeys[t], { mode: 0o600 });
  writeFileSync(join(dir, NATS_ACCOUNT_KEY_FILES.tenantAccounts), seeds.tenantAccountSigningKey, { mode: 0o600 });
  writeFileSync(join(dir, NATS_ACCOUNT_KEY_FILES.tenantImports), seeds.tenantImportSigningKey, { mode: 0o600 });
  writeFileSync(join(dir, "system-user.creds"), (await mintSystemUser(seeds.systemAccount)).creds, { mode: 0o600 });
  writeFileSync(join(dir, "provisioning-bus.creds"), (await mintProvisioningBusUser(seeds.swarmAccount)).creds, { mode: 0o600 });
  h = await startHarness({
    keycloak: false,
    env: {
      [PROVISIONING_ENV.natsSigningKeysDir]: dir,
      [PROVISIONING_ENV.natsAccount]: keys.swarmAccount,
      [PROVISIONING_ENV.natsUrl]: server.url,
      [PROVISIONING_ENV.natsSystemCredsFile]: join(dir, "system-user.creds"),
      [PROVISIONING_ENV.natsPlatformCredsFile]: join(dir, "provisioning-bus.creds"),
    },
    // Production waits HISTORY_DELETION_GRACE_MS after the offboarded plan row; long enough here to see it wait.
    overrides: { historyDeletionGraceMs: GRACE_MS },
  });

  // Three tenants, each with its own events and jobs in the streams (published with its own
  // credentials, as its agents and the jobs API would) and its own rows in the event store.
  for (const [name, events, jobs, rows] of [["gone", 12, 3, 40], ["kept-1", 7, 2, 30], ["kept-2", 5, 1, 20]] as const) {
    const user = await h.addUser();
    const id = await h.createTenant(user, { name });
    await eventually(async () => (await h.svc.plane.tenant(id))?.bus === "ready", 15_000, `${name}'s account pushed`);
    const token = await h.tenantToken(user, id);
    const creds = await h.request("POST", `/v1/tenants/${id}/bus-credentials`, { token, body: {} });
    expect(creds.status, creds.text).toBe(201);
    const { jwt, seed } = creds.body as { jwt: string; seed: string };
    const nc = await connect({ servers: server.url, authenticator: jwtAuthenticator(jwt, new TextEncoder().encode(seed)), inboxPrefix: `_INBOX.${id}` });
    try {
      const js = jetstream(nc);
      for (let i = 0; i < events; i++) await js.publish(eventSubject(id, i % 2 === 0 ? "web" : "api"), `event ${i} of ${id}`);
      for (let i = 0; i < jobs; i++) await js.publish(jobSubject(id, "free"), JSON.stringify({ jobId: crypto.randomUUID(), tenantId: id }), { msgID: crypto.randomUUID() });
    } finally {
      await nc.close();
    }
    await h.events!.insertEvents(id, rows);
    tenants.push({ name, id, user, events, jobs, rows });
  }
}, KEYCLOAK_WAIT_MS + 60_000);

afterAll(async () => {
  await h?.stop();
  await platform?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("offboarding deletes the tenant's history", () => {
  it("writes each tenant's plan row at creation", async () => {
    for (const t of tenants) {
      await eventually(async () => (await h.events!.currentPlan(t.id)) !== undefined, 15_000, `${t.name}'s plan row`);
      expect(await h.events!.currentPlan(t.id)).toMatchObject({ tenant_id: t.id, plan_tier: "free", status: "active" });
    }
  });

  it("purges its messages and deletes its rows, retrying through a ClickHouse outage, and leaves the other tenants untouched", async () => {
    const [gone, ...kept] = tenants as [Tenant, ...Tenant[]];
    const before = new Map<string, Awaited<ReturnType<typeof holdings>>>();
    for (const t of tenants) {
      const now = await holdings(t);
      expect(now, t.name).toEqual({ rows: { events: t.rows, usage: 1 }, messages: { events: t.events, jobs: t.jobs } });
      before.set(t.id, now);
    }

    // ClickHouse stops answering the deletion; the owner offboards the tenant.
    await h.events!.cutOff(["deleteTenantRows"]);
    const token = await h.tenantToken(gone.user, gone.id);
    const off = await h.request("DELETE", `/v1/tenants/${gone.id}`, { token });
    expect(off.status, off.text).toBe(202);
    expect(off.body).toMatchObject({ tenant: { id: gone.id, status: "offboarded", history: "deleting" } });

    // The deletion waits its grace after the offboarded plan row (an ingestor's batch accepted
    // before it may still be inserting): queued, not failed, nothing deleted yet.
    await eventually(async () => (await pending(gone.id, "events.delete"))?.lastError?.startsWith("waiting:") === true, 10_000, "the deletion to wait for its grace");
    expect(h.events!.failedCalls).toBe(0);
    expect((await holdings(gone)).rows.events).toBe(gone.rows);

    // The plan row says offboarded first (the ingestor refuses the tenant's events from then on);
    // the deletion fails, stays queued and is retried, its error recorded.
    // (attempts counts leases: the second may still be running, so wait for its failure itself.)
    await eventually(async () => (await pending(gone.id, "events.delete"))?.lastError !== undefined && h.events!.failedCalls >= 2, 20_000, "the deletion to fail twice");
    const failing = await pending(gone.id, "events.delete");
    expect(failing?.lastError).toMatch(/ECONNREFUSED/);
    expect(h.events!.failedCalls).toBeGreaterThanOrEqual(2);
    expect(await h.events!.currentPlan(gone.id)).toMatchObject({ plan_tier: "free", status: "offboarded" });
    const metrics = await h.request("GET", "/metrics");
    expect(metrics.text).toMatch(/provisioning_outbox_failures_total\{kind="events\.delete"\} [1-9]/);
    // Still deleting: a repeat of the offboarding says so.
    const meanwhile = await h.request("DELETE", `/v1/tenants/${gone.id}`, { token });
    expect([meanwhile.status, (meanwhile.body as { tenant: { history: string } }).tenant.history]).toEqual([202, "deleting"]);
    expect((await holdings(gone)).rows).toEqual(before.get(gone.id)!.rows);

    // ClickHouse answers again: the next attempt completes.
    await h.events!.restore();
    await eventually(async () => (await h.request("DELETE", `/v1/tenants/${gone.id}`, { token })).status === 200, 30_000, "the history deleted");
    const done = await h.request("DELETE", `/v1/tenants/${gone.id}`, { token });
    expect(done.body).toEqual({ tenant: expect.objectContaining({ id: gone.id, status: "offboarded", history: "deleted", historyDeletedAt: expect.any(String) }) });
    expect(Date.parse((done.body as { tenant: { historyDeletedAt: string } }).tenant.historyDeletedAt)).toBeGreaterThan(Date.parse((off.body as { tenant: { createdAt: string } }).tenant.createdAt));
    expect(await pending(gone.id, "events.delete")).toBeUndefined();

    // Nothing of the tenant is left: no event row, no usage row, no message in either stream.
    expect(await holdings(gone)).toEqual({ rows: { events: 0, usage: 0 }, messages: { events: 0, jobs: 0 } });
    // The other tenants keep every row and every message, and stay active.
    for (const t of kept) {
      expect(await holdings(t), t.name).toEqual(before.get(t.id));
      expect(await h.events!.currentPlan(t.id), t.name).toMatchObject({ plan_tier: "free", status: "active" });
      expect((await h.svc.plane.tenant(t.id))?.history, t.name).toBe("kept");
    }
  });

  it("lets the service's own user purge SWARM_EVENTS and SWARM_JOBS and call no other JetStream API", async () => {
    const nc = await connect({ servers: server.url, authenticator: credsAuthenticator(readFileSync(join(dir, "provisioning-bus.creds"))), inboxPrefix: PROVISIONING_INBOX_PREFIX });
    const errors = collectErrors(nc);
    try {
      const own = await jetstreamManager(nc, { checkAPI: false });
      const nobody = "t0000000000000000000000ff";
      expect((await own.streams.purge(STREAM_NAMES.events, { filter: storedEventSubject(nobody) })).purged).toBe(0);
      expect((await own.streams.purge(STREAM_NAMES.jobs, { filter: tenantJobsFilter(nobody) })).purged).toBe(0);
      for (const subject of [`$JS.API.INFO`, `$JS.API.STREAM.INFO.${STREAM_NAMES.events}`, `$JS.API.STREAM.PURGE.${DEAD_LETTER_STREAM}`, `$JS.API.STREAM.DELETE.${STREAM_NAMES.jobs}`, `$JS.API.STREAM.MSG.GET.${STREAM_NAMES.events}`]) {
        await expect(nc.request(subject, "{}", { timeout: 500 }), subject).rejects.toThrow();
        await eventually(() => errors.some((e) => e.message.includes(`Permissions Violation for Publish to "${subject}"`)), 5_000, `the server to refuse ${subject}`);
      }
    } finally {
      await nc.close();
    }
    // Both streams are still there, with the remaining tenants' messages.
    expect((await jsm.streams.info(STREAM_NAMES.jobs)).state.messages).toBe(tenants.slice(1).reduce((n, t) => n + t.jobs, 0));
  });
});

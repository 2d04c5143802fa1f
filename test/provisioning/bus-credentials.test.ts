/**
 * Bus credentials minted by this service, used against a real nats-server running the data-plane
 * configuration (operator mode, the generated claims and server config): tenant A reaches
 * `swarm.A.>` and nothing of B's. After A is offboarded, minting is refused, A's credentials are
 * on the revocation list, and once the operator applies that list to the SWARM account JWT the
 * server disconnects A and refuses its credentials.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, credsAuthenticator, PermissionViolationError, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnvironment, loadTierCatalog } from "../../config/index.js";
import { PLAN_TIER_NAMES } from "../../config/tiers.js";
import { pushAccountJwts } from "../../services/nats-auth/bootstrap.js";
import { natsAuthClaims } from "../../services/nats-auth/claims.js";
import { generateNatsSeeds, mintSystemUser, publicKeysOf, signClaims, signNatsAuth, type NatsSeeds } from "../../services/nats-auth/sign.js";
import { withRevocations } from "../../services/provisioning/src/nats.js";
import { collectErrors, startDataPlaneServer, until, type NatsServer } from "../support/nats-server.js";
import { startHarness, type Harness } from "./harness.js";

const env = loadEnvironment("dev");
const tiers = loadTierCatalog();

let server: NatsServer;
let seeds: NatsSeeds;
let h: Harness;
let keyDir: string;
const open: NatsConnection[] = [];

interface Minted {
  tenantId: string;
  creds: string;
  inboxPrefix: string;
  publicKey: string;
  expiresAt: number;
}

async function connectWith(m: Minted, name: string): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url, name, authenticator: credsAuthenticator(new TextEncoder().encode(m.creds)), inboxPrefix: m.inboxPrefix, reconnect: false });
  open.push(nc);
  return nc;
}

const tenants: Record<"A" | "B", { id: string; token: string }> = {} as never;

beforeAll(async () => {
  seeds = generateNatsSeeds([]);
  const signed = await signNatsAuth(natsAuthClaims({ name: env.name, nats: env.nats }, tiers, publicKeysOf(seeds)), seeds.operator);
  server = await startDataPlaneServer({ serverName: "nats-provisioning-test", signed, tiers, jetStreamStorageGiB: env.nats.storageGiB });
  keyDir = mkdtempSync(join(tmpdir(), "provisioning-signing-keys-"));
  for (const t of PLAN_TIER_NAMES) writeFileSync(join(keyDir, `${t}.seed`), seeds.swarmSigningKeys[t], { mode: 0o600 });
  h = await startHarness({ keycloak: false, env: { PROVISIONING_NATS_SIGNING_KEYS_DIR: keyDir, PROVISIONING_NATS_ACCOUNT: publicKeysOf(seeds).swarmAccount, PROVISIONING_CREDENTIALS_TTL_SECONDS: "600" } });
  for (const [name, slug] of [["A", "tenant-a-co"], ["B", "tenant-b-co"]] as const) {
    const token = await h.token(await h.addUser());
    const res = await h.request("POST", "/v1/tenants", { token, body: { name, slug, planTier: "free" } });
    expect(res.status).toBe(201);
    tenants[name] = { id: (res.body as { tenant: { id: string } }).tenant.id, token };
  }
});

afterAll(async () => {
  await Promise.allSettled(open.map((nc) => nc.close()));
  await h?.stop();
  await server?.stop();
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
});

async function mint(name: "A" | "B"): Promise<Minted> {
  const res = await h.request("POST", `/v1/tenants/${tenants[name].id}/bus-credentials`, { token: tenants[name].token, body: {} });
  expect(res.status).toBe(201);
  expect(res.headers.get("cache-control")).toBe("no-store");
  return res.body as Minted;
}

describe("bus credentials against a real nats-server with the data-plane configuration", () => {
  let a: Minted;
  let ncA: NatsConnection;

  it("lets tenant A publish and subscribe on swarm.A.> and nothing of B's", async () => {
    a = await mint("A");
    const b = await mint("B");
    expect(a.expiresAt - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(600);
    const A = tenants.A.id;
    const B = tenants.B.id;
    ncA = await connectWith(a, "tenant-a");
    const ncB = await connectWith(b, "tenant-b");
    const errorsA = collectErrors(ncA);

    // A's own subjects work end to end.
    const own = ncA.subscribe(`swarm.${A}.>`, { max: 1 });
    const gotOwn = (async () => {
      for await (const m of own) return m.subject;
      return undefined;
    })();
    ncA.publish(`swarm.${A}.p1.events`, "mine");
    expect(await gotOwn).toBe(`swarm.${A}.p1.events`);

    // B listens on its subjects; A's attempts to publish there are denied and never arrive.
    const received: string[] = [];
    const subB = ncB.subscribe(`swarm.${B}.>`);
    void (async () => {
      for await (const m of subB) received.push(m.string());
    })();
    await ncB.flush();
    for (const subject of [`swarm.${B}.p1.events`, `swarm.${B}.jobs.free`, `swarm.${B}.anything.at.all`]) ncA.publish(subject, "intrusion");
    // A's subscriptions to B's subjects (and to wildcards spanning tenants) are denied.
    for (const subject of [`swarm.${B}.>`, "swarm.>", "swarm.*.p1.events", ">"]) ncA.subscribe(subject);
    await ncA.flush();
    await until(() => errorsA.length >= 7);
    const denied = errorsA.filter((e): e is PermissionViolationError => e instanceof PermissionViolationError);
    expect(denied.filter((e) => e.operation === "publish").map((e) => e.subject).sort()).toEqual([`swarm.${B}.anything.at.all`, `swarm.${B}.jobs.free`, `swarm.${B}.p1.events`].sort());
    expect(denied.filter((e) => e.operation === "subscription").map((e) => e.subject).sort()).toEqual([">", "swarm.*.p1.events", "swarm.>", `swarm.${B}.>`].sort());
    ncB.publish(`swarm.${B}.p1.events`, "b's own");
    await ncB.flush();
    await until(() => received.length >= 1);
    expect(received).toEqual(["b's own"]);
  });

  it("refuses to mint for an offboarded tenant and revokes its credentials once the operator applies the list", async () => {
    const off = await h.request("DELETE", `/v1/tenants/${tenants.A.id}`, { token: tenants.A.token });
    expect(off.status).toBe(202);
    const again = await h.request("POST", `/v1/tenants/${tenants.A.id}/bus-credentials`, { token: tenants.A.token, body: {} });
    expect(again.status).toBe(404);

    const admin = await h.token(await h.addPlatformAdmin());
    let revocations: Record<string, number> = {};
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !revocations[a.publicKey]) {
      const res = await h.request("GET", "/v1/admin/nats-revocations", { token: admin });
      expect(res.status).toBe(200);
      revocations = (res.body as { revocations: Record<string, number> }).revocations;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(Object.keys(revocations)).toEqual([a.publicKey]);
    // A tenant may not read the list.
    expect((await h.request("GET", "/v1/admin/nats-revocations", { token: tenants.B.token })).status).toBe(403);

    // The operator's step: SWARM account claims + revocations, signed by the operator, pushed.
    await new Promise((r) => setTimeout(r, 1_100)); // a pushed JWT must be newer (iat in seconds)
    const swarm = natsAuthClaims({ name: env.name, nats: env.nats }, tiers, publicKeysOf(seeds)).accounts.find((c) => c.sub === publicKeysOf(seeds).swarmAccount)!;
    const jwt = await signClaims(withRevocations(swarm, revocations), seeds.operator, "operatorSeed");
    const system = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode((await mintSystemUser(seeds.systemAccount)).creds)), reconnect: false });
    open.push(system);
    await pushAccountJwts(system, { operatorJwt: "", systemAccount: publicKeysOf(seeds).systemAccount, accountJwts: { [swarm.sub]: jwt } });

    await until(() => ncA.isClosed(), 5_000);
    expect(ncA.isClosed()).toBe(true);
    await expect(connectWith(a, "tenant-a-again")).rejects.toThrow();
    // B is unaffected.
    const b2 = await mint("B");
    const ncB2 = await connectWith(b2, "tenant-b-2");
    await ncB2.flush();
  });
});

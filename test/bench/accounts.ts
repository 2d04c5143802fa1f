/**
 * `npm run bench:accounts`: what one NATS account per tenant costs a real nats-server (the
 * chart's version, the data-plane configuration: operator mode, full resolver).
 *
 * 1. Signs BENCH_ACCOUNTS tenant account JWTs exactly as the provisioning service does
 *    (tenant-accounts.ts: two activation tokens and the account JWT, native Ed25519) and pushes
 *    them through the system account (`$SYS.REQ.CLAIMS.UPDATE`), BENCH_PUSH_CONCURRENCY at a time.
 * 2. Measures the resolver directory on disk and the server's resident memory with the accounts
 *    registered (stored, not loaded), then after a restart (the full resolver reads every JWT).
 * 3. Loads BENCH_LOADED of them (a user of each connects, which makes the server look the
 *    account up and load it) and measures memory again, and the connect time of a user whose
 *    account is not loaded yet (cold) and of one whose account is (warm).
 * 4. Extrapolates each figure to 1,000,000 tenants (linear in the count; the report says which
 *    figures are per registered and which per loaded account).
 *
 * Prints figures as it goes; the last line is one JSON object.
 */
import { spawnSync } from "node:child_process";
import { Socket } from "node:net";
import { encodeUser } from "@nats-io/jwt";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { loadEnvironment, loadTierCatalog } from "../../config/index.js";
import { NATS_SERVER_VERSION } from "../../config/versions.js";
import { natsAuthClaims } from "../../services/nats-auth/claims.js";
import { generateNatsSeeds, mintSystemUser, publicKeysOf, signNatsAuth } from "../../services/nats-auth/sign.js";
import { pushAccountJwt, signTenantAccount, signTenantActivations, tenantAccountClaims } from "../../services/nats-auth/tenant-accounts.js";
import { FastKeyPair, NKEY_PREFIX } from "../../services/provisioning/src/fast-nkeys.js";
import { startDataPlaneServer, type NatsServer } from "../support/nats-server.js";
import { percentile, processMemoryBytes, progressOf, runBench } from "./support.js";

const ACCOUNTS = Number(process.env["BENCH_ACCOUNTS"] ?? 100_000);
const LOADED = Math.min(ACCOUNTS, Number(process.env["BENCH_LOADED"] ?? 10_000));
const PUSH_CONCURRENCY = Number(process.env["BENCH_PUSH_CONCURRENCY"] ?? 64);
const CONNECT_CONCURRENCY = 16;
const LATENCY_SAMPLES = 500;
const TARGET = 1_000_000;
/** Wait before reading RSS: the Go runtime returns freed memory to the OS over time (RSS stays an upper bound). */
const SETTLE_MS = 10_000;
/** How long a restart with every account in the resolver may take before the bench gives up. */
const RESTART_TIMEOUT_MS = 600_000;
const MiB = 1024 ** 2;

const env = loadEnvironment("dev");
const tiers = loadTierCatalog();

const progress = progressOf("accounts");

function diskBytes(dir: string): { apparent: number; allocated: number; files: number } {
  const apparent = Number(spawnSync("du", ["-sb", dir], { encoding: "utf8" }).stdout.split("\t")[0]);
  const allocated = Number(spawnSync("du", ["-sk", dir], { encoding: "utf8" }).stdout.split("\t")[0]) * 1024;
  const files = Number(spawnSync("sh", ["-c", `find '${dir}' -type f | wc -l`], { encoding: "utf8" }).stdout.trim());
  return { apparent, allocated, files };
}

/** Waits for the Go runtime to settle (GC after the burst), then reads RSS. */
async function settledRss(server: NatsServer): Promise<number> {
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  return processMemoryBytes(server.pid);
}

/**
 * One raw client connect with a user JWT: INFO (nonce), CONNECT with the nonce signed natively,
 * PING, and the server's PONG (or -ERR); then closes. Milliseconds from socket open to answer.
 */
async function rawConnect(port: number, jwt: string, user: FastKeyPair): Promise<number> {
  const started = performance.now();
  const socket = new Socket();
  let buffer = "";
  const answer = new Promise<string>((resolve, reject) => {
    socket.on("data", (d) => {
      buffer += d.toString("utf8");
      const info = /^INFO (.*)\r\n/m.exec(buffer);
      if (info && !buffer.includes("CONNECT-SENT")) {
        const nonce = (JSON.parse(info[1] ?? "{}") as { nonce: string }).nonce;
        const sig = Buffer.from(user.sign(new TextEncoder().encode(nonce))).toString("base64url");
        socket.write(`CONNECT ${JSON.stringify({ jwt, sig, verbose: false, pedantic: false, protocol: 1 })}\r\nPING\r\n`);
        buffer = "CONNECT-SENT";
        return;
      }
      if (/PONG\r\n/.test(buffer)) resolve("ok");
      else if (/-ERR [^\r]*\r\n/.test(buffer)) reject(new Error(buffer));
    });
    socket.once("error", reject);
  });
  socket.connect(port, "127.0.0.1");
  try {
    await answer;
    return performance.now() - started;
  } finally {
    socket.destroy();
  }
}

async function pool<T>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i] as T, i);
      }
    }),
  );
}

async function main(): Promise<void> {
  const seeds = generateNatsSeeds([]);
  const keys = publicKeysOf(seeds);
  const signed = await signNatsAuth(natsAuthClaims({ name: env.name, nats: env.nats }, tiers, keys), seeds.operator);
  const server = await startDataPlaneServer({ serverName: "bench-accounts", signed, tiers, jetStreamStorageGiB: 1 });
  const resolverDir = `${server.layout.root}/data/resolver`;
  const accountSigner = FastKeyPair.fromSeed(seeds.tenantAccountSigningKey);
  const importSigner = FastKeyPair.fromSeed(seeds.tenantImportSigningKey);
  const freeUserSigner = FastKeyPair.fromSeed(seeds.swarmSigningKeys.free);
  const system = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode((await mintSystemUser(seeds.systemAccount)).creds)) });
  try {
    const rssEmpty = await settledRss(server);
    progress(`nats-server ${NATS_SERVER_VERSION} up on ${server.url}; RSS with no tenant account ${(rssEmpty / MiB).toFixed(1)} MiB`);

    // 1. Sign and push, as provisioning does for each new tenant: signed in chunks (timed alone),
    //    each chunk pushed PUSH_CONCURRENCY at a time (timed alone).
    const accounts: string[] = new Array(ACCOUNTS);
    let jwtBytes = 0;
    let signMs = 0;
    let pushMs = 0;
    const CHUNK = 5_000;
    for (let from = 0; from < ACCOUNTS; from += CHUNK) {
      const t0 = performance.now();
      const chunk: { account: string; jwt: string }[] = [];
      for (let i = from; i < Math.min(ACCOUNTS, from + CHUNK); i++) {
        const tenantId = `t${i.toString(16).padStart(24, "0")}`;
        const account = FastKeyPair.create(NKEY_PREFIX.account).getPublicKey();
        const state = { tenantId, tier: "free" as const, accountPublicKey: account };
        const jwt = await signTenantAccount(tenantAccountClaims(state, tiers, keys, await signTenantActivations(state, keys.swarmAccount, importSigner)), accountSigner);
        jwtBytes += jwt.length;
        chunk.push({ account, jwt });
        accounts[i] = account;
      }
      const t1 = performance.now();
      signMs += t1 - t0;
      await pool(chunk, PUSH_CONCURRENCY, async ({ account, jwt }) => {
        await pushAccountJwt(system, account, jwt, 30_000);
      });
      pushMs += performance.now() - t1;
      if ((from + CHUNK) % 20_000 === 0) progress(`signed and pushed ${Math.min(ACCOUNTS, from + CHUNK)} accounts`);
    }
    const pushSeconds = pushMs / 1000;
    const disk = diskBytes(resolverDir);
    const rssRegistered = await settledRss(server);
    progress(`pushed ${ACCOUNTS} account JWTs in ${pushSeconds.toFixed(1)} s (${Math.round(ACCOUNTS / pushSeconds)}/s; signing, one process: ${(signMs / ACCOUNTS).toFixed(2)} ms each), mean JWT ${Math.round(jwtBytes / ACCOUNTS)} bytes`);
    progress(`resolver dir: ${disk.files} files, ${(disk.apparent / MiB).toFixed(1)} MiB apparent, ${(disk.allocated / MiB).toFixed(1)} MiB allocated`);
    progress(`RSS with ${ACCOUNTS} registered: ${(rssRegistered / MiB).toFixed(1)} MiB`);

    // 2. Restart: the full resolver reads every stored JWT at start.
    await system.close();
    const restartStart = performance.now();
    await server.restart(RESTART_TIMEOUT_MS);
    const restartSeconds = (performance.now() - restartStart) / 1000;
    const rssAfterRestart = await settledRss(server);
    progress(`restart with ${ACCOUNTS} accounts in the resolver: healthy after ${restartSeconds.toFixed(2)} s, RSS ${(rssAfterRestart / MiB).toFixed(1)} MiB`);

    // 3. Load: a user of each of LOADED accounts connects (lookup + load), timed.
    const user = FastKeyPair.create(NKEY_PREFIX.user);
    const userJwt = async (account: string) => encodeUser("bench", user, account, {}, { signer: freeUserSigner, scopedUser: true });
    const loadStart = performance.now();
    await pool(accounts.slice(0, LOADED), CONNECT_CONCURRENCY, async (account) => {
      await rawConnect(server.layout.port, await userJwt(account), user);
    });
    const loadSeconds = (performance.now() - loadStart) / 1000;
    const rssLoaded = await settledRss(server);
    // Sequential samples: cold (an account not loaded yet) and warm (one just loaded).
    const coldSeq: number[] = [];
    const warmSeq: number[] = [];
    for (let i = 0; i < Math.min(LATENCY_SAMPLES, ACCOUNTS - LOADED); i++) {
      const account = accounts[LOADED + i] as string;
      const jwt = await userJwt(account);
      coldSeq.push(await rawConnect(server.layout.port, jwt, user));
      warmSeq.push(await rawConnect(server.layout.port, jwt, user));
    }
    coldSeq.sort((x, y) => x - y);
    warmSeq.sort((x, y) => x - y);
    const perRegistered = (rssRegistered - rssEmpty) / ACCOUNTS;
    const perLoaded = (rssLoaded - rssAfterRestart) / LOADED;
    progress(`loaded ${LOADED} accounts (a user of each connected, ${CONNECT_CONCURRENCY} at a time) in ${loadSeconds.toFixed(1)} s; RSS ${(rssLoaded / MiB).toFixed(1)} MiB`);
    progress(`connect, account not loaded: p50 ${percentile(coldSeq, 50).toFixed(2)} ms, p99 ${percentile(coldSeq, 99).toFixed(2)} ms; loaded: p50 ${percentile(warmSeq, 50).toFixed(2)} ms, p99 ${percentile(warmSeq, 99).toFixed(2)} ms (${coldSeq.length} samples each)`);
    const scale = TARGET / ACCOUNTS;
    const extrapolated = {
      resolverDiskMiB: Math.round((disk.allocated * scale) / MiB),
      registeredRssMiB: Math.round((rssEmpty + perRegistered * TARGET) / MiB),
      restartSeconds: Math.round(restartSeconds * scale),
      loadedRssMiBPer100k: Math.round((perLoaded * 100_000) / MiB),
      pushMinutes: Math.round((pushSeconds * scale) / 60),
    };
    progress(
      `per account: ${Math.round(disk.allocated / ACCOUNTS)} bytes on disk, ${Math.round(perRegistered)} bytes of RSS registered, ${Math.round(perLoaded)} bytes of RSS loaded; ` +
        `at ${TARGET.toLocaleString("en")}: resolver ${extrapolated.resolverDiskMiB} MiB per server, RSS ${extrapolated.registeredRssMiB} MiB with none loaded, +${extrapolated.loadedRssMiBPer100k} MiB per 100,000 loaded, restart ~${extrapolated.restartSeconds} s, first push of all ~${extrapolated.pushMinutes} min`,
    );
    console.log(
      JSON.stringify({
        natsServer: NATS_SERVER_VERSION,
        accounts: ACCOUNTS,
        loaded: LOADED,
        jwtBytesMean: Math.round(jwtBytes / ACCOUNTS),
        signMsPerAccount: Number((signMs / ACCOUNTS).toFixed(3)),
        pushPerSecond: Math.round(ACCOUNTS / pushSeconds),
        resolverFiles: disk.files,
        resolverApparentBytes: disk.apparent,
        resolverAllocatedBytes: disk.allocated,
        rssEmptyBytes: rssEmpty,
        rssRegisteredBytes: rssRegistered,
        rssAfterRestartBytes: rssAfterRestart,
        rssLoadedBytes: rssLoaded,
        rssBytesPerRegisteredAccount: Math.round(perRegistered),
        rssBytesPerLoadedAccount: Math.round(perLoaded),
        restartSeconds: Number(restartSeconds.toFixed(2)),
        connectColdMs: { p50: Number(percentile(coldSeq, 50).toFixed(2)), p99: Number(percentile(coldSeq, 99).toFixed(2)) },
        connectWarmMs: { p50: Number(percentile(warmSeq, 50).toFixed(2)), p99: Number(percentile(warmSeq, 99).toFixed(2)) },
        extrapolatedTo1M: extrapolated,
      }),
    );
  } finally {
    await system.close().catch(() => undefined);
    await server.stop();
  }
}

runBench(main);

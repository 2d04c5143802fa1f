/**
 * The whole platform on this machine, in one call ({@link startPlatform}; `npm run platform` and
 * `npm run journey` use it): every part the environments run, with the environments' own programs
 * and configuration loaders, on free loopback ports.
 *
 * | part | how it runs here |
 * |---|---|
 * | Keycloak | its own server from the cached distribution (platform/keycloak-process.ts), the realm applied by the realm Job's program, with the console's origin as the web app's and the mail catcher as its SMTP server |
 * | mail | platform/mail-catcher.ts: SMTP for Keycloak and the provisioning service, and an HTTP inbox |
 * | NATS | nats-server with the data-plane configuration (operator mode, a local bootstrap's seeds and signed claims, the resolver), the streams and consumers created as the topology Job does |
 * | provisioning | the service (`startProvisioning`) configured by its own loader: LMDB store, the realm's admin client, SMTP to the catcher, the NATS signing keys, the event store on the embedded ClickHouse |
 * | ingestor | `startIngestor` on the embedded ClickHouse engine (chdb) |
 * | events API | `startEventsApi`, reading the same engine, data keys from the provisioning service's store |
 * | workers | one per pooled tier (`WORKER_TIERS`), history from the same engine |
 * | console | platform/console-server.ts: the built assets, `/config.json`, and the API proxied like the gateway |
 *
 * One process, one ClickHouse engine: chdb binds one data directory per process and two
 * processes cannot share one directory, while the ingestor writes what the events API, the
 * provisioning service's event store and the workers read. So the services run in this process
 * on one engine session (as test/agents/loop.test.ts wires them), which also starts faster than
 * one Node process per service on a small machine. That session runs as the engine's
 * administrator: the events API's tier readers are bound to the caller's tenant by the service
 * (its queries carry the tenant and the reader settings), but the engine does not add the
 * readers' row policy, quotas and profiles as a ClickHouse server does in an environment.
 * Keycloak and nats-server are their own processes.
 *
 * Tokens are verified by the services themselves (no Kong locally): the console's origin is the
 * API's too (`apiUrl`), the tenant tokens' issuer, and what the credentials answer names as `api`.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { ClickHouseClient } from "@clickhouse/client";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { destination, pino, type Logger } from "pino";
import { CONSOLE_DIST_DIR } from "../console/contract.js";
import { loadEnvironment, loadTierCatalog } from "../config/index.js";
import { PLAN_TIER_NAMES } from "../config/tiers.js";
import { schemaSql } from "../services/clickhouse-schema/index.js";
import { EVENTS_API_ENV } from "../services/events-api/contract.js";
import { loadEventsApiConfig } from "../services/events-api/src/config.js";
import { StoreDataKeySource } from "../services/events-api/src/datakeys.js";
import { startEventsApi, type RunningEventsApi } from "../services/events-api/src/service.js";
import { JWKS_PATH } from "../services/identity/names.js";
import { INGESTOR_ENV, INGESTOR_JETSTREAM } from "../services/ingestor/contract.js";
import { loadIngestorConfig } from "../services/ingestor/src/config.js";
import { startIngestor, type RunningIngestor } from "../services/ingestor/src/main.js";
import { ClickHouseSink, openEmbeddedEngine } from "../services/ingestor/src/sink.js";
import { REALM_NAME, WEB_CLIENT_ID } from "../services/keycloak-realm/names.js";
import { natsAuthClaims } from "../services/nats-auth/claims.js";
import { freePort, requireNatsServer, type NatsServer } from "../services/nats-auth/nats-server-process.js";
import { generateNatsSeeds, mintPlatformUser, mintProvisioningBusUser, mintSystemUser, mintWorkerUser, publicKeysOf, signNatsAuth, type NatsSeeds } from "../services/nats-auth/sign.js";
import { addConsumer, topologyDeclarations, type TopologyOptions } from "../services/nats-auth/topology.js";
import { NATS_ACCOUNT_KEY_FILES, PROVISIONING_ENV } from "../services/provisioning/contract.js";
import { loadProvisioningConfig } from "../services/provisioning/src/config.js";
import { ClickHouseEventStore } from "../services/provisioning/src/event-store.js";
import { startProvisioning, type RunningProvisioning } from "../services/provisioning/src/service.js";
import { WORKER_ENV, WORKER_TIERS } from "../services/worker/contract.js";
import { loadWorkerConfig } from "../services/worker/src/config.js";
import { startWorker, type RunningWorker } from "../services/worker/src/runtime.js";
import { CONSOLE_BUILD_COMMAND, defaultDistDir, startConsoleServer, type RunningConsoleServer } from "./console-server.js";
import { keycloakHome, launchKeycloak, type KeycloakServer, type RunningKeycloak } from "./keycloak-process.js";
import { provisioningClientSecret } from "./keycloak-client.js";
import { SmtpCatcher } from "./mail-catcher.js";
import { startDataPlaneServer } from "./nats-server.js";

export interface PlatformOptions {
  /** Keep data here (created if missing) and do not delete it at stop. Default: a fresh temp dir, removed at stop. */
  readonly dataDir?: string;
  /** Progress lines (default: stderr). */
  readonly log?: (line: string) => void;
  /**
   * Build the console's assets first when they are missing or older than their sources
   * ({@link consoleBuildState}). `false`: serve whatever is built (a 503 page when nothing is).
   * @default true
   */
  readonly buildConsole?: boolean;
  /** Aborts a start in progress: what started is stopped (and a temporary data directory removed), and the call rejects. */
  readonly signal?: AbortSignal;
}

export interface RunningPlatform {
  /** The console's origin, http://127.0.0.1:<port>: the built console assets, /config.json, and /v1/* + /.well-known/jwks.json proxied like the gateway (EVENTS_API_GATEWAY_PATHS to the events API, the rest to provisioning). */
  readonly consoleUrl: string;
  /** The API base a client uses: the same origin as consoleUrl (the local stand-in for the gateway). */
  readonly apiUrl: string;
  readonly provisioningUrl: string;
  readonly eventsApiUrl: string;
  readonly keycloak: { readonly url: string; readonly issuer: string; readonly realm: string; readonly adminUsername: string; readonly adminPassword: string; readonly server: KeycloakServer };
  readonly mail: { readonly smtpUrl: string; readonly inboxUrl: string; readonly catcher: SmtpCatcher };
  readonly nats: { readonly url: string };
  readonly dataDir: string;
  /** Where the services' JSON logs (pino) are written: `<dataDir>/logs/<service>.log`. */
  readonly logDir: string;
  /** Milliseconds from the call to everything answering. */
  readonly startedMs: number;
  stop(): Promise<void>;
}

/** The local platform's names: the environment whose configuration it runs, the console's environment label, the mail sender. */
export const LOCAL_PLATFORM = {
  /** The environment configuration the parts are configured from (streams, tiers' limits, the realm, ClickHouse TTLs). */
  environment: "dev",
  /** `environment` of the console's runtime configuration. */
  consoleEnvironment: "local",
  /** The From address of Keycloak's and the provisioning service's e-mails (`.localhost`: a name that is never delivered anywhere, RFC 6761). */
  mailFrom: "no-reply@enchanted.localhost",
  /** The nats-server's `server_name`. */
  natsServerName: "enchanted-local",
} as const;

/** Folders of the data directory, one per part. */
export const DATA_DIR_LAYOUT = {
  keycloak: "keycloak",
  nats: "nats",
  clickhouse: "clickhouse",
  provisioning: "provisioning",
  secrets: "secrets",
  logs: "logs",
} as const;

/** The repository root (this file is in `platform/`). */
const REPOSITORY_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Sources of the console's build: newer than the built index.html means the build is stale. */
const CONSOLE_SOURCES = ["console/src", "console/public", "console/index.html", "console/package.json", "console/vite.config.ts", "console/vite.config.js", "console/vite.config.mts", "console/contract.ts", "console/tsconfig.json"];

/** What the console's assets need, decided by modification times. */
export interface ConsoleBuildState {
  readonly build: boolean;
  /** Why (for the log). */
  readonly reason: string;
}

/** The newest modification time under `path` (a file or a folder, recursively), 0 when absent. */
function newestMtimeMs(path: string): { ms: number; file: string } {
  let newest = { ms: 0, file: path };
  let stats;
  try {
    stats = statSync(path);
  } catch {
    return newest;
  }
  if (!stats.isDirectory()) return { ms: stats.mtimeMs, file: path };
  for (const entry of readdirSync(path)) {
    const found = newestMtimeMs(join(path, entry));
    if (found.ms > newest.ms) newest = found;
  }
  return newest;
}

/**
 * Whether the console must be built: no `console/src` = nothing to build (the server answers
 * 503 until someone does); no `console/dist/index.html` = build; any source (console/src,
 * public/, index.html, package.json, the Vite and TypeScript configuration, console/contract.ts)
 * modified after that index.html was written = build; else the build is current.
 */
export function consoleBuildState(root: string = REPOSITORY_ROOT, distDir: string = defaultDistDir()): ConsoleBuildState {
  if (!existsSync(join(root, "console", "src"))) return { build: false, reason: "console/src does not exist yet: nothing to build (the console answers 503 until it is built)" };
  const index = join(distDir, "index.html");
  if (!existsSync(index)) return { build: true, reason: `${relative(root, index)} is missing` };
  const built = statSync(index).mtimeMs;
  const newest = CONSOLE_SOURCES.map((p) => newestMtimeMs(join(root, p))).reduce((a, b) => (b.ms > a.ms ? b : a));
  if (newest.ms > built) return { build: true, reason: `${relative(root, newest.file)} changed after the last build` };
  return { build: false, reason: `${CONSOLE_DIST_DIR} is current` };
}

/** Runs `npm run console:build` in the repository; resolves with its duration, rejects with its last output lines. */
export async function buildConsole(root: string = REPOSITORY_ROOT, signal?: AbortSignal): Promise<number> {
  const started = Date.now();
  const child = spawn("npm", ["run", "console:build"], { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: process.env, ...(signal ? { signal } : {}) });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString("utf8"));
    if (output.length > 400) output.splice(0, output.length - 400);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (c) => resolve(c));
  });
  if (code !== 0) {
    const tail = output.join("").split("\n").slice(-30).join("\n");
    throw new Error(`${CONSOLE_BUILD_COMMAND} exited ${code} (its last output below). Fix: make the console build (run ${CONSOLE_BUILD_COMMAND} to see every error), or start without building (npm run platform -- --no-console-build; PlatformOptions.buildConsole: false)\n${tail}`);
  }
  return Date.now() - started;
}

/** Programs the platform runs, checked before anything starts: a missing one fails with how to install it. */
export function checkPrerequisites(): void {
  requireNatsServer();
  const kcSh = join(keycloakHome(), "bin", "kc.sh");
  if (!existsSync(kcSh)) throw new Error(`Keycloak is not installed (no ${kcSh}). Fix: run \`bash .ci/install-system-deps\` (it fetches the pinned Keycloak distribution with Maven)`);
}

/** A file with mode 0600, its folder created. */
function writeSecret(path: string, text: string): string {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

/** The NATS seeds kept in the data directory (the accounts pushed in an earlier run stay valid), or new ones written there. */
function natsSeeds(dir: string): NatsSeeds {
  const file = join(dir, "seeds.json");
  if (existsSync(file)) {
    const kept = JSON.parse(readFileSync(file, "utf8")) as Partial<NatsSeeds>;
    if (typeof kept.operator !== "string" || typeof kept.swarmAccount !== "string" || !kept.swarmSigningKeys || PLAN_TIER_NAMES.some((t) => typeof kept.swarmSigningKeys?.[t] !== "string")) {
      throw new Error(`${file} is not the NATS seeds this data directory was created with. Fix: restore it, or remove ${dir} (the bus's accounts and streams) to start the bus over`);
    }
    return kept as NatsSeeds;
  }
  const seeds = generateNatsSeeds([]);
  writeSecret(file, `${JSON.stringify(seeds, null, 2)}\n`);
  return seeds;
}

/**
 * The topology Job's streams and consumers (`topologyDeclarations`), on a new or a kept store: a
 * stream that exists is updated to its declaration, because nats-server 2.14 checks an `add` of an
 * existing stream against the storage left beside its own reservation (SWARM_EVENTS' 10 GiB
 * twice) and refuses it with "insufficient storage resources available".
 */
async function ensureTopology(jsm: JetStreamManager, options: TopologyOptions): Promise<void> {
  const declared = topologyDeclarations(options);
  const existing = new Set<string>();
  for await (const name of jsm.streams.names()) existing.add(name);
  for (const stream of declared.streams) {
    if (existing.has(stream.name)) await jsm.streams.update(stream.name, stream);
    else await jsm.streams.add(stream);
  }
  for (const consumer of declared.consumers) await addConsumer(jsm, consumer);
}

/** A pino logger writing JSON lines to `<logDir>/<service>.log`. */
function serviceLog(logDir: string, service: string): Logger {
  return pino({ level: "info", base: { service } }, destination({ dest: join(logDir, `${service}.log`), mkdir: true, sync: true }));
}

export async function startPlatform(o: PlatformOptions = {}): Promise<RunningPlatform> {
  const started = Date.now();
  const say = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const since = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  // Between steps: a start aborted (Ctrl-C), or whose console build failed, stops what started so far.
  let buildFailure: Error | undefined;
  const step = () => {
    o.signal?.throwIfAborted();
    if (buildFailure) throw buildFailure;
  };
  step();
  checkPrerequisites();

  const env = loadEnvironment(LOCAL_PLATFORM.environment);
  const tiers = loadTierCatalog();
  const kept = o.dataDir !== undefined;
  if (o.dataDir) mkdirSync(o.dataDir, { recursive: true });
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), "enchanted-platform-"));
  const dir = (part: keyof typeof DATA_DIR_LAYOUT) => {
    const path = join(dataDir, DATA_DIR_LAYOUT[part]);
    mkdirSync(path, { recursive: true });
    return path;
  };
  const logDir = dir("logs");

  // Everything started so far, stopped in reverse order by stop() or by a failed start.
  // `busClient`: a NATS client of nats-server; when the server is already gone (Ctrl-C in a terminal
  // signals the whole process group, nats-server included), its failed drain is expected, not a failure.
  const stops: { name: string; stop: () => Promise<void>; busClient?: true }[] = [];
  let busGone = (): boolean => false;
  let stopping: Promise<void> | undefined;
  const stopAll = () => {
    stopping ??= (async () => {
      const failures: string[] = [];
      for (const part of stops.reverse()) {
        try {
          await part.stop();
        } catch (error) {
          if (part.busClient && busGone()) say(`${part.name}: stopped without draining (nats-server had already exited: ${(error as Error).message})`);
          else failures.push(`${part.name}: ${(error as Error).message}`);
        }
      }
      if (!kept) rmSync(dataDir, { recursive: true, force: true });
      if (failures.length > 0) throw new Error(`the platform stopped, but not every part cleanly: ${failures.join("; ")}`);
    })();
    return stopping;
  };

  let keycloak: RunningKeycloak | undefined;
  let consoleBuild: Promise<void> = Promise.resolve();
  try {
    // The console's assets, built in the background while the rest starts.
    if (o.buildConsole !== false) {
      const state = consoleBuildState();
      if (state.build) {
        say(`console: building (${state.reason}): ${CONSOLE_BUILD_COMMAND}`);
        consoleBuild = buildConsole(REPOSITORY_ROOT, o.signal).then((ms) => say(`console: built in ${(ms / 1000).toFixed(1)} s`));
        // Awaited below; a failure stops the start at its next step instead of after Keycloak.
        consoleBuild.catch((error: unknown) => {
          buildFailure = error as Error;
        });
      } else {
        say(`console: ${state.reason}`);
      }
    }

    // Mail first: Keycloak and the provisioning service send to it.
    const catcher = await SmtpCatcher.start({ inbox: true });
    stops.push({ name: "mail catcher", stop: () => catcher.stop() });
    say(`mail: SMTP ${catcher.url}, inbox ${catcher.inboxUrl}`);
    step();

    // The console's origin is the realm's web origin, the invitation links' and the API's: known first.
    const consolePort = await freePort();
    const consoleUrl = `http://127.0.0.1:${consolePort}`;

    // Keycloak: the slowest part, started now and awaited last.
    keycloak = await launchKeycloak({ dir: dir("keycloak"), webAppOrigin: consoleUrl, smtp: { host: "127.0.0.1", port: catcher.port, from: LOCAL_PLATFORM.mailFrom } });
    const kc = keycloak;
    stops.push({ name: "Keycloak", stop: () => kc.stop() });
    const issuer = `${kc.server.url}/realms/${REALM_NAME}`;
    say(`keycloak: starting ${kc.server.url} (Keycloak ${kc.server.version})`);
    step();

    // NATS: the operator configuration signed by a local bootstrap's seeds (kept in the data directory).
    const natsDir = dir("nats");
    const seeds = natsSeeds(natsDir);
    const keys = publicKeysOf(seeds);
    const signed = await signNatsAuth(natsAuthClaims({ name: env.name, nats: env.nats }, tiers, keys), seeds.operator);
    const nats: NatsServer = await startDataPlaneServer({ serverName: LOCAL_PLATFORM.natsServerName, signed, tiers, jetStreamStorageGiB: env.nats.storageGiB, storeDir: join(natsDir, "jetstream") });
    busGone = () => {
      try {
        process.kill(nats.pid ?? -1, 0);
        return false;
      } catch {
        return true;
      }
    };
    stops.push({ name: "nats-server", stop: () => nats.stop() });
    const secrets = dir("secrets");
    const creds = {
      platform: writeSecret(join(secrets, "platform.creds"), (await mintPlatformUser(seeds.swarmAccount)).creds),
      system: writeSecret(join(secrets, "system-user.creds"), (await mintSystemUser(seeds.systemAccount)).creds),
      provisioningBus: writeSecret(join(secrets, "provisioning-bus.creds"), (await mintProvisioningBusUser(seeds.swarmAccount)).creds),
    };
    // The streams and consumers, as the topology Job creates them (updated on a kept store).
    const topologyConnection = await connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(readFileSync(creds.platform, "utf8"))) });
    try {
      await ensureTopology(await jetstreamManager(topologyConnection), { nats: env.nats, workers: { tiers } });
    } finally {
      await topologyConnection.close();
    }
    say(`nats: ${nats.url} (operator mode, streams and consumers created) at ${since()}`);
    step();

    // The embedded ClickHouse engine: one session for every service of this process.
    const chdbPath = dir("clickhouse");
    const engine = await openEmbeddedEngine(chdbPath);
    const ch: ClickHouseClient = engine.client;
    stops.push({
      name: "ClickHouse engine",
      stop: async () => {
        await ch.close();
        await engine.release();
      },
    });
    for (const statement of schemaSql({ eventTtlDays: env.clickhouse.eventTtlDays })) await ch.command({ query: statement });

    const sink = new ClickHouseSink(ch);
    const ingestorConfig = loadIngestorConfig({ [INGESTOR_ENV.natsUrl]: nats.url, [INGESTOR_ENV.natsCreds]: creds.platform, [INGESTOR_ENV.chdbPath]: chdbPath, [INGESTOR_ENV.httpPort]: "off", [INGESTOR_ENV.logLevel]: "info" });
    const ingestor: RunningIngestor = await startIngestor(
      ingestorConfig,
      serviceLog(logDir, "ingestor"),
      sink,
      { tenants: sink, catalog: tiers },
    );
    stops.push({ name: "ingestor", stop: () => ingestor.stop(), busClient: true });

    // The provisioning service, configured through its own loader as its Deployment is.
    const signingKeysDir = join(secrets, "nats-signing-keys");
    for (const t of PLAN_TIER_NAMES) writeSecret(join(signingKeysDir, `${t}.seed`), seeds.swarmSigningKeys[t]);
    writeSecret(join(signingKeysDir, NATS_ACCOUNT_KEY_FILES.tenantAccounts), seeds.tenantAccountSigningKey);
    writeSecret(join(signingKeysDir, NATS_ACCOUNT_KEY_FILES.tenantImports), seeds.tenantImportSigningKey);
    const P = PROVISIONING_ENV;
    const provisioningConfig = loadProvisioningConfig({
      [P.httpPort]: "0",
      [P.logLevel]: "info",
      [P.lmdbPath]: dir("provisioning"),
      [P.oidcIssuer]: issuer,
      [P.keycloakUrl]: kc.server.url,
      [P.keycloakClientSecretFile]: writeSecret(join(secrets, "provisioning-client-secret"), provisioningClientSecret(kc.server)),
      [P.natsSigningKeysDir]: signingKeysDir,
      [P.natsAccount]: keys.swarmAccount,
      [P.natsUrl]: nats.url,
      [P.natsSystemCredsFile]: creds.system,
      [P.natsPlatformCredsFile]: creds.provisioningBus,
      [P.tokenIssuer]: consoleUrl,
      [P.smtpUrl]: catcher.url,
      [P.mailFrom]: LOCAL_PLATFORM.mailFrom,
      [P.consoleUrl]: consoleUrl,
    });
    const provisioning: RunningProvisioning = await startProvisioning(provisioningConfig, {
      host: "127.0.0.1",
      log: serviceLog(logDir, "provisioning"),
      eventStore: new ClickHouseEventStore(ch, { replicated: false }),
      // HISTORY_DELETION_GRACE_MS's own formula (the longest an ingestor may hold an accepted
      // batch after a plan change: its tenant cache's lifetime plus AckWait), applied to the one
      // ingestor that runs here, whose cache lifetime is known, instead of the bound's maximum.
      historyDeletionGraceMs: ingestorConfig.tenants.ttlMs + INGESTOR_JETSTREAM.ackWaitMs,
    });
    stops.push({ name: "provisioning", stop: () => provisioning.stop() });
    say(`provisioning: ${provisioning.url} at ${since()}`);
    step();

    // The events API: its tier readers are this engine's session (see the header), its data keys the provisioning service's store.
    const E = EVENTS_API_ENV;
    const eventsEnv: Record<string, string> = {
      [E.httpPort]: "0",
      [E.logLevel]: "info",
      [E.tokenIssuer]: consoleUrl,
      [E.jwksUrl]: `${provisioning.url}${JWKS_PATH}`,
      [E.provisioningUrl]: provisioning.url,
    };
    // No ClickHouse URL or reader passwords: the tier readers are handed in (`readers`).
    const eventsConfig = loadEventsApiConfig(eventsEnv, { readers: "handed-in" });
    const readers = Object.fromEntries(PLAN_TIER_NAMES.map((t) => [t, ch]));
    const eventsApi: RunningEventsApi = await startEventsApi(eventsConfig, {
      host: "127.0.0.1",
      log: serviceLog(logDir, "events-api"),
      readers,
      dataKeys: new StoreDataKeySource({ store: provisioning.store, provider: provisioning.dataKeys, cacheMs: eventsConfig.dataKeyCacheSeconds * 1000 }),
      catalog: tiers,
    });
    stops.push({ name: "events API", stop: () => eventsApi.stop() });
    say(`events API: ${eventsApi.url}`);
    step();

    // A worker for every pooled tier, each with its tier's platform-account user.
    const workers: RunningWorker[] = [];
    for (const tier of WORKER_TIERS) {
      const W = WORKER_ENV;
      const credsFile = writeSecret(join(secrets, `workers-${tier}.creds`), (await mintWorkerUser(seeds.swarmAccount, tier)).creds);
      const worker = await startWorker(
        loadWorkerConfig({ [W.tier]: tier, [W.natsUrl]: nats.url, [W.natsCredsFile]: credsFile, [W.provisioningUrl]: provisioning.url, [W.httpPort]: "off", [W.logLevel]: "info" }),
        { history: ch, log: serviceLog(logDir, `worker-${tier}`) },
      );
      workers.push(worker);
      stops.push({ name: `worker (${tier})`, stop: () => worker.stop(), busClient: true });
    }
    say(`workers: ${WORKER_TIERS.join(", ")}`);
    step();

    const consoleServer: RunningConsoleServer = await startConsoleServer({
      runtimeConfig: { issuer, clientId: WEB_CLIENT_ID, environment: LOCAL_PLATFORM.consoleEnvironment, natsServers: [nats.url] },
      upstreams: { provisioning: provisioning.url, eventsApi: eventsApi.url },
      port: consolePort,
    });
    stops.push({ name: "console server", stop: () => consoleServer.stop() });
    say(`console: ${consoleServer.url}`);

    // Keycloak is the last to answer; an abort or a failed console build does not wait for it.
    const aborted = new Promise<never>((_, reject) => {
      if (o.signal?.aborted) reject(o.signal.reason);
      o.signal?.addEventListener("abort", () => reject(o.signal?.reason), { once: true });
    });
    aborted.catch(() => undefined);
    const ready = await Promise.race([kc.ready, aborted, consoleBuild.then(() => kc.ready)]);
    say(`keycloak: ready in ${(ready.startMs / 1000).toFixed(1)} s, realm applied in ${(ready.applyMs / 1000).toFixed(1)} s`);
    await consoleBuild;
    const startedMs = Date.now() - started;

    return {
      consoleUrl,
      apiUrl: consoleUrl,
      provisioningUrl: provisioning.url,
      eventsApiUrl: eventsApi.url,
      keycloak: { url: kc.server.url, issuer, realm: REALM_NAME, adminUsername: kc.server.adminUser, adminPassword: kc.server.adminPassword, server: kc.server },
      mail: { smtpUrl: catcher.url, inboxUrl: catcher.inboxUrl, catcher },
      nats: { url: nats.url },
      dataDir,
      logDir,
      startedMs,
      stop: stopAll,
    };
  } catch (error) {
    say(`start failed after ${since()}: ${(error as Error).message.split("\n")[0]}; stopping what started`);
    await consoleBuild.catch(() => undefined);
    await stopAll().catch((stopError: unknown) => say(`(${(stopError as Error).message})`));
    throw error;
  }
}

/**
 * A real Keycloak (KEYCLOAK_PINS.server, fetched by `.ci/install-keycloak`) as a child process,
 * with the realm applied as production applies it. The test run's one server
 * (test/support/keycloak-global-setup.ts), `npm run bench:provision` and `npm run platform` start it here.
 *
 * - `kc.sh start-dev` on free loopback ports (HTTP and management), H2 `dev-file` database and
 *   transaction logs in a temporary directory (removed by `stop()`), or in `dir` (kept, with the
 *   bootstrap credentials in {@link BOOTSTRAP_FILE}, so a second start finds its users again),
 *   a bootstrap admin user and a bootstrap admin client (client credentials, as production's realm
 *   Job uses);
 * - the realm (`realmConfig` of the dev environment, with the web app's origin and the realm's
 *   SMTP server when given) applied by the realm Job's program (`runRealmApply` of
 *   services/keycloak-realm/apply-main.ts, which runs `applyRealm` of
 *   services/keycloak-realm/apply.ts) with the environment and the variables the Job gets.
 *
 * A missing distribution fails with the command that installs it; never a skip.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { loadEnvironment } from "../config/index.js";
import { freePort } from "../services/nats-auth/nats-server-process.js";
import { KEYCLOAK_PINS } from "../config/versions.js";
import { runRealmApply } from "../services/keycloak-realm/apply-main.js";
import { REALM_APPLY_ENV, REALM_VARIABLES } from "../services/keycloak-realm/names.js";
import { realmConfig, realmDocument } from "../services/keycloak-realm/realm.js";

export interface KeycloakServer {
  readonly version: string;
  readonly url: string;
  readonly managementUrl: string;
  /** Bootstrap admin user of `master` (admin console, password grant through admin-cli). */
  readonly adminUser: string;
  readonly adminPassword: string;
  /** Bootstrap admin client of `master` (client credentials): what the realm Job signs in with. */
  readonly adminClientId: string;
  readonly adminClientSecret: string;
  /** The realm's variables (`PROVISIONING_CLIENT_SECRET`, …) as the Job gets them. */
  readonly variables: Readonly<Record<string, string>>;
}

export interface RunningKeycloak {
  readonly server: KeycloakServer;
  /** Settles once the server is ready and the realm applied (start and apply durations), or with why not. */
  readonly ready: Promise<{ readonly startMs: number; readonly applyMs: number }>;
  /** Stops the server (SIGTERM, then SIGKILL after 10 s) and removes its directory (unless it was given as `dir`). */
  stop(): Promise<void>;
}

/** Where a kept Keycloak directory holds its bootstrap credentials (the admin user and client are created at its first start only). */
export const BOOTSTRAP_FILE = "bootstrap-credentials.json";

export interface KeycloakLaunchOptions {
  /** Keep the database, logs and bootstrap credentials here (created if missing; never removed). @default - a temporary directory, removed by `stop()` */
  readonly dir?: string;
  /** The web app's origin the realm's browser clients redirect to (`RealmOptions.webAppOrigin`). @default - the dev environment's (`https://<domains.api>`) */
  readonly webAppOrigin?: string;
  /** The realm's SMTP server instead of SES: plain SMTP without auth, e.g. a local mail catcher. @default - the dev environment's (SES) */
  readonly smtp?: { readonly host: string; readonly port: number; readonly from: string };
}

/** The realm's `smtpServer` for a plain, unauthenticated SMTP server (a local catcher): no TLS, no auth. */
export function plainSmtpServer(smtp: NonNullable<KeycloakLaunchOptions["smtp"]>): Record<string, string> {
  return { host: smtp.host, port: String(smtp.port), from: smtp.from, fromDisplayName: "Enchanted", ssl: "false", starttls: "false", auth: "false" };
}

type BootstrapCredentials = Pick<KeycloakServer, "adminUser" | "adminPassword" | "adminClientId" | "adminClientSecret" | "variables">;

/** The bootstrap credentials kept in `dir`, or new ones written there (mode 0600). */
function bootstrapCredentials(dir: string | undefined, fresh: () => BootstrapCredentials): BootstrapCredentials {
  if (!dir) return fresh();
  const file = join(dir, BOOTSTRAP_FILE);
  if (existsSync(file)) {
    const kept = JSON.parse(readFileSync(file, "utf8")) as Partial<BootstrapCredentials>;
    if (typeof kept.adminUser !== "string" || typeof kept.adminPassword !== "string" || typeof kept.adminClientId !== "string" || typeof kept.adminClientSecret !== "string" || typeof kept.variables !== "object" || kept.variables === null) {
      throw new Error(`${file} is not the bootstrap credentials this directory's Keycloak was created with. Fix: restore it, or remove ${dir} to start over with an empty Keycloak`);
    }
    return kept as BootstrapCredentials;
  }
  const created = fresh();
  writeFileSync(file, `${JSON.stringify(created, null, 2)}\n`, { mode: 0o600 });
  return created;
}

/** The realm Job's environment (services/keycloak-realm/apply-main.ts) for this server: its URL, the bootstrap admin client, the realm file, the realm's variables. */
export function realmJobEnvironment(server: KeycloakServer, realmFile: string, availabilityTimeoutSeconds: string): Record<string, string> {
  return {
    ...server.variables,
    [REALM_APPLY_ENV.url]: server.url,
    [REALM_APPLY_ENV.clientId]: server.adminClientId,
    [REALM_APPLY_ENV.clientSecret]: server.adminClientSecret,
    [REALM_APPLY_ENV.file]: realmFile,
    [REALM_APPLY_ENV.availabilityTimeoutSeconds]: availabilityTimeoutSeconds,
  };
}

/** Where `.ci/install-keycloak` unpacks the distribution. */
export function keycloakHome(version: string = KEYCLOAK_PINS.server): string {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(cache, "enchanted", "keycloak", version, `keycloak-${version}`);
}

async function waitReady(managementUrl: string, url: string, child: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`Keycloak exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tail(logFile)}`);
    }
    try {
      const health = await fetch(`${managementUrl}/health/ready`, { signal: AbortSignal.timeout(2_000) });
      const discovery = health.ok ? await fetch(`${url}/realms/master/.well-known/openid-configuration`, { signal: AbortSignal.timeout(2_000) }) : undefined;
      if (discovery?.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`Keycloak was not ready after ${timeoutMs / 1000} s:\n${tail(logFile)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-40).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Starts Keycloak in the background and applies the realm; `ready` tells when it is usable. */
export async function launchKeycloak(o: KeycloakLaunchOptions = {}): Promise<RunningKeycloak> {
  const version = KEYCLOAK_PINS.server;
  const kcSh = join(keycloakHome(version), "bin", "kc.sh");
  if (!existsSync(kcSh)) {
    throw new Error(`Keycloak ${version} is not installed (no ${kcSh}): run \`bash .ci/install-system-deps\` (it fetches org.keycloak:keycloak-quarkus-dist:${version} with Maven)`);
  }
  // The realm is built (and its options checked) before anything starts.
  const realm = realmConfig(loadEnvironment("dev"), o.webAppOrigin ? { webAppOrigin: o.webAppOrigin } : {});
  const realmJson = realmDocument(o.smtp ? { ...realm, smtpServer: plainSmtpServer(o.smtp) } : realm);
  const kept = o.dir !== undefined;
  if (o.dir) mkdirSync(o.dir, { recursive: true });
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), "keycloak-"));
  const [httpPort, managementPort] = [await freePort(), await freePort()];
  const secret = () => randomBytes(18).toString("base64url");
  const server: KeycloakServer = {
    version,
    url: `http://127.0.0.1:${httpPort}`,
    managementUrl: `http://127.0.0.1:${managementPort}`,
    ...bootstrapCredentials(o.dir, () => ({
      adminUser: "bootstrap-admin",
      adminPassword: secret(),
      adminClientId: "bootstrap-admin-client",
      adminClientSecret: secret(),
      variables: { [REALM_VARIABLES.provisioningClientSecret]: secret(), [REALM_VARIABLES.smtpUsername]: "smtp-user", [REALM_VARIABLES.smtpPassword]: secret() },
    })),
  };
  const logFile = join(dir, "keycloak.log");
  const log = openSync(logFile, "a");
  const started = Date.now();
  const child = spawn(
    kcSh,
    [
      "start-dev",
      "--http-host=127.0.0.1",
      `--http-port=${httpPort}`,
      `--http-management-port=${managementPort}`,
      "--health-enabled=true",
      "--db=dev-file",
      `--db-url=jdbc:h2:file:${join(dir, "h2", "keycloakdb")};NON_KEYWORDS=VALUE`,
      "--log-level=WARN",
    ],
    {
      cwd: dir,
      detached: true,
      stdio: ["ignore", log, log],
      env: {
        ...process.env,
        ...(process.env.KEYCLOAK_JAVA_HOME ? { JAVA_HOME: process.env.KEYCLOAK_JAVA_HOME } : {}),
        JAVA_OPTS_APPEND: `-Dquarkus.transaction-manager.object-store.directory=${join(dir, "transaction-logs")}`,
        KC_BOOTSTRAP_ADMIN_USERNAME: server.adminUser,
        KC_BOOTSTRAP_ADMIN_PASSWORD: server.adminPassword,
        KC_BOOTSTRAP_ADMIN_CLIENT_ID: server.adminClientId,
        KC_BOOTSTRAP_ADMIN_CLIENT_SECRET: server.adminClientSecret,
      },
    },
  );
  closeSync(log);
  child.unref();
  const kill = (signal: NodeJS.Signals) => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    }
  };
  const onExit = () => kill("SIGKILL");
  process.once("exit", onExit);

  const ready = (async () => {
    await waitReady(server.managementUrl, server.url, child, logFile, 240_000);
    const startMs = Date.now() - started;
    const applied = Date.now();
    // Exactly as the realm Job does it: its program, its environment, the realm file it mounts.
    const realmFile = join(dir, "realm.json");
    writeFileSync(realmFile, realmJson);
    const lines: string[] = [];
    const code = await runRealmApply(realmJobEnvironment(server, realmFile, "60"), (line) => lines.push(line));
    if (code !== 0) throw new Error(`the realm Job's program exited ${code}: ${lines.join(" | ")}`);
    return { startMs, applyMs: Date.now() - applied };
  })();
  ready.catch(() => undefined); // observed by the caller; never an unhandled rejection here

  return {
    server,
    ready,
    async stop() {
      // Timers stay referenced: the child is unref'd, and a pending promise alone does not keep the process alive.
      const within = (ms: number, what: Promise<unknown>) => {
        let timer: NodeJS.Timeout | undefined;
        return Promise.race([what, new Promise((r) => (timer = setTimeout(r, ms)))]).finally(() => clearTimeout(timer));
      };
      await within(1_000, ready.catch(() => undefined));
      kill("SIGTERM");
      const exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once("exit", () => resolve());
      });
      await within(10_000, exited);
      kill("SIGKILL");
      process.off("exit", onExit);
      if (!kept) rmSync(dir, { recursive: true, force: true });
    },
  };
}

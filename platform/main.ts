/**
 * `npm run platform`: the whole platform on this machine (platform/start.ts), its URLs and how to
 * sign in printed once everything answers; Ctrl-C (SIGINT) or SIGTERM stops every part and
 * removes what it created.
 *
 *   npm run platform                               fresh data in a temporary directory, removed at stop
 *   npm run platform -- --data-dir .data/platform  keep users, tenants, events and the bus across runs
 *   PLATFORM_DATA_DIR=.data/platform npm run platform
 *   npm run platform -- --no-console-build         serve console/dist as it is (no build first)
 *
 * Exit codes: 0 after a requested stop, 1 when the start failed (the reason printed, with how to
 * install a missing program), 2 on a bad flag.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { WEB_APP_PATHS } from "../services/keycloak-realm/names.js";
import { startPlatform, type RunningPlatform } from "./start.js";

/** The variable that names the data directory when `--data-dir` is not given. */
export const PLATFORM_DATA_DIR_ENV = "PLATFORM_DATA_DIR";

export interface PlatformArgs {
  readonly dataDir: string | undefined;
  readonly buildConsole: boolean;
  readonly help: boolean;
}

const USAGE = `usage: npm run platform [-- [--data-dir <path>] [--no-console-build] [--help]]

  --data-dir <path>     keep the platform's data (Keycloak's users, tenants, events, the bus) in <path>
                        across runs (created if missing); also ${PLATFORM_DATA_DIR_ENV}=<path>.
                        Default: a temporary directory, removed at stop.
  --no-console-build    serve console/dist as it is, without building it first when it is stale.
  --help                this text.`;

/** A command line the platform does not understand: the flag, and how to write it. */
export class PlatformArgsError extends Error {
  override readonly name = "PlatformArgsError";
}

/** The flags of `npm run platform` (after `--`), and `PLATFORM_DATA_DIR`; throws {@link PlatformArgsError} naming the flag and the fix. */
export function parsePlatformArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = process.env): PlatformArgs {
  let dataDir: string | undefined;
  let buildConsole = true;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--help" || arg === "-h") help = true;
    else if (arg === "--no-console-build") buildConsole = false;
    else if (arg === "--data-dir" || arg.startsWith("--data-dir=")) {
      const value = arg === "--data-dir" ? argv[++i] : arg.slice("--data-dir=".length);
      if (value === undefined || value === "" || value.startsWith("--")) throw new PlatformArgsError(`--data-dir needs a path. Fix: --data-dir <path>, e.g. --data-dir .data/platform`);
      if (dataDir !== undefined) throw new PlatformArgsError(`--data-dir is given twice. Fix: give it once`);
      dataDir = value;
    } else {
      throw new PlatformArgsError(`unknown flag ${JSON.stringify(arg)}. Fix: use --data-dir <path>, --no-console-build or --help (after \`--\`: npm run platform -- --data-dir <path>)`);
    }
  }
  if (dataDir === undefined) {
    const fromEnv = env[PLATFORM_DATA_DIR_ENV];
    if (fromEnv !== undefined && fromEnv.trim() === "") throw new PlatformArgsError(`${PLATFORM_DATA_DIR_ENV} is set but empty. Fix: set it to a path, or unset it for a temporary directory`);
    dataDir = fromEnv;
  }
  return { dataDir: dataDir === undefined ? undefined : resolve(dataDir), buildConsole, help };
}

/** What `npm run platform` prints once everything answers. */
export function platformSummary(p: RunningPlatform, kept: boolean): string {
  const seconds = (p.startedMs / 1000).toFixed(1);
  const rows: [string, string][] = [
    ["console", p.consoleUrl],
    ["API", `${p.apiUrl}/v1/  (the gateway's stand-in, on the console's origin; JWKS at ${p.apiUrl}/.well-known/jwks.json)`],
    ["Keycloak", `${p.keycloak.url}  (realm ${p.keycloak.realm}, issuer ${p.keycloak.issuer})`],
    ["Keycloak admin", `${p.keycloak.url}/admin/master/console/  user ${p.keycloak.adminUsername}, password ${p.keycloak.adminPassword}`],
    ["mail inbox", `${p.mail.inboxUrl}  (every e-mail sent, JSON, newest last; ?to=<address> for one person's)`],
    ["SMTP", p.mail.smtpUrl],
    ["NATS", `${p.nats.url}  (operator mode: agents connect with the credentials the console hands out)`],
    ["provisioning", p.provisioningUrl],
    ["events API", p.eventsApiUrl],
    ["data", `${p.dataDir}  (${kept ? "kept after stop" : "removed at stop; --data-dir <path> keeps it"})`],
    ["logs", `${p.logDir}  (the services' JSON logs)`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    `The Enchanted platform is up (${seconds} s).`,
    "",
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    "",
    "Sign in:",
    `  1. Open ${p.consoleUrl} and choose Register on the sign-in page (any e-mail address: nothing leaves this machine).`,
    `  2. The verification e-mail is in the inbox: ${p.mail.inboxUrl}. Open its link in the same browser;`,
    `     Keycloak sends you back to the console (${p.consoleUrl}${WEB_APP_PATHS.redirect}).`,
    `  3. Create a tenant; invitations you send arrive in the same inbox (links to ${p.consoleUrl}/invitations/accept).`,
    "",
    "Ctrl-C stops everything.",
  ].join("\n");
}

async function main(): Promise<number> {
  let args: PlatformArgs;
  try {
    args = parsePlatformArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof PlatformArgsError)) throw error;
    process.stderr.write(`platform: ${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const log = (line: string) => process.stderr.write(`platform: ${line}\n`);
  const abort = new AbortController();
  let platform: RunningPlatform | undefined;
  let stopping: Promise<number> | undefined;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log(`${signal} again: exiting without waiting for the parts to stop`);
      process.exit(1);
    }
    if (!platform) {
      log(`${signal}: aborting the start`);
      abort.abort(new Error(`interrupted by ${signal}`));
      stopping = Promise.resolve(0);
      return;
    }
    const running = platform;
    log(`${signal}: stopping`);
    const t = Date.now();
    stopping = running.stop().then(
      () => {
        log(`stopped in ${((Date.now() - t) / 1000).toFixed(1)} s${args.dataDir ? `; data kept in ${args.dataDir}` : "; temporary data removed"}`);
        return 0;
      },
      (error: unknown) => {
        log((error as Error).message);
        return 1;
      },
    );
    void stopping.then((code) => process.exit(code));
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));

  try {
    platform = await startPlatform({ ...(args.dataDir ? { dataDir: args.dataDir } : {}), buildConsole: args.buildConsole, log, signal: abort.signal });
  } catch (error) {
    if (abort.signal.aborted) {
      log("start aborted; what had started is stopped");
      return 0;
    }
    log(`could not start: ${(error as Error).message}`);
    return 1;
  }
  process.stdout.write(`\n${platformSummary(platform, args.dataDir !== undefined)}\n`);
  // Runs until a signal: the servers keep the process alive.
  return new Promise<number>(() => undefined);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`platform: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}

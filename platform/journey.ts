/**
 * `npm run journey`: the customer's journey through the platform's APIs only (platform/journey/run.ts),
 * each step timed: sign-up with e-mail verification, sign-in, a tenant, agent credentials, the
 * README's SDK example and its events in the history, an invited second person and their role,
 * a replay run by the worker, and offboarding (credentials refused, history deleted).
 *
 *   npm run journey                                   starts a platform (startPlatform), runs, stops it
 *   npm run journey -- --console <url> --inbox <url>  runs against a running `npm run platform`
 *
 * Progress goes to stderr; the last line on stdout is one JSON object
 * `{"steps":[{"name","ok","ms","detail"?}],"ok"}`; the exit code is 1 when a step failed.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runJourney, type JourneyPlatform, type JourneyResult } from "./journey/run.js";

export const JOURNEY_USAGE = `usage: npm run journey [-- --console <url> --inbox <url>]
  (no flags)        start a local platform (as npm run platform does), run the journey, stop it
  --console <url>   the console origin of a running npm run platform (it prints it), e.g. http://127.0.0.1:8080
  --inbox <url>     that platform's mail inbox (it prints it), e.g. http://127.0.0.1:8025/messages
  --help            this text`;

export type JourneyArgs = { readonly kind: "start" } | { readonly kind: "attach"; readonly consoleUrl: string; readonly inboxUrl: string } | { readonly kind: "help" };

/** A command line the journey cannot run with: the message names the flag and the fix. */
export class JourneyUsageError extends Error {
  override name = "JourneyUsageError";
}

/** What `npm run platform` prints for each flag's URL, as the fix's example. */
const EXAMPLES: Readonly<Record<string, string>> = { "--console": "its console line, e.g. http://127.0.0.1:8080", "--inbox": "its mail inbox line, e.g. http://127.0.0.1:8025/messages" };

function httpUrl(flag: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new JourneyUsageError(`${flag} ${JSON.stringify(value)} is not a URL. Fix: pass the full URL npm run platform printed as ${EXAMPLES[flag]}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new JourneyUsageError(`${flag} ${JSON.stringify(value)} is not http(s). Fix: pass the URL npm run platform printed as ${EXAMPLES[flag]}`);
  return value;
}

/** The command line (`process.argv.slice(2)`): `--flag value` or `--flag=value`. */
export function parseJourneyArgs(argv: readonly string[]): JourneyArgs {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--help" || arg === "-h") return { kind: "help" };
    const eq = arg.indexOf("=");
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (flag !== "--console" && flag !== "--inbox") {
      throw new JourneyUsageError(`${arg.startsWith("-") ? "unknown flag" : "unexpected argument"} ${JSON.stringify(arg)}. Fix: use --console <url> and --inbox <url> together, or no flag at all to start a platform`);
    }
    if (values.has(flag)) throw new JourneyUsageError(`${flag} is given twice. Fix: pass it once`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === "" || value.startsWith("--")) throw new JourneyUsageError(`${flag} needs a URL. Fix: ${flag} <url>, as npm run platform printed it`);
    values.set(flag, httpUrl(flag, value));
  }
  const consoleUrl = values.get("--console");
  const inboxUrl = values.get("--inbox");
  if (consoleUrl && !inboxUrl) throw new JourneyUsageError("--console is given without --inbox. Fix: add --inbox <url> (the mail inbox npm run platform printed): the journey reads the verification and invitation e-mails there");
  if (inboxUrl && !consoleUrl) throw new JourneyUsageError("--inbox is given without --console. Fix: add --console <url> (the console origin npm run platform printed), or pass neither to start a platform");
  return consoleUrl && inboxUrl ? { kind: "attach", consoleUrl, inboxUrl } : { kind: "start" };
}

async function main(): Promise<number> {
  let args: JourneyArgs;
  try {
    args = parseJourneyArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof JourneyUsageError)) throw error;
    process.stderr.write(`journey: ${error.message}\n${JOURNEY_USAGE}\n`);
    return 2;
  }
  if (args.kind === "help") {
    process.stdout.write(`${JOURNEY_USAGE}\n`);
    return 0;
  }
  const log = (line: string) => process.stderr.write(`journey: ${line}\n`);
  let stop: (() => Promise<void>) | undefined;
  // Ctrl-C while this process runs its own platform: stop it (Keycloak, NATS, the services) first.
  const interrupted = async (sig: NodeJS.Signals) => {
    log(`${sig}: stopping`);
    await stop?.().catch(() => undefined);
    process.exit(130);
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);

  let platform: JourneyPlatform;
  if (args.kind === "attach") {
    platform = { consoleUrl: args.consoleUrl, inboxUrl: args.inboxUrl };
  } else {
    platform = {
      start: async () => {
        // Loaded only here: attaching to a running platform needs none of its code.
        const { startPlatform } = await import("./start.js");
        // The journey uses the APIs only: the console's assets are not built for it.
        const p = await startPlatform({ buildConsole: false, log: (line) => process.stderr.write(`platform: ${line}\n`) });
        stop = () => p.stop();
        return { consoleUrl: p.consoleUrl, inboxUrl: p.mail.inboxUrl };
      },
    };
  }
  let result: JourneyResult;
  try {
    result = await runJourney(platform, { log });
  } finally {
    if (stop) {
      log("stopping the platform");
      await stop();
    }
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return result.ok ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`journey: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}

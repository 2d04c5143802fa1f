/**
 * `npm run journey` (platform/journey.ts): its command line, and the whole journey against one
 * local platform (startPlatform: Keycloak, NATS, the ingestor on the embedded engine, provisioning,
 * the events API, a worker, the console's origin and the mail catcher), through the APIs only.
 * The journey's JSON line is printed, as `npm run journey` prints it.
 *
 * The same platform (one start, its console built) then runs the journey in a real browser
 * (test/platform/browser-journey.ts: playwright-core driving Debian's Chromium, screenshots in
 * test-artifacts/journey/).
 *
 * The journey waits for the history's deletion after offboarding, which the provisioning service
 * starts HISTORY_DELETION_GRACE_MS after the offboarded plan row (however the platform sets it):
 * most of this file's time.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JourneyUsageError, parseJourneyArgs } from "../../platform/journey.js";
import { runJourney, type JourneyResult } from "../../platform/journey/run.js";
import { startPlatform, type RunningPlatform } from "../../platform/start.js";
import { runBrowserJourney } from "./browser-journey.js";

const execFileAsync = promisify(execFile);

describe("npm run journey's command line", () => {
  it("starts its own platform without flags, attaches with --console and --inbox (either form)", () => {
    expect(parseJourneyArgs([])).toEqual({ kind: "start" });
    expect(parseJourneyArgs(["--console", "http://127.0.0.1:8080", "--inbox=http://127.0.0.1:8025/messages"])).toEqual({ kind: "attach", consoleUrl: "http://127.0.0.1:8080", inboxUrl: "http://127.0.0.1:8025/messages" });
    expect(parseJourneyArgs(["--help"])).toEqual({ kind: "help" });
  });

  it.each([
    [["--console", "http://127.0.0.1:8080"], /--console is given without --inbox\. Fix: add --inbox <url>/],
    [["--inbox", "http://127.0.0.1:8025/messages"], /--inbox is given without --console\. Fix: add --console <url>/],
    [["--console"], /--console needs a URL\. Fix: --console <url>/],
    [["--console", "127.0.0.1:8080", "--inbox", "http://127.0.0.1:8025"], /--console "127\.0\.0\.1:8080" is not (a URL|http\(s\))\. Fix:/],
    [["--consol", "http://127.0.0.1:8080"], /unknown flag "--consol"\. Fix: use --console <url> and --inbox <url> together/],
    [["--console", "http://a", "--console", "http://b", "--inbox", "http://c"], /--console is given twice/],
  ])("refuses %j with the flag and the fix", (argv, message) => {
    expect(() => parseJourneyArgs(argv)).toThrow(JourneyUsageError);
    expect(() => parseJourneyArgs(argv)).toThrow(message);
  });

  it("the script prints the error and its usage, and exits 2, before starting anything", async () => {
    const run = await execFileAsync(process.execPath, ["--import", "tsx", "platform/journey.ts", "--console", "http://127.0.0.1:1"], { encoding: "utf8", timeout: 60_000 }).then(
      () => undefined,
      (error: { code?: number; stderr?: string; stdout?: string }) => error,
    );
    expect(run?.code).toBe(2);
    expect(run?.stderr).toContain("--console is given without --inbox");
    expect(run?.stderr).toContain("usage: npm run journey");
    expect(run?.stdout).toBe("");
  });
});

describe("the customer's journey on one local platform", () => {
  let platform: RunningPlatform | undefined;
  let startMs = 0;

  beforeAll(async () => {
    const started = performance.now();
    // The console built: the browser journey clicks through it (the API journey only needs its origin).
    platform = await startPlatform({ log: (line) => process.stderr.write(`platform: ${line}\n`) });
    startMs = Math.round(performance.now() - started);
  }, 360_000);

  afterAll(async () => {
    await platform?.stop();
  }, 60_000);

  it("through the APIs only: every step succeeds, each a real HTTP interaction, in order", async () => {
    const p = platform as RunningPlatform;
    const result: JourneyResult = await runJourney({ consoleUrl: p.consoleUrl, inboxUrl: p.mail.inboxUrl }, { log: (line) => process.stderr.write(`journey: ${line}\n`) });
    process.stdout.write(`platform started in ${startMs} ms\n${JSON.stringify(result)}\n`);
    expect(result.steps.map((s) => s.name)).toEqual([
      "read the console's configuration",
      "register the owner (registration form)",
      "verify the owner's e-mail (link from the inbox)",
      "sign in as the owner (authorization code + PKCE)",
      "create a tenant",
      "get a tenant token",
      "create agent credentials",
      "run the README's SDK example",
      "see the example's events in the timeline",
      "see the example's decision in crash context",
      "invite a member by e-mail",
      "register the invitee (registration form)",
      "verify the invitee's e-mail (link from the inbox)",
      "sign in as the invitee (authorization code + PKCE)",
      "accept the invitation (token from the e-mail link)",
      "the invitee lists their tenants and sees the member role",
      "the invitee reads the history and is refused (403) inviting and offboarding",
      "the agent changes the resource again (SDK)",
      "read the resource's state history",
      "replay the resource to its earlier state",
      "see the worker's revert in the timeline",
      "offboard the tenant (owner)",
      "the bus refuses the agent credentials",
      "the history is deleted",
    ]);
    expect(result.steps.filter((s) => !s.ok)).toEqual([]);
    expect(result.ok).toBe(true);
  }, 300_000);

  it("in a real browser (Chromium): every step passes, clicked through the console", async () => {
    const steps = await runBrowserJourney(platform as RunningPlatform);
    expect(steps.map((s) => s.name)).toEqual([
      "register",
      "create-tenant",
      "credentials-and-sdk-example",
      "timeline",
      "crash-context",
      "invite",
      "invitee-accepts",
      "member-sees-no-owner-controls",
      "replay",
      "revert-in-timeline",
      "offboard",
      "credentials-refused",
      "history-deleted",
    ]);
  }, 600_000);
});

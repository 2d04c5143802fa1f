/**
 * (Run by test/platform/journey.test.ts, on the platform the API journey uses.)
 *
 * The customer's journey in a real browser (issue 18 item 3): playwright-core drives Debian's
 * Chromium (ENCHANTED_CHROMIUM, else `chromium` on PATH) against one local platform
 * (startPlatform, the console built), clicking the console by its accessible names: sign-up with
 * e-mail verification, a tenant, credentials downloaded as credentials.json and the README's SDK
 * example run with them, the timeline and crash context, an invitation accepted by a second person
 * in a second browser context, a replay and the worker's revert, offboarding. Every step's
 * screenshot is written to test-artifacts/journey/NN-<step>.png; every request the console makes
 * to /v1/ must carry only the signed-in person's own tokens.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { expect } from "vitest";
import { newPerson, type Person } from "../../platform/journey/identity.js";
import { Inbox, invitationTokenOf, verificationLinkOf } from "../../platform/journey/inbox.js";
import { waitFor } from "../../platform/journey/http.js";
import { tryPublish } from "../../platform/journey/probe.js";
import type { RunningPlatform } from "../../platform/start.js";
import { AgentClient, credentialsFromAnswer, CredentialsRejectedError, stateChange, stateHashOf, type AgentCredentials } from "../../sdk/index.js";

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ARTIFACTS = join(ROOT, "test-artifacts", "journey");
const PROJECT = "checkout-service";
const AGENT = "coder-1";
const RESOURCE = "src/billing/ledger.ts";
const REVERT_AGENT = "state-revert";

/** Debian's Chromium: ENCHANTED_CHROMIUM, else chromium / chromium-browser on PATH. */
function findChromium(): string {
  const env = process.env["ENCHANTED_CHROMIUM"];
  if (env) {
    if (!existsSync(env)) throw new Error(`ENCHANTED_CHROMIUM=${env} does not exist. Fix: point it at a Chromium binary, or unset it and run bash .ci/install-system-deps (installs Debian's chromium)`);
    return env;
  }
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      const path = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
      if (path) return path;
    } catch {
      // not on PATH
    }
  }
  throw new Error("no Chromium found (ENCHANTED_CHROMIUM unset, no chromium on PATH). Fix: bash .ci/install-system-deps installs Debian's chromium");
}

export interface Step {
  readonly name: string;
  readonly ms: number;
}

/** One recorded /v1/ request of a page: who it was made as. */
interface ApiRequest {
  readonly who: string;
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
}

function claims(jwt: string): Record<string, unknown> {
  const part = jwt.split(".")[1] ?? "";
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
}

/**
 * Runs the whole browser journey against `platform` (started with its console built); throws at the
 * first failed step (its screenshot is NN-<step>-FAILED.png). Answers each step's milliseconds.
 */
export async function runBrowserJourney(platform: RunningPlatform): Promise<readonly Step[]> {
  const p = platform;
  const b = await chromium.launch({ executablePath: findChromium(), headless: true, args: ["--no-sandbox"] });
  const workDir = mkdtempSync(join(tmpdir(), "enchanted-browser-journey-"));
  try {
    const consoleUrl = p.consoleUrl.replace(/\/+$/, "");
    const issuer = p.keycloak.issuer.replace(/\/+$/, "");
    const inbox = new Inbox(p.mail.inboxUrl);
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    const steps: Step[] = [];
    const requests: ApiRequest[] = [];
    let shot = 0;
    const screenshot = async (page: Page, name: string) => {
      shot += 1;
      await page.screenshot({ path: join(ARTIFACTS, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
    };
    const step = async (name: string, page: () => Page, run: () => Promise<void>) => {
      const started = performance.now();
      process.stderr.write(`browser journey: … ${name}\n`);
      try {
        await run();
      } catch (error) {
        await screenshot(page(), `${name}-FAILED`).catch(() => undefined);
        process.stderr.write(`browser journey: FAIL ${name}\n${steps.map((s) => `  ok ${s.name} ${s.ms} ms`).join("\n")}\n`);
        throw error;
      }
      await screenshot(page(), name);
      const ms = Math.round(performance.now() - started);
      steps.push({ name, ms });
      process.stderr.write(`browser journey: ok ${name} (${ms} ms)\n`);
    };
    const record = (page: Page, who: string) =>
      page.on("request", (r) => {
        if (!r.url().startsWith(`${consoleUrl}/v1/`)) return;
        requests.push({ who, method: r.method(), url: r.url(), authorization: r.headers()["authorization"] });
      });
    const newContext = async (): Promise<BrowserContext> => b.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    const nav = (page: Page, name: string) => page.getByRole("navigation", { name: "Main navigation" }).getByRole("link", { name, exact: true }).click();

    /** Keycloak's registration form filled in, then the verification link opened in the same tab: back in the console. */
    const registerAndVerify = async (page: Page, person: Person) => {
      await page.waitForURL((u) => u.toString().startsWith(issuer), { timeout: 30_000 });
      await page.locator('input[name="email"]').fill(person.email);
      await page.locator('input[name="firstName"]').fill("Journey");
      await page.locator('input[name="lastName"]').fill("Person");
      await page.locator('input[name="password"]').fill(person.password);
      await page.locator('input[name="password-confirm"]').fill(person.password);
      await page.locator('input[name="password-confirm"]').press("Enter");
      await page.waitForLoadState("load");
      const mail = await inbox.waitFor(person.email, "the verification e-mail", (m) => verificationLinkOf(m) !== undefined);
      await page.goto(verificationLinkOf(mail) as string);
      // An information page ("proceed to the application") may stand between the link and the console.
      if (page.url().startsWith(issuer)) {
        const proceed = page.locator('a[href*="login-actions"], a[href*="auth/callback"]').first();
        if (await proceed.count()) await proceed.click();
      }
      await page.waitForURL((u) => u.toString().startsWith(consoleUrl) && !u.pathname.startsWith("/auth/callback"), { timeout: 30_000 });
    };

    // ---- 1. the owner registers -----------------------------------------------------------------
    const owner = newPerson("owner");
    const ownerContext = await newContext();
    const page = await ownerContext.newPage();
    record(page, "owner");
    await step(
      "register",
      () => page,
      async () => {
        await page.goto(consoleUrl);
        await page.getByRole("button", { name: "Create account" }).click();
        await registerAndVerify(page, owner);
        await page.getByRole("textbox", { name: "Tenant name" }).waitFor({ timeout: 30_000 });
      }
    );

    // ---- 2. a tenant ---------------------------------------------------------------------------
    let tenantId = "";
    await step(
      "create-tenant",
      () => page,
      async () => {
        await page.getByRole("textbox", { name: "Tenant name" }).fill(`Journey ${Date.now().toString(36)}`);
        await page.getByRole("button", { name: "Create tenant" }).click();
        await page.waitForURL(/\/t\/[^/]+\/credentials$/, { timeout: 30_000 });
        tenantId = decodeURIComponent(/\/t\/([^/]+)\/credentials$/.exec(new URL(page.url()).pathname)?.[1] ?? "");
        expect(tenantId).not.toBe("");
      }
    );

    // ---- 3. credentials, downloaded as credentials.json; the README's example ----------------------
    const credentialsPath = join(workDir, "credentials.json");
    let credentials: AgentCredentials | undefined;
    await step(
      "credentials-and-sdk-example",
      () => page,
      async () => {
        // The tenant's bus account may still be being set up: the mint is retried until it answers.
        await waitFor("credentials minted in the console", 60_000, async () => {
          await page.getByRole("button", { name: "Create credentials" }).click();
          const ok = await page
            .getByRole("button", { name: "Download credentials.json" })
            .waitFor({ timeout: 5_000 })
            .then(() => true)
            .catch(() => undefined);
          return ok;
        });
        const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download credentials.json" }).click()]);
        expect(download.suggestedFilename()).toBe("credentials.json");
        await download.saveAs(credentialsPath);
        const saved = readFileSync(credentialsPath, "utf8");
        expect((JSON.parse(saved) as { tenantId: string }).tenantId).toBe(tenantId);
        credentials = credentialsFromAnswer(saved);
        const run = await execFileAsync(process.execPath, ["--import", "tsx", "sdk/examples/quickstart.ts", credentialsPath, PROJECT], { cwd: ROOT, encoding: "utf8", timeout: 90_000 });
        const out = JSON.parse(run.stdout.trim().split("\n").pop() ?? "") as { tenantId: string; events: string[] };
        expect(out.tenantId).toBe(tenantId);
        expect(out.events).toHaveLength(3);
      }
    );

    // ---- 4. timeline and crash context ------------------------------------------------------------
    await step(
      "timeline",
      () => page,
      async () => {
        await nav(page, "Timeline");
        await waitFor(
          "the example's events in table Events",
          30_000,
          async () => {
            await page.getByRole("button", { name: "Apply filters" }).click();
            const rows = page.getByRole("table", { name: "Events" }).locator("tbody tr").filter({ hasText: AGENT });
            return (await rows.count().catch(() => 0)) >= 3 ? true : undefined;
          },
          { intervalMs: 1_000 }
        );
      }
    );
    await step(
      "crash-context",
      () => page,
      async () => {
        await nav(page, "Crash context");
        await page.getByRole("textbox", { name: "Agent ID" }).fill(AGENT);
        await page.getByRole("button", { name: "Show crash context" }).click();
        await expect.poll(() => page.getByRole("table", { name: "Decisions before the crash" }).locator("tbody tr").count(), { timeout: 15_000 }).toBeGreaterThan(0);
        // The one narrow screenshot: the same page at a phone's width.
        await page.setViewportSize({ width: 390, height: 800 });
        await page.waitForTimeout(300);
        await screenshot(page, "crash-context-390px");
        await page.setViewportSize({ width: 1280, height: 800 });
      }
    );

    // ---- 5. an invitation, accepted by a second person in a second browser context -------------------
    const invitee = newPerson("invitee");
    const inviteeContext = await newContext();
    const second = await inviteeContext.newPage();
    record(second, "invitee");
    await step(
      "invite",
      () => page,
      async () => {
        await nav(page, "Members");
        await page.getByRole("textbox", { name: "Invitee e-mail" }).fill(invitee.email);
        const role = page.getByRole("combobox", { name: "Invitation role" });
        await role.click();
        await page.getByRole("option", { name: "member", exact: true }).click();
        await page.getByRole("button", { name: "Send invitation" }).click();
        await page.getByRole("status").filter({ hasText: invitee.email }).first().waitFor({ timeout: 15_000 });
      }
    );
    await step(
      "invitee-accepts",
      () => second,
      async () => {
        const mail = await inbox.waitFor(invitee.email, "the invitation e-mail", (m) => invitationTokenOf(m) !== undefined);
        await second.goto(`${consoleUrl}/invitations/accept#token=${invitationTokenOf(mail) as string}`);
        await second.getByRole("button", { name: "Create account to accept" }).click();
        await registerAndVerify(second, invitee);
        await second.getByRole("button", { name: "Accept invitation" }).click();
        await second.waitForURL(new RegExp(`/t/${tenantId}/timeline`), { timeout: 30_000 });
        await expect.poll(() => second.getByRole("combobox", { name: "Tenant" }).inputValue(), { timeout: 15_000 }).toMatch(/\(member\)$/);
      }
    );
    await step(
      "member-sees-no-owner-controls",
      () => second,
      async () => {
        await nav(second, "Members");
        await second.getByRole("heading", { name: "Members", level: 2 }).waitFor();
        await second.waitForLoadState("networkidle");
        expect(await second.getByRole("button", { name: "Send invitation" }).count()).toBe(0);
        await nav(second, "Settings");
        await second.getByRole("heading", { name: "Settings", level: 2 }).waitFor();
        await second.waitForLoadState("networkidle");
        expect(await second.getByRole("button", { name: "Offboard tenant" }).count()).toBe(0);
      }
    );

    // ---- 6. replay, as the owner --------------------------------------------------------------------
    const firstState = stateHashOf("export class InvoiceLedger {}\n");
    await step(
      "replay",
      () => page,
      async () => {
        const client = await AgentClient.connect({ credentials: credentials as AgentCredentials, projectId: PROJECT });
        try {
          const to = stateHashOf(`export class InvoiceLedger { entries: string[] = []; } // browser journey ${Date.now()}\n`);
          await client.emit(stateChange({ agentId: AGENT, agentRole: "coder", resource: RESOURCE, change: "modified", previousStateHash: firstState, stateHash: to, summary: "the ledger keeps its entries" }));
        } finally {
          await client.close();
        }
        await nav(page, "State history");
        await page.getByRole("textbox", { name: "Project ID" }).fill(PROJECT);
        await page.getByRole("textbox", { name: "Resource" }).fill(RESOURCE);
        const rows = page.getByRole("table", { name: "States" }).locator("tbody tr");
        await waitFor(
          "both states in table States",
          30_000,
          async () => {
            await page.getByRole("button", { name: "Show history" }).click();
            await page.waitForTimeout(500);
            return (await rows.count()) >= 2 ? true : undefined;
          },
          { intervalMs: 1_000 }
        );
        await rows.last().getByRole("button", { name: "Replay to this state" }).click();
        await expect.poll(() => page.getByRole("status").filter({ hasText: "Job" }).count(), { timeout: 15_000 }).toBeGreaterThan(0);
      }
    );
    await step(
      "revert-in-timeline",
      () => page,
      async () => {
        await nav(page, "Timeline");
        await page.getByRole("textbox", { name: "Agent" }).fill(REVERT_AGENT);
        await waitFor(
          `the worker's ${REVERT_AGENT} event in table Events`,
          30_000,
          async () => {
            await page.getByRole("button", { name: "Apply filters" }).click();
            await page.waitForTimeout(500);
            // The revert's row: the worker's agent, the resource back at the example's (older) state.
            return (await page
              .getByRole("table", { name: "Events" })
              .locator("tbody tr")
              .filter({ hasText: REVERT_AGENT })
              .filter({ hasText: firstState.slice(0, 12) })
              .count()) > 0
              ? true
              : undefined;
          },
          { intervalMs: 1_000 }
        );
      }
    );

    // ---- 7. offboarding -------------------------------------------------------------------------------
    // The owner's tenant token as the console last used it: it follows the deletion (as the API journey's does).
    const tenantToken = [...requests]
      .reverse()
      .find((r) => r.who === "owner" && r.authorization && claims(r.authorization.slice(7))["iss"] !== issuer)
      ?.authorization?.slice(7);
    await step(
      "offboard",
      () => page,
      async () => {
        expect(await tryPublish(credentials as AgentCredentials, PROJECT, AGENT)).toBeUndefined();
        await nav(page, "Settings");
        const slug = /Type (\S+) to confirm/.exec((await page.getByText(/Type \S+ to confirm/).textContent()) ?? "")?.[1] ?? "";
        await page.getByRole("textbox", { name: "Confirm tenant slug" }).fill(slug);
        await page.getByRole("button", { name: "Offboard tenant" }).click();
        await page
          .getByText(/is offboarded/)
          .first()
          .waitFor({ timeout: 30_000 });
      }
    );
    await step(
      "credentials-refused",
      () => page,
      async () => {
        await waitFor("CredentialsRejectedError from the SDK", 60_000, async () => ((await tryPublish(credentials as AgentCredentials, PROJECT, AGENT)) instanceof CredentialsRejectedError ? true : undefined), { intervalMs: 250 });
      }
    );
    await step(
      "history-deleted",
      () => page,
      async () => {
        expect(tenantToken).toBeDefined();
        const call = (method: string, path: string) => fetch(`${consoleUrl}${path}`, { method, headers: { authorization: `Bearer ${tenantToken}`, accept: "application/json" } });
        await waitFor(
          "history deleted (DELETE /v1/tenants/{id} answers 200)",
          300_000,
          async () => {
            const res = await call("DELETE", `/v1/tenants/${tenantId}`);
            if (res.status === 200) return ((await res.json()) as { tenant: { history: string } }).tenant.history === "deleted" ? true : undefined;
            if (res.status !== 202) throw new Error(`DELETE /v1/tenants/${tenantId} → ${res.status} ${await res.text()}`);
            return undefined;
          },
          { intervalMs: 2_000 }
        );
        expect(((await (await call("GET", "/v1/events?limit=10")).json()) as { events: unknown[] }).events).toEqual([]);
        expect(((await (await call("GET", `/v1/agents/${AGENT}/crash-context`)).json()) as { decisions: unknown[] }).decisions).toEqual([]);
      }
    );

    // ---- the console sent only the person's own tokens -------------------------------------------------
    const total = steps.reduce((s, x) => s + x.ms, 0);
    process.stdout.write(`browser journey steps:\n${steps.map((s, i) => `  ${String(i + 1).padStart(2, "0")} ${s.name}: ${s.ms} ms`).join("\n")}\n  total: ${total} ms; ${requests.length} console requests to /v1/\n`);
    expect(requests.length).toBeGreaterThan(0);
    for (const who of ["owner", "invitee"]) {
      const mine = requests.filter((r) => r.who === who);
      const subs = new Set<string>();
      for (const r of mine) {
        const u = new URL(r.url);
        expect(
          [...u.searchParams.keys()].filter((k) => /token|auth|key|secret/i.test(k)),
          `${r.method} ${u.pathname}${u.search}`
        ).toEqual([]);
        // The invitation's own secret travels in the body of POST /v1/invitations/accept, never in the URL.
        expect(r.authorization, `${r.method} ${u.pathname} of the ${who}`).toMatch(/^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/);
        const c = claims((r.authorization as string).slice(7));
        expect([issuer, consoleUrl], `iss of ${r.method} ${u.pathname}`).toContain(c["iss"]);
        subs.add(String(c["sub"]));
      }
      expect([...subs], `the subjects of the ${who}'s tokens`).toHaveLength(1);
    }
    const ownerSub = claims(requests.find((r) => r.who === "owner")?.authorization?.slice(7) as string)["sub"];
    const inviteeSub = claims(requests.find((r) => r.who === "invitee")?.authorization?.slice(7) as string)["sub"];
    expect(ownerSub).not.toEqual(inviteeSub);
    return steps;
  } finally {
    await b.close();
    rmSync(workDir, { recursive: true, force: true });
  }
}


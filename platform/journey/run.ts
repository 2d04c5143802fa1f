/**
 * The customer's journey through the platform's public surfaces only: the console's origin (its
 * `/config.json`, the API under `/v1/` and the key set, as the gateway publishes them), the realm's
 * pages (registration, login, the token endpoint), the mail a person receives, the README's SDK
 * example and the SDK. No store, no admin API, no service internals: what a customer can do, the
 * journey does, in order, each step timed; a failed step skips the steps that need it.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { CONSOLE_RUNTIME_CONFIG_PATH, parseConsoleRuntimeConfig, type ConsoleRuntimeConfig } from "../../console/contract.js";
import { AgentClient, credentialsFromAnswer, CredentialsRejectedError, stateChange, stateHashOf } from "../../sdk/index.js";
import type { TenantRole } from "../../services/identity/names.js";
import { BUS_REVOCATION_SECONDS } from "../../services/provisioning/contract.js";
import { HISTORY_DELETION_GRACE_MS } from "../../services/provisioning/src/outbox.js";
import { parseJsonOr } from "../../services/runtime/json.js";
import { claimsOf } from "../keycloak-client.js";
import { ApiClient, describeAnswer, reasonOf, waitFor } from "./http.js";
import { openVerificationLink, newPerson, signIn, submitRegistration, webClient, type PendingRegistration, type Person, type WebClient, type WebSession } from "./identity.js";
import { Inbox, invitationTokenOf, verificationLinkOf } from "./inbox.js";
import { tryPublish } from "./probe.js";
import { StepRunner, valueOf, type JourneyResult } from "./steps.js";

export type { JourneyResult, StepRecord } from "./steps.js";

/** Where the journey goes: the console's origin (API on the same origin) and the mail catcher's inbox. */
export interface JourneyTarget {
  /** `http://127.0.0.1:<port>` of `npm run platform` (or any console origin). */
  readonly consoleUrl: string;
  /** The mail catcher's inbox: GET answers `[{from, to, subject, text, receivedAt}]`. */
  readonly inboxUrl: string;
}

/** A running platform to go to, or how to start one (then "start the platform" is the journey's first, timed step). */
export type JourneyPlatform = JourneyTarget | { readonly start: () => Promise<JourneyTarget> };

export interface JourneyOptions {
  /** Progress lines. @default none */
  readonly log?: (line: string) => void;
  /** The project the SDK example reports to (its own default). @default "checkout-service" */
  readonly projectId?: string;
  /** The role the second person is invited with. @default "member" */
  readonly inviteeRole?: Extract<TenantRole, "member" | "viewer">;
  /**
   * How long to wait after offboarding for the history to be reported deleted. The provisioning
   * service waits HISTORY_DELETION_GRACE_MS (90 s in production) before it deletes anything.
   * @default HISTORY_DELETION_GRACE_MS + 90 s
   */
  readonly historyDeletionTimeoutMs?: number;
}

/** The repository root (the SDK example runs from there, as the README runs it). */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The README's SDK example. */
export const SDK_EXAMPLE = "sdk/examples/quickstart.ts";
/** Where the example's ids are: its agent, the resource it creates. */
const EXAMPLE_AGENT = "coder-1";
const EXAMPLE_RESOURCE = "src/billing/ledger.ts";
/**
 * The agent a revert is recorded as: the worker's `state.revert` default (`stateRevertInput` in
 * services/worker/src/handlers.ts), since the replay route names none. The step also checks the
 * event's summary names the replay's job, so a change of either shows as a failed step.
 */
const STATE_REVERT_AGENT_ID = "state-revert";

const execFileAsync = promisify(execFile);

interface TenantView {
  readonly id: string;
  readonly slug: string;
  readonly status: string;
  readonly bus: string;
  readonly dataKey: string;
  readonly history: string;
  readonly historyDeletedAt?: string;
}

/** A member's tenant token, taken again (POST /v1/tenants/{id}/token) when it is about to expire. */
class TenantAccess {
  private current: { token: string; expiresAt: number; role: TenantRole } | undefined;
  constructor(
    private readonly api: ApiClient,
    private readonly session: WebSession,
    readonly tenantId: string,
  ) {}

  async token(): Promise<string> {
    if (this.current && this.current.expiresAt - Date.now() / 1000 > 60) return this.current.token;
    return (await this.renew()).token;
  }

  /** A fresh token (for a step that must outlive the others' use of it, e.g. following an offboarding). */
  async renew(): Promise<{ token: string; expiresAt: number; role: TenantRole }> {
    const a = await this.api.expect<{ access_token: string; expires_at: number; tenant_id: string; role: TenantRole }>("POST", `/v1/tenants/${this.tenantId}/token`, 200, { token: await this.session.accessToken(), body: {} });
    if (a.tenant_id !== this.tenantId) throw new Error(`POST /v1/tenants/${this.tenantId}/token answered a token for ${a.tenant_id}`);
    this.current = { token: a.access_token, expiresAt: a.expires_at, role: a.role };
    return this.current;
  }
}

interface TimelineEvent {
  readonly eventId: string;
  readonly eventType: string;
  readonly agentId: string;
  readonly targetResource: string | null;
  readonly stateHash: string | null;
  readonly timestamp: string;
}

/** Runs the journey; never throws for a failed step (it is in the result, and the steps that need it are skipped). */
export async function runJourney(platform: JourneyPlatform, o: JourneyOptions = {}): Promise<JourneyResult> {
  const log = o.log ?? (() => undefined);
  const project = o.projectId ?? "checkout-service";
  const inviteeRole = o.inviteeRole ?? "member";
  const steps = new StepRunner(log);
  const started =
    "start" in platform
      ? await steps.step("start the platform", [], async () => {
          const t = await platform.start();
          return { value: t, detail: `console ${t.consoleUrl}, inbox ${t.inboxUrl}` };
        })
      : { name: "the running platform", ok: true, value: platform, cause: undefined };
  // When the start failed every step below is skipped: this origin is then never called.
  const target = started.value ?? { consoleUrl: "http://127.0.0.1:9", inboxUrl: "http://127.0.0.1:9" };
  const consoleUrl = target.consoleUrl.replace(/\/+$/, "");
  const api = new ApiClient(consoleUrl);
  const inbox = new Inbox(target.inboxUrl);
  const workDir = mkdtempSync(join(tmpdir(), "enchanted-journey-"));
  const elapsed = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

  try {
    // ---- the console's configuration: where the realm is, which client the console is ------------
    const config = await steps.step("read the console's configuration", [started], async () => {
      const url = `${consoleUrl}${CONSOLE_RUNTIME_CONFIG_PATH}`;
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) }).catch((error: unknown) => {
        throw new Error(`GET ${url}: no answer: ${reasonOf(error)}. Is the platform running there (npm run platform prints its console URL)?`);
      });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`GET ${url} → ${res.status} ${text.slice(0, 200)}`);
      const value: ConsoleRuntimeConfig = parseConsoleRuntimeConfig(parseJsonOr(text, undefined));
      const discovery = `${value.issuer}/.well-known/openid-configuration`;
      const found = await fetch(discovery, { signal: AbortSignal.timeout(10_000) }).catch((error: unknown) => {
        throw new Error(`GET ${discovery} (the issuer of ${CONSOLE_RUNTIME_CONFIG_PATH}): no answer: ${reasonOf(error)}`);
      });
      if (found.status !== 200) throw new Error(`GET ${discovery} (the issuer of ${CONSOLE_RUNTIME_CONFIG_PATH}) → ${found.status}`);
      const client = webClient(value.issuer, value.clientId, consoleUrl);
      return { value: { config: value, client }, detail: `issuer ${value.issuer}, client ${value.clientId}, redirect ${client.redirectUri}` };
    });

    // ---- the owner signs up and in -------------------------------------------------------------
    const owner = newPerson("owner");
    const registered = await steps.step("register the owner (registration form)", [config], async () => ({
      value: await submitRegistration(valueOf(config).client, owner),
      detail: `${owner.email}: the realm asks to verify the e-mail`,
    }));
    const ownerVerified = await steps.step("verify the owner's e-mail (link from the inbox)", [registered], async () => verifyEmail(inbox, valueOf(config).client, valueOf(registered)));
    const ownerSession = await steps.step("sign in as the owner (authorization code + PKCE)", [ownerVerified], async () => signedIn(valueOf(config).client, owner));

    // ---- a tenant, a tenant token, agent credentials -------------------------------------------
    const tenant = await steps.step("create a tenant", [ownerSession], async () => {
      const session = valueOf(ownerSession);
      const slug = `journey-${Date.now().toString(36)}`;
      const created = await api.expect<{ tenant: TenantView & { role: string } }>("POST", "/v1/tenants", 201, { token: await session.accessToken(), body: { name: "Journey", slug } });
      const id = created.tenant.id;
      if (created.tenant.role !== "owner") throw new Error(`POST /v1/tenants answered role ${created.tenant.role}, not owner`);
      // The console shows the tenant as being set up until its bus account and data key exist.
      const since = performance.now();
      let last: TenantView | undefined;
      await waitFor(
        `tenant ${id}'s bus account and data key ready`,
        60_000,
        async () => {
          const mine = await api.expect<{ tenants: (TenantView & { role: string })[] }>("GET", "/v1/tenants", 200, { token: await session.accessToken() });
          last = mine.tenants.find((t) => t.id === id);
          return last?.bus === "ready" && last.dataKey === "ready" ? true : undefined;
        },
        { last: () => (last ? `bus ${last.bus}, dataKey ${last.dataKey}` : "not in GET /v1/tenants") },
      );
      return { value: id, detail: `${id} (${slug}), ready ${elapsed(since)} after creation` };
    });
    const ownerAccess = await steps.step("get a tenant token", [tenant], async () => {
      const access = new TenantAccess(api, valueOf(ownerSession), valueOf(tenant));
      const t = await access.renew();
      if (t.role !== "owner") throw new Error(`the tenant token's role is ${t.role}, not owner`);
      return { value: access, detail: `role ${t.role}, expires in ${Math.round(t.expiresAt - Date.now() / 1000)} s` };
    });
    const credentials = await steps.step("create agent credentials", [ownerAccess], async () => {
      const access = valueOf(ownerAccess);
      const answer = await api.expect<Record<string, unknown> & { publicKey: string; tenantId: string; servers: string[] }>("POST", `/v1/tenants/${access.tenantId}/bus-credentials`, 201, { token: await access.token(), body: {} });
      if (answer.tenantId !== access.tenantId) throw new Error(`the credentials are for ${answer.tenantId}, not ${access.tenantId}`);
      const saved = credentialsFile(answer, valueOf(config).config);
      const file = join(workDir, "credentials.json");
      writeFileSync(file, saved, { mode: 0o600 });
      const credentials = credentialsFromAnswer(saved);
      return { value: { file, credentials, publicKey: answer.publicKey }, detail: `${answer.publicKey.slice(0, 12)}…, servers ${credentials.servers?.join(", ")}, api ${credentials.api}` };
    });

    // ---- the README's SDK example, and its events in the history --------------------------------
    const example = await steps.step("run the README's SDK example", [credentials], async () => {
      const run = await execFileAsync(process.execPath, ["--import", "tsx", SDK_EXAMPLE, valueOf(credentials).file, project], { cwd: ROOT, encoding: "utf8", timeout: 90_000 }).catch((error: { stderr?: string; message: string }) => {
        throw new Error(`node --import tsx ${SDK_EXAMPLE} failed: ${(error.stderr || error.message).trim().split("\n").slice(-5).join(" | ")}`);
      });
      const last = run.stdout.trim().split("\n").pop() ?? "";
      let out: { tenantId?: string; encrypted?: boolean; events?: string[] };
      try {
        out = JSON.parse(last) as typeof out;
      } catch {
        throw new Error(`the example's last line is not JSON: ${last.slice(0, 200)}`);
      }
      if (out.tenantId !== valueOf(tenant)) throw new Error(`the example reported tenant ${out.tenantId}, not ${valueOf(tenant)}`);
      if (!Array.isArray(out.events) || out.events.length !== 3) throw new Error(`the example reported ${JSON.stringify(out.events)}, not its 3 event ids`);
      return { value: out.events, detail: `${out.events.length} events acknowledged, encrypted ${out.encrypted}` };
    });
    const timeline = await steps.step("see the example's events in the timeline", [example], async () => {
      const ids = valueOf(example);
      const access = valueOf(ownerAccess);
      const since = performance.now();
      let found: TimelineEvent[] = [];
      await waitFor(
        "the example's events in GET /v1/events",
        60_000,
        async () => {
          const page = await api.expect<{ events: TimelineEvent[] }>("GET", `/v1/events?projectId=${encodeURIComponent(project)}&limit=100`, 200, { token: await access.token() });
          found = page.events.filter((e) => ids.includes(e.eventId));
          return found.length === ids.length ? true : undefined;
        },
        { last: () => `${found.length} of ${ids.length}` },
      );
      const created = found.find((e) => e.eventType === "state_change" && e.targetResource === EXAMPLE_RESOURCE);
      if (!created?.stateHash) throw new Error(`the timeline has no state change of ${EXAMPLE_RESOURCE} among the example's events: ${JSON.stringify(found)}`);
      return { value: { stateHash: created.stateHash }, detail: `${found.map((e) => e.eventType).join(", ")} queryable ${elapsed(since)} after the example finished` };
    });
    await steps.step("see the example's decision in crash context", [timeline], async () => {
      const decisionId = valueOf(example)[1] as string;
      const access = valueOf(ownerAccess);
      const ctx = await api.expect<{ decisions: { eventId: string; rationale: string }[] }>("GET", `/v1/agents/${EXAMPLE_AGENT}/crash-context`, 200, { token: await access.token() });
      const d = ctx.decisions.find((x) => x.eventId === decisionId);
      if (!d) throw new Error(`GET /v1/agents/${EXAMPLE_AGENT}/crash-context has no decision ${decisionId}: ${JSON.stringify(ctx.decisions.map((x) => x.eventId))}`);
      return { value: true, detail: `${ctx.decisions.length} decision(s) of ${EXAMPLE_AGENT}, the example's with its rationale${d.rationale ? "" : " (sealed)"}` };
    });

    // ---- a second person: invited, signs up, accepts, sees the role, is refused above it ---------
    const invitee = newPerson("invitee");
    const invitation = await steps.step(`invite a ${inviteeRole} by e-mail`, [ownerAccess], async () => {
      const access = valueOf(ownerAccess);
      const a = await api.expect<{ invitation: { id: string; role: string } }>("POST", `/v1/tenants/${access.tenantId}/invitations`, 201, { token: await access.token(), body: { email: invitee.email, role: inviteeRole } });
      return { value: a.invitation.id, detail: `${a.invitation.id} to ${invitee.email}` };
    });
    const inviteeRegistered = await steps.step("register the invitee (registration form)", [config], async () => ({
      value: await submitRegistration(valueOf(config).client, invitee),
      detail: `${invitee.email}: the realm asks to verify the e-mail`,
    }));
    const inviteeVerified = await steps.step("verify the invitee's e-mail (link from the inbox)", [inviteeRegistered], async () => verifyEmail(inbox, valueOf(config).client, valueOf(inviteeRegistered)));
    const inviteeSession = await steps.step("sign in as the invitee (authorization code + PKCE)", [inviteeVerified], async () => signedIn(valueOf(config).client, invitee));
    const accepted = await steps.step("accept the invitation (token from the e-mail link)", [invitation, inviteeSession], async () => {
      const mail = await inbox.waitFor(invitee.email, "the invitation e-mail", (m) => invitationTokenOf(m) !== undefined);
      const token = invitationTokenOf(mail) as string;
      const a = await api.expect<{ tenantId: string; role: string; invitationId: string }>("POST", "/v1/invitations/accept", 200, { token: await valueOf(inviteeSession).accessToken(), body: { token } });
      if (a.tenantId !== valueOf(tenant) || a.role !== inviteeRole || a.invitationId !== valueOf(invitation)) throw new Error(`POST /v1/invitations/accept answered ${JSON.stringify(a)}, not ${valueOf(invitation)} of ${valueOf(tenant)} as ${inviteeRole}`);
      return { value: true, detail: `mail ${JSON.stringify(mail.subject)}; ${a.role} of ${a.tenantId}` };
    });
    const listed = await steps.step(`the invitee lists their tenants and sees the ${inviteeRole} role`, [accepted], async () => {
      const mine = await api.expect<{ tenants: { id: string; role: string }[] }>("GET", "/v1/tenants", 200, { token: await valueOf(inviteeSession).accessToken() });
      const t = mine.tenants.find((x) => x.id === valueOf(tenant));
      if (!t) throw new Error(`GET /v1/tenants of the invitee does not list ${valueOf(tenant)}: ${JSON.stringify(mine.tenants)}`);
      if (t.role !== inviteeRole) throw new Error(`GET /v1/tenants lists ${t.id} with role ${t.role}, not ${inviteeRole}`);
      return { value: true, detail: `${mine.tenants.length} tenant(s): ${t.id} as ${t.role}` };
    });
    await steps.step("the invitee reads the history and is refused (403) inviting and offboarding", [listed], async () => {
      const access = new TenantAccess(api, valueOf(inviteeSession), valueOf(tenant));
      const t = await access.renew();
      if (t.role !== inviteeRole) throw new Error(`the invitee's tenant token has role ${t.role}, not ${inviteeRole}`);
      const token = t.token;
      const read = await api.call("GET", `/v1/events?projectId=${encodeURIComponent(project)}&limit=1`, { token });
      if (read.status !== 200) throw new Error(`a ${inviteeRole} may read the history, but ${describeAnswer("GET", "/v1/events", read)}`);
      const refusals: string[] = [];
      for (const [method, path, body] of [
        ["POST", `/v1/tenants/${access.tenantId}/invitations`, { email: `other-${Date.now()}@example.com`, role: "viewer" }],
        ["DELETE", `/v1/tenants/${access.tenantId}`, undefined],
      ] as const) {
        const a = await api.call(method, path, { token, ...(body ? { body } : {}) });
        if (a.status !== 403) throw new Error(`a ${inviteeRole} must be refused: ${describeAnswer(method, path, a)} (expected 403)`);
        refusals.push(`${method} ${path.replace(access.tenantId, "{id}")} 403`);
      }
      return { value: true, detail: `GET /v1/events 200; ${refusals.join("; ")}` };
    });

    // ---- replay: the resource back to an earlier state, by the worker ---------------------------
    const secondState = await steps.step("the agent changes the resource again (SDK)", [credentials, timeline], async () => {
      const client = await AgentClient.connect({ credentials: valueOf(credentials).credentials, projectId: project });
      const from = valueOf(timeline).stateHash;
      const to = stateHashOf(`export class InvoiceLedger { entries: string[] = []; } // journey ${Date.now()}\n`);
      let id: string;
      try {
        id = await client.emit(stateChange({ agentId: EXAMPLE_AGENT, agentRole: "coder", resource: EXAMPLE_RESOURCE, change: "modified", previousStateHash: from, stateHash: to, summary: "the ledger keeps its entries" }));
      } finally {
        // Flushes (JetStream acknowledged the change) and closes; throws what the flush threw.
        await client.close();
      }
      return { value: { eventId: id, earlier: from, latest: to }, detail: `${EXAMPLE_RESOURCE}: ${from.slice(0, 8)}… → ${to.slice(0, 8)}…` };
    });
    const history = await steps.step("read the resource's state history", [secondState], async () => {
      const { earlier, latest } = valueOf(secondState);
      const path = `/v1/projects/${encodeURIComponent(project)}/state-history?resource=${encodeURIComponent(EXAMPLE_RESOURCE)}`;
      let states: { stateHash: string; eventId: string; timestamp: string }[] = [];
      await waitFor(
        `both states of ${EXAMPLE_RESOURCE} in its state history`,
        60_000,
        async () => {
          states = (await api.expect<{ states: typeof states }>("GET", path, 200, { token: await valueOf(ownerAccess).token() })).states;
          return states.some((s) => s.stateHash === latest) && states.some((s) => s.stateHash === earlier) ? true : undefined;
        },
        { last: () => JSON.stringify(states.map((s) => s.stateHash.slice(0, 8))) },
      );
      // The history is newest first; the replay goes to a state that is not the latest.
      if (states[0]?.stateHash !== latest) throw new Error(`the newest state of ${EXAMPLE_RESOURCE} is ${states[0]?.stateHash}, not the change just made (${latest})`);
      return { value: earlier, detail: `${states.length} states, newest ${latest.slice(0, 8)}…; replaying to ${earlier.slice(0, 8)}…` };
    });
    const replay = await steps.step("replay the resource to its earlier state", [history], async () => {
      const stateHash = valueOf(history);
      const a = await api.expect<{ replay: { job: { jobId: string; type: string }; state: { stateHash: string }; duplicate: boolean } }>("POST", `/v1/projects/${encodeURIComponent(project)}/replays`, 202, {
        token: await valueOf(ownerAccess).token(),
        body: { resource: EXAMPLE_RESOURCE, stateHash },
      });
      if (a.replay.state.stateHash !== stateHash) throw new Error(`the replay found state ${a.replay.state.stateHash}, not ${stateHash}`);
      return { value: { jobId: a.replay.job.jobId, stateHash, filedAt: performance.now() }, detail: `job ${a.replay.job.jobId} (${a.replay.job.type})${a.replay.duplicate ? ", a duplicate" : ""}` };
    });
    await steps.step("see the worker's revert in the timeline", [replay], async () => {
      const { jobId, stateHash, filedAt } = valueOf(replay);
      const token = async () => valueOf(ownerAccess).token();
      let reverts: TimelineEvent[] = [];
      const revert = await waitFor(
        `the worker's ${STATE_REVERT_AGENT_ID} event for job ${jobId} in GET /v1/events`,
        90_000,
        async () => {
          const page = await api.expect<{ events: TimelineEvent[] }>("GET", `/v1/events?projectId=${encodeURIComponent(project)}&agentId=${STATE_REVERT_AGENT_ID}&limit=100`, 200, { token: await token() });
          reverts = page.events;
          return reverts.find((e) => e.targetResource === EXAMPLE_RESOURCE && e.stateHash === stateHash);
        },
        { intervalMs: 1_000, last: () => `${reverts.length} event(s) of ${STATE_REVERT_AGENT_ID}` },
      );
      const seenAfter = elapsed(filedAt);
      // The event's own payload names the job that recorded it (the worker's summary).
      const one = await api.expect<{ event: { payload: { summary?: string } | null } }>("GET", `/v1/events/${revert.eventId}`, 200, { token: await token() });
      if (!one.event.payload?.summary?.includes(jobId)) throw new Error(`event ${revert.eventId}'s summary does not name job ${jobId}: ${JSON.stringify(one.event.payload)}`);
      const path = `/v1/projects/${encodeURIComponent(project)}/state-history?resource=${encodeURIComponent(EXAMPLE_RESOURCE)}`;
      const states = (await api.expect<{ states: { stateHash: string; agentId: string }[] }>("GET", path, 200, { token: await token() })).states;
      if (states[0]?.stateHash !== stateHash) throw new Error(`after the revert the newest state of ${EXAMPLE_RESOURCE} is ${states[0]?.stateHash}, not ${stateHash}`);
      return { value: true, detail: `revert ${revert.eventId} seen ${seenAfter} after the replay was filed; the resource's newest state is ${stateHash.slice(0, 8)}… again` };
    });

    // ---- offboarding: credentials refused, history gone ----------------------------------------
    const offboarded = await steps.step("offboard the tenant (owner)", [ownerAccess], async () => {
      const access = valueOf(ownerAccess);
      // The control for the refusal below: the same probe goes through while the tenant is active.
      if (credentials.ok) {
        const before = await tryPublish(valueOf(credentials).credentials, project, EXAMPLE_AGENT);
        if (before) throw new Error(`the agent credentials do not work even before offboarding: ${before.name}: ${before.message}`);
      }
      // A fresh token: it follows the deletion below, and no new one can be taken once the tenant is gone.
      const { token, expiresAt } = await access.renew();
      const a = await api.expect<{ tenant: TenantView }>("DELETE", `/v1/tenants/${access.tenantId}`, 202, { token });
      const at = performance.now();
      if (a.tenant.status !== "offboarded") throw new Error(`DELETE /v1/tenants/${access.tenantId} answered status ${a.tenant.status}, not offboarded`);
      return { value: { token, expiresAt, at }, detail: `status ${a.tenant.status}, history ${a.tenant.history}` };
    });
    await steps.step("the bus refuses the agent credentials", [credentials, offboarded], async () => {
      const { at } = valueOf(offboarded);
      const creds = valueOf(credentials).credentials;
      const boundMs = BUS_REVOCATION_SECONDS * 1_000;
      let lastOutcome = "";
      const refused = await waitFor(
        "CredentialsRejectedError from the SDK",
        boundMs + 15_000,
        async () => {
          const outcome = await tryPublish(creds, project, EXAMPLE_AGENT);
          lastOutcome = outcome instanceof Error ? `${outcome.name}: ${outcome.message}` : "connected and published";
          return outcome instanceof CredentialsRejectedError ? outcome : undefined;
        },
        { intervalMs: 250, last: () => lastOutcome },
      );
      const ms = performance.now() - at;
      if (ms > boundMs) throw new Error(`refused only ${(ms / 1000).toFixed(1)} s after offboarding, beyond BUS_REVOCATION_SECONDS (${BUS_REVOCATION_SECONDS} s)`);
      return { value: true, detail: `CredentialsRejectedError (${refused.problem}) ${(ms / 1000).toFixed(2)} s after offboarding (bound ${BUS_REVOCATION_SECONDS} s); the same probe published before it` };
    });
    await steps.step("the history is deleted", [offboarded], async () => {
      const { token, expiresAt, at } = valueOf(offboarded);
      const access = valueOf(ownerAccess);
      const timeoutMs = o.historyDeletionTimeoutMs ?? HISTORY_DELETION_GRACE_MS + 90_000;
      const tokenLeftMs = expiresAt * 1000 - Date.now();
      if (tokenLeftMs < timeoutMs) log(`note: the owner's tenant token expires in ${Math.round(tokenLeftMs / 1000)} s, before the ${Math.round(timeoutMs / 1000)} s wait could end`);
      let last = "";
      // Repeating the offboarding is how its owner follows the deletion: 202 while deleting, 200 once deleted.
      const view = await waitFor(
        `history "deleted" in DELETE /v1/tenants/${access.tenantId} (the provisioning service deletes it HISTORY_DELETION_GRACE_MS after the offboarded plan row)`,
        timeoutMs,
        async () => {
          const a = await api.call("DELETE", `/v1/tenants/${access.tenantId}`, { token });
          last = describeAnswer("DELETE", `/v1/tenants/${access.tenantId}`, a);
          if (a.status === 200) return (a.body as { tenant: TenantView }).tenant;
          if (a.status !== 202) throw new Error(last);
          return undefined;
        },
        { intervalMs: 2_000, last: () => last },
      );
      if (view.history !== "deleted") throw new Error(`the tenant's history is ${view.history} although the answer was 200`);
      const waited = elapsed(at);
      const events = await api.expect<{ events: unknown[] }>("GET", "/v1/events?limit=10", 200, { token });
      if (events.events.length !== 0) throw new Error(`GET /v1/events still answers ${events.events.length} event(s) after the history was reported deleted`);
      const ctx = await api.expect<{ decisions: unknown[] }>("GET", `/v1/agents/${EXAMPLE_AGENT}/crash-context`, 200, { token });
      if (ctx.decisions.length !== 0) throw new Error(`crash context still answers ${ctx.decisions.length} decision(s) after the history was reported deleted`);
      return { value: true, detail: `deleted at ${view.historyDeletedAt}, ${waited} after offboarding (the service's grace before deleting is HISTORY_DELETION_GRACE_MS, ${HISTORY_DELETION_GRACE_MS / 1000} s by default); GET /v1/events and crash context answer nothing` };
    });
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  return steps.result();
}

/** The verification mail of a pending registration, its link opened in the registering browser. */
async function verifyEmail(inbox: Inbox, client: WebClient, pending: PendingRegistration): Promise<{ value: true; detail: string }> {
  const mail = await inbox.waitFor(pending.person.email, "the verification e-mail", (m) => verificationLinkOf(m) !== undefined);
  const tokens = await openVerificationLink(client, pending, verificationLinkOf(mail) as string);
  const verified = claimsOf(tokens.access_token)["email_verified"];
  if (verified !== true) throw new Error(`after the link, ${pending.person.email}'s token says email_verified ${String(verified)}`);
  return { value: true, detail: `mail ${JSON.stringify(mail.subject)}; the link led back to the console's callback, email_verified true` };
}

/** A sign-in whose token is one the API takes: audience `api`, the verified address. */
async function signedIn(client: WebClient, person: Person): Promise<{ value: WebSession; detail: string }> {
  const session = await signIn(client, person);
  const c = session.claims;
  const aud = Array.isArray(c["aud"]) ? (c["aud"] as string[]) : [String(c["aud"])];
  if (!aud.includes("api")) throw new Error(`${person.email}'s access token has aud ${JSON.stringify(c["aud"])}, without api`);
  if (c["email"] !== person.email || c["email_verified"] !== true) throw new Error(`${person.email}'s access token names ${String(c["email"])} (verified ${String(c["email_verified"])})`);
  return { value: session, detail: `${person.email}, sub ${String(c["sub"])}` };
}

/**
 * The credentials file the SDK example reads: the API's answer saved as `credentials.json`, as the
 * README's Agents section says, unmodified but for the NATS servers, which come from
 * `/config.json` only when the answer names none (what the console does, ConsoleRuntimeConfig.natsServers).
 */
export function credentialsFile(answer: Record<string, unknown>, config: ConsoleRuntimeConfig): string {
  const servers = Array.isArray(answer["servers"]) && answer["servers"].length > 0 ? answer["servers"] : config.natsServers;
  return `${JSON.stringify({ ...answer, servers }, null, 2)}\n`;
}


import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { render } from "@testing-library/react";
import { startTestApi, tenantTokens, type TestApi } from "../test/api-server.js";
import { membership, RecordingAuth, renderSignedIn, screen, waitFor, wrap } from "../test/render.js";
import type { ReactNode } from "react";
import { ApiClient } from "../api.js";
import { useSession } from "../session.js";
import { CredentialsPage } from "./credentials/CredentialsPage.js";
import { AcceptInvitationPage, invitationTokenOf } from "./invitations/AcceptInvitationPage.js";
import { MembersPage } from "./members/MembersPage.js";
import { SettingsPage } from "./settings/SettingsPage.js";
import { StateHistoryPage } from "./state/StateHistoryPage.js";
import { TimelinePage } from "./timeline/TimelinePage.js";
import { UsagePage } from "./usage/UsagePage.js";

let api: TestApi;
const roles: Record<string, string> = {};
beforeEach(async () => {
  api = await startTestApi();
  for (const k of Object.keys(roles)) delete roles[k];
  tenantTokens(api, roles);
  api.route("GET", "/v1/tenants", () => ({ body: { tenants: Object.entries(roles).map(([id, role]) => membership(id, role)) } }));
  api.route("GET", "/v1/tenants/:tenantId", (_r, p) => ({ body: { tenant: membership(p["tenantId"] as string, "owner"), role: roles[p["tenantId"] as string] } }));
  api.route("GET", "/v1/tenants/:tenantId/members", () => ({ body: { tenantId: "acme", members: [{ userId: "alice", role: roles["acme"], addedAt: "2026-12-01T10:00:00.000Z", email: "alice@example.com" }] } }));
  api.route("GET", "/v1/tenants/:tenantId/invitations", () => ({ body: { tenantId: "acme", invitations: [] } }));
});
afterEach(() => api.close());

const PK = `U${"A".repeat(55)}`;
const EV = (n: number, type = "decision") => ({
  eventId: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
  timestamp: `2026-12-04T10:00:${String(n % 60).padStart(2, "0")}.000Z`,
  eventType: type,
  agentId: "coder-1",
  agentRole: "coder",
  userId: "alice",
  projectId: "p1",
  encrypted: false,
  confidenceScore: 0.8,
  rationale: `reason ${n}`,
  targetResource: null,
  stateHash: null,
  traceId: null,
  spanId: null,
});

describe("credentials", () => {
  it("creates credentials, downloads the .creds text, shows the SDK snippet and revokes by public key with the tenant token", async () => {
    roles["acme"] = "member";
    api.route("POST", "/v1/tenants/:tenantId/bus-credentials", () => ({
      status: 201,
      body: { tenantId: "acme", jwt: "eyJ.x.y", seed: "SUSEED", creds: "-----BEGIN NATS USER JWT-----\neyJ.x.y\n------END NATS USER JWT------\n", publicKey: PK, inboxPrefix: "_INBOX_acme", expiresAt: 1_900_000_000, account: "AACC", subjects: ["swarm.acme.>"], userId: "alice", servers: ["tls://nats.example.com:4222"], api: "https://api.example.com" },
    }));
    api.route("DELETE", "/v1/tenants/:tenantId/bus-credentials/:publicKey", (_r, p) => ({ status: 202, body: { tenantId: "acme", publicKey: p["publicKey"], revokedAt: "2026-12-04T11:00:00.000Z" } }));
    const blobs: Blob[] = [];
    const create = vi.fn((b: Blob) => {
      blobs.push(b);
      return "blob:test";
    });
    Object.assign(URL, { createObjectURL: create, revokeObjectURL: vi.fn() });
    // jsdom does not navigate: record what the download link would save instead.
    const saved: string[] = [];
    const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      saved.push(`${this.download} ${this.href}`);
    });
    await renderSignedIn(api, <CredentialsGate />, "/t/acme/credentials");
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Create credentials" }));
    await user.click(await screen.findByRole("button", { name: "Download credentials" }));
    expect(saved).toEqual([`acme-${PK.slice(0, 10).toLowerCase()}.creds blob:test`]);
    click.mockRestore();
    expect(await textOf(blobs[0] as Blob)).toBe("-----BEGIN NATS USER JWT-----\neyJ.x.y\n------END NATS USER JWT------\n");
    const snippet = screen.getByRole("figure", { name: "SDK snippet" }).textContent ?? "";
    expect(snippet).toContain(`loadCredentials("./acme-${PK.slice(0, 10).toLowerCase()}.creds"`);
    expect(snippet).toContain('servers: ["tls://nats.example.com:4222"]');
    expect(snippet).not.toContain("SUSEED");
    await user.click(screen.getByRole("button", { name: `Revoke ${PK}` }));
    await waitFor(() => expect(api.requests.some((r) => r.method === "DELETE")).toBe(true));
    const del = api.requests.find((r) => r.method === "DELETE");
    expect(del?.path).toBe(`/v1/tenants/acme/bus-credentials/${PK}`);
    expect(del?.headers.authorization).toMatch(/^Bearer tenant-token-acme-/);
    expect(await screen.findByText("revoked")).toBeTruthy();
    // Only the public key is remembered, never the secret.
    expect(JSON.stringify(window.sessionStorage)).not.toContain("SUSEED");
  });
});

/** A Blob's text through FileReader (jsdom's Blob has no text()). */
function textOf(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(r.error);
    r.readAsText(blob);
  });
}

function CredentialsGate() {
  return <Gate>{<CredentialsPage />}</Gate>;
}
/** Renders children once the session knows the tenant (the app's Screen does the same). */
function Gate({ children }: { children: ReactNode }) {
  return useSession().tenant ? <>{children}</> : null;
}

describe("role-based visibility", () => {
  it("a viewer sees neither invite, create credentials nor offboard", async () => {
    roles["acme"] = "viewer";
    await renderSignedIn(
      api,
      <Gate>
        <MembersPage />
        <CredentialsPage />
        <SettingsPage />
      </Gate>,
      "/t/acme/members",
    );
    await screen.findByRole("table", { name: "Members" });
    await screen.findByRole("switch", { name: /Encrypt event payloads/ });
    expect(screen.queryByRole("button", { name: "Send invitation" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Create credentials" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Offboard tenant" })).toBeNull();
    expect((screen.getByRole("switch", { name: /Encrypt event payloads/ }) as HTMLInputElement).disabled).toBe(true);
  });

  it("a member can create credentials but not invite or offboard", async () => {
    roles["acme"] = "member";
    await renderSignedIn(
      api,
      <Gate>
        <MembersPage />
        <CredentialsPage />
        <SettingsPage />
      </Gate>,
      "/t/acme/members",
    );
    expect(await screen.findByRole("button", { name: "Create credentials" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Send invitation" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Offboard tenant" })).toBeNull();
  });

  it("an owner invites, and offboards only after typing the slug", async () => {
    roles["acme"] = "owner";
    api.route("DELETE", "/v1/tenants/:tenantId", () => ({ status: 202, body: { tenant: { ...membership("acme", "owner"), status: "offboarded", history: "deleting" } } }));
    api.route("POST", "/v1/tenants/:tenantId/invitations", (r) => ({ status: 201, body: { invitation: { id: "inv000000000000000000000001", tenantId: "acme", ...(r.body as object), invitedBy: "alice", createdAt: "", expiresAt: "2026-12-11T00:00:00.000Z", status: "pending", delivery: "pending" } } }));
    await renderSignedIn(
      api,
      <Gate>
        <MembersPage />
        <SettingsPage />
      </Gate>,
      "/t/acme/settings",
    );
    const user = userEvent.setup();
    await user.type(await screen.findByRole("textbox", { name: "Invitee e-mail" }), "bob@example.com");
    await user.click(screen.getByRole("button", { name: "Send invitation" }));
    await screen.findByText("Invitation sent to bob@example.com.");
    expect(api.requests.find((r) => r.method === "POST" && r.path === "/v1/tenants/acme/invitations")?.body).toEqual({ email: "bob@example.com", role: "member" });
    const offboard = screen.getByRole("button", { name: "Offboard tenant" }) as HTMLButtonElement;
    expect(offboard.disabled).toBe(true);
    await user.type(screen.getByRole("textbox", { name: /Confirm tenant slug/ }), "acme");
    expect(offboard.disabled).toBe(false);
    await user.click(offboard);
    await screen.findByText("ACME is offboarded");
    expect(api.requests.find((r) => r.method === "DELETE")?.path).toBe("/v1/tenants/acme");
  });
});

describe("timeline", () => {
  it("passes the filters and the cursor of the previous page", async () => {
    roles["acme"] = "viewer";
    api.route("GET", "/v1/events", (r) => (r.query.get("cursor") === "c1" ? { body: { events: [EV(3)], nextCursor: null } } : { body: { events: [EV(1), EV(2, "state_change")], nextCursor: "c1" } }));
    await renderSignedIn(api, <Gate><TimelinePage /></Gate>, "/t/acme/timeline");
    const user = userEvent.setup();
    expect(await screen.findByRole("row", { name: new RegExp(EV(1).eventId) })).toBeTruthy();
    await user.type(screen.getByRole("textbox", { name: "Project" }), "p1");
    await user.type(screen.getByRole("textbox", { name: "Agent" }), "coder-1");
    await user.click(screen.getByRole("combobox", { name: "Event type" }));
    await user.click(await screen.findByRole("option", { name: "decision" }));
    await user.click(screen.getByRole("button", { name: "Apply filters" }));
    await waitFor(() => expect(api.requests.filter((r) => r.path === "/v1/events").length).toBe(2));
    const filtered = api.requests.filter((r) => r.path === "/v1/events")[1];
    expect(Object.fromEntries(filtered?.query ?? [])).toEqual({ projectId: "p1", agentId: "coder-1", eventType: "decision" });
    await user.click(await screen.findByRole("button", { name: "Load older" }));
    expect(await screen.findByRole("row", { name: new RegExp(EV(3).eventId) })).toBeTruthy();
    const older = api.requests.filter((r) => r.path === "/v1/events")[2];
    expect(Object.fromEntries(older?.query ?? [])).toEqual({ projectId: "p1", agentId: "coder-1", eventType: "decision", cursor: "c1" });
    expect(screen.queryByRole("button", { name: "Load older" })).toBeNull();
  });
});

describe("state history", () => {
  it("replays to a state: posts the resource and the state's hash, shows the state found and the job", async () => {
    roles["acme"] = "member";
    const hash = "a".repeat(64);
    api.route("GET", "/v1/projects/:projectId/state-history", () => ({ body: { projectId: "p1", resource: "src/a.ts", states: [{ eventId: EV(5).eventId, timestamp: EV(5).timestamp, stateHash: hash, deleted: false, agentId: "coder-1", agentRole: "coder", userId: "alice", encrypted: false }], nextCursor: null } }));
    api.route("POST", "/v1/projects/:projectId/replays", () => ({
      status: 202,
      body: { replay: { projectId: "p1", resource: "src/a.ts", state: { stateHash: hash, eventId: EV(5).eventId, timestamp: EV(5).timestamp, agentId: "coder-1", userId: "alice" }, job: { jobId: "11111111-2222-4333-8444-555555555555", type: "state.revert", tenantId: "acme", projectId: "p1", input: {}, submittedBy: "alice", submittedAt: "2026-12-04T11:00:00.000Z" }, lane: "jobs.free", tier: "free", sequence: 7, duplicate: false } },
    }));
    await renderSignedIn(api, <Gate><StateHistoryPage /></Gate>, "/t/acme/state-history");
    const user = userEvent.setup();
    await user.type(await screen.findByRole("textbox", { name: "Project ID" }), "p1");
    await user.type(screen.getByRole("textbox", { name: /Resource/ }), "src/a.ts");
    await user.click(screen.getByRole("button", { name: "Show history" }));
    await user.click(await screen.findByRole("button", { name: "Replay to this state" }));
    const status = await screen.findByRole("status");
    expect(status.textContent).toContain("11111111-2222-4333-8444-555555555555");
    expect(status.textContent).toContain(hash);
    const post = api.requests.find((r) => r.method === "POST" && r.path === "/v1/projects/p1/replays");
    expect(post?.body).toEqual({ resource: "src/a.ts", stateHash: hash });
    expect(post?.headers.authorization).toMatch(/^Bearer tenant-token-acme-/);
    const link = screen.getByRole("link", { name: "Show the job's events in the timeline" }).getAttribute("href") ?? "";
    expect(link).toContain("/t/acme/timeline?projectId=p1&agentId=state-revert&from=2026-12-04T11%3A00%3A00.000Z");
  });

  it("a viewer sees the history without the replay button", async () => {
    roles["acme"] = "viewer";
    api.route("GET", "/v1/projects/:projectId/state-history", () => ({ body: { projectId: "p1", resource: "r", states: [{ eventId: EV(5).eventId, timestamp: EV(5).timestamp, stateHash: "b".repeat(64), deleted: false, agentId: "a", agentRole: null, userId: "u", encrypted: false }], nextCursor: null } }));
    await renderSignedIn(api, <Gate><StateHistoryPage /></Gate>, "/t/acme/state-history");
    const user = userEvent.setup();
    await user.type(await screen.findByRole("textbox", { name: "Project ID" }), "p1");
    await user.type(screen.getByRole("textbox", { name: /Resource/ }), "r");
    await user.click(screen.getByRole("button", { name: "Show history" }));
    await screen.findByRole("table", { name: "States" });
    expect(screen.queryByRole("button", { name: "Replay to this state" })).toBeNull();
  });
});

describe("usage", () => {
  it("charts today and this month against the allowance, with the numbers", async () => {
    roles["acme"] = "viewer";
    api.route("GET", "/v1/usage", () => ({ body: { planTier: "free", day: "2026-12-04", month: "2026-12", events: { today: 1234, thisMonth: 56789, allowancePerDay: 10000, remainingToday: 8766 }, overQuota: false, rejected: { quota: { today: 3, thisMonth: 40 }, expired: { today: 1, thisMonth: 2 } } } }));
    api.route("GET", "/v1/tenants/:tenantId/usage", () => ({ body: { tenantId: "acme", planTier: "free", usage: { members: 2 }, allowances: { eventsPerDay: 10000, busConnections: 10, busCredentialsPerDay: 50, members: 5, pendingInvitations: 10 } } }));
    await renderSignedIn(api, <Gate><UsagePage /></Gate>, "/t/acme/usage");
    const table = await screen.findByRole("table", { name: "Usage numbers" });
    const rows = Array.from(table.querySelectorAll("tbody tr")).map((r) => Array.from(r.querySelectorAll("td")).map((td) => td.textContent));
    expect(rows).toEqual([
      ["Today (2026-12-04)", (1234).toLocaleString(), (10000).toLocaleString(), "4"],
      ["This month (2026-12)", (56789).toLocaleString(), (310000).toLocaleString(), "42"],
    ]);
    expect(screen.getByRole("figure", { name: "Events against the allowance" })).toBeTruthy();
    expect(screen.getByRole("progressbar", { name: /Members: 2 of 5/ })).toBeTruthy();
  });
});

describe("accepting an invitation", () => {
  const secret = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJK_-0123";
  it("reads the token from the fragment, clears it from the address bar and accepts with the user's token", async () => {
    api.route("POST", "/v1/invitations/accept", () => ({ body: { tenantId: "acme", role: "member", invitationId: "inv000000000000000000000001" } }));
    window.history.replaceState(null, "", `/invitations/accept#token=${secret}`);
    const client = new ApiClient({ origin: api.origin, userToken: async () => "user-token-bob" });
    render(wrap(<AcceptInvitationPage auth={new RecordingAuth()} api={client} />));
    await waitFor(() => expect(window.location.hash).toBe(""));
    await userEvent.setup().click(screen.getByRole("button", { name: "Accept invitation" }));
    await waitFor(() => expect(window.location.pathname).toBe("/t/acme/timeline"));
    const post = api.requests.find((r) => r.path === "/v1/invitations/accept");
    expect(post?.body).toEqual({ token: secret });
    expect(post?.headers.authorization).toBe("Bearer user-token-bob");
    expect(post?.query.toString()).toBe("");
  });

  it("signed out, offers sign-in and registration that come back with the token", async () => {
    window.history.replaceState(null, "", `/invitations/accept#token=${secret}`);
    const auth = new RecordingAuth();
    render(wrap(<AcceptInvitationPage auth={auth} api={null} />));
    const user = userEvent.setup();
    await user.click(screen.getByRole("button", { name: "Sign in to accept" }));
    await user.click(screen.getByRole("button", { name: "Create account to accept" }));
    expect(auth.calls).toEqual([`signIn /invitations/accept#token=${secret}`, `register /invitations/accept#token=${secret}`]);
  });

  it("takes only a well-formed secret from the fragment", () => {
    expect(invitationTokenOf(`#token=${secret}`)).toBe(secret);
    expect(invitationTokenOf("#token=short")).toBeNull();
    expect(invitationTokenOf("")).toBeNull();
  });
});

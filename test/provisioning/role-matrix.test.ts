/**
 * The role matrix on the real stack: every route of PROVISIONING_ROUTES × every tenant role ×
 * own tenant / another tenant, against the run's Keycloak (real sign-ins), the gateway's
 * `tenant-gate` plugin (its Lua in luajit, in the mode of the route's class from GATEWAY_PATHS,
 * verifying each token against the real key sets over HTTP: the service's JWKS and Keycloak's
 * certs), then the service over real HTTP. A cell's answer is the gateway's refusal, or the
 * service's answer to what the gateway let through. The expected answer of every cell is in {@link EXPECTED}, one row per
 * route; a route missing from the table fails the test, so a new route needs its row.
 *
 * Mutating cells act on things that leave the fixture intact (a role set to what it is, a member
 * that does not exist, an invitation or a credential made for the cell), except the owner's
 * offboarding, which runs last.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadTierCatalog, loadUserLimits } from "../../config/index.js";
import { GATEWAY_PATHS, JWKS_PATH, PROVISIONING_ROUTES, TENANT_ROLES, type RouteAuth, type TenantRole } from "../../services/identity/names.js";
import { tenantGateConfig } from "../../services/kong-plugins/tenant-gate.js";
import { KEYCLOAK_WAIT_MS, type RealmUser } from "../support/keycloak.js";
import { refusal, runTenantGate, single } from "../kong/lua.js";
import { signingKeysEnv, startHarness, TEST_TOKEN_ISSUER, type Harness } from "./harness.js";

type Cell = number;
type Row = Readonly<Record<TenantRole, Cell>> & { readonly other: Cell };
const all = (status: Cell, other: Cell = status): Row => ({ owner: status, admin: status, member: status, viewer: status, other });

/**
 * Expected status per route and caller. Columns: the caller's role in the tenant the path names
 * (with a tenant token of that tenant, or the user token on user routes), and `other`: a member
 * (any role) of another tenant naming this one. The token kind is the route's (`auth`).
 */
const EXPECTED: Readonly<Record<string, Row>> = {
  "GET /.well-known/jwks.json": all(200),
  "POST /v1/billing/events": all(401), // no signature: the webhook takes no bearer token
  "POST /v1/tenants": all(201),
  "GET /v1/tenants": all(200),
  "POST /v1/tenants/:tenantId/token": all(200, 404),
  "GET /v1/invitations": all(200),
  "POST /v1/invitations/accept": all(404, 404), // an invitation id that is not the caller's
  "GET /v1/tenants/:tenantId": all(200, 404),
  "GET /v1/tenants/:tenantId/members": all(200, 404),
  "GET /v1/tenants/:tenantId/limits": all(200, 404),
  "GET /v1/tenants/:tenantId/usage": all(200, 404),
  "PUT /v1/tenants/:tenantId/members/:userId": { owner: 200, admin: 200, member: 403, viewer: 403, other: 404 },
  "DELETE /v1/tenants/:tenantId/members/:userId": { owner: 404, admin: 404, member: 403, viewer: 403, other: 404 }, // a member that does not exist
  "POST /v1/tenants/:tenantId/invitations": { owner: 201, admin: 201, member: 403, viewer: 403, other: 404 },
  "GET /v1/tenants/:tenantId/invitations": { owner: 200, admin: 200, member: 403, viewer: 403, other: 404 },
  "DELETE /v1/tenants/:tenantId/invitations/:invitationId": { owner: 200, admin: 200, member: 403, viewer: 403, other: 404 },
  "POST /v1/tenants/:tenantId/bus-credentials": { owner: 201, admin: 201, member: 201, viewer: 403, other: 404 },
  "DELETE /v1/tenants/:tenantId/bus-credentials/:publicKey": { owner: 202, admin: 202, member: 404, viewer: 403, other: 404 }, // the owner's credential: not the member's to revoke
  "DELETE /v1/tenants/:tenantId": { owner: 202, admin: 403, member: 403, viewer: 403, other: 404 },
  "PUT /v1/admin/tenants/:tenantId/plan": all(401), // operator routes take no tenant token (refused by the gateway)
  "GET /v1/admin/nats-revocations": all(401),
  "PATCH /v1/tenants/:tenantId": { owner: 200, admin: 200, member: 403, viewer: 403, other: 404 },
  // The tenant is the token's (no tenant in the path: "other" is a viewer of this tenant); a
  // member may submit, and this harness has no bus, so the service answers 503 after the check.
  "POST /v1/projects/:projectId/jobs": { owner: 503, admin: 503, member: 503, viewer: 403, other: 403 },
  // Agent routes take the agent's own signed credentials, no bearer token: none here.
  "GET /v1/agent/data-key": all(401),
  "GET /v1/agent/data-keys/:keyId": all(401),
};

let h: Harness;
const signing = signingKeysEnv();
const people = {} as Record<TenantRole, RealmUser>;
let tenantId = "";
let otherTenant = "";
let stranger: RealmUser;

beforeAll(async () => {
  h = await startHarness({ env: signing.env, billingSecrets: ["whsec_matrix"] });
  people.owner = await h.addUser();
  tenantId = await h.createTenant(people.owner, { name: "Matrix" });
  // Enterprise, so the cells' invitations and credentials stay within the tier's caps.
  await h.svc.plane.changePlan(tenantId, "enterprise", { kind: "operator", userId: "role-matrix", at: new Date().toISOString() });
  const ownerToken = await h.tenantToken(people.owner, tenantId);
  for (const role of ["admin", "member", "viewer"] as const) {
    people[role] = await h.addUser();
    const inv = await h.request("POST", `/v1/tenants/${tenantId}/invitations`, { token: ownerToken, body: { email: people[role].email, role } });
    const accepted = await h.request("POST", "/v1/invitations/accept", { token: await h.token(people[role]), body: { invitationId: (inv.body as { invitation: { id: string } }).invitation.id } });
    expect(accepted.status, accepted.text).toBe(200);
  }
  stranger = await h.addUser();
  otherTenant = await h.createTenant(stranger, { name: "Elsewhere" });
}, KEYCLOAK_WAIT_MS);

afterAll(async () => {
  await h?.stop();
  signing.cleanup();
});

/** The gateway's route class of a path, as Kong's Ingresses match it (the catch-all last). */
function routeClass(path: string): RouteAuth {
  for (const auth of ["user", "operator", "webhook", "public", "agent", "tenant"] as const) {
    if (GATEWAY_PATHS[auth].some((p) => new RegExp(p).test(path))) return auth;
  }
  throw new Error(`no route class matches ${path}`);
}

/** The gateway's answer: 200 when the plugin lets the request through, else its status (with why). */
async function gateway(path: string, token: string | undefined): Promise<{ status: number; why?: string }> {
  const auth = routeClass(path);
  if (auth === "webhook" || auth === "public" || auth === "agent") return { status: 200 }; // no token at the gateway: the service checks the signature
  const mode = auth;
  const common = { tiers: loadTierCatalog(), userLimits: loadUserLimits(), counters: { policy: "local" } as const };
  const config =
    mode === "tenant"
      ? tenantGateConfig({ mode, ...common, issuer: TEST_TOKEN_ISSUER, jwksUrl: `${h.svc.url}${JWKS_PATH}` })
      : tenantGateConfig({ mode, ...common, issuer: h.issuer, jwksUrl: `${h.issuer}/protocol/openid-connect/certs` });
  const out = await runTenantGate({ config, steps: [{ now: Math.floor(Date.now() / 1000), request: { token: token ?? null } }] });
  if (out.schema_errors.length > 0) throw new Error(`plugin config: ${out.schema_errors.join("; ")}`);
  const r = single(out, 0);
  return { status: r.status, ...(r.status !== 200 ? { why: refusal(r) ?? "" } : {}) };
}

let n = 0;
/** The request of one cell: path params and a body that make the route's decision about the caller only. */
async function cell(route: (typeof PROVISIONING_ROUTES)[number], role: TenantRole, target: string): Promise<{ path: string; body?: unknown }> {
  const owner = await h.tenantToken(people.owner, tenantId);
  let path = route.url.replace(":tenantId", target);
  let body: unknown;
  switch (`${route.method} ${route.url}`) {
    case "POST /v1/tenants":
      body = { name: "cell", slug: `cell-${role}-${Date.now()}-${n++}` };
      break;
    case "POST /v1/invitations/accept":
      body = { invitationId: `inv${"0".repeat(24)}` };
      break;
    case "PUT /v1/tenants/:tenantId/members/:userId":
      path = path.replace(":userId", people.viewer.id);
      body = { role: "viewer" };
      break;
    case "DELETE /v1/tenants/:tenantId/members/:userId":
      path = path.replace(":userId", "no-such-member");
      break;
    case "POST /v1/tenants/:tenantId/invitations":
      body = { email: `cell-${role}-${n++}@example.com`, role: "viewer" };
      break;
    case "DELETE /v1/tenants/:tenantId/invitations/:invitationId": {
      const made = await h.request("POST", `/v1/tenants/${tenantId}/invitations`, { token: owner, body: { email: `cancel-${role}-${n++}@example.com`, role: "viewer" } });
      path = path.replace(":invitationId", (made.body as { invitation: { id: string } }).invitation.id);
      break;
    }
    case "POST /v1/tenants/:tenantId/bus-credentials":
    case "POST /v1/tenants/:tenantId/token":
      body = {};
      break;
    case "DELETE /v1/tenants/:tenantId/bus-credentials/:publicKey": {
      const minted = await h.request("POST", `/v1/tenants/${tenantId}/bus-credentials`, { token: owner, body: {} });
      path = path.replace(":publicKey", (minted.body as { publicKey: string }).publicKey);
      break;
    }
    case "PATCH /v1/tenants/:tenantId":
      body = { payloadEncryption: false };
      break;
    case "POST /v1/projects/:projectId/jobs":
      path = path.replace(":projectId", "checkout-service");
      body = { type: "changes.digest" };
      break;
    case "GET /v1/agent/data-keys/:keyId":
      path = path.replace(":keyId", `dk-${"0".repeat(32)}`);
      break;
    case "PUT /v1/admin/tenants/:tenantId/plan":
      body = { planTier: "free" };
      break;
    case "POST /v1/billing/events":
      body = { id: "evt_1", type: "entitlement.updated", created: 1, data: { tenantId: target, planTier: "free" } };
      break;
  }
  return { path, ...(body !== undefined ? { body } : {}) };
}

describe("the role matrix", () => {
  it("has a row for every route, and every cell answers as the row says", async () => {
    const names = PROVISIONING_ROUTES.map((r) => `${r.method} ${r.url}`);
    expect(Object.keys(EXPECTED).sort()).toEqual([...names].sort());
    const offboard = PROVISIONING_ROUTES.find((r) => r.method === "DELETE" && r.url === "/v1/tenants/:tenantId")!;
    const ordered = [...PROVISIONING_ROUTES.filter((r) => r !== offboard), offboard];
    const got: Record<string, Record<string, number>> = {};
    const gatewayRefusals: string[] = [];
    for (const route of ordered) {
      const name = `${route.method} ${route.url}`;
      // The owner's own offboarding ends the fixture: it goes last of all.
      const columns = [...TENANT_ROLES.filter((r) => !(route === offboard && r === "owner")).map((r) => [r, tenantId] as const), ["other", otherTenant] as const, ...(route === offboard ? [["owner", tenantId] as const] : [])];
      for (const [column, target] of columns) {
        const role: TenantRole = column === "other" ? "viewer" : column;
        const token = route.auth === "tenant" || route.auth === "operator" ? await h.tenantToken(people[role], tenantId) : route.auth === "user" ? await h.token(people[role]) : undefined;
        const { path, body } = await cell(route, role, target);
        const gate = await gateway(path, token);
        if (gate.status !== 200) {
          gatewayRefusals.push(`${name} ${column}: ${gate.why}`);
          (got[name] ??= {})[column] = gate.status;
          continue;
        }
        const res = await h.request(route.method, path, { ...(token ? { token } : {}), ...(body !== undefined ? { body } : {}) });
        (got[name] ??= {})[column] = res.status;
      }
    }
    expect(got).toEqual(EXPECTED);
    // The gateway decided where it should: a tenant token on the operator routes never reached the service.
    expect(gatewayRefusals.filter((g) => g.startsWith("GET /v1/admin") || g.startsWith("PUT /v1/admin"))).toHaveLength(2 * 5);
  });
});

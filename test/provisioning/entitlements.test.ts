/**
 * Entitlements: a tenant's tier changes only through the billing webhook (signed, timestamped,
 * replay-proof, idempotent, ordered) or the operator route (a Keycloak token of the operator client,
 * with the `platform-operations` audience and the `platform-admin` role). No self-service path
 * changes it. Both directions change every limit the tier drives: the limits the API answers, the
 * tenant account's NATS limits (the claims the outbox pushes, rendered as the real publisher renders
 * them), the tier's signing key on new bus credentials, and `plan_tier` in new tenant tokens (what
 * the gateway's rate limits key on), and the tenant's plan row in the event store (chdb: what the
 * ingestor's allowance and retention come from).
 */
import { decodeJwt } from "jose";
import { loadEnvironment } from "../../config/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PLAN_TIERS, type PlanTierName } from "../../config/tiers.js";
import { BILLING_WEBHOOK, OPERATOR_AUDIENCE } from "../../services/identity/names.js";
import { publicKeysOf } from "../../services/nats-auth/sign.js";
import { tenantAccountClaims, type TenantAccountState } from "../../services/nats-auth/tenant-accounts.js";
import { OPERATOR_CLIENT_ID } from "../../services/keycloak-realm/names.js";
import { signBillingDelivery } from "../../services/provisioning/src/billing.js";
import { claimsOf, KEYCLOAK_WAIT_MS, UserSession, type RealmUser } from "../support/keycloak.js";
import { eventually, signingKeysEnv, startHarness, type Harness } from "./harness.js";

const SECRET = "whsec_test_0123456789abcdef";
const ROTATED = "whsec_test_rotated_fedcba9876543210";
let h: Harness;
let signing: ReturnType<typeof signingKeysEnv>;
/** Every account state the outbox pushed, in order (the real publisher signs and pushes exactly these). */
const pushed: TenantAccountState[] = [];

beforeAll(async () => {
  signing = signingKeysEnv();
  h = await startHarness({
    env: signing.env,
    billingSecrets: [SECRET, ROTATED],
    overrides: { accounts: { publish: async (s) => void pushed.push(s), close: async () => undefined } },
  });
}, KEYCLOAK_WAIT_MS);

afterAll(async () => {
  await h?.stop();
  signing?.cleanup();
});

const deliver = (event: unknown, o: { secret?: string; t?: number; header?: string; raw?: string } = {}) => {
  const raw = o.raw ?? JSON.stringify(event);
  return h.request("POST", "/v1/billing/events", { rawBody: raw, headers: { "content-type": "application/json", [BILLING_WEBHOOK.signatureHeader]: o.header ?? signBillingDelivery(o.secret ?? SECRET, raw, o.t) } });
};
let seq = 0;
const event = (tenantId: string, planTier: PlanTierName, created = Math.floor(Date.now() / 1000)) => ({ id: `evt_${Date.now()}_${seq++}`, type: "entitlement.updated", created, data: { tenantId, planTier } });

/** Every limit the tier drives, as the platform answers it now. */
async function limitsNow(user: RealmUser, tenantId: string): Promise<{ api: unknown; tokenTier: unknown; accountLimits: unknown; credentialIssuer: string; planRow: unknown }> {
  const token = await h.tenantToken(user, tenantId);
  const api = (await h.request("GET", `/v1/tenants/${tenantId}/limits`, { token })).body as { planTier: string; limits: unknown };
  await eventually(async () => (await h.svc.store.transact((tx) => tx.getRange(["o"]))).length === 0, 15_000, "the outbox to drain");
  const last = [...pushed].reverse().find((s) => s.tenantId === tenantId)!;
  const keys = publicKeysOf(signing.seeds);
  const claims = tenantAccountClaims(last, PLAN_TIERS, { swarmAccount: keys.swarmAccount, tenantAccountSigningKey: keys.swarmAccount, swarmSigningKeys: keys.swarmSigningKeys }, { events: "x", jobs: "y" });
  const creds = (await h.request("POST", `/v1/tenants/${tenantId}/bus-credentials`, { token })).body as { jwt: string };
  const planRow = await h.events!.currentPlan(tenantId);
  return { api, tokenTier: decodeJwt(token).plan_tier, accountLimits: claims.nats.limits, credentialIssuer: String(decodeJwt(creds.jwt).iss), planRow: planRow && { tier: planRow.plan_tier, status: planRow.status } };
}

function expected(tier: PlanTierName) {
  const keys = publicKeysOf(signing.seeds);
  const bus = PLAN_TIERS[tier].bus;
  return {
    api: { tenantId: expect.any(String), planTier: tier, limits: JSON.parse(JSON.stringify(PLAN_TIERS[tier])) },
    tokenTier: tier,
    accountLimits: expect.objectContaining({ conn: bus.connections, subs: bus.subscriptions, payload: bus.maxPayloadBytes }),
    credentialIssuer: keys.swarmSigningKeys[tier],
    planRow: { tier, status: "active" },
  };
}

describe("the billing webhook", () => {
  it("upgrades and downgrades every limit, exactly once per event, in event order", async () => {
    const owner = await h.addUser();
    const tenantId = await h.createTenant(owner);
    expect(await limitsNow(owner, tenantId)).toEqual(expected("free"));

    const up = event(tenantId, "enterprise");
    const first = await deliver(up);
    expect(first.status, first.text).toBe(200);
    expect(first.body).toEqual({ eventId: up.id, tenantId, planTier: "enterprise", applied: true });
    expect(await limitsNow(owner, tenantId)).toEqual(expected("enterprise"));

    // The same event again (the provider retries): the first answer, no second change.
    const pushes = pushed.length;
    const replay = await deliver(up);
    expect(replay.status).toBe(200);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body).toEqual(first.body);
    expect(pushed.length).toBe(pushes);

    // Down again: every limit follows.
    const down = event(tenantId, "free", up.created + 1);
    expect((await deliver(down)).body).toMatchObject({ planTier: "free", applied: true });
    expect(await limitsNow(owner, tenantId)).toEqual(expected("free"));

    // An event older than the one that set the tier changes nothing (out-of-order delivery).
    const before = await h.events!.currentPlan(tenantId);
    const stale = await deliver(event(tenantId, "pro", up.created - 10));
    expect(stale.body).toMatchObject({ applied: false });
    expect((await h.svc.plane.tenant(tenantId))?.planTier).toBe("free");
    // ... and writes no plan row: the current one is the same row, free.
    await eventually(async () => (await h.svc.store.transact((tx) => tx.getRange(["o"]))).length === 0, 15_000, "the outbox to drain");
    expect(before).toMatchObject({ plan_tier: "free", status: "active" });
    expect(await h.events!.currentPlan(tenantId)).toEqual(before);

    // Signed with the second secret of a rotation: accepted.
    expect((await deliver(event(tenantId, "pro", down.created + 1), { secret: ROTATED })).body).toMatchObject({ planTier: "pro", applied: true });
    expect(await limitsNow(owner, tenantId)).toEqual(expected("pro"));
  });

  it("refuses a delivery without a valid, fresh signature, and changes nothing", async () => {
    const owner = await h.addUser();
    const tenantId = await h.createTenant(owner);
    const e = event(tenantId, "enterprise");
    const raw = JSON.stringify(e);
    const now = Math.floor(Date.now() / 1000);
    const cases: Record<string, Awaited<ReturnType<typeof deliver>>> = {
      "no signature header": await h.request("POST", "/v1/billing/events", { rawBody: raw, headers: { "content-type": "application/json" } }),
      "another secret": await deliver(e, { secret: "whsec_attacker" }),
      "the body changed after signing": await deliver(e, { header: signBillingDelivery(SECRET, raw.replace("enterprise", "pro")) }),
      "a timestamp 10 minutes old (a replayed capture)": await deliver(e, { t: now - 600 }),
      "a timestamp 10 minutes ahead": await deliver(e, { t: now + 600 }),
      "a malformed header": await deliver(e, { header: "v1=zz" }),
      "a user's bearer token instead": await h.request("POST", "/v1/billing/events", { token: await h.token(owner), rawBody: raw, headers: { "content-type": "application/json" } }),
    };
    for (const [what, res] of Object.entries(cases)) {
      expect(res.status, what).toBe(401);
      expect(res.body, what).toMatchObject({ error: { code: "bad_signature" } });
    }
    expect((await h.svc.plane.tenant(tenantId))?.planTier).toBe("free");
    // A signed body that is not an entitlement event names the field.
    const bad = await deliver({ ...e, data: { tenantId, planTier: "platinum" } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { field: "body.data.planTier" } });
  });
});

describe("no self-service tier", () => {
  it("has no user or tenant route that changes the tier", async () => {
    const owner = await h.addUser();
    const tenantId = await h.createTenant(owner);
    const tenantToken = await h.tenantToken(owner, tenantId);
    const userToken = await h.token(owner);
    for (const [method, path, token] of [
      ["PUT", `/v1/tenants/${tenantId}/plan`, tenantToken],
      ["PATCH", `/v1/tenants/${tenantId}/plan`, tenantToken],
      ["PUT", `/v1/admin/tenants/${tenantId}/plan`, tenantToken],
      ["PUT", `/v1/admin/tenants/${tenantId}/plan`, userToken],
    ] as const) {
      const res = await h.request(method, path, { token, body: { planTier: "enterprise" } });
      expect(res.status, `${method} ${path}`).toBeGreaterThanOrEqual(401);
      expect(res.status, `${method} ${path}`).toBeLessThan(500);
    }
    expect((await h.svc.plane.tenant(tenantId))?.planTier).toBe("free");
  });
});

describe("the operator route", () => {
  it("needs the operator client's audience and the platform-admin role", async () => {
    const owner = await h.addUser();
    const tenantId = await h.createTenant(owner);
    const operator = await h.addPlatformAdmin();
    // One authenticator app for the operator: OTP is set up at the first sign-in and asked at the next.
    const authenticator: { secret?: string } = {};
    const opSession = await UserSession.signIn(h.keycloak, operator, { clientId: OPERATOR_CLIENT_ID, redirectUri: operatorRedirect(), totp: authenticator });
    const opToken = await opSession.accessToken();
    expect([claimsOf(opToken).aud].flat()).toContain(OPERATOR_AUDIENCE);
    const changed = await h.request("PUT", `/v1/admin/tenants/${tenantId}/plan`, { token: opToken, body: { planTier: "pro" } });
    expect(changed.status, changed.text).toBe(200);
    expect(changed.body).toMatchObject({ tenant: { id: tenantId, planTier: "pro" } });
    expect((await h.svc.plane.tenant(tenantId))?.entitlement).toMatchObject({ kind: "operator", userId: operator.id });
    // The plan row follows.
    await eventually(async () => (await h.events!.currentPlan(tenantId))?.plan_tier === "pro", 15_000, "the operator's tier in the plan row");
    expect(await h.events!.currentPlan(tenantId)).toMatchObject({ status: "active" });
    expect((await h.request("GET", "/v1/admin/nats-revocations", { token: opToken })).status).toBe(200);

    // The same operator's web-client token (audience api, not platform-operations): refused.
    const webToken = await (await UserSession.signIn(h.keycloak, operator, { totp: authenticator })).accessToken();
    expect((await h.request("PUT", `/v1/admin/tenants/${tenantId}/plan`, { token: webToken, body: { planTier: "enterprise" } })).status).toBe(401);
    // A user without platform-admin signed in through the operator client: 403.
    const plain = await h.addUser();
    const plainOp = await (await UserSession.signIn(h.keycloak, plain, { clientId: OPERATOR_CLIENT_ID, redirectUri: operatorRedirect() })).accessToken();
    const denied = await h.request("PUT", `/v1/admin/tenants/${tenantId}/plan`, { token: plainOp, body: { planTier: "enterprise" } });
    expect(denied.status).toBe(403);
    expect((await h.svc.plane.tenant(tenantId))?.planTier).toBe("pro");
    // An unknown tenant: 404; a bad tier names the field.
    expect((await h.request("PUT", `/v1/admin/tenants/t000000000000000000000000/plan`, { token: opToken, body: { planTier: "pro" } })).status).toBe(404);
    expect((await h.request("PUT", `/v1/admin/tenants/${tenantId}/plan`, { token: opToken, body: { planTier: "gold" } })).body).toMatchObject({ error: { field: "body.planTier" } });
  });
});

/** The operator client's redirect URI in the test realm (the web app's origin). */
function operatorRedirect(): string {
  return `https://${loadEnvironment("dev").domains.api}/operator/callback`;
}

describe("plan rows of tenants created before plan rows existed", () => {
  it("are queued by the backfill once, with the tenant's current tier, and a second run queues nothing", async () => {
    const user = await h.addUser();
    const tenantId = await h.createTenant(user);
    expect((await deliver(event(tenantId, "enterprise"))).status).toBe(200);
    await eventually(async () => (await h.svc.store.transact((tx) => tx.getRange(["o"]))).length === 0, 15_000, "the outbox to drain");
    expect(await h.events!.currentPlan(tenantId)).toMatchObject({ plan_tier: "enterprise", status: "active" });
    // As if the tenant predated plan rows: no row in the event store, no record of one.
    await h.events!.asAdmin((admin) => admin.command({ query: "DELETE FROM enchanted.tenant_plans WHERE tenant_id = {t:String}", query_params: { t: tenantId } }));
    expect(await h.events!.currentPlan(tenantId)).toBeUndefined();
    await h.svc.store.transact(async (tx) => {
      const meta = JSON.parse(((await tx.get(["t", tenantId, "meta"])) as Buffer).toString("utf8")) as Record<string, unknown>;
      delete meta.planRowAt;
      tx.set(["t", tenantId, "meta"], Buffer.from(JSON.stringify(meta)));
    });

    const first = await h.svc.plane.backfillPlans({ batch: 2 });
    expect(first.queued).toBe(1);
    expect(first.tenants).toBeGreaterThanOrEqual(2);
    // Queued but not yet applied: a second run (another replica, a restart) does not queue it again.
    expect((await h.svc.plane.backfillPlans()).queued).toBe(0);
    await eventually(async () => (await h.events!.currentPlan(tenantId))?.plan_tier === "enterprise", 15_000, "the backfilled plan row");
    await eventually(async () => (await h.svc.store.transact((tx) => tx.getRange(["o"]))).length === 0, 15_000, "the outbox to drain");
    expect(await h.svc.plane.backfillPlans()).toMatchObject({ queued: 0 });
    expect((await h.svc.plane.tenant(tenantId))?.planRowAt).toEqual(expect.any(Number));
    // A replica's start runs the pass once: after a completed one it walks nothing.
    expect(await h.svc.plane.backfillPlans({ once: true })).toEqual({ tenants: 0, queued: 0, skipped: true });
  });
});

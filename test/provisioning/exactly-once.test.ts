/**
 * Exactly once: the same Idempotency-Key sent 100 times concurrently, with injected store faults
 * (conflicts, transaction_too_old, and commits whose result is reported unknown although they
 * committed) and Keycloak answering 500/503 to a share of admin calls (plus an expired service
 * token), yields one tenant, one organization, one data key, and 100 identical answers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PLAN_TIER_ATTRIBUTE, TENANT_ATTRIBUTE } from "../../services/keycloak-realm/names.js";
import { eventually, startHarness, type Harness } from "./harness.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ faults: { conflict: 0.15, unknownResult: 0.15, tooOld: 0.05 } });
});
afterAll(async () => {
  await h?.stop();
});

describe("exactly-once provisioning", () => {
  it("turns 100 concurrent repeats of one request into one tenant, one organization, one data key", async () => {
    h.kc.failureRate = 0.3;
    h.kc.failNextAdminCalls = 2; // at least two Keycloak errors, whatever the random draws
    const user = h.kc.addUser();
    const token = await h.kc.userToken(user.id);
    const body = { name: "Once Only Inc", slug: "once-only", planTier: "pro" };
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => h.request("POST", "/v1/tenants", { token, body, headers: { "idempotency-key": "create-once-only-7f3a" } })),
    );
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([201]));
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    // 99 repeats are replays. The first may be one too: when its commit reported an (injected)
    // unknown result, its retry finds the record it had written and answers from it.
    expect(answers.filter((a) => a.headers.get("idempotent-replayed") === "true").length).toBeGreaterThanOrEqual(99);
    const tenantId = (answers[0]!.body as { tenant: { id: string } }).tenant.id;

    h.kc.expireAdminTokens(); // the adapter must refresh its token once and continue
    await eventually(async () => {
      const t = await h.svc.plane.tenant(tenantId);
      return t?.organization === "ready" && t.dataKey === "ready";
    }, 30_000, "the outbox to apply every effect through the injected failures");
    await eventually(async () => (await h.svc.store.transact((tx) => tx.getRange(["o"]))).length === 0, 30_000, "the outbox to drain");

    const tenantsStored = await h.svc.store.transact((tx) => tx.getRange(["t"]));
    const metas = tenantsStored.filter((e) => e.key[2] === "meta");
    expect(metas.map((e) => e.key[1])).toEqual([tenantId]);
    expect(tenantsStored.filter((e) => e.key[2] === "key")).toHaveLength(1);
    expect(tenantsStored.filter((e) => e.key[2] === "m")).toHaveLength(1);
    expect(await h.svc.store.transact((tx) => tx.getRange(["slug"]))).toHaveLength(1);
    expect(await h.svc.plane.counter(tenantId, "members")).toBe(1);

    expect(h.kc.stats.organizationCreates).toBe(1);
    expect([...h.kc.organizations.values()]).toEqual([expect.objectContaining({ alias: "once-only", attributes: { [TENANT_ATTRIBUTE]: [tenantId], [PLAN_TIER_ATTRIBUTE]: ["pro"] } })]);
    expect(h.kc.members.get([...h.kc.organizations.keys()][0]!)).toEqual(new Set([user.id]));
    // The faults really happened.
    expect(h.faulty!.injected.unknownResult).toBeGreaterThan(0);
    expect(h.faulty!.injected.conflict).toBeGreaterThan(0);
    expect(h.kc.stats.injectedFailures).toBeGreaterThan(0);
    h.kc.failureRate = 0;

    // An expired admin token: the adapter is refused once (401), fetches a new token, continues.
    const grants = h.kc.stats.tokenGrants;
    h.kc.expireAdminTokens();
    const other = h.kc.addUser();
    const second = await h.request("POST", "/v1/tenants", { token: await h.kc.userToken(other.id), body: { name: "After Expiry", slug: "after-expiry", planTier: "free" } });
    expect(second.status).toBe(201);
    const secondId = (second.body as { tenant: { id: string } }).tenant.id;
    await eventually(async () => (await h.svc.plane.tenant(secondId))?.organization === "ready", 30_000, "the second tenant's organization after the token expired");
    expect(h.kc.stats.tokenGrants).toBe(grants + 1);
  });

  it("refuses a reused Idempotency-Key with a different body (422) and replays the same body", async () => {
    const token = await h.kc.userToken(h.kc.addUser().id);
    const first = await h.request("POST", "/v1/tenants", { token, body: { name: "K", slug: "key-reuse", planTier: "free" }, headers: { "idempotency-key": "k-1" } });
    expect(first.status).toBe(201);
    const other = await h.request("POST", "/v1/tenants", { token, body: { name: "K", slug: "key-reuse-2", planTier: "free" }, headers: { "idempotency-key": "k-1" } });
    expect(other.status).toBe(422);
    expect(other.body).toMatchObject({ error: { field: "headers.idempotency-key" } });
    // A conflict answer is also remembered and replayed.
    const taken = await h.request("POST", "/v1/tenants", { token, body: { name: "K", slug: "key-reuse", planTier: "free" }, headers: { "idempotency-key": "k-2" } });
    const takenAgain = await h.request("POST", "/v1/tenants", { token, body: { name: "K", slug: "key-reuse", planTier: "free" }, headers: { "idempotency-key": "k-2" } });
    expect([taken.status, takenAgain.status]).toEqual([409, 409]);
    expect(takenAgain.text).toBe(taken.text);
    // Another user's identical key is a different request.
    const token2 = await h.kc.userToken(h.kc.addUser().id);
    const second = await h.request("POST", "/v1/tenants", { token: token2, body: { name: "K", slug: "key-reuse-3", planTier: "free" }, headers: { "idempotency-key": "k-1" } });
    expect(second.status).toBe(201);
  });

  it("creates without an Idempotency-Key exactly once even when commits report an unknown result", async () => {
    const token = await h.kc.userToken(h.kc.addUser().id);
    const before = h.faulty!.injected.unknownResult;
    for (let i = 0; i < 30; i++) {
      const res = await h.request("POST", "/v1/tenants", { token, body: { name: `N${i}`, slug: `no-key-${i}`, planTier: "free" } });
      expect(res.status, `request ${i}: ${res.text}`).toBe(201);
    }
    expect(h.faulty!.injected.unknownResult).toBeGreaterThan(before);
    const mine = await h.request("GET", "/v1/tenants", { token });
    expect((mine.body as { tenants: unknown[] }).tenants).toHaveLength(30);
  });
});

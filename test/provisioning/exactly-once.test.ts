/**
 * Exactly once: the same Idempotency-Key sent 100 times concurrently, with injected store faults
 * (conflicts, transaction_too_old, and commits whose result is reported unknown although they
 * committed) and the real Keycloak's Admin API answering 500/503 (through the fault proxy) to a
 * share of admin calls (plus an expired service token), yields one tenant, one owner membership,
 * one data key, the owner's realm role, and 100 identical answers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { USER_LIMITS } from "../../config/tiers.js";
import { REALM_ROLES } from "../../services/keycloak-realm/names.js";
import { KEYCLOAK_WAIT_MS } from "../support/keycloak.js";
import { eventually, startHarness, type Harness } from "./harness.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ faults: { conflict: 0.15, unknownResult: 0.15, tooOld: 0.05 } });
}, KEYCLOAK_WAIT_MS);
afterAll(async () => {
  await h?.stop();
});

describe("exactly-once provisioning", () => {
  it("turns 100 concurrent repeats of one request into one tenant, one membership, one data key", async () => {
    h.proxy!.failureRate = 0.3;
    h.proxy!.failNextAdminCalls = 2; // at least two Keycloak errors, whatever the random draws
    const user = (await h.addUser());
    const token = await h.token(user);
    const body = { name: "Once Only Inc", slug: "once-only" };
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => h.request("POST", "/v1/tenants", { token, body, headers: { "idempotency-key": "create-once-only-7f3a" } })),
    );
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([201]));
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    // 99 repeats are replays. The first may be one too: when its commit reported an (injected)
    // unknown result, its retry finds the record it had written and answers from it.
    expect(answers.filter((a) => a.headers.get("idempotent-replayed") === "true").length).toBeGreaterThanOrEqual(99);
    const tenantId = (answers[0]!.body as { tenant: { id: string } }).tenant.id;

    h.proxy!.expireAdminTokens(); // the adapter must refresh its token once and continue
    await eventually(async () => {
      const t = await h.svc.plane.tenant(tenantId);
      return t?.dataKey === "ready";
    }, 30_000, "the outbox to apply every effect through the injected failures");
    await eventually(async () => (await h.svc.store.transact((tx) => tx.getRange(["o"]))).length === 0, 30_000, "the outbox to drain");

    const tenantsStored = await h.svc.store.transact((tx) => tx.getRange(["t"]));
    const metas = tenantsStored.filter((e) => e.key[2] === "meta");
    expect(metas.map((e) => e.key[1])).toEqual([tenantId]);
    expect(tenantsStored.filter((e) => e.key[2] === "key")).toHaveLength(1);
    expect(tenantsStored.filter((e) => e.key[2] === "m")).toHaveLength(1);
    expect(await h.svc.store.transact((tx) => tx.getRange(["slug"]))).toHaveLength(1);
    expect(await h.svc.plane.counter(tenantId, "members")).toBe(1);

    expect(await h.svc.plane.counter(tenantId, "owners")).toBe(1);
    expect(await h.svc.store.transact((tx) => tx.getRange(["u", user.id]))).toHaveLength(1);
    expect((await h.admin.get<{ name: string }[]>(`/enchanted/users/${user.id}/role-mappings/realm`)).map((r) => r.name)).toContain(REALM_ROLES.tenantAdmin);
    // The faults really happened.
    expect(h.faulty!.injected.unknownResult).toBeGreaterThan(0);
    expect(h.faulty!.injected.conflict).toBeGreaterThan(0);
    expect(h.proxy!.stats.injectedFailures).toBeGreaterThan(0);
    h.proxy!.failureRate = 0;

    // An expired admin token: the adapter is refused once (401), fetches a new token, continues.
    const grants = h.proxy!.stats.tokenGrants;
    h.proxy!.expireAdminTokens();
    const other = (await h.addUser());
    const second = await h.request("POST", "/v1/tenants", { token: await h.token(other), body: { name: "After Expiry", slug: "after-expiry" } });
    expect(second.status).toBe(201);
    await eventually(async () => (await h.admin.get<{ name: string }[]>(`/enchanted/users/${other.id}/role-mappings/realm`)).some((r) => r.name === REALM_ROLES.tenantAdmin), 30_000, "the second owner's realm role after the token expired");
    expect(h.proxy!.stats.tokenGrants).toBe(grants + 1);
  });

  it("refuses a reused Idempotency-Key with a different body (422) and replays the same body", async () => {
    const token = await h.token(await h.addUser());
    const first = await h.request("POST", "/v1/tenants", { token, body: { name: "K", slug: "key-reuse" }, headers: { "idempotency-key": "k-1" } });
    expect(first.status).toBe(201);
    const other = await h.request("POST", "/v1/tenants", { token, body: { name: "K", slug: "key-reuse-2" }, headers: { "idempotency-key": "k-1" } });
    expect(other.status).toBe(422);
    expect(other.body).toMatchObject({ error: { field: "headers.idempotency-key" } });
    // A conflict answer is also remembered and replayed.
    const taken = await h.request("POST", "/v1/tenants", { token, body: { name: "K", slug: "key-reuse" }, headers: { "idempotency-key": "k-2" } });
    const takenAgain = await h.request("POST", "/v1/tenants", { token, body: { name: "K", slug: "key-reuse" }, headers: { "idempotency-key": "k-2" } });
    expect([taken.status, takenAgain.status]).toEqual([409, 409]);
    expect(takenAgain.text).toBe(taken.text);
    // Another user's identical key is a different request.
    const token2 = await h.token(await h.addUser());
    const second = await h.request("POST", "/v1/tenants", { token: token2, body: { name: "K", slug: "key-reuse-3" }, headers: { "idempotency-key": "k-1" } });
    expect(second.status).toBe(201);
  });

  it("creates without an Idempotency-Key exactly once even when commits report an unknown result", async () => {
    const before = h.faulty!.injected.unknownResult;
    // 30 creations by 6 users, each up to the user's cap: a re-run counts a creation once too.
    for (let u = 0; u < 6; u++) {
      const token = await h.token(await h.addUser());
      for (let i = 0; i < USER_LIMITS.activeTenants; i++) {
        const res = await h.request("POST", "/v1/tenants", { token, body: { name: `N${i}`, slug: `no-key-${u}-${i}` } });
        expect(res.status, `request ${u}/${i}: ${res.text}`).toBe(201);
      }
      const mine = await h.request("GET", "/v1/tenants", { token });
      expect((mine.body as { tenants: unknown[] }).tenants).toHaveLength(USER_LIMITS.activeTenants);
      // The cap counted every creation exactly once: one more is refused.
      expect((await h.request("POST", "/v1/tenants", { token, body: { name: "over", slug: `no-key-${u}-over` } })).status).toBe(429);
    }
    expect(h.faulty!.injected.unknownResult).toBeGreaterThan(before);
  });
});

/**
 * The platform's signing keys on a real LMDB store with the local KEK: shared by replicas through
 * the store, rotated on schedule, published ahead of use and kept published after, never stored in
 * the clear; the invitation key likewise.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TENANT_TOKEN } from "../../services/identity/names.js";
import { LocalKekProvider } from "../../services/provisioning/src/datakeys.js";
import { PlatformKeys, PUBLISH_AHEAD_SECONDS } from "../../services/provisioning/src/platform-keys.js";
import { LmdbStore } from "../../services/provisioning/src/store/lmdb.js";

const ISSUER = "https://api.enchanted.test";
const DAY = 86_400_000;
let dir = "";
let store: LmdbStore;
const provider = new LocalKekProvider(randomBytes(32));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "platform-keys-"));
  store = await LmdbStore.open(dir);
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("platform keys", () => {
  it("share one key between replicas, rotate it, publish a new key ahead of use and keep the old one published", async () => {
    let now = Date.now();
    const replica = () => new PlatformKeys({ store, provider, issuer: ISSUER, tokenTtlSeconds: 300, rotationSeconds: 86_400, now: () => now });
    const a = replica();
    const b = replica();
    await Promise.all([a.load(), b.load()]);
    expect(a.keyIds).toHaveLength(1);
    expect(b.keyIds).toEqual(a.keyIds);
    const first = a.keyIds[0]!;
    const claims = { userId: "u1", tenantId: "t0123456789abcdef01234567", planTier: "free", role: "owner" as const };
    const early = await b.signTenantToken(claims);
    expect(decodeProtectedHeader(early.token)).toMatchObject({ alg: "ES256", kid: first, typ: TENANT_TOKEN.type });

    // Nothing in the store is a private key: the stored records hold only the wrapped secret and the public JWK.
    const rows = await store.transact((tx) => tx.getRange(["pk"]));
    expect(rows.map((r) => r.value.toString("utf8")).join("")).not.toMatch(/"d":/);

    // A day later one replica rotates; the other sees the new key at its next refresh.
    now += DAY + 1_000;
    await a.refresh();
    await b.refresh();
    expect(a.keyIds).toHaveLength(2);
    expect(b.keyIds).toEqual(a.keyIds);
    const second = a.keyIds[0]!;
    expect(second).not.toBe(first);
    // Published, but not signed with until it has been published PUBLISH_AHEAD_SECONDS.
    expect(decodeProtectedHeader((await a.signTenantToken(claims)).token).kid).toBe(first);
    now += PUBLISH_AHEAD_SECONDS * 1000;
    const late = await a.signTenantToken(claims);
    expect(decodeProtectedHeader(late.token).kid).toBe(second);
    // Both verify against the published set: a token of the old key lives out its life.
    const jwks = createLocalJWKSet(a.jwks());
    for (const t of [early.token, late.token]) {
      await expect(jwtVerify(t, jwks, { issuer: ISSUER, audience: TENANT_TOKEN.audience, currentDate: new Date(now - DAY) })).resolves.toBeTruthy();
    }
    // Long after the next rotations, the first key leaves the set.
    now += 3 * DAY;
    await a.refresh();
    expect(a.keyIds).not.toContain(first);
  });

  it("derives the same invitation secret on every replica from the one stored key", async () => {
    const a = new PlatformKeys({ store, provider, issuer: ISSUER, tokenTtlSeconds: 300 });
    const b = new PlatformKeys({ store, provider, issuer: ISSUER, tokenTtlSeconds: 300 });
    await a.load();
    await b.load();
    expect(a.invitationSecret("inv000000000000000000000001")).toBe(b.invitationSecret("inv000000000000000000000001"));
    expect(a.invitationSecret("inv000000000000000000000001")).not.toBe(a.invitationSecret("inv000000000000000000000002"));
    expect(a.invitationSecret("inv000000000000000000000001")).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

/**
 * The service's fast minter (native Ed25519) against the reference, mintTenantCredentials of
 * services/nats-auth: same key encodings, same claims, valid signatures.
 */
import { spawnSync } from "node:child_process";
import { decode } from "@nats-io/jwt";
import { createUser, fromPublic, fromSeed } from "@nats-io/nkeys";
import { describe, expect, it } from "vitest";
import { mintTenantCredentials } from "../../services/nats-auth/mint.js";
import { generateNatsSeeds, publicKeysOf } from "../../services/nats-auth/sign.js";
import { FastKeyPair } from "../../services/provisioning/src/fast-nkeys.js";
import { signingKeyMinter } from "../../services/provisioning/src/nats.js";

describe("fast minter", () => {
  it("encodes keys exactly as nkeys does and signs verifiably", () => {
    for (let i = 0; i < 20; i++) {
      const ref = createUser();
      const seed = new TextDecoder().decode(ref.getSeed());
      const fast = FastKeyPair.fromSeed(seed);
      expect(fast.getPublicKey()).toBe(ref.getPublicKey());
      expect(new TextDecoder().decode(fast.getSeed())).toBe(seed);
      expect(new TextDecoder().decode(fast.getPrivateKey())).toBe(new TextDecoder().decode(ref.getPrivateKey()));
      const data = new TextEncoder().encode(`message ${i}`);
      expect(fromPublic(ref.getPublicKey()).verify(data, fast.sign(data))).toBe(true);
    }
    // Fresh pairs (generated, not imported): nkeys reads the same public and private key from the seed, and verifies their signatures.
    for (const [prefix, pattern] of [[20 << 3, /^U[A-Z2-7]{55}$/], [0, /^A[A-Z2-7]{55}$/]] as const) {
      for (let i = 0; i < 10; i++) {
        const fresh = FastKeyPair.create(prefix);
        const ref = fromSeed(fresh.getSeed());
        expect(ref.getPublicKey()).toBe(fresh.getPublicKey());
        expect(fresh.getPublicKey()).toMatch(pattern);
        expect(new TextDecoder().decode(fresh.getPrivateKey())).toBe(new TextDecoder().decode(ref.getPrivateKey()));
        expect(FastKeyPair.fromSeed(new TextDecoder().decode(fresh.getSeed())).getPublicKey()).toBe(fresh.getPublicKey());
        const data = new TextEncoder().encode(`fresh ${i}`);
        expect(fromPublic(fresh.getPublicKey()).verify(data, fresh.sign(data))).toBe(true);
        expect(fresh.verify(data, ref.sign(data))).toBe(true);
      }
    }
  });

  it("creates 100,000 key pairs under constant garbage collection without deadlocking", () => {
    // Node 20 deadlocks when a JWK export of a freshly generated KeyObject allocates into a
    // collection that finalizes the key's generation job (both lock the key's mutex): about one
    // run in two of 50,000 keys hung with that code; a tiny young generation collects far more
    // often. A child process, so that a deadlock is a timeout here, not a hung test run.
    const script = `import { FastKeyPair } from ${JSON.stringify(new URL("../../services/provisioning/src/fast-nkeys.ts", import.meta.url).pathname)};
      const seen = new Set();
      for (let i = 0; i < 100000; i++) seen.add(FastKeyPair.create(i % 2 === 0 ? 0 : 160).getPublicKey());
      process.stdout.write(String(seen.size));`;
    const r = spawnSync(process.execPath, ["--max-semi-space-size=1", "--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 45_000 });
    expect(r.signal, `the child was stopped after ${45} s: key creation deadlocked\n${r.stderr}`).toBeNull();
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("100000");
  }, 60_000);

  it("mints the same claims as mintTenantCredentials", async () => {
    const seeds = generateNatsSeeds([]);
    const account = publicKeysOf(seeds).swarmAccount;
    const fast = await signingKeyMinter(seeds.swarmSigningKeys).mint("tenant-x", "pro", 600, account);
    const ref = await mintTenantCredentials({ tenantId: "tenant-x", tier: "pro", signingKeySeed: seeds.swarmSigningKeys.pro, accountPublicKey: account, expiresInSeconds: 600 });
    const strip = (jwt: string) => {
      const c = decode(jwt) as unknown as Record<string, unknown>;
      const { jti: _j, iat: _i, sub: _s, exp, ...rest } = c;
      return { ...rest, expSoon: typeof exp === "number" };
    };
    expect(strip(fast.jwt)).toEqual(strip(ref.jwt));
    expect(fast.inboxPrefix).toBe(ref.inboxPrefix);
    expect(fast.creds).toContain(fast.jwt);
    expect(fromSeed(new TextEncoder().encode(fast.seed)).getPublicKey()).toBe(fast.publicKey);
    await expect(signingKeyMinter(seeds.swarmSigningKeys).mint("a.b", "free", 600, account)).rejects.toThrow();
  });
});

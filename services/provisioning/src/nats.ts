/**
 * Bus credentials and tenant accounts.
 *
 * Every tenant has a NATS account of its own (services/nats-auth/tenant-accounts.ts), created
 * with the tenant (its public key is in the tenant record; its seed is never kept: nothing needs
 * it). The outbox's `nats.account` effect renders the account JWT from the tenant record (tier,
 * status), signs it with the operator's tenant-account signing key, and pushes it to the
 * cluster's full resolver through the system account ({@link natsAccountPublisher}); the servers
 * apply it at once. So offboarding reaches the running servers by itself: the offboarded
 * account's JWT revokes every user (`*`), allows no connection and imports nothing, and the
 * servers close the tenant's open connections when they apply it.
 *
 * Credentials: a user JWT + seed of the tenant's account, signed by its tier's user signing key
 * (read from `PROVISIONING_NATS_SIGNING_KEYS_DIR`, `<tier>.seed`), valid for
 * `PROVISIONING_CREDENTIALS_TTL_SECONDS` at most.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { encodeUser } from "@nats-io/jwt";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { assertTenantId } from "../../../config/tenancy.js";
import { PLAN_TIER_NAMES, type PlanTierName, type TierCatalog } from "../../../config/tiers.js";
import { TENANT_TAG, TIER_TAG, tenantInboxPrefix, type NatsPublicKeys } from "../../nats-auth/claims.js";
import { MAX_TENANT_CREDENTIALS_TTL_SECONDS, type TenantCredentials } from "../../nats-auth/mint.js";
import { checkPublicKey, credentialsOf, keyPairFromSeed, NatsAuthError } from "../../nats-auth/sign.js";
import { FastKeyPair, NKEY_PREFIX } from "./fast-nkeys.js";
import { pushAccountJwt, signTenantAccount, signTenantActivations, tenantAccountClaims, type TenantAccountState } from "../../nats-auth/tenant-accounts.js";
import { NATS_ACCOUNT_KEY_FILES } from "../contract.js";

export interface BusMinter {
  /** Credentials of a user of the tenant's account `accountPublicKey`. */
  mint(tenantId: string, tier: PlanTierName, ttlSeconds: number, accountPublicKey: string): Promise<TenantCredentials>;
}

function readSeed(path: string, kind: "A" | "O", what: string): string {
  let seed: string;
  try {
    seed = readFileSync(path, "utf8").trim();
  } catch (error) {
    throw new Error(`PROVISIONING_NATS_SIGNING_KEYS_DIR: cannot read ${path} (${(error as Error).message}). Fix: mount ${what} there.`);
  }
  keyPairFromSeed(path, seed, kind);
  return seed;
}

/** Reads `<dir>/<tier>.seed` for every tier; fails naming the missing or bad file. */
export function readSigningKeys(dir: string): Record<PlanTierName, string> {
  const out = {} as Record<PlanTierName, string>;
  for (const tier of PLAN_TIER_NAMES) out[tier] = readSeed(join(dir, `${tier}.seed`), "A", `the ${tier} tier's user signing-key seed`);
  return out;
}

/** The seeds the account side needs: the operator's tenant-account key (`SO…`) and the platform's activation key (`SA…`). */
export interface AccountSigningSeeds {
  readonly tenantAccounts: string;
  readonly tenantImports: string;
}

/** Reads the two account-side seeds from the signing-keys directory (NATS_ACCOUNT_KEY_FILES). */
export function readAccountSigningKeys(dir: string): AccountSigningSeeds {
  return {
    tenantAccounts: readSeed(join(dir, NATS_ACCOUNT_KEY_FILES.tenantAccounts), "O", "the operator's tenant-account signing-key seed"),
    tenantImports: readSeed(join(dir, NATS_ACCOUNT_KEY_FILES.tenantImports), "A", "the platform account's activation-token signing-key seed"),
  };
}

/**
 * The service's minter: exactly what `mintTenantCredentials` (services/nats-auth/mint.ts) mints —
 * same checks, subject, tags, `scopedUser`, expiry — with native Ed25519 key pairs
 * ({@link FastKeyPair}): ~0.2 ms instead of ~50 ms per credential. test/provisioning/minter.test.ts
 * checks that both produce the same claims.
 */
export function signingKeyMinter(seeds: Readonly<Record<PlanTierName, string>>): BusMinter {
  const signers = {} as Record<PlanTierName, FastKeyPair>;
  for (const tier of PLAN_TIER_NAMES) signers[tier] = FastKeyPair.fromSeed(seeds[tier]);
  return {
    async mint(tenantId, tier, ttlSeconds, accountPublicKey) {
      assertTenantId(tenantId);
      const account = checkPublicKey("accountPublicKey", accountPublicKey, "A");
      if (signers[tier]?.getPublicKey() === account) {
        throw new NatsAuthError(`signing key of ${tier}`, "is the account's identity key, whose users get no template", `mount the ${tier} tier's user signing key`);
      }
      if (!PLAN_TIER_NAMES.includes(tier)) throw new NatsAuthError("tier", `= ${JSON.stringify(tier)} is not a plan tier`, `use one of ${PLAN_TIER_NAMES.join(", ")}`);
      if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TENANT_CREDENTIALS_TTL_SECONDS) {
        throw new NatsAuthError("expiresInSeconds", `= ${ttlSeconds} is out of range`, "pass a validity of at most one year");
      }
      const expiresAt = Math.floor(Date.now() / 1000) + ttlSeconds;
      const user = FastKeyPair.create(NKEY_PREFIX.user);
      const jwt = await encodeUser(tenantId, user, account, { tags: [`${TENANT_TAG}:${tenantId}`, `${TIER_TAG}:${tier}`] }, { signer: signers[tier], scopedUser: true, exp: expiresAt });
      return { ...credentialsOf(jwt, user), inboxPrefix: tenantInboxPrefix(tenantId), expiresAt };
    },
  };
}

/** Renders, signs and pushes a tenant's account JWT. */
export interface TenantAccountPublisher {
  /** Signs the account JWT of `state` and pushes it; resolves once a server accepted it. */
  publish(state: TenantAccountState): Promise<void>;
  close(): Promise<void>;
}

export interface NatsAccountPublisherOptions {
  readonly url: string;
  /** The system account's push user (creds file contents). */
  readonly systemCreds: Uint8Array;
  readonly tlsCaFile?: string;
  readonly seeds: AccountSigningSeeds;
  /** Tier user signing keys (the `<tier>.seed` files): their public keys go into the accounts. */
  readonly tierSeeds: Readonly<Record<PlanTierName, string>>;
  /** The platform account (`PROVISIONING_NATS_ACCOUNT`). */
  readonly platformAccount: string;
  readonly tiers: TierCatalog;
}

/**
 * The publisher of the running service: one system-account connection (opened on first use,
 * reconnecting), activation tokens and account JWTs signed with native Ed25519 keys.
 */
export function natsAccountPublisher(o: NatsAccountPublisherOptions): TenantAccountPublisher {
  const accountSigner = FastKeyPair.fromSeed(o.seeds.tenantAccounts);
  const importSigner = FastKeyPair.fromSeed(o.seeds.tenantImports);
  const keys: Pick<NatsPublicKeys, "swarmAccount" | "tenantAccountSigningKey" | "swarmSigningKeys"> = {
    swarmAccount: checkPublicKey("PROVISIONING_NATS_ACCOUNT", o.platformAccount, "A"),
    tenantAccountSigningKey: accountSigner.getPublicKey(),
    swarmSigningKeys: Object.fromEntries(PLAN_TIER_NAMES.map((t) => [t, FastKeyPair.fromSeed(o.tierSeeds[t]).getPublicKey()])) as Record<PlanTierName, string>,
  };
  let connection: Promise<NatsConnection> | undefined;
  const system = () => {
    connection ??= connect({ servers: o.url, name: "provisioning-account-push", authenticator: credsAuthenticator(o.systemCreds), maxReconnectAttempts: -1, ...(o.tlsCaFile ? { tls: { caFile: o.tlsCaFile } } : {}) }).catch((error: unknown) => {
      connection = undefined;
      throw error;
    });
    return connection;
  };
  return {
    async publish(state) {
      const activations = state.offboardedAt === undefined ? await signTenantActivations(state, keys.swarmAccount, importSigner) : undefined;
      const jwt = await signTenantAccount(tenantAccountClaims(state, o.tiers, keys, activations), accountSigner);
      await pushAccountJwt(await system(), state.accountPublicKey, jwt);
    },
    async close() {
      const nc = await connection?.catch(() => undefined);
      connection = undefined;
      await nc?.close();
    },
  };
}

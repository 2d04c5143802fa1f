/**
 * Mints a tenant's bus credentials: a user JWT of the tenant's own account (tenant-accounts.ts;
 * or of its silo account), signed by its tier's scoped signing key and tagged with its tenant id.
 * The signing key's template (claims.ts) gives the user its permissions and limits. The
 * provisioning service mints the same claims with native keys (its `signingKeyMinter`); the tests
 * and the benchmarks use this.
 */
import { encodeUser } from "@nats-io/jwt";
import { createUser } from "@nats-io/nkeys";
import { assertTenantId } from "../../config/tenancy.js";
import { PLAN_TIER_NAMES, type PlanTierName } from "../../config/tiers.js";
import { TENANT_TAG, TIER_TAG, tenantInboxPrefix } from "./claims.js";
import { checkPublicKey, credentialsOf, keyPairFromSeed, NatsAuthError, type UserCredentials } from "./sign.js";

/** How long tenant credentials stay valid unless the caller says otherwise: 30 days. */
export const DEFAULT_TENANT_CREDENTIALS_TTL_SECONDS = 30 * 24 * 3_600;
/** The longest validity accepted: one year. */
export const MAX_TENANT_CREDENTIALS_TTL_SECONDS = 365 * 24 * 3_600;

export interface MintTenantCredentialsOptions {
  /** Checked with `assertTenantId` before anything else: never `.`, `*`, `>` or whitespace. */
  readonly tenantId: string;
  /** The tenant's plan tier; `signingKeySeed` must be that tier's scoped signing key. */
  readonly tier: PlanTierName;
  /** Seed (`SA…`) of the tier's scoped signing key (Secrets Manager, `<prefix>/seeds/…`). */
  readonly signingKeySeed: string;
  /** Public key (`A…`) of the account the signing key is listed in: the tenant's own account, or its silo. */
  readonly accountPublicKey: string;
  /** Seconds until the JWT expires; the server disconnects the user then. @default 2592000 (30 days) */
  readonly expiresInSeconds?: number;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
}

export interface TenantCredentials extends UserCredentials {
  /** The `inboxPrefix` the tenant's NATS clients must set (their only permitted reply subjects). */
  readonly inboxPrefix: string;
  /** Expiry, seconds since the epoch. */
  readonly expiresAt: number;
}

/**
 * Mints credentials for one tenant. The tenant id is validated first, synchronously, before
 * any key is parsed or created: an id such as `a.b`, `*` or `>` would widen the template's
 * `swarm.{{tag(tenant)}}.>` to other tenants' subjects.
 */
export async function mintTenantCredentials(options: MintTenantCredentialsOptions): Promise<TenantCredentials> {
  const tenantId = assertTenantId(options.tenantId);
  if (!PLAN_TIER_NAMES.includes(options.tier)) {
    throw new NatsAuthError("tier", `= ${JSON.stringify(options.tier)} is not a plan tier`, `use one of ${PLAN_TIER_NAMES.join(", ")}`);
  }
  const ttl = options.expiresInSeconds ?? DEFAULT_TENANT_CREDENTIALS_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TENANT_CREDENTIALS_TTL_SECONDS) {
    throw new NatsAuthError("expiresInSeconds", `= ${JSON.stringify(ttl)} is not a whole number of seconds from 1 to ${MAX_TENANT_CREDENTIALS_TTL_SECONDS}`, "pass a validity of at most one year");
  }
  const account = checkPublicKey("accountPublicKey", options.accountPublicKey, "A");
  const signer = keyPairFromSeed("signingKeySeed", options.signingKeySeed, "A");
  if (signer.getPublicKey() === account) {
    throw new NatsAuthError("signingKeySeed", "is the account's identity key, whose users get no template", `pass the seed of the ${options.tier} tier's scoped signing key`);
  }
  const now = options.now ?? Date.now;
  const expiresAt = Math.floor(now() / 1000) + ttl;
  const user = createUser();
  const jwt = await encodeUser(
    tenantId,
    user,
    account,
    { tags: [`${TENANT_TAG}:${tenantId}`, `${TIER_TAG}:${options.tier}`] },
    // A scoped user carries no permissions or limits of its own: the signing key's template rules.
    { signer, scopedUser: true, exp: expiresAt },
  );
  return { ...credentialsOf(jwt, user), inboxPrefix: tenantInboxPrefix(tenantId), expiresAt };
}

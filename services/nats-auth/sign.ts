/**
 * Keys and signatures: generates the nkeys of an environment, derives their public keys, signs
 * the claims of claims.ts into JWTs and writes creds files. Used by the `nats:bootstrap` command
 * and by the tests (with throwaway keys); never by synthesis, which only sees public keys.
 */
import { Algorithms, decode, encode, encodeUser, fmtCreds, type ClaimsData } from "@nats-io/jwt";
import { createAccount, createOperator, createUser, fromPublic, fromSeed, type KeyPair } from "@nats-io/nkeys";
import { PLAN_TIER_NAMES, type PlanTierName } from "../../config/tiers.js";
import { assertTenantId } from "../../config/tenancy.js";
import { PLATFORM_USER, SILO_INGESTOR_USER, SILO_PLATFORM_USER, SILO_TIER, SILO_WORKER_USER, siloIngestorUserPermissions, siloWorkerUserPermissions, TENANT_TAG, PROVISIONING_BUS_USER, provisioningBusPermissions, SYSTEM_USER, workerUserName, workerUserPermissions, type NatsAuthClaims, type NatsPublicKeys, type UnsignedClaims } from "./claims.js";

/** Thrown for a key, seed or claim the bus's credentials cannot be built from. */
export class NatsAuthError extends Error {
  override readonly name = "NatsAuthError";
  readonly code = "E_NATS_AUTH";
  constructor(
    readonly field: string,
    /** What was wrong; never a seed (seeds are secrets and stay out of messages). */
    problem: string,
    fix: string,
    options?: { cause?: unknown },
  ) {
    super(`${field} ${problem}. Fix: ${fix}.`, options);
  }
}

/** Private nkey seeds of an environment, in the shape of {@link NatsPublicKeys}. Secrets. */
export interface NatsSeeds {
  /** `SO…` */
  readonly operator: string;
  /** `SA…` */
  readonly systemAccount: string;
  /** `SA…` */
  readonly swarmAccount: string;
  /** `SO…`: the operator's signing key of tenant accounts (provisioning). */
  readonly tenantAccountSigningKey: string;
  /** `SA…`: the platform account's activation-token signing key (provisioning). */
  readonly tenantImportSigningKey: string;
  /** `SA…` per plan tier. */
  readonly swarmSigningKeys: Readonly<Record<PlanTierName, string>>;
  /** Per silo tenant, both `SA…`. */
  readonly silos: Readonly<Record<string, { readonly account: string; readonly signingKey: string }>>;
}

const seedText = (kp: KeyPair): string => new TextDecoder().decode(kp.getSeed());

/** Fresh keys for an environment with these silo tenants. */
export function generateNatsSeeds(siloTenants: readonly string[]): NatsSeeds {
  return {
    operator: seedText(createOperator()),
    systemAccount: seedText(createAccount()),
    swarmAccount: seedText(createAccount()),
    tenantAccountSigningKey: seedText(createOperator()),
    tenantImportSigningKey: seedText(createAccount()),
    swarmSigningKeys: Object.fromEntries(PLAN_TIER_NAMES.map((t) => [t, seedText(createAccount())])) as Record<PlanTierName, string>,
    silos: Object.fromEntries(siloTenants.map((t) => [t, { account: seedText(createAccount()), signingKey: seedText(createAccount()) }])),
  };
}

/** The key pair of a seed, checked to be of the expected kind (`O` operator, `A` account, `U` user). */
export function keyPairFromSeed(field: string, seed: string, kind: "O" | "A" | "U"): KeyPair {
  if (typeof seed !== "string" || !seed.startsWith(`S${kind}`)) {
    throw new NatsAuthError(field, `is not an nkey seed of kind ${kind} (it must start with "S${kind}")`, `pass the ${kindName(kind)} seed`);
  }
  try {
    return fromSeed(new TextEncoder().encode(seed.trim()));
  } catch (cause) {
    throw new NatsAuthError(field, "is not a valid nkey seed (bad encoding or checksum)", `pass the ${kindName(kind)} seed exactly as nats:bootstrap stored it`, { cause });
  }
}

/** Checks that `key` is a public nkey of the expected kind. */
export function checkPublicKey(field: string, key: string, kind: "O" | "A" | "U"): string {
  try {
    if (typeof key === "string" && key.startsWith(kind)) return fromPublic(key).getPublicKey();
  } catch (cause) {
    throw new NatsAuthError(field, `= ${JSON.stringify(key)} is not a valid public nkey`, `pass the ${kindName(kind)} public key ("${kind}…", 56 characters)`, { cause });
  }
  throw new NatsAuthError(field, `= ${JSON.stringify(key)} is not a public ${kindName(kind)} key`, `pass the ${kindName(kind)} public key ("${kind}…")`);
}

function kindName(kind: "O" | "A" | "U"): string {
  return { O: "operator", A: "account", U: "user" }[kind];
}

/** The public keys of a set of seeds (what goes into config and claims). */
export function publicKeysOf(seeds: NatsSeeds): NatsPublicKeys {
  const pub = (field: string, seed: string, kind: "O" | "A") => keyPairFromSeed(field, seed, kind).getPublicKey();
  return {
    operator: pub("operator", seeds.operator, "O"),
    systemAccount: pub("systemAccount", seeds.systemAccount, "A"),
    swarmAccount: pub("swarmAccount", seeds.swarmAccount, "A"),
    tenantAccountSigningKey: pub("tenantAccountSigningKey", seeds.tenantAccountSigningKey, "O"),
    tenantImportSigningKey: pub("tenantImportSigningKey", seeds.tenantImportSigningKey, "A"),
    swarmSigningKeys: Object.fromEntries(PLAN_TIER_NAMES.map((t) => [t, pub(`swarmSigningKeys.${t}`, seeds.swarmSigningKeys[t], "A")])) as Record<PlanTierName, string>,
    silos: Object.fromEntries(
      Object.entries(seeds.silos).map(([t, s]) => [t, { account: pub(`silos.${t}.account`, s.account, "A"), signingKey: pub(`silos.${t}.signingKey`, s.signingKey, "A") }]),
    ),
  };
}

/** Signs claims with the seed of their issuer; refuses a seed that is not `claims.iss`. */
export async function signClaims(claims: UnsignedClaims<unknown>, signerSeed: string, signerField: string): Promise<string> {
  const kind = claims.iss.startsWith("O") ? "O" : "A";
  const kp = keyPairFromSeed(signerField, signerSeed, kind);
  if (kp.getPublicKey() !== claims.iss) {
    throw new NatsAuthError(signerField, `does not belong to the issuer of "${claims.name}" (${claims.iss}); it is ${kp.getPublicKey()}`, "pass the seed of the issuer the claims name, or regenerate the claims from these keys");
  }
  // encode() fills in iss, iat and jti, and mutates what it is given: sign a copy.
  const data = { name: claims.name, sub: claims.sub, nats: structuredClone(claims.nats) } as unknown as ClaimsData<unknown>;
  return encode(Algorithms.v2, data, kp);
}

/** What a server needs to trust an environment's accounts. */
export interface SignedNatsAuth {
  readonly operatorJwt: string;
  readonly systemAccount: string;
  /** Account public key to its signed JWT, in the order of the claims. */
  readonly accountJwts: Readonly<Record<string, string>>;
}

/**
 * Signs the operator (self-signed) and every account (by the operator). A JWT of `previous`
 * whose claims are unchanged is kept as it is: re-running the bootstrap then changes nothing,
 * and a running server's config reload (which refuses a different operator JWT) keeps working.
 */
export async function signNatsAuth(claims: NatsAuthClaims, operatorSeed: string, previous?: SignedNatsAuth): Promise<SignedNatsAuth> {
  const systemAccount = claims.operator.nats.system_account;
  if (!systemAccount) throw new NatsAuthError("operator.nats.system_account", "is missing", "build the operator claims with operatorClaims()");
  const sign = async (c: UnsignedClaims<unknown>, before: string | undefined) =>
    before !== undefined && sameClaims(before, c) ? before : signClaims(c, operatorSeed, "operatorSeed");
  const operatorJwt = await sign(claims.operator, previous?.operatorJwt);
  const accountJwts: Record<string, string> = {};
  for (const account of claims.accounts) accountJwts[account.sub] = await sign(account, previous?.accountJwts[account.sub]);
  return { operatorJwt, systemAccount, accountJwts };
}

/** Whether a signed JWT (with a valid signature) says exactly what `claims` say. */
export function sameClaims(jwt: string, claims: UnsignedClaims<unknown>): boolean {
  let signed: ClaimsData<unknown>;
  try {
    signed = decode(jwt);
  } catch {
    return false;
  }
  const { name, sub, iss, nats } = signed;
  return canonicalJson({ name, sub, iss, nats }) === canonicalJson({ name: claims.name, sub: claims.sub, iss: claims.iss, nats: claims.nats });
}

function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === "object") {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sort(value));
}

/** A user's JWT, its seed and the two as a `.creds` file (the seed is a secret). */
export interface UserCredentials {
  readonly jwt: string;
  readonly seed: string;
  readonly publicKey: string;
  readonly creds: string;
}

/**
 * The SWARM account's `platform` user: signed by the account's identity key, without
 * permission limits (NACK manages streams with it; the ingestor reads them). Reuses `userSeed`
 * when given, so re-running the bootstrap rotates the JWT but not the identity.
 */
export async function mintPlatformUser(accountSeed: string, userSeed?: string): Promise<UserCredentials> {
  const account = keyPairFromSeed("swarmAccountSeed", accountSeed, "A");
  const user = userSeed ? keyPairFromSeed("platformUserSeed", userSeed, "U") : createUser();
  const jwt = await encodeUser(PLATFORM_USER, user, account, {});
  return credentialsOf(jwt, user);
}

/**
 * A tier's worker user of the SWARM account ({@link workerUserPermissions}): signed by the
 * account's identity key, allowed its own tier's job consumer, dead letters and credential
 * requests only. Reuses `userSeed` when given.
 */
export async function mintWorkerUser(accountSeed: string, tier: PlanTierName, userSeed?: string): Promise<UserCredentials> {
  const account = keyPairFromSeed("swarmAccountSeed", accountSeed, "A");
  const user = userSeed ? keyPairFromSeed("workerUserSeed", userSeed, "U") : createUser();
  const jwt = await encodeUser(workerUserName(tier), user, account, { ...workerUserPermissions(tier), tags: [`tier:${tier}`] } as never);
  return credentialsOf(jwt, user);
}

/**
 * The provisioning service's user of the SWARM account ({@link provisioningBusPermissions}): it
 * publishes jobs into the tier lanes and answers the workers' credential requests.
 */
export async function mintProvisioningBusUser(accountSeed: string, userSeed?: string): Promise<UserCredentials> {
  const account = keyPairFromSeed("swarmAccountSeed", accountSeed, "A");
  const user = userSeed ? keyPairFromSeed("provisioningUserSeed", userSeed, "U") : createUser();
  const jwt = await encodeUser(PROVISIONING_BUS_USER, user, account, provisioningBusPermissions() as never);
  return credentialsOf(jwt, user);
}

/**
 * The platform's users of a silo account, signed by the silo account's identity key (its seed is
 * the bootstrap's: `silos.<tenant>.account`), tagged with the silo tenant. Each reuses `userSeed`
 * when given, so a re-run rotates the JWT but not the identity.
 * - `mintSiloPlatformUser`: unrestricted, for NACK (creates the silo's streams and consumers).
 * - `mintSiloIngestorUser`: the silo's ingestor ({@link siloIngestorUserPermissions}).
 * - `mintSiloWorkerUser`: the silo's worker pool ({@link siloWorkerUserPermissions}).
 */
export async function mintSiloPlatformUser(siloAccountSeed: string, tenantId: string, userSeed?: string): Promise<UserCredentials> {
  return mintSiloUser(siloAccountSeed, tenantId, SILO_PLATFORM_USER, {}, userSeed);
}

/** The ingestor's user of a silo account, pulling `consumer` (see {@link mintSiloPlatformUser}). */
export async function mintSiloIngestorUser(siloAccountSeed: string, tenantId: string, options: { readonly consumer?: string; readonly userSeed?: string } = {}): Promise<UserCredentials> {
  return mintSiloUser(siloAccountSeed, tenantId, SILO_INGESTOR_USER, siloIngestorUserPermissions(tenantId, options.consumer), options.userSeed);
}

/** The worker pool's user of a silo account (see {@link mintSiloPlatformUser}). */
export async function mintSiloWorkerUser(siloAccountSeed: string, tenantId: string, userSeed?: string): Promise<UserCredentials> {
  return mintSiloUser(siloAccountSeed, tenantId, SILO_WORKER_USER, { ...siloWorkerUserPermissions(tenantId), tags: [`tier:${SILO_TIER}`] }, userSeed);
}

async function mintSiloUser(siloAccountSeed: string, tenantId: string, name: string, claims: object, userSeed: string | undefined): Promise<UserCredentials> {
  assertTenantId(tenantId, "siloTenants[]");
  const account = keyPairFromSeed(`silos.${tenantId}.account`, siloAccountSeed, "A");
  const user = userSeed ? keyPairFromSeed(`${name}UserSeed`, userSeed, "U") : createUser();
  const tags = [...(((claims as { tags?: string[] }).tags) ?? []), `${TENANT_TAG}:${tenantId}`];
  const jwt = await encodeUser(name, user, account, { ...claims, tags } as never);
  return credentialsOf(jwt, user);
}

/**
 * A user of the system account, for operators: it pushes updated account JWTs to the full
 * resolver (`$SYS.REQ.CLAIMS.UPDATE`), which servers apply at once; a changed preload alone
 * is applied only when a server restarts.
 */
export async function mintSystemUser(systemAccountSeed: string, userSeed?: string): Promise<UserCredentials> {
  const account = keyPairFromSeed("systemAccountSeed", systemAccountSeed, "A");
  const user = userSeed ? keyPairFromSeed("systemUserSeed", userSeed, "U") : createUser();
  const jwt = await encodeUser(SYSTEM_USER, user, account, {});
  return credentialsOf(jwt, user);
}

/** The creds file of a user JWT and its key pair. */
export function credentialsOf(jwt: string, user: KeyPair): UserCredentials {
  return { jwt, seed: seedText(user), publicKey: user.getPublicKey(), creds: new TextDecoder().decode(fmtCreds(jwt, user)) };
}

/**
 * One NATS account per pooled tenant, as data: the provisioning service mints it when the tenant
 * is created, signs it with the operator's tenant-account signing key and pushes it to the full
 * resolver through the system account (`$SYS.REQ.CLAIMS.UPDATE`); every later change (plan tier,
 * revoked credentials, offboarding) is a new JWT of the same account, pushed the same way.
 * Nothing here is synthesized or signed by `nats:bootstrap`, so no bootstrap run or config push
 * can replace a tenant account (the resolver keeps the newest JWT of each account and never
 * deletes one).
 *
 * What a tenant account holds, by construction:
 * - no JetStream, no exports, no leafnodes, no bearer tokens; the tier's connection, subscription
 *   and payload limits as account limits, which every server enforces for the whole account;
 * - exactly two service imports from the platform account, `swarm.<tenant>.*.events` and
 *   `swarm.<tenant>.jobs.<tier>`, each with an activation token for this account and this subject;
 * - one user signing key, its tier's, scoped with a template written out for this tenant;
 * - revocations: per credential (`<user key>: <time>`), and at offboarding `*` (every user), no
 *   imports, no signing key and no connections.
 */
import { Algorithms, encode, encodeActivation, type Account, type ClaimsData } from "@nats-io/jwt";
import type { KeyPair } from "@nats-io/nkeys";
import type { NatsConnection } from "@nats-io/transport-node";
import { assertTenantId } from "../../config/tenancy.js";
import { PLAN_TIER_NAMES, type PlanTierName, type TierCatalog } from "../../config/tiers.js";
import { TENANT_EXPORTS, TENANT_TAG, TIER_TAG, tierSigningKey, type AccountClaims, type NatsPublicKeys } from "./claims.js";
import { jobSubject, SUBJECT_ROOT } from "./jetstream-names.js";
import { NatsAuthError } from "./sign.js";

/** The resolver's update subject (system account): servers store, share and apply a pushed account JWT. */
export const CLAIMS_UPDATE_SUBJECT = "$SYS.REQ.CLAIMS.UPDATE";

/** A tenant account's imports (two) and exports (none), as its limits state them. */
const TENANT_IMPORTS = 2;

/** What a tenant account JWT is rendered from: control-plane state, nothing else. */
export interface TenantAccountState {
  readonly tenantId: string;
  readonly tier: PlanTierName;
  /** The account's public key (`A…`), generated when the tenant was created. */
  readonly accountPublicKey: string;
  /** Offboarded: seconds since the epoch when it happened (every user issued before is revoked). */
  readonly offboardedAt?: number;
  /** Revoked credentials of an active tenant: user public key → revocation time (seconds). */
  readonly revocations?: Readonly<Record<string, number>>;
}

/** The subjects a tenant account imports from the platform account. */
export function tenantImportSubjects(tenantId: string, tier: PlanTierName): { readonly events: string; readonly jobs: string } {
  return { events: `${SUBJECT_ROOT}.${assertTenantId(tenantId)}.*.events`, jobs: jobSubject(tenantId, tier) };
}

/** Activation tokens of a tenant account's imports, signed by the platform account's import key. */
export interface TenantActivations {
  readonly events: string;
  readonly jobs: string;
}

/**
 * Signs the two activation tokens of a tenant account: the platform account (as
 * `issuer_account`) lets exactly this account import exactly these subjects.
 */
export async function signTenantActivations(
  state: Pick<TenantAccountState, "tenantId" | "tier" | "accountPublicKey">,
  platformAccount: string,
  importSigner: KeyPair,
): Promise<TenantActivations> {
  const subjects = tenantImportSubjects(state.tenantId, state.tier);
  const sign = (subject: string) => encodeActivation(subject, state.accountPublicKey, platformAccount, "service", { subject } as never, { signer: importSigner });
  return { events: await sign(subjects.events), jobs: await sign(subjects.jobs) };
}

/**
 * A tenant account's claims (unsigned): `keys.tenantAccountSigningKey` signs them. An active
 * tenant gets its imports (with `activations`), its tier's limits and user signing key; an
 * offboarded one gets none of them, zero connections and `*` in its revocations.
 */
export function tenantAccountClaims(
  state: TenantAccountState,
  tiers: TierCatalog,
  keys: Pick<NatsPublicKeys, "swarmAccount" | "tenantAccountSigningKey" | "swarmSigningKeys">,
  activations: TenantActivations | undefined,
): AccountClaims {
  const tenantId = assertTenantId(state.tenantId);
  if (!PLAN_TIER_NAMES.includes(state.tier)) throw new NatsAuthError("tier", `= ${JSON.stringify(state.tier)} is not a plan tier`, `use one of ${PLAN_TIER_NAMES.join(", ")}`);
  const bus = tiers[state.tier].bus;
  const active = state.offboardedAt === undefined;
  if (active && !activations) throw new NatsAuthError("activations", "are missing for an active tenant account", "sign them with signTenantActivations()");
  const subjects = tenantImportSubjects(tenantId, state.tier);
  const nats: Partial<Account> = {
    type: "account",
    version: 2,
    description: `Tenant ${tenantId} (${state.tier})`,
    tags: [`${TENANT_TAG}:${tenantId}`, `${TIER_TAG}:${state.tier}`],
    limits: {
      conn: active ? bus.connections : 0,
      subs: bus.subscriptions,
      payload: bus.maxPayloadBytes,
      data: -1,
      imports: TENANT_IMPORTS,
      exports: 0,
      wildcards: true,
      leaf: 0,
      disallow_bearer: true,
      mem_storage: 0,
      disk_storage: 0,
      streams: 0,
      consumer: 0,
      max_ack_pending: 0,
      mem_max_stream_bytes: 0,
      disk_max_stream_bytes: 0,
      max_bytes_required: false,
    },
    imports:
      active && activations
        ? [
            { name: TENANT_EXPORTS.events.name, type: "service", account: keys.swarmAccount, subject: subjects.events, token: activations.events },
            { name: TENANT_EXPORTS.jobs.name, type: "service", account: keys.swarmAccount, subject: subjects.jobs, token: activations.jobs },
          ]
        : [],
    exports: [],
    signing_keys: active ? [tierSigningKey(state.tier, tiers[state.tier], keys.swarmSigningKeys[state.tier], tenantId)] : [],
    revocations: active ? { ...state.revocations } : { "*": state.offboardedAt as number },
  };
  return { name: tenantId, sub: state.accountPublicKey, iss: keys.tenantAccountSigningKey, nats };
}

/** Signs tenant account claims with the operator's tenant-account signing key (any nkeys `KeyPair`). */
export async function signTenantAccount(claims: AccountClaims, signer: KeyPair): Promise<string> {
  if (signer.getPublicKey() !== claims.iss) {
    throw new NatsAuthError("tenant account signing key", `is ${signer.getPublicKey()}, not the issuer the claims name (${claims.iss})`, "pass the seed of the operator's tenant-account signing key");
  }
  const data = { name: claims.name, sub: claims.sub, nats: structuredClone(claims.nats) } as unknown as ClaimsData<unknown>;
  return encode(Algorithms.v2, data, signer);
}

/** What the resolver answered to one pushed account JWT. */
export interface ClaimsUpdateAnswer {
  readonly account: string;
  readonly message: string;
}

/**
 * Pushes one account JWT to the full resolver over a system-account connection; resolves when a
 * server accepted it (the servers then apply it at once and share it with each other).
 */
export async function pushAccountJwt(systemConnection: NatsConnection, account: string, jwt: string, timeoutMs = 5_000): Promise<ClaimsUpdateAnswer> {
  const reply = await systemConnection.request(CLAIMS_UPDATE_SUBJECT, jwt, { timeout: timeoutMs });
  const body = reply.json<{ data?: { code?: number; message?: string }; error?: { code?: number; description?: string } }>();
  if (body.error || body.data?.code !== 200) {
    throw new NatsAuthError(`account ${account}`, `was not accepted by the resolver (${JSON.stringify(body.error ?? body.data)})`, "check that the servers trust this operator and its signing key, and that the JWT is not older than the stored one");
  }
  return { account, message: body.data.message ?? "updated" };
}

/** The tenant id and account key a {@link tenantAccountPreview} shows. */
export const PREVIEW_TENANT = { tenantId: "example-tenant", accountPublicKey: "TENANT-ACCOUNT-KEY" } as const;

/**
 * The claims provisioning signs for a tenant of `tier` (an example tenant, activation tokens
 * shown as where they go): what the synthesized claims ConfigMap shows, so that a PR diff shows
 * every tenant-account limit and template although no tenant account is synthesized.
 */
export function tenantAccountPreview(tier: PlanTierName, tiers: TierCatalog, keys: Pick<NatsPublicKeys, "swarmAccount" | "tenantAccountSigningKey" | "swarmSigningKeys">): AccountClaims {
  const tokens = { events: "<activation token signed by tenantImportSigningKey>", jobs: "<activation token signed by tenantImportSigningKey>" };
  return tenantAccountClaims({ ...PREVIEW_TENANT, tier }, tiers, keys, tokens);
}

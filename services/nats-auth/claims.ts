/**
 * The bus's authorization, as data: the claims of the operator, the system account, the pooled
 * `SWARM` account and the silo accounts, and the user templates of their scoped signing keys.
 *
 * Pure functions of the environment's config, the plan-tier catalog and public keys. The same
 * functions feed the synthesized Terraform (unsigned, so a PR diff shows every limit), the
 * `nats:bootstrap` command that signs them, and the tests that load them into a real nats-server.
 *
 * Tenants are never server state: a tenant user is a JWT signed by its tier's scoped signing key
 * and tagged `tenant:<id>`; the key's template turns that tag into the user's permissions, so
 * a tenant can only ever touch `swarm.<its id>.>`, its own inbox and its own JetStream consumer.
 */
import type { Account, Operator, OperatorLimits, SigningKey, UserPermissionsLimits } from "@nats-io/jwt";
import type { EnvironmentConfig } from "../../config/environment.js";
import { assertTenantId } from "../../config/tenancy.js";
import { PLAN_TIER_NAMES, type PlanTier, type PlanTierName, type TierCatalog } from "../../config/tiers.js";
import { STREAM_NAMES, SUBJECT_ROOT } from "./streams.js";

/** Public nkeys of every identity and signing key (not secrets: they go into config and JWTs). */
export interface NatsPublicKeys {
  /** `O…` */
  readonly operator: string;
  /** `A…` */
  readonly systemAccount: string;
  /** `A…` */
  readonly swarmAccount: string;
  /** `A…`: the SWARM account's scoped signing key of each plan tier. */
  readonly swarmSigningKeys: Readonly<Record<PlanTierName, string>>;
  /** Per silo tenant (`config.nats.siloTenants`): its account and its scoped signing key, both `A…`. */
  readonly silos: Readonly<Record<string, { readonly account: string; readonly signingKey: string }>>;
}

/** Claims before signing: what the PR diff shows and what `sign.ts` turns into a JWT. */
export interface UnsignedClaims<T> {
  readonly name: string;
  /** Public key of the operator, account or user the claims are about. */
  readonly sub: string;
  /** Public key of the key that must sign them (checked when signing). */
  readonly iss: string;
  readonly nats: T;
}

export type OperatorClaims = UnsignedClaims<Partial<Operator>>;
export type AccountClaims = UnsignedClaims<Partial<Account>>;

/** Account names (informational; servers identify accounts by public key). */
export const ACCOUNT_NAMES = {
  system: "SYS",
  swarm: "SWARM",
  silo: (tenantId: string) => `SILO-${assertTenantId(tenantId)}`,
} as const;

/** Name of the SWARM account's unrestricted user (NACK, the ingestor). */
export const PLATFORM_USER = "platform";
/** Name of the system account's user that operators push account JWT updates with. */
export const SYSTEM_USER = "operator-push";

/** Tag name a tenant user carries (`tenant:<id>`); the templates read it with `{{tag(tenant)}}`. */
export const TENANT_TAG = "tenant";
/** Tag name of the plan tier a tenant user was minted for (`tier:<name>`, informational). */
export const TIER_TAG = "tier";
/** The template expression a scoped signing key replaces with the user's tenant id. */
export const TENANT_TEMPLATE = `{{tag(${TENANT_TAG})}}`;

/**
 * Inbox prefix of a tenant's connections (nats.js `inboxPrefix`): replies to its requests,
 * JetStream publish acks and pulled messages arrive under it. The tenant id is a whole subject
 * token, like every template here: nats-server 2.9 expanded a template only when it filled a
 * whole token (`_INBOX_{{tag(tenant)}}` stayed literal and denied everything); 2.14, which the
 * chart and the tests run, also expands one inside a token, and whole tokens work on both.
 */
export function tenantInboxPrefix(tenantId: string): string {
  return `_INBOX.${assertTenantId(tenantId)}`;
}

/** The durable consumer a tenant may own on `SWARM_EVENTS`: named after the tenant. */
export function tenantConsumerName(tenantId: string): string {
  return assertTenantId(tenantId);
}

/**
 * A tenant user's permissions with `token` standing for its tenant id: {@link TENANT_TEMPLATE}
 * in a signing key's template, or a literal id to compute what one tenant may do.
 *
 * Publish: its own subjects; JetStream consumer calls on `SWARM_EVENTS` only for the consumer
 * named after it, created only through the filtered-create subject whose filter must be its own
 * subjects (the server rejects a request body whose filter differs from the subject's); acks of
 * that consumer. Subscribe: its own subjects and its inbox. No stream info, message get, purge,
 * account info or other consumers: those would show other tenants' subjects or data.
 */
export function tenantPermissions(token: string, tier: PlanTierName): Pick<UserPermissionsLimits, "pub" | "sub"> {
  const events = STREAM_NAMES.events;
  // Jobs go to the tier's lane only (`swarm.<tenant>.jobs.<tier>`): the other lanes are denied.
  const otherLanes = PLAN_TIER_NAMES.filter((t) => t !== tier).map((t) => `${SUBJECT_ROOT}.${token}.jobs.${t}`);
  return {
    pub: {
      allow: [
        `${SUBJECT_ROOT}.${token}.>`,
        `$JS.API.CONSUMER.CREATE.${events}.${token}.${SUBJECT_ROOT}.${token}.>`,
        `$JS.API.CONSUMER.INFO.${events}.${token}`,
        `$JS.API.CONSUMER.DELETE.${events}.${token}`,
        `$JS.API.CONSUMER.MSG.NEXT.${events}.${token}`,
        `$JS.ACK.${events}.${token}.>`,
      ],
      deny: otherLanes,
    },
    sub: {
      allow: [`${SUBJECT_ROOT}.${token}.>`, `_INBOX.${token}.>`],
      deny: [],
    },
  };
}

/** The user template of a tier's scoped signing key: tenant permissions plus the tier's limits. */
export function tierUserTemplate(tierName: PlanTierName, tier: PlanTier): Partial<UserPermissionsLimits> {
  return {
    ...tenantPermissions(TENANT_TEMPLATE, tierName),
    subs: tier.bus.subscriptions,
    payload: tier.bus.maxPayloadBytes,
    data: NO_LIMIT,
    bearer_token: false,
    // Plain NATS (TLS) only: no websocket, MQTT or leafnode listener is configured for tenants.
    allowed_connection_types: ["STANDARD"],
  };
}

/** The scoped signing key entry of one tier, as an account JWT lists it. */
export function tierSigningKey(tierName: PlanTierName, tier: PlanTier, publicKey: string): SigningKey {
  return { kind: "user_scope", key: publicKey, role: tierName, template: tierUserTemplate(tierName, tier) };
}

const NO_LIMIT = -1;
const BYTES_PER_MIB = 1024 ** 2;
const BYTES_PER_GIB = 1024 ** 3;

/** Every account limit, explicit (a JWT without a field leaves it to the server's default). */
function accountLimits(l: { conn: number; diskStorageBytes: number; maxAckPending: number; jetstream: boolean }): OperatorLimits {
  return {
    subs: NO_LIMIT,
    data: NO_LIMIT,
    payload: NO_LIMIT,
    imports: NO_LIMIT,
    exports: NO_LIMIT,
    wildcards: true,
    conn: l.conn,
    // No leafnode connections into tenant accounts.
    leaf: l.jetstream ? 0 : NO_LIMIT,
    disallow_bearer: l.jetstream,
    mem_storage: 0,
    disk_storage: l.diskStorageBytes,
    streams: l.jetstream ? NO_LIMIT : 0,
    consumer: l.jetstream ? NO_LIMIT : 0,
    max_ack_pending: l.maxAckPending,
    mem_max_stream_bytes: NO_LIMIT,
    disk_max_stream_bytes: NO_LIMIT,
    // Every stream must declare max_bytes, so no stream can grow into another's storage.
    max_bytes_required: l.jetstream,
  };
}

/** The operator: its key signs every account JWT; it names the system account. */
export function operatorClaims(environment: string, keys: Pick<NatsPublicKeys, "operator" | "systemAccount">): OperatorClaims {
  return {
    name: `enchanted-${environment}`,
    sub: keys.operator,
    iss: keys.operator,
    nats: { type: "operator", version: 2, system_account: keys.systemAccount, tags: [`environment:${environment}`] },
  };
}

/** The system account: server events and monitoring; never JetStream. */
export function systemAccountClaims(keys: Pick<NatsPublicKeys, "operator" | "systemAccount">): AccountClaims {
  return {
    name: ACCOUNT_NAMES.system,
    sub: keys.systemAccount,
    iss: keys.operator,
    nats: {
      type: "account",
      version: 2,
      description: "System account: server events, monitoring and account updates",
      limits: accountLimits({ conn: NO_LIMIT, diskStorageBytes: 0, maxAckPending: NO_LIMIT, jetstream: false }),
      signing_keys: [],
    },
  };
}

/**
 * The pooled account of every tenant not in a silo: its own limits from `config.nats.account`
 * (connections, JetStream disk), one scoped signing key per plan tier with that tier's limits.
 */
export function swarmAccountClaims(nats: Pick<EnvironmentConfig["nats"], "account">, tiers: TierCatalog, keys: Pick<NatsPublicKeys, "operator" | "swarmAccount" | "swarmSigningKeys">): AccountClaims {
  return {
    name: ACCOUNT_NAMES.swarm,
    sub: keys.swarmAccount,
    iss: keys.operator,
    nats: {
      type: "account",
      version: 2,
      description: "Pooled tenants' agent events and jobs (SWARM_EVENTS, SWARM_JOBS)",
      limits: accountLimits({
        conn: nats.account.maxConnections,
        diskStorageBytes: nats.account.jetstreamMaxStorageGiB * BYTES_PER_GIB,
        maxAckPending: NO_LIMIT,
        jetstream: true,
      }),
      signing_keys: PLAN_TIER_NAMES.map((t) => tierSigningKey(t, tiers[t], keys.swarmSigningKeys[t])),
    },
  };
}

/** The tier a silo account's limits and signing key come from. */
export const SILO_TIER: PlanTierName = "enterprise";

/**
 * A dedicated account of one enterprise tenant: the enterprise tier's account limits
 * (connections, JetStream disk, max_ack_pending) and one scoped signing key with the same
 * template as the pooled account's enterprise key.
 */
export function siloAccountClaims(tenantId: string, tiers: TierCatalog, keys: Pick<NatsPublicKeys, "operator" | "silos">): AccountClaims {
  assertTenantId(tenantId, "siloTenants[]");
  const silo = keys.silos[tenantId];
  if (!silo) {
    throw new RangeError(`silos[${JSON.stringify(tenantId)}] has no public keys. Fix: run nats:bootstrap for this environment and add the keys it prints.`);
  }
  const bus = tiers[SILO_TIER].bus;
  return {
    name: ACCOUNT_NAMES.silo(tenantId),
    sub: silo.account,
    iss: keys.operator,
    nats: {
      type: "account",
      version: 2,
      description: `Dedicated account of tenant ${tenantId}`,
      tags: [`${TENANT_TAG}:${tenantId}`],
      limits: accountLimits({
        conn: bus.connections,
        diskStorageBytes: bus.jetstreamStorageMiB * BYTES_PER_MIB,
        maxAckPending: bus.maxAckPending,
        jetstream: true,
      }),
      signing_keys: [tierSigningKey(SILO_TIER, tiers[SILO_TIER], silo.signingKey)],
    },
  };
}

/** Every claim the environment needs, in signing order: the operator, then each account. */
export interface NatsAuthClaims {
  readonly operator: OperatorClaims;
  readonly accounts: readonly AccountClaims[];
}

/** The operator and every account (system, SWARM, one per silo tenant) of an environment. */
export function natsAuthClaims(config: { readonly name: string; readonly nats: Pick<EnvironmentConfig["nats"], "account" | "siloTenants"> }, tiers: TierCatalog, keys: NatsPublicKeys): NatsAuthClaims {
  return {
    operator: operatorClaims(config.name, keys),
    accounts: [
      systemAccountClaims(keys),
      swarmAccountClaims(config.nats, tiers, keys),
      ...config.nats.siloTenants.map((t) => siloAccountClaims(t, tiers, keys)),
    ],
  };
}

/**
 * The bus's authorization, as data: the claims of the operator, the system account, the platform
 * account `SWARM` (it owns the JetStream streams and exports tenants' subjects to them) and the
 * silo accounts, and the user templates of the scoped signing keys.
 *
 * Pure functions of the environment's config, the plan-tier catalog and public keys. The same
 * functions feed the synthesized Terraform (unsigned, so a PR diff shows every limit), the
 * `nats:bootstrap` command that signs them, and the tests that load them into a real nats-server.
 *
 * Every pooled tenant has an account of its own (tenant-accounts.ts): data, minted and pushed by
 * the provisioning service, never synthesized. Its only way into the platform account is two
 * service imports of exactly its own subjects, each approved by an activation token; so a
 * tenant's connection can never address the platform account's `$JS.API`, another tenant's inbox
 * or another tenant's subjects, whatever subject or reply subject it writes.
 */
import type { Account, Operator, OperatorLimits, SigningKey, UserPermissionsLimits } from "@nats-io/jwt";
import type { EnvironmentConfig } from "../../config/environment.js";
import { assertTenantId } from "../../config/tenancy.js";
import { PLAN_TIER_NAMES, type PlanTier, type PlanTierName, type TierCatalog } from "../../config/tiers.js";
import { INGESTOR_DEFAULTS, INGESTOR_JETSTREAM } from "../ingestor/contract.js";
import { jobDeadLetterSubject, STREAM_NAMES, STREAM_SUBJECTS, SUBJECT_ROOT, WORKER_CREDENTIALS_SUBJECT_PREFIX, workerConsumerName, workerCredentialsSubject, workerInboxPrefix } from "./jetstream-names.js";

/** Public nkeys of every identity and signing key (not secrets: they go into config and JWTs). */
export interface NatsPublicKeys {
  /** `O…` */
  readonly operator: string;
  /** `A…` */
  readonly systemAccount: string;
  /** `A…`: the platform account (streams, NACK, the ingestor). */
  readonly swarmAccount: string;
  /** `O…`: the operator's signing key that signs tenant accounts (the provisioning service holds its seed). */
  readonly tenantAccountSigningKey: string;
  /** `A…`: the platform account's scoped signing key that signs tenants' activation tokens (its users can do nothing). */
  readonly tenantImportSigningKey: string;
  /** `A…`: each plan tier's user signing key, listed (scoped, with the tier's template) in every tenant account of that tier. */
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
/** Name of a tier's worker user in the platform account. */
export function workerUserName(tier: PlanTierName): string {
  return `workers-${tier}`;
}
/** Name of the provisioning service's user in the platform account (jobs API, worker credentials). */
export const PROVISIONING_BUS_USER = "provisioning";
/** The inbox prefix of the provisioning service's platform-account connection. */
export const PROVISIONING_INBOX_PREFIX = "_INBOX.provisioning";

/** Seconds a worker credential request's reply permission lasts (the provisioning user's `resp`). */
const RESPONSE_TTL_NANOS = 10 * 1_000_000_000;

/**
 * What a tier's worker user may do in the platform account, and nothing else: pull, ack (nak,
 * term) and read the info of its own tier's job consumer, dead-letter to its tier's subject,
 * and ask the provisioning service for a tenant's credentials on its tier's subject. It cannot
 * read events, publish jobs or touch another tier's lane; a job's events are published with the
 * job's tenant's own credentials.
 */
export function workerUserPermissions(tier: PlanTierName): Pick<UserPermissionsLimits, "pub" | "sub"> {
  const consumer = `${STREAM_NAMES.jobs}.${workerConsumerName(tier)}`;
  return {
    pub: {
      allow: [`$JS.API.CONSUMER.MSG.NEXT.${consumer}`, `$JS.API.CONSUMER.INFO.${consumer}`, `$JS.ACK.${consumer}.>`, jobDeadLetterSubject(tier), workerCredentialsSubject(tier)],
      deny: [],
    },
    sub: { allow: [`${workerInboxPrefix(tier)}.>`], deny: [] },
  };
}

/**
 * What the provisioning service's platform-account user may do: publish jobs into every tier's
 * lane (the jobs API, with JetStream acks into its inbox), answer the workers' credential
 * requests (one response each), and purge messages from `SWARM_EVENTS` and `SWARM_JOBS` (an
 * offboarded tenant's, with a subject filter; the answers arrive in its inbox). No other
 * JetStream API: not the account info, not a stream's info, not a message read, not a delete.
 */
export function provisioningBusPermissions(): Pick<UserPermissionsLimits, "pub" | "sub" | "resp"> {
  return {
    pub: { allow: [`${SUBJECT_ROOT}.*.jobs.*`, ...[STREAM_NAMES.events, STREAM_NAMES.jobs].map((s) => `$JS.API.STREAM.PURGE.${s}`)], deny: [] },
    sub: { allow: [`${WORKER_CREDENTIALS_SUBJECT_PREFIX}.*`, `${PROVISIONING_INBOX_PREFIX}.>`], deny: [] },
    resp: { max: 1, ttl: RESPONSE_TTL_NANOS },
  };
}

/** Tag name a tenant user carries (`tenant:<id>`); the templates read it with `{{tag(tenant)}}`. */
export const TENANT_TAG = "tenant";
/** Tag name of the plan tier a tenant user was minted for (`tier:<name>`, informational). */
export const TIER_TAG = "tier";
/** The template expression a scoped signing key replaces with the user's tenant id. */
export const TENANT_TEMPLATE = `{{tag(${TENANT_TAG})}}`;

/**
 * Inbox prefix of a tenant's connections (nats.js `inboxPrefix`): replies to its requests and
 * JetStream publish acks arrive under it. The tenant id is a whole subject token, like every
 * template here: nats-server 2.9 expanded a template only when it filled a whole token
 * (`_INBOX_{{tag(tenant)}}` stayed literal and denied everything); 2.14, which the chart and the
 * tests run, also expands one inside a token, and whole tokens work on both.
 */
export function tenantInboxPrefix(tenantId: string): string {
  return `_INBOX.${assertTenantId(tenantId)}`;
}

/**
 * A tenant user's permissions with `token` standing for its tenant id: a literal id in a tenant
 * account's signing key, {@link TENANT_TEMPLATE} in a silo account's.
 *
 * Publish and subscribe: its own subjects and its inbox (so two connections of one tenant can
 * request and reply); jobs only to its tier's lane. These are a second wall: the first is the
 * tenant's account, which holds nothing else and imports only the tenant's events and its lane.
 * No JetStream API, no acks: tenants do not consume the shared streams (their reads go through
 * the events API).
 */
export function tenantPermissions(token: string, tier: PlanTierName): Pick<UserPermissionsLimits, "pub" | "sub"> {
  // Jobs go to the tier's lane only (`swarm.<tenant>.jobs.<tier>`): the other lanes are denied.
  const otherLanes = PLAN_TIER_NAMES.filter((t) => t !== tier).map((t) => `${SUBJECT_ROOT}.${token}.jobs.${t}`);
  const own = [`${SUBJECT_ROOT}.${token}.>`, `_INBOX.${token}.>`];
  return {
    pub: { allow: own, deny: otherLanes },
    sub: { allow: own, deny: [] },
  };
}

/** The user template of a tier's scoped signing key: tenant permissions plus the tier's limits. */
export function tierUserTemplate(tierName: PlanTierName, tier: PlanTier, token: string = TENANT_TEMPLATE): Partial<UserPermissionsLimits> {
  return {
    ...tenantPermissions(token, tierName),
    subs: tier.bus.subscriptions,
    payload: tier.bus.maxPayloadBytes,
    data: NO_LIMIT,
    bearer_token: false,
    // Plain NATS (TLS) only: no websocket, MQTT or leafnode listener is configured for tenants.
    allowed_connection_types: ["STANDARD"],
  };
}

/** The scoped signing key entry of one tier, as an account JWT lists it (`token`: see {@link tierUserTemplate}). */
export function tierSigningKey(tierName: PlanTierName, tier: PlanTier, publicKey: string, token: string = TENANT_TEMPLATE): SigningKey {
  return { kind: "user_scope", key: publicKey, role: tierName, template: tierUserTemplate(tierName, tier, token) };
}

/**
 * The platform account's exports to tenant accounts: private services (`token_req`), so an
 * account may import a subject only with an activation token that the platform account's
 * {@link NatsPublicKeys.tenantImportSigningKey} signed for that account and exactly that subject
 * (tenant-accounts.ts signs `swarm.<tenant>.*.events` and `swarm.<tenant>.jobs.<tier>`).
 * A service import rewrites the reply subject of every request into the platform account
 * (`_R_.…`) and routes the answer back into the importing account: a reply subject a tenant
 * chooses is never a subject of the platform account.
 */
export const TENANT_EXPORTS = {
  events: { name: "tenant-events", subject: STREAM_SUBJECTS.events },
  jobs: { name: "tenant-jobs", subject: `${SUBJECT_ROOT}.*.jobs.*` },
} as const;

/** The role of the platform account's activation-token signing key; its users may do nothing. */
export const TENANT_IMPORT_ROLE = "tenant-imports";

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
export function operatorClaims(environment: string, keys: Pick<NatsPublicKeys, "operator" | "systemAccount" | "tenantAccountSigningKey">): OperatorClaims {
  return {
    name: `enchanted-${environment}`,
    sub: keys.operator,
    iss: keys.operator,
    // The signing key of tenant accounts: provisioning signs those; bootstrap signs the rest with the identity key.
    nats: { type: "operator", version: 2, system_account: keys.systemAccount, signing_keys: [keys.tenantAccountSigningKey], tags: [`environment:${environment}`] },
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
 * The platform account: it owns the streams (`SWARM_EVENTS`, `SWARM_JOBS`, the dead letters),
 * its own users are the platform's (NACK, the ingestor, the workers), its limits come from
 * `config.nats.account`. It exports tenants' event and job subjects as private services
 * ({@link TENANT_EXPORTS}) and lists one scoped signing key, for activation tokens only: a user
 * signed with it is denied every subject.
 */
export function swarmAccountClaims(nats: Pick<EnvironmentConfig["nats"], "account">, keys: Pick<NatsPublicKeys, "operator" | "swarmAccount" | "tenantImportSigningKey">): AccountClaims {
  return {
    name: ACCOUNT_NAMES.swarm,
    sub: keys.swarmAccount,
    iss: keys.operator,
    nats: {
      type: "account",
      version: 2,
      description: "Platform account: the shared streams (SWARM_EVENTS, SWARM_JOBS); tenant accounts import their own subjects",
      limits: accountLimits({
        conn: nats.account.maxConnections,
        diskStorageBytes: nats.account.jetstreamMaxStorageGiB * BYTES_PER_GIB,
        maxAckPending: NO_LIMIT,
        jetstream: true,
      }),
      exports: Object.values(TENANT_EXPORTS).map((e) => ({
        name: e.name,
        subject: e.subject,
        type: "service" as const,
        token_req: true,
        response_type: "Singleton" as const,
        description: "A tenant account imports its own subjects with an activation token",
      })),
      signing_keys: [
        {
          kind: "user_scope",
          key: keys.tenantImportSigningKey,
          role: TENANT_IMPORT_ROLE,
          template: { pub: { allow: [], deny: [">"] }, sub: { allow: [], deny: [">"] }, bearer_token: false, allowed_connection_types: ["STANDARD"] },
        },
      ],
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

/** Name of a silo account's unrestricted user (NACK manages the silo's streams and consumers with it). */
export const SILO_PLATFORM_USER = "silo-platform";
/** Name of a silo account's ingestor user. */
export const SILO_INGESTOR_USER = "silo-ingestor";
/** Name of a silo account's worker user. */
export const SILO_WORKER_USER = "silo-workers";

/**
 * What the ingestor's user in a silo account may do there, and nothing else: what `startIngestor`
 * does with the silo's copy of the topology (topology.ts `siloTopologyDeclarations`). Check the
 * streams and its consumer (`$JS.API.INFO`, `STREAM.INFO` of `SWARM_EVENTS` and its dead letters,
 * `CONSUMER.INFO`), pull it, ack (progress, term) its messages, and publish dead letters on
 * `ingestor.dlq.<reason>`; replies (the JetStream API's, the dead letters' acks) arrive in its
 * `_INBOX.<nuid>`. It cannot create, change, purge or delete anything, read the jobs, publish
 * into the tenant's subjects, or read the tenant's inbox (`_INBOX.<tenant>.>` is denied: a tenant
 * id can never be a client's random inbox token and the tenant's replies stay its own).
 */
export function siloIngestorUserPermissions(tenantId: string, consumer: string = INGESTOR_DEFAULTS.consumer): Pick<UserPermissionsLimits, "pub" | "sub"> {
  const J = INGESTOR_JETSTREAM;
  const durable = `${J.reads}.${consumer}`;
  return {
    pub: {
      allow: [
        "$JS.API.INFO",
        `$JS.API.STREAM.INFO.${J.reads}`,
        `$JS.API.STREAM.INFO.${J.writes}`,
        `$JS.API.CONSUMER.INFO.${durable}`,
        `$JS.API.CONSUMER.MSG.NEXT.${durable}`,
        `$JS.ACK.${durable}.>`,
        `${J.deadLetterSubjectPrefix}.*`,
      ],
      deny: [],
    },
    sub: { allow: ["_INBOX.>"], deny: [`${tenantInboxPrefix(tenantId)}.>`] },
  };
}

/**
 * What the worker user of a silo account may do there: exactly what a pooled {@link SILO_TIER}
 * worker may do in the platform account ({@link workerUserPermissions}: its lane's consumer, acks,
 * its dead letters, its inbox), against the silo's own `SWARM_JOBS` and `SWARM_JOBS_DLQ`, so the
 * worker runtime runs against either account unchanged. Its credential requests
 * (`platform.credentials.enterprise`) have no responder in a silo account until the platform
 * exports that service to it.
 */
export function siloWorkerUserPermissions(tenantId: string): Pick<UserPermissionsLimits, "pub" | "sub"> {
  if (tenantInboxPrefix(tenantId) === workerInboxPrefix(SILO_TIER)) {
    throw new RangeError(`siloTenants[] = ${JSON.stringify(tenantId)} would share its inbox with the silo's workers (${workerInboxPrefix(SILO_TIER)}). Fix: give the tenant another id.`);
  }
  return workerUserPermissions(SILO_TIER);
}

/** Every claim the environment needs, in signing order: the operator, then each account. */
export interface NatsAuthClaims {
  readonly operator: OperatorClaims;
  readonly accounts: readonly AccountClaims[];
}

/** The operator and every account the bootstrap signs (system, platform, one per silo tenant); tenant accounts are provisioning's. */
export function natsAuthClaims(config: { readonly name: string; readonly nats: Pick<EnvironmentConfig["nats"], "account" | "siloTenants"> }, tiers: TierCatalog, keys: NatsPublicKeys): NatsAuthClaims {
  return {
    operator: operatorClaims(config.name, keys),
    accounts: [
      systemAccountClaims(keys),
      swarmAccountClaims(config.nats, keys),
      ...config.nats.siloTenants.map((t) => siloAccountClaims(t, tiers, keys)),
    ],
  };
}

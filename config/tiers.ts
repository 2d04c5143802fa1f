/**
 * The plan-tier catalog: every limit of every layer, defined once.
 *
 * Kong rate limits, NATS account limits, ClickHouse quotas and settings profiles, Kubernetes
 * ResourceQuota / LimitRange, KEDA replica caps and the provisioning service's usage limits are
 * all derived from this object. Nothing else in the repository may type one of these numbers.
 * Infrastructure is O(tiers): adding a tier adds one entry here, never an object per tenant.
 */
import { integer, IssueCollector, object, record, refined, string, type Infer } from "./schema.js";

export const PLAN_TIER_NAMES = ["free", "pro", "enterprise"] as const;
export type PlanTierName = (typeof PLAN_TIER_NAMES)[number];

const count = (what: string) => integer({ min: 0, fix: `set ${what} to a whole number of 0 or more` });
const positive = (what: string) => integer({ min: 1, fix: `set ${what} to a whole number of 1 or more` });

const tierSchema = object({
  displayName: string({ minLength: 1, maxLength: 40 }),
  /** API gateway (Kong) rate limits, counted per tenant. */
  gateway: object({
    requestsPerSecond: positive("the per-second request limit"),
    requestsPerMinute: positive("the per-minute request limit"),
    requestsPerHour: positive("the per-hour request limit"),
    maxRequestBodyKiB: integer({ min: 1, max: 65536, fix: "set a body size limit from 1 KiB to 64 MiB" }),
  }),
  /** Agent events on the bus and in the event store. */
  events: object({
    perDay: positive("the daily event allowance"),
    retentionDays: integer({ min: 1, max: 3650, fix: "keep events from 1 to 3650 days" }),
  }),
  /** NATS / JetStream limits. */
  bus: object({
    connections: positive("the connection limit"),
    subscriptions: positive("the subscription limit"),
    maxPayloadBytes: integer({ min: 1024, max: 8 * 1024 * 1024, fix: "NATS payloads must be 1 KiB to 8 MiB (max_payload)" }),
    jetstreamStorageMiB: positive("the JetStream storage allowance"),
    maxAckPending: positive("max_ack_pending"),
    /** Bus credentials the tenant may mint per UTC day (each is a NATS user of its account). */
    credentialsPerDay: positive("the daily bus-credential allowance"),
  }),
  /** People in a tenant: members (every role) and invitations not yet accepted. */
  members: object({
    max: positive("the member limit"),
    pendingInvitations: positive("the pending-invitation limit"),
  }),
  /** ClickHouse read path: a quota per interval, and a settings profile per query. */
  clickhouse: object({
    quota: object({
      intervalSeconds: integer({ min: 1, max: 31_536_000, fix: "use an interval from 1 second to 1 year" }),
      queries: positive("queries per interval"),
      resultRows: positive("result rows per interval"),
      readRows: positive("read rows per interval"),
      executionTimeSeconds: positive("execution seconds per interval"),
    }),
    profile: object({
      maxMemoryUsageMiB: positive("max_memory_usage"),
      maxExecutionTimeSeconds: positive("max_execution_time"),
      maxThreads: integer({ min: 1, max: 256, fix: "set max_threads from 1 to 256" }),
      maxResultRows: positive("max_result_rows"),
      maxConcurrentQueries: positive("max_concurrent_queries_for_user"),
    }),
  }),
  /** Worker pods of the tier's pool: ResourceQuota totals, LimitRange defaults and KEDA caps. */
  workers: object({
    quota: object({
      pods: positive("the pod quota"),
      requestsCpuMillicores: positive("the CPU request quota"),
      requestsMemoryMiB: positive("the memory request quota"),
      limitsCpuMillicores: positive("the CPU limit quota"),
      limitsMemoryMiB: positive("the memory limit quota"),
    }),
    container: object({
      defaultRequestCpuMillicores: positive("the default container CPU request"),
      defaultRequestMemoryMiB: positive("the default container memory request"),
      defaultLimitCpuMillicores: positive("the default container CPU limit"),
      defaultLimitMemoryMiB: positive("the default container memory limit"),
    }),
    scaling: object({
      minReplicaCount: count("minReplicaCount"),
      maxReplicaCount: positive("maxReplicaCount"),
      lagThreshold: positive("lagThreshold"),
    }),
  }),
});

export type PlanTier = Infer<typeof tierSchema>;

/** The catalog's schema: exactly the three tiers, each with every limit, each limit consistent. */
export const tierCatalogSchema = refined(
  record(tierSchema, {
    keyPattern: /^(free|pro|enterprise)$/,
    keyFix: `use one of ${PLAN_TIER_NAMES.join(", ")} (adding a tier means adding it to PLAN_TIER_NAMES too)`,
    requiredKeys: PLAN_TIER_NAMES,
  }),
  (catalog, path, out) => checkCatalogConsistency(catalog as Record<PlanTierName, PlanTier>, path, out),
);

export type TierCatalog = Readonly<Record<PlanTierName, PlanTier>>;

/** A longer window allows at least what a shorter one does (a tier's limits and a user's alike). */
function checkGatewayWindows(g: { requestsPerSecond: number; requestsPerMinute: number; requestsPerHour: number }, p: string, out: IssueCollector): void {
  if (g.requestsPerMinute < g.requestsPerSecond) {
    out.add(`${p}.requestsPerMinute`, g.requestsPerMinute, `is below requestsPerSecond (${g.requestsPerSecond})`, "a minute allows at least what a second does: raise requestsPerMinute or lower requestsPerSecond");
  }
  if (g.requestsPerHour < g.requestsPerMinute) {
    out.add(`${p}.requestsPerHour`, g.requestsPerHour, `is below requestsPerMinute (${g.requestsPerMinute})`, "an hour allows at least what a minute does: raise requestsPerHour or lower requestsPerMinute");
  }
}

function checkCatalogConsistency(catalog: Record<PlanTierName, PlanTier>, path: string, out: IssueCollector): boolean {
  const before = out.issues.length;
  for (const name of PLAN_TIER_NAMES) {
    const t = catalog[name];
    const p = `${path ? `${path}.` : ""}${name}`;
    checkGatewayWindows(t.gateway, `${p}.gateway`, out);
    const q = t.workers.quota;
    const c = t.workers.container;
    if (q.limitsCpuMillicores < q.requestsCpuMillicores) {
      out.add(`${p}.workers.quota.limitsCpuMillicores`, q.limitsCpuMillicores, `is below requestsCpuMillicores (${q.requestsCpuMillicores})`, "limits must be at least the requests");
    }
    if (q.limitsMemoryMiB < q.requestsMemoryMiB) {
      out.add(`${p}.workers.quota.limitsMemoryMiB`, q.limitsMemoryMiB, `is below requestsMemoryMiB (${q.requestsMemoryMiB})`, "limits must be at least the requests");
    }
    if (c.defaultLimitCpuMillicores < c.defaultRequestCpuMillicores) {
      out.add(`${p}.workers.container.defaultLimitCpuMillicores`, c.defaultLimitCpuMillicores, `is below defaultRequestCpuMillicores (${c.defaultRequestCpuMillicores})`, "a container's limit must be at least its request");
    }
    if (c.defaultLimitMemoryMiB < c.defaultRequestMemoryMiB) {
      out.add(`${p}.workers.container.defaultLimitMemoryMiB`, c.defaultLimitMemoryMiB, `is below defaultRequestMemoryMiB (${c.defaultRequestMemoryMiB})`, "a container's limit must be at least its request");
    }
    if (c.defaultLimitCpuMillicores > q.limitsCpuMillicores || c.defaultLimitMemoryMiB > q.limitsMemoryMiB) {
      out.add(`${p}.workers.container`, c, "one default container does not fit in the tier's quota", "lower the container defaults or raise workers.quota limits");
    }
    const s = t.workers.scaling;
    if (s.maxReplicaCount < s.minReplicaCount) {
      out.add(`${p}.workers.scaling.maxReplicaCount`, s.maxReplicaCount, `is below minReplicaCount (${s.minReplicaCount})`, "raise maxReplicaCount or lower minReplicaCount");
    }
    if (s.maxReplicaCount > q.pods) {
      out.add(`${p}.workers.scaling.maxReplicaCount`, s.maxReplicaCount, `exceeds the tier's pod quota (workers.quota.pods = ${q.pods})`, "KEDA would scale into a quota wall: lower maxReplicaCount or raise workers.quota.pods");
    }
  }
  checkTiersAscend(catalog, path, out);
  return out.issues.length === before;
}

/** Groups of limits where a higher tier must never be stingier than the tier below it. */
const ASCENDING_GROUPS = [
  ["gateway"],
  ["events"],
  ["bus"],
  ["members"],
  ["clickhouse", "quota"],
  ["clickhouse", "profile"],
  ["workers", "quota"],
] as const;

function checkTiersAscend(catalog: Record<PlanTierName, PlanTier>, path: string, out: IssueCollector): void {
  for (let i = 1; i < PLAN_TIER_NAMES.length; i++) {
    const lowerName = PLAN_TIER_NAMES[i - 1] as PlanTierName;
    const higherName = PLAN_TIER_NAMES[i] as PlanTierName;
    for (const group of ASCENDING_GROUPS) {
      const lower = pick(catalog[lowerName], group);
      const higher = pick(catalog[higherName], group);
      for (const [key, value] of Object.entries(higher)) {
        const below = lower[key];
        if (typeof value === "number" && typeof below === "number" && value < below) {
          const field = `${path ? `${path}.` : ""}${higherName}.${group.join(".")}.${key}`;
          out.add(field, value, `is lower than the ${lowerName} tier's ${below}`, `a higher tier never gets less: raise it to at least ${below} or lower ${lowerName}'s`);
        }
      }
    }
  }
}

function pick(tier: PlanTier, group: readonly string[]): Record<string, unknown> {
  let node: unknown = tier;
  for (const key of group) node = (node as Record<string, unknown>)[key];
  return node as Record<string, unknown>;
}

const MiB = 1;
const GiB = 1024 * MiB;

/**
 * The catalog. Numbers are per tenant. Pro and enterprise may only be more generous than the
 * tier below; the tests check that every layer carries these exact numbers.
 */
export const PLAN_TIERS: TierCatalog = {
  free: {
    displayName: "Free",
    gateway: { requestsPerSecond: 5, requestsPerMinute: 100, requestsPerHour: 2_000, maxRequestBodyKiB: 256 },
    events: { perDay: 100_000, retentionDays: 30 },
    bus: { connections: 10, subscriptions: 100, maxPayloadBytes: 64 * 1024, jetstreamStorageMiB: 256 * MiB, maxAckPending: 1_000, credentialsPerDay: 100 },
    members: { max: 5, pendingInvitations: 10 },
    clickhouse: {
      quota: { intervalSeconds: 3_600, queries: 360, resultRows: 1_000_000, readRows: 100_000_000, executionTimeSeconds: 600 },
      profile: { maxMemoryUsageMiB: 512, maxExecutionTimeSeconds: 10, maxThreads: 2, maxResultRows: 10_000, maxConcurrentQueries: 2 },
    },
    workers: {
      quota: { pods: 4, requestsCpuMillicores: 2_000, requestsMemoryMiB: 4 * GiB, limitsCpuMillicores: 4_000, limitsMemoryMiB: 8 * GiB },
      container: { defaultRequestCpuMillicores: 250, defaultRequestMemoryMiB: 512, defaultLimitCpuMillicores: 1_000, defaultLimitMemoryMiB: 1 * GiB },
      scaling: { minReplicaCount: 0, maxReplicaCount: 2, lagThreshold: 100 },
    },
  },
  pro: {
    displayName: "Pro",
    gateway: { requestsPerSecond: 50, requestsPerMinute: 2_000, requestsPerHour: 60_000, maxRequestBodyKiB: 1_024 },
    events: { perDay: 5_000_000, retentionDays: 180 },
    bus: { connections: 100, subscriptions: 1_000, maxPayloadBytes: 256 * 1024, jetstreamStorageMiB: 10 * GiB, maxAckPending: 10_000, credentialsPerDay: 2_000 },
    members: { max: 100, pendingInvitations: 200 },
    clickhouse: {
      quota: { intervalSeconds: 3_600, queries: 3_600, resultRows: 100_000_000, readRows: 10_000_000_000, executionTimeSeconds: 3_600 },
      profile: { maxMemoryUsageMiB: 4 * GiB, maxExecutionTimeSeconds: 60, maxThreads: 4, maxResultRows: 1_000_000, maxConcurrentQueries: 8 },
    },
    workers: {
      quota: { pods: 40, requestsCpuMillicores: 20_000, requestsMemoryMiB: 40 * GiB, limitsCpuMillicores: 40_000, limitsMemoryMiB: 80 * GiB },
      container: { defaultRequestCpuMillicores: 500, defaultRequestMemoryMiB: 1 * GiB, defaultLimitCpuMillicores: 2_000, defaultLimitMemoryMiB: 4 * GiB },
      scaling: { minReplicaCount: 0, maxReplicaCount: 20, lagThreshold: 100 },
    },
  },
  enterprise: {
    displayName: "Enterprise",
    gateway: { requestsPerSecond: 500, requestsPerMinute: 20_000, requestsPerHour: 600_000, maxRequestBodyKiB: 8_192 },
    events: { perDay: 100_000_000, retentionDays: 365 },
    bus: { connections: 2_000, subscriptions: 20_000, maxPayloadBytes: 1024 * 1024, jetstreamStorageMiB: 500 * GiB, maxAckPending: 50_000, credentialsPerDay: 50_000 },
    members: { max: 10_000, pendingInvitations: 2_000 },
    clickhouse: {
      quota: { intervalSeconds: 3_600, queries: 36_000, resultRows: 1_000_000_000, readRows: 1_000_000_000_000, executionTimeSeconds: 36_000 },
      profile: { maxMemoryUsageMiB: 16 * GiB, maxExecutionTimeSeconds: 300, maxThreads: 16, maxResultRows: 10_000_000, maxConcurrentQueries: 32 },
    },
    workers: {
      quota: { pods: 400, requestsCpuMillicores: 200_000, requestsMemoryMiB: 400 * GiB, limitsCpuMillicores: 400_000, limitsMemoryMiB: 800 * GiB },
      container: { defaultRequestCpuMillicores: 1_000, defaultRequestMemoryMiB: 2 * GiB, defaultLimitCpuMillicores: 4_000, defaultLimitMemoryMiB: 8 * GiB },
      scaling: { minReplicaCount: 1, maxReplicaCount: 200, lagThreshold: 50 },
    },
  },
};

/** The tier every new tenant starts on; only the entitlement path (billing webhook, operator route) changes it. */
export const DEFAULT_PLAN_TIER: PlanTierName = "free";

const userLimitsSchema = object({
  /** Gateway limits of the routes a signed-in user calls with a user token, counted per user. */
  gateway: object({
    requestsPerSecond: positive("the per-user per-second request limit"),
    requestsPerMinute: positive("the per-user per-minute request limit"),
    requestsPerHour: positive("the per-user per-hour request limit"),
    maxRequestBodyKiB: integer({ min: 1, max: 1024, fix: "set a body size limit from 1 KiB to 1 MiB" }),
  }),
  /** Active tenants a user may have created (offboarding one frees its place). */
  activeTenants: positive("the active-tenant limit per user"),
  /** Tenants a user may create per UTC day (offboarding does not give the place back). */
  tenantsPerDay: positive("the tenant-creation limit per user and day"),
});

export type UserLimits = Infer<typeof userLimitsSchema>;

/** The limits of one signed-in user, whatever their tenants' tiers (the user has no tier). */
export const userLimitsSchemaChecked = refined(userLimitsSchema, (limits, path, out) => {
  const before = out.issues.length;
  checkGatewayWindows(limits.gateway, `${path ? `${path}.` : ""}gateway`, out);
  return out.issues.length === before;
});

export const USER_LIMITS: UserLimits = {
  gateway: { requestsPerSecond: 5, requestsPerMinute: 120, requestsPerHour: 2_000, maxRequestBodyKiB: 16 },
  activeTenants: 5,
  tenantsPerDay: 10,
};

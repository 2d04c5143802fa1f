/**
 * The capacity model (issue 19, item 4): from 1,000,000 registered users and a stated activity
 * to the events per second, the replicas, shards, disks and nodes each layer needs, and a cost
 * per tenant per month by tier at list prices.
 *
 * Three parts, each in one place:
 * - {@link MEASURED_INPUTS}: figures the benches measured, each with the command, the date and
 *   how it was read; `pending` says which bench figure will replace it.
 * - {@link CAPACITY_ASSUMPTIONS}: what is chosen, not measured, each with its reason (activity,
 *   headroom, per-pod resources as the constructs request them, list prices with the date noted).
 * - {@link capacityModel}: a pure function of the two and the tier catalog.
 *
 * `npm run capacity` prints the model (`config/capacity-cli.ts`); docs/capacity.md's generated
 * section is that output (`npm run capacity -- --check` fails when it is stale), and
 * {@link compareWithProd} sets prod's figures against the model, with {@link CAPACITY_EXCEPTIONS}
 * for the figures that knowingly fall short.
 */
import { ConfigError, IssueCollector } from "./schema.js";
import { PLAN_TIER_NAMES, type PlanTierName, type TierCatalog } from "./tiers.js";
import { NATS_CLUSTER_SIZES, type EnvironmentConfig } from "./environment.js";

/** A figure a bench measured. */
export interface MeasuredInput {
  readonly value: number;
  readonly unit: string;
  /** The command that produced it, the date, and how the figure was read from its output. */
  readonly source: string;
  /** The bench figure that will replace it when it is re-run (absent once measured as needed). */
  readonly pending?: string;
}

/** A figure chosen, not measured. */
export interface Assumption<T = number> {
  readonly value: T;
  readonly unit: string;
  readonly reason: string;
}

export type PerTier = Readonly<Record<PlanTierName, number>>;

/** Every measured input of the model. The lead updates these when a bench is re-run. */
export const MEASURED_INPUTS = {
  ingestorEventsPerCoreSecond: {
    value: 45_900,
    unit: "events/s per core of an ingestor process",
    source:
      "npm run bench:ingest, 2026-12-05 (commit 961a124): cpu_us_per_event js_thread 14.7 + engine 7.1 (the rest of the ingestor's process: the embedded engine's insert and V8's GC helpers) = 21.8 µs per event; 1,000,000 / 21.8. A replica on a remote ClickHouse does not run the engine's insert, so the figure is conservative by up to a third; nats-server's 11.4 µs per event is the NATS pods' and not charged here",
  },
  clickhouseInsertCpuUsPerRow: {
    value: 6.9,
    unit: "CPU µs per row, insert plus merges",
    source:
      "embedded engine, 300,000 bench:ingest rows into MergeTree with ZSTD(1) codecs, merges included, 2026-11-25 (commit 2b6b7de, measured for the codec choice)",
  },
  clickhouseBytesPerEvent: {
    value: 217,
    unit: "bytes on disk per event, one replica, after merges",
    source:
      "npm run bench:query, 2026-12-04: its cached 10,000,000-event table of 10,000 Zipf tenants after OPTIMIZE FINAL (~/.cache/enchanted/bench-query/g1-1c956f15632428ad): du -sbL of swarm_events = 2,169,781,060 B / 10,000,000 rows (the bench printed table_mib 2051, i.e. 215 B)",
  },
  keycloakSignupsPerSecondPerPod: {
    value: 6.4,
    unit: "sign-ups/s per Keycloak process of ~2 cores",
    source: "npm run bench:identity (keycloak_signup_per_s), 2026-12-04: one Keycloak process on this shared 2-core machine, registration form, verification e-mail and code exchange",
  },
  keycloakBenchCores: {
    value: 2,
    unit: "cores the bench's Keycloak process had",
    source: "npm run bench:identity, 2026-12-04: the machine's 2 cores (shared with the bench's client and the provisioning service)",
  },
  controlPlaneBytesPerTenant: {
    value: 4_067,
    unit: "bytes per tenant with its owner, on disk (LMDB)",
    source:
      "npm run bench:scale, 2026-12-05: its cached store of 1,000,000 tenants with their owners (~/.cache/enchanted/bench-scale/1000000-8bb10a81e7388f41/store/data.mdb = 4,066,603,008 B) / 1,000,000; its load's bytesPerTenantBySubspace sums to 2,364 B of keys and values",
  },
  controlPlaneBytesPerMembership: {
    value: 290,
    unit: "bytes of keys and values per membership beyond the owner's",
    source: "npm run bench:scale, 2026-12-05: the load's bytesPerTenantBySubspace, t/m (206, the tenant's member entry) + u (84, the user's index entry)",
  },
  natsResolverBytesPerAccount: {
    value: 8_192,
    unit: "bytes per tenant account in the NATS full resolver",
    source: "npm run bench:accounts, 2026-12-03 (commit d999d32: 8 KiB per tenant account JWT stored)",
  },
} as const satisfies Record<string, MeasuredInput>;

export type MeasuredInputs = { readonly [K in keyof typeof MEASURED_INPUTS]: MeasuredInput };

/** An instance type's price and size (AWS on-demand list price, us-east-1, Linux). */
export interface InstancePrice {
  readonly type: string;
  readonly vcpu: number;
  readonly memoryGiB: number;
  readonly usdPerHour: number;
}

export interface CapacityAssumptions {
  readonly users: Assumption;
  readonly usersPerTenant: Assumption;
  readonly tierMix: Assumption<PerTier>;
  readonly activeShareAtPeak: Assumption<PerTier>;
  readonly agentsPerActiveTenant: Assumption<PerTier>;
  readonly eventsPerAgentPerSecond: Assumption;
  readonly peakFactor: Assumption;
  readonly cpuHeadroom: Assumption;
  readonly diskFillTarget: Assumption;
  readonly busBytesPerMessage: Assumption;
  readonly busOutageHours: Assumption;
  readonly connectionsPerActiveAgent: Assumption;
  readonly natsConnectionsPerServer: Assumption;
  readonly connectionFillTarget: Assumption;
  readonly natsClusterSizes: Assumption<readonly number[]>;
  readonly natsStreamReplicas: Assumption;
  readonly jobsStreamMaxBytesGiB: Assumption;
  readonly jetstreamVolumeHeadroom: Assumption;
  readonly clickhouseReplicas: Assumption;
  readonly clickhouseMaxDiskGiBPerNode: Assumption;
  readonly clickhouseKeeperReplicas: Assumption;
  readonly clickhouseKeeperStorageGiB: Assumption;
  readonly minReplicas: Assumption;
  readonly signupsPerSecondAtPeak: Assumption;
  readonly auroraBytesPerUser: Assumption;
  readonly auroraInstances: Assumption;
  readonly auroraAverageAcuPerInstance: Assumption;
  readonly fdbReplication: Assumption;
  readonly pods: Assumption<{
    readonly ingestor: { readonly cores: number; readonly memoryGiB: number };
    readonly keycloak: { readonly cores: number; readonly memoryGiB: number };
    readonly clickhouse: { readonly cores: number; readonly memoryGiB: number };
    readonly keeper: { readonly cores: number; readonly memoryGiB: number };
    readonly nats: { readonly cores: number; readonly memoryGiB: number };
  }>;
  readonly otherSystemCores: Assumption;
  readonly allocatableShare: Assumption;
  readonly minNodesPerPool: Assumption;
  readonly workersBaseNodes: Assumption;
  readonly natGateways: Assumption;
  readonly natProcessedGBPerMonth: Assumption;
  readonly loadBalancers: Assumption;
  readonly prices: Assumption<{
    readonly systemNode: InstancePrice;
    readonly dataNode: InstancePrice;
    readonly workerNode: InstancePrice;
    readonly gp3UsdPerGBMonth: number;
    readonly eksControlPlaneUsdPerHour: number;
    readonly natGatewayUsdPerHour: number;
    readonly natGatewayUsdPerGB: number;
    readonly nlbUsdPerHour: number;
    readonly nlbUsdPerLcuHour: number;
    readonly nlbGBPerLcuHour: number;
    readonly nlbActiveConnectionsPerLcu: number;
    readonly auroraUsdPerAcuHour: number;
    readonly auroraStorageUsdPerGBMonth: number;
    readonly crossAzUsdPerGB: number;
    readonly hoursPerMonth: number;
  }>;
}

const PRICES_NOTED = "AWS on-demand list prices, us-east-1, as noted on 2026-12-05 (not measured; check the current price list before quoting)";

/** The stated assumptions: each value with its reason. */
export const CAPACITY_ASSUMPTIONS: CapacityAssumptions = {
  users: { value: 1_000_000, unit: "registered users", reason: "the platform's design target (README: built for 1,000,000 users)" },
  usersPerTenant: {
    value: 4,
    unit: "users per tenant",
    reason: "most free sign-ups are one or two people in their own tenant, pro teams ~10, enterprises hundreds; USER_LIMITS lets a user create 5 tenants, members.max caps free at 5",
  },
  tierMix: {
    value: { free: 0.9, pro: 0.095, enterprise: 0.005 },
    unit: "share of tenants",
    reason: "a self-serve product with a free tier: ~10 % of tenants pay, 1 in 20 of those on an enterprise contract",
  },
  activeShareAtPeak: {
    value: { free: 0.05, pro: 0.3, enterprise: 0.6 },
    unit: "share of the tier's tenants with agents running at the daily peak",
    reason: "free tenants are mostly trials and dormant accounts; paying tenants run agents in working hours, enterprises across time zones",
  },
  agentsPerActiveTenant: {
    value: { free: 3, pro: 20, enterprise: 200 },
    unit: "agents running at once in an active tenant",
    reason: "a swarm per tenant: a few agents on free (its 10 bus connections), a team's swarm on pro (100 connections), many teams' swarms on enterprise (2,000 connections)",
  },
  eventsPerAgentPerSecond: {
    value: 0.2,
    unit: "events/s per running agent",
    reason: "an agent's step waits on a model call of seconds and emits a decision, a state change or a signal: about one event every 5 s",
  },
  peakFactor: { value: 3, unit: "peak rate / daily average", reason: "working-hours traffic: the busiest hour at about 3x the 24-hour average" },
  cpuHeadroom: {
    value: 0.6,
    unit: "share of a core used at peak",
    reason: "CPU-sized parts run at most 60 % busy at the modelled peak, leaving room for a lost zone's share and bursts above the hour's average",
  },
  diskFillTarget: {
    value: 0.75,
    unit: "share of a volume filled at steady state",
    reason: "ClickHouse merges need free space of the size of the parts they merge; an alert fires before the volume is full",
  },
  busBytesPerMessage: {
    value: 600,
    unit: "bytes per event in a JetStream file store",
    reason: "bench:ingest's events are 300-600 B of protobuf; plus the subject (swarm.<tenant>.events), the Nats-Msg-Id header and the store's record header (~150 B); rounded up",
  },
  busOutageHours: {
    value: 4,
    unit: "hours at the peak rate",
    reason: "SWARM_EVENTS holds only what the ingestor has not acked (interest retention); it must carry a ClickHouse outage or an ingestor rollback until on-call restores it",
  },
  connectionsPerActiveAgent: { value: 1, unit: "bus connections per running agent", reason: "the SDK's AgentClient.connect opens one connection per agent (sdk/client.ts)" },
  natsConnectionsPerServer: {
    value: 65_536,
    unit: "client connections per nats-server",
    reason: "nats-server's default max_connections (64K); serverConfigMerge (services/nats-auth/server-config.ts) does not raise it",
  },
  connectionFillTarget: {
    value: 0.8,
    unit: "share of max_connections used at peak",
    reason: "clients of a lost or restarting server reconnect to the others",
  },
  natsClusterSizes: {
    value: NATS_CLUSTER_SIZES.filter((n) => n >= 3),
    unit: "allowed NATS cluster sizes",
    reason: "NATS_CLUSTER_SIZES (config/environment.ts): an odd quorum outside dev",
  },
  natsStreamReplicas: { value: 3, unit: "copies of each stream", reason: "prod's nats.streams.events.replicas (config/environments/prod.ts)" },
  jobsStreamMaxBytesGiB: { value: 50, unit: "GiB", reason: "prod's nats.streams.jobs.maxBytesGiB: jobs are small and not modelled here" },
  jetstreamVolumeHeadroom: {
    value: 0.1,
    unit: "share of a NATS volume JetStream leaves free",
    reason: "JETSTREAM_VOLUME_HEADROOM (services/nats-auth/server-config.ts): the file store's max_file_store is 90 % of the volume",
  },
  clickhouseReplicas: { value: 2, unit: "copies of each shard", reason: "prod's clickhouse.replicas (config/environments/prod.ts)" },
  clickhouseMaxDiskGiBPerNode: { value: 16_384, unit: "GiB per ClickHouse server", reason: "the largest gp3 volume (16 TiB)" },
  clickhouseKeeperReplicas: { value: 3, unit: "Keeper servers", reason: "prod's clickhouse.keeperReplicas" },
  clickhouseKeeperStorageGiB: { value: 20, unit: "GiB per Keeper server", reason: "prod's clickhouse.keeperStorageGiB (Keeper holds metadata only)" },
  minReplicas: { value: 2, unit: "replicas of a stateless service", reason: "survive a node or a zone (config/environment.ts requires 2 outside dev for the events API)" },
  signupsPerSecondAtPeak: {
    value: 5,
    unit: "sign-ups/s in the busiest hour",
    reason: "a launch or press spike: 18,000 sign-ups in an hour (1.8 % of the users); reaching 1,000,000 users in a year averages 0.03/s",
  },
  auroraBytesPerUser: {
    value: 8_192,
    unit: "bytes per user in Keycloak's PostgreSQL, indexes included",
    reason: "a user row, its credential, role mappings, required actions and an offline session or two; not measured (bench:identity ran Keycloak on its embedded dev database)",
  },
  auroraInstances: { value: 2, unit: "Aurora instances", reason: "a writer and a reader in another zone (the AuroraPostgres default; prod passes platformReplicas = 2)" },
  auroraAverageAcuPerInstance: {
    value: 1,
    unit: "ACU averaged over the month",
    reason: "Keycloak caches realms and sessions in memory; the database sees sign-ups and token refreshes, a few per second. Not measured",
  },
  fdbReplication: { value: 3, unit: "copies", reason: "FoundationDB's triple redundancy mode, usual for a three-zone cluster (the customer's cluster: not configured here)" },
  pods: {
    value: {
      ingestor: { cores: 1, memoryGiB: 0.5 },
      keycloak: { cores: 1, memoryGiB: 2 },
      clickhouse: { cores: 2, memoryGiB: 8 },
      keeper: { cores: 0.5, memoryGiB: 1 },
      nats: { cores: 1, memoryGiB: 4 },
    },
    unit: "CPU cores and GiB requested per pod",
    reason:
      "the constructs' requests: Keycloak 1 core / 2 GiB (constructs/keycloak/keycloak.ts), ClickHouse 2 cores / 8 GiB and Keeper 0.5 / 1 GiB (constructs/clickhouse/props.ts), NATS 1 core / 4 GiB (constructs/nats/chart-values.ts), ingestor 512 MiB; the ingestor's core is the model's (bench:ingest measured its drain per core), and prod's ingestor.cpuRequestMillicores is set against it",
  },
  otherSystemCores: {
    value: 8,
    unit: "CPU cores requested by the rest of the system pool",
    reason: "Kong, the provisioning service, the events API at its minimum, the operators (KEDA, cert-manager, External Secrets, NACK, ClickHouse operator, load balancer controller) and the add-ons: an estimate to replace with the sum of the synthesized requests",
  },
  allocatableShare: { value: 0.9, unit: "share of a node's CPU and memory pods may request", reason: "kubelet and system reservations and the DaemonSets (VPC CNI, kube-proxy, EBS CSI, Pod Identity)" },
  minNodesPerPool: { value: 3, unit: "nodes", reason: "one per availability zone (prod has three)" },
  workersBaseNodes: { value: 3, unit: "worker nodes", reason: "the workers pool's floor, one per zone; workers scale with tenants' jobs, which this model does not size" },
  natGateways: { value: 3, unit: "NAT gateways", reason: "prod's network.natGateways one-per-az over 3 zones" },
  natProcessedGBPerMonth: {
    value: 1_000,
    unit: "GB through the NAT gateways a month",
    reason: "image pulls from outside ECR, e-mail, OS and chart updates; the agents' traffic comes in through the load balancers, not the NAT. An estimate",
  },
  loadBalancers: { value: 2, unit: "NLBs", reason: "the gateway's (Kong) and the NATS client port's (nats.external)" },
  prices: {
    value: {
      systemNode: { type: "m7i.xlarge", vcpu: 4, memoryGiB: 16, usdPerHour: 0.2016 },
      dataNode: { type: "r7i.2xlarge", vcpu: 8, memoryGiB: 64, usdPerHour: 0.5292 },
      workerNode: { type: "m7i.2xlarge", vcpu: 8, memoryGiB: 32, usdPerHour: 0.4032 },
      gp3UsdPerGBMonth: 0.08,
      eksControlPlaneUsdPerHour: 0.1,
      natGatewayUsdPerHour: 0.045,
      natGatewayUsdPerGB: 0.045,
      nlbUsdPerHour: 0.0225,
      nlbUsdPerLcuHour: 0.006,
      nlbGBPerLcuHour: 1,
      nlbActiveConnectionsPerLcu: 100_000,
      auroraUsdPerAcuHour: 0.12,
      auroraStorageUsdPerGBMonth: 0.1,
      crossAzUsdPerGB: 0.02,
      hoursPerMonth: 730,
    },
    unit: "USD",
    reason: `${PRICES_NOTED}. Cross-AZ transfer is $0.01/GB charged on each side. An NLB LCU is 1 GB processed per hour or 100,000 active TCP connections (the larger counts)`,
  },
};

/** One resource line of the monthly cost and how it is shared among tenants. */
export interface CostLine {
  readonly item: string;
  readonly usdPerMonth: number;
  /** fixed: split evenly over all tenants; events: by each tier's share of the events; retained: by each tier's share of the rows kept. */
  readonly allocation: "fixed" | "events" | "retained";
  readonly how: string;
}

export interface TierSizing {
  readonly tenants: number;
  readonly activeTenantsAtPeak: number;
  readonly agentsAtPeak: number;
  readonly peakEventsPerSecond: number;
  readonly averageEventsPerSecond: number;
  readonly eventsPerDay: number;
  readonly eventsPerActiveTenantPerDay: number;
  readonly allowancePerDay: number;
  /** eventsPerActiveTenantPerDay / allowancePerDay. */
  readonly allowanceUsed: number;
  readonly retentionDays: number;
  readonly rowsRetained: number;
  readonly costPerTenantUsdPerMonth: number;
}

export interface CapacityModel {
  readonly tenants: number;
  readonly tiers: Readonly<Record<PlanTierName, TierSizing>>;
  readonly events: {
    readonly peakPerSecond: number;
    readonly averagePerSecond: number;
    readonly perDay: number;
    /** Every tenant at its tier's full daily allowance: what quotas alone would let in. */
    readonly allowanceCeilingPerDay: number;
  };
  readonly ingestor: { readonly coresAtPeak: number; readonly replicas: number };
  readonly jetstream: {
    readonly bufferGiB: number;
    readonly eventsMaxBytesGiB: number;
    readonly storageGiBPerServer: number;
    readonly accountStorageGiB: number;
    /** Hours the required maxBytes holds at the average rate. */
    readonly hoursAtAverage: number;
  };
  readonly nats: { readonly connectionsAtPeak: number; readonly serversForConnections: number; readonly servers: number; readonly fitsAllowedSize: boolean; readonly resolverGiB: number };
  readonly clickhouse: {
    readonly rowsRetained: number;
    readonly tibPerReplica: number;
    readonly shardsForDisk: number;
    readonly shardsForInserts: number;
    readonly shards: number;
    readonly replicas: number;
    readonly storageGiBPerServer: number;
    readonly insertCoresPerServerAtPeak: number;
    readonly eventTtlDays: number;
  };
  readonly keycloak: { readonly signupsPerPodAtHeadroom: number; readonly pods: number };
  readonly aurora: { readonly storageGiB: number; readonly instances: number; readonly averageAcu: number };
  readonly foundationDb: { readonly logicalGiB: number; readonly storedGiB: number };
  readonly nodes: {
    readonly system: { readonly cores: number; readonly nodes: number };
    readonly data: { readonly cores: number; readonly memoryGiB: number; readonly nodes: number };
    readonly workers: { readonly nodes: number };
  };
  readonly cost: {
    readonly lines: readonly CostLine[];
    readonly totalUsdPerMonth: number;
    readonly fixedUsdPerMonth: number;
    readonly fixedPerTenantUsd: number;
  };
}

const SECONDS_PER_DAY = 86_400;
const GIB = 1024 ** 3;
const TIB = 1024 ** 4;

/**
 * The model. Pure: the same inputs give the same sizing. Throws a ConfigError naming every bad
 * assumption or input (the field, its value, the problem and the fix).
 */
export function capacityModel(inputs: MeasuredInputs, a: CapacityAssumptions, tiers: TierCatalog): CapacityModel {
  checkCapacityInputs(inputs, a);
  const v = <T>(x: Assumption<T>) => x.value;
  const headroom = v(a.cpuHeadroom);
  const fill = v(a.diskFillTarget);
  const tenants = Math.round(v(a.users) / v(a.usersPerTenant));

  // Activity per tier: at peak, a share of each tier's tenants runs its agents; the day averages peak / peakFactor.
  const perTier = {} as Record<PlanTierName, Omit<TierSizing, "costPerTenantUsdPerMonth">>;
  for (const t of PLAN_TIER_NAMES) {
    const tierTenants = Math.round(tenants * v(a.tierMix)[t]);
    const active = tierTenants * v(a.activeShareAtPeak)[t];
    const agents = active * v(a.agentsPerActiveTenant)[t];
    const peak = agents * v(a.eventsPerAgentPerSecond);
    const average = peak / v(a.peakFactor);
    const perDay = average * SECONDS_PER_DAY;
    const perActive = active > 0 ? perDay / active : 0;
    perTier[t] = {
      tenants: tierTenants,
      activeTenantsAtPeak: active,
      agentsAtPeak: agents,
      peakEventsPerSecond: peak,
      averageEventsPerSecond: average,
      eventsPerDay: perDay,
      eventsPerActiveTenantPerDay: perActive,
      allowancePerDay: tiers[t].events.perDay,
      allowanceUsed: perActive / tiers[t].events.perDay,
      retentionDays: tiers[t].events.retentionDays,
      rowsRetained: perDay * tiers[t].events.retentionDays,
    };
  }
  const sum = (f: (s: (typeof perTier)[PlanTierName]) => number) => PLAN_TIER_NAMES.reduce((acc, t) => acc + f(perTier[t]), 0);
  const peakEps = sum((s) => s.peakEventsPerSecond);
  const averageEps = sum((s) => s.averageEventsPerSecond);
  const eventsPerDay = sum((s) => s.eventsPerDay);
  const allowanceCeilingPerDay = sum((s) => s.tenants * s.allowancePerDay);

  // Ingestor: the measured per-core drain, the cores a replica has, the headroom.
  const ingestorCores = peakEps / inputs.ingestorEventsPerCoreSecond.value;
  const ingestorReplicas = Math.max(v(a.minReplicas), Math.ceil(peakEps / (inputs.ingestorEventsPerCoreSecond.value * v(a.pods).ingestor.cores * headroom)));

  // JetStream: the outage buffer at the peak rate, every server holding a replica of each stream at worst.
  const bufferBytes = peakEps * v(a.busOutageHours) * 3_600 * v(a.busBytesPerMessage);
  const eventsMaxBytesGiB = Math.ceil(bufferBytes / GIB);
  const storageGiBPerServer = Math.ceil((eventsMaxBytesGiB + v(a.jobsStreamMaxBytesGiB)) / (1 - v(a.jetstreamVolumeHeadroom)));
  const accountStorageGiB = (eventsMaxBytesGiB + v(a.jobsStreamMaxBytesGiB)) * v(a.natsStreamReplicas);
  const hoursAtAverage = (eventsMaxBytesGiB * GIB) / (averageEps * v(a.busBytesPerMessage) * 3_600);

  // NATS servers: the agents connected at the peak against each server's connection limit.
  const connections = sum((s) => s.agentsAtPeak) * v(a.connectionsPerActiveAgent);
  const serversForConnections = Math.ceil(connections / (v(a.natsConnectionsPerServer) * v(a.connectionFillTarget)));
  const needed = Math.max(serversForConnections, v(a.natsStreamReplicas));
  const allowed = [...v(a.natsClusterSizes)].sort((x, y) => x - y);
  const fitting = allowed.find((n) => n >= needed);
  const natsServers = fitting ?? needed + (needed % 2 === 0 ? 1 : 0);

  // ClickHouse: each tier's rows for its retention, one replica's bytes, shards by disk and by insert CPU.
  const rowsRetained = sum((s) => s.rowsRetained);
  const bytesPerReplica = rowsRetained * inputs.clickhouseBytesPerEvent.value;
  const shardsForDisk = Math.ceil(bytesPerReplica / fill / (v(a.clickhouseMaxDiskGiBPerNode) * GIB));
  const insertCores = (peakEps * inputs.clickhouseInsertCpuUsPerRow.value) / 1e6;
  const shardsForInserts = Math.ceil(insertCores / (v(a.pods).clickhouse.cores * headroom));
  const shards = Math.max(1, shardsForDisk, shardsForInserts);
  const storageGiBPerServer_ch = Math.ceil(bytesPerReplica / shards / fill / GIB);
  const eventTtlDays = Math.max(...PLAN_TIER_NAMES.map((t) => tiers[t].events.retentionDays));

  // Keycloak: the sign-up peak against the measured rate, scaled to the pod's requested cores.
  const perPod = (inputs.keycloakSignupsPerSecondPerPod.value / inputs.keycloakBenchCores.value) * v(a.pods).keycloak.cores * headroom;
  const keycloakPods = Math.max(v(a.minReplicas), Math.ceil(v(a.signupsPerSecondAtPeak) / perPod));

  const auroraGiB = (v(a.users) * v(a.auroraBytesPerUser)) / GIB;
  const fdbLogical = tenants * inputs.controlPlaneBytesPerTenant.value + Math.max(0, v(a.users) - tenants) * inputs.controlPlaneBytesPerMembership.value;

  // Nodes: the pods' requests over a node's allocatable share.
  const pods = v(a.pods);
  const alloc = v(a.allocatableShare);
  const prices = v(a.prices);
  const systemCores = keycloakPods * pods.keycloak.cores + ingestorReplicas * pods.ingestor.cores + v(a.otherSystemCores);
  const systemNodes = Math.max(v(a.minNodesPerPool), Math.ceil(systemCores / (prices.systemNode.vcpu * alloc)));
  const chServers = shards * v(a.clickhouseReplicas);
  const dataCores = chServers * pods.clickhouse.cores + v(a.clickhouseKeeperReplicas) * pods.keeper.cores + natsServers * pods.nats.cores;
  const dataMemory = chServers * pods.clickhouse.memoryGiB + v(a.clickhouseKeeperReplicas) * pods.keeper.memoryGiB + natsServers * pods.nats.memoryGiB;
  const dataNodes = Math.max(v(a.minNodesPerPool), Math.ceil(dataCores / (prices.dataNode.vcpu * alloc)), Math.ceil(dataMemory / (prices.dataNode.memoryGiB * alloc)));

  // Cost at list prices.
  const h = prices.hoursPerMonth;
  const gb = (bytes: number) => bytes / 1e9;
  const eventsPerMonth = averageEps * h * 3_600;
  const natsShareOfData = (natsServers * pods.nats.cores) / dataCores;
  const systemFixedNodes = Math.max(v(a.minNodesPerPool), Math.ceil((keycloakPods * pods.keycloak.cores + v(a.otherSystemCores)) / (prices.systemNode.vcpu * alloc)));
  const nlbBytesLcu = gb(averageEps * v(a.busBytesPerMessage) * 3_600) / prices.nlbGBPerLcuHour;
  const nlbConnLcu = connections / v(a.peakFactor) / prices.nlbActiveConnectionsPerLcu;
  const lines: CostLine[] = [
    { item: "EKS control plane", usdPerMonth: prices.eksControlPlaneUsdPerHour * h, allocation: "fixed", how: `$${prices.eksControlPlaneUsdPerHour}/h` },
    {
      item: `NAT gateways (${v(a.natGateways)})`,
      usdPerMonth: v(a.natGateways) * prices.natGatewayUsdPerHour * h + v(a.natProcessedGBPerMonth) * prices.natGatewayUsdPerGB,
      allocation: "fixed",
      how: `${v(a.natGateways)} x $${prices.natGatewayUsdPerHour}/h + ${fmt(v(a.natProcessedGBPerMonth))} GB x $${prices.natGatewayUsdPerGB}`,
    },
    {
      item: `System nodes for Keycloak and the platform (${systemFixedNodes} x ${prices.systemNode.type})`,
      usdPerMonth: systemFixedNodes * prices.systemNode.usdPerHour * h,
      allocation: "fixed",
      how: `${systemFixedNodes} x $${prices.systemNode.usdPerHour}/h`,
    },
    {
      item: `Ingestor cores (${ingestorReplicas} x ${pods.ingestor.cores} on ${prices.systemNode.type})`,
      usdPerMonth: ((ingestorReplicas * pods.ingestor.cores) / (prices.systemNode.vcpu * alloc)) * prices.systemNode.usdPerHour * h,
      allocation: "events",
      how: `cores / (${prices.systemNode.vcpu} vCPU x ${alloc}) x $${prices.systemNode.usdPerHour}/h`,
    },
    {
      item: `Data nodes, ClickHouse and Keeper share (${dataNodes} x ${prices.dataNode.type})`,
      usdPerMonth: dataNodes * prices.dataNode.usdPerHour * h * (1 - natsShareOfData),
      allocation: "retained",
      how: `${dataNodes} x $${prices.dataNode.usdPerHour}/h x ${round(1 - natsShareOfData, 3)} (their share of the pool's cores)`,
    },
    {
      item: "Data nodes, NATS share",
      usdPerMonth: dataNodes * prices.dataNode.usdPerHour * h * natsShareOfData,
      allocation: "events",
      how: `${dataNodes} x $${prices.dataNode.usdPerHour}/h x ${round(natsShareOfData, 3)}`,
    },
    {
      item: `ClickHouse volumes (${chServers} x ${fmt(storageGiBPerServer_ch)} GiB gp3)`,
      usdPerMonth: chServers * storageGiBPerServer_ch * prices.gp3UsdPerGBMonth,
      allocation: "retained",
      how: `$${prices.gp3UsdPerGBMonth}/GB-month`,
    },
    {
      item: `Keeper volumes (${v(a.clickhouseKeeperReplicas)} x ${v(a.clickhouseKeeperStorageGiB)} GiB gp3)`,
      usdPerMonth: v(a.clickhouseKeeperReplicas) * v(a.clickhouseKeeperStorageGiB) * prices.gp3UsdPerGBMonth,
      allocation: "fixed",
      how: `$${prices.gp3UsdPerGBMonth}/GB-month`,
    },
    {
      item: `JetStream volumes (${natsServers} x ${storageGiBPerServer} GiB gp3)`,
      usdPerMonth: natsServers * storageGiBPerServer * prices.gp3UsdPerGBMonth,
      allocation: "events",
      how: `$${prices.gp3UsdPerGBMonth}/GB-month`,
    },
    { item: `NLBs (${v(a.loadBalancers)}), hourly`, usdPerMonth: v(a.loadBalancers) * prices.nlbUsdPerHour * h, allocation: "fixed", how: `${v(a.loadBalancers)} x $${prices.nlbUsdPerHour}/h` },
    {
      item: "NATS NLB capacity units",
      usdPerMonth: Math.max(nlbBytesLcu, nlbConnLcu) * prices.nlbUsdPerLcuHour * h,
      allocation: "events",
      how: `max(${round(nlbBytesLcu, 1)} LCU of bytes, ${round(nlbConnLcu, 1)} LCU of average connections) x $${prices.nlbUsdPerLcuHour}/LCU-h`,
    },
    {
      item: "Cross-zone replication (JetStream and ClickHouse copies)",
      usdPerMonth: gb(eventsPerMonth * (v(a.busBytesPerMessage) * (v(a.natsStreamReplicas) - 1) + inputs.clickhouseBytesPerEvent.value * (v(a.clickhouseReplicas) - 1))) * prices.crossAzUsdPerGB,
      allocation: "events",
      how: `events x (${v(a.busBytesPerMessage)} B x ${v(a.natsStreamReplicas) - 1} + ${inputs.clickhouseBytesPerEvent.value} B x ${v(a.clickhouseReplicas) - 1}) x $${prices.crossAzUsdPerGB}/GB`,
    },
    {
      item: `Aurora PostgreSQL for Keycloak (${v(a.auroraInstances)} x ${v(a.auroraAverageAcuPerInstance)} ACU, ${round(auroraGiB, 1)} GiB)`,
      usdPerMonth: v(a.auroraInstances) * v(a.auroraAverageAcuPerInstance) * prices.auroraUsdPerAcuHour * h + (auroraGiB * GIB / 1e9) * prices.auroraStorageUsdPerGBMonth,
      allocation: "fixed",
      how: `$${prices.auroraUsdPerAcuHour}/ACU-h + $${prices.auroraStorageUsdPerGBMonth}/GB-month`,
    },
    {
      item: `Worker nodes at their floor (${v(a.workersBaseNodes)} x ${prices.workerNode.type})`,
      usdPerMonth: v(a.workersBaseNodes) * prices.workerNode.usdPerHour * h,
      allocation: "fixed",
      how: `${v(a.workersBaseNodes)} x $${prices.workerNode.usdPerHour}/h`,
    },
  ];
  const total = lines.reduce((acc, l) => acc + l.usdPerMonth, 0);
  const fixed = lines.filter((l) => l.allocation === "fixed").reduce((acc, l) => acc + l.usdPerMonth, 0);
  const byEvents = lines.filter((l) => l.allocation === "events").reduce((acc, l) => acc + l.usdPerMonth, 0);
  const byRetained = lines.filter((l) => l.allocation === "retained").reduce((acc, l) => acc + l.usdPerMonth, 0);
  const fixedPerTenant = fixed / tenants;

  const tierOut = {} as Record<PlanTierName, TierSizing>;
  for (const t of PLAN_TIER_NAMES) {
    const s = perTier[t];
    const variable = (eventsPerDay > 0 ? byEvents * (s.eventsPerDay / eventsPerDay) : 0) + (rowsRetained > 0 ? byRetained * (s.rowsRetained / rowsRetained) : 0);
    tierOut[t] = { ...s, costPerTenantUsdPerMonth: s.tenants > 0 ? fixedPerTenant + variable / s.tenants : 0 };
  }

  return {
    tenants,
    tiers: tierOut,
    events: { peakPerSecond: peakEps, averagePerSecond: averageEps, perDay: eventsPerDay, allowanceCeilingPerDay },
    ingestor: { coresAtPeak: ingestorCores, replicas: ingestorReplicas },
    jetstream: { bufferGiB: bufferBytes / GIB, eventsMaxBytesGiB, storageGiBPerServer, accountStorageGiB, hoursAtAverage },
    nats: {
      connectionsAtPeak: connections,
      serversForConnections,
      servers: natsServers,
      fitsAllowedSize: fitting !== undefined,
      resolverGiB: (tenants * inputs.natsResolverBytesPerAccount.value) / GIB,
    },
    clickhouse: {
      rowsRetained,
      tibPerReplica: bytesPerReplica / TIB,
      shardsForDisk,
      shardsForInserts,
      shards,
      replicas: v(a.clickhouseReplicas),
      storageGiBPerServer: storageGiBPerServer_ch,
      insertCoresPerServerAtPeak: insertCores,
      eventTtlDays,
    },
    keycloak: { signupsPerPodAtHeadroom: perPod, pods: keycloakPods },
    aurora: { storageGiB: auroraGiB, instances: v(a.auroraInstances), averageAcu: v(a.auroraAverageAcuPerInstance) },
    foundationDb: { logicalGiB: fdbLogical / GIB, storedGiB: (fdbLogical * v(a.fdbReplication)) / fill / GIB },
    nodes: {
      system: { cores: systemCores, nodes: systemNodes },
      data: { cores: dataCores, memoryGiB: dataMemory, nodes: dataNodes },
      workers: { nodes: v(a.workersBaseNodes) },
    },
    cost: { lines, totalUsdPerMonth: total, fixedUsdPerMonth: fixed, fixedPerTenantUsd: fixedPerTenant },
  };
}

// ---------------------------------------------------------------------------------------------
// Checks of the inputs: every problem named with its field and fix.

function checkCapacityInputs(inputs: MeasuredInputs, a: CapacityAssumptions): void {
  const out = new IssueCollector();
  const num = (path: string, value: unknown, rule: { min?: number; max?: number; above?: number; integer?: boolean }, fix: string) => {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      out.add(path, value, "is not a finite number", fix);
      return;
    }
    if (rule.above !== undefined && !(value > rule.above)) out.add(path, value, `must be greater than ${rule.above}`, fix);
    if (rule.min !== undefined && value < rule.min) out.add(path, value, `is below ${rule.min}`, fix);
    if (rule.max !== undefined && value > rule.max) out.add(path, value, `is above ${rule.max}`, fix);
    if (rule.integer && !Number.isInteger(value)) out.add(path, value, "is not a whole number", fix);
  };
  const positive = (path: string, value: unknown, what: string) => num(path, value, { above: 0 }, `set ${what} to a number above 0`);
  const share = (path: string, value: unknown, what: string) => num(path, value, { above: 0, max: 1 }, `set ${what} to a share above 0 and at most 1 (0.6 for 60 %)`);
  const shareOrZero = (path: string, value: unknown, what: string) => num(path, value, { min: 0, max: 1 }, `set ${what} to a share from 0 to 1 (0.3 for 30 %)`);

  for (const [name, input] of Object.entries(inputs)) positive(`inputs.${name}.value`, input.value, `the measured ${name} (re-read it from its bench's output)`);

  num("assumptions.users.value", a.users.value, { min: 1, integer: true }, "set users to a whole number of registered users, 1 or more");
  num("assumptions.usersPerTenant.value", a.usersPerTenant.value, { min: 1 }, "set usersPerTenant to 1 or more (every tenant has its owner)");
  let mixTotal = 0;
  for (const t of PLAN_TIER_NAMES) {
    shareOrZero(`assumptions.tierMix.value.${t}`, a.tierMix.value[t], `the ${t} tier's share of tenants`);
    shareOrZero(`assumptions.activeShareAtPeak.value.${t}`, a.activeShareAtPeak.value[t], `the ${t} tier's share of tenants active at peak`);
    num(`assumptions.agentsPerActiveTenant.value.${t}`, a.agentsPerActiveTenant.value[t], { min: 0 }, `set the ${t} tier's agents per active tenant to 0 or more`);
    mixTotal += typeof a.tierMix.value[t] === "number" ? a.tierMix.value[t] : 0;
  }
  if (Math.abs(mixTotal - 1) > 1e-9) out.add("assumptions.tierMix.value", a.tierMix.value, `shares add up to ${round(mixTotal, 6)}, not 1`, "make the tiers' shares of tenants add up to 1");
  num("assumptions.eventsPerAgentPerSecond.value", a.eventsPerAgentPerSecond.value, { min: 0 }, "set eventsPerAgentPerSecond to 0 or more");
  num("assumptions.peakFactor.value", a.peakFactor.value, { min: 1 }, "set peakFactor (peak / daily average) to 1 or more");
  share("assumptions.cpuHeadroom.value", a.cpuHeadroom.value, "cpuHeadroom");
  share("assumptions.diskFillTarget.value", a.diskFillTarget.value, "diskFillTarget");
  share("assumptions.connectionFillTarget.value", a.connectionFillTarget.value, "connectionFillTarget");
  share("assumptions.allocatableShare.value", a.allocatableShare.value, "allocatableShare");
  num("assumptions.jetstreamVolumeHeadroom.value", a.jetstreamVolumeHeadroom.value, { min: 0, max: 0.99 }, "set jetstreamVolumeHeadroom to a share from 0 to 0.99");
  for (const key of ["busBytesPerMessage", "busOutageHours", "connectionsPerActiveAgent", "natsConnectionsPerServer", "clickhouseMaxDiskGiBPerNode", "signupsPerSecondAtPeak", "auroraBytesPerUser", "auroraAverageAcuPerInstance", "jobsStreamMaxBytesGiB", "clickhouseKeeperStorageGiB"] as const) {
    positive(`assumptions.${key}.value`, a[key].value, key);
  }
  for (const key of ["natsStreamReplicas", "clickhouseReplicas", "clickhouseKeeperReplicas", "minReplicas", "auroraInstances", "fdbReplication", "minNodesPerPool", "natGateways", "loadBalancers"] as const) {
    num(`assumptions.${key}.value`, a[key].value, { min: 1, integer: true }, `set ${key} to a whole number of 1 or more`);
  }
  for (const key of ["otherSystemCores", "workersBaseNodes", "natProcessedGBPerMonth"] as const) num(`assumptions.${key}.value`, a[key].value, { min: 0 }, `set ${key} to 0 or more`);
  if (!Array.isArray(a.natsClusterSizes.value) || a.natsClusterSizes.value.length === 0) {
    out.add("assumptions.natsClusterSizes.value", a.natsClusterSizes.value, "lists no cluster size", "list the NATS cluster sizes config/environment.ts accepts, e.g. [3, 5]");
  } else {
    a.natsClusterSizes.value.forEach((n, i) => num(`assumptions.natsClusterSizes.value[${i}]`, n, { min: 1, integer: true }, "list whole numbers of servers, e.g. [3, 5]"));
  }
  for (const [pod, r] of Object.entries(a.pods.value)) {
    positive(`assumptions.pods.value.${pod}.cores`, r.cores, `the ${pod} pod's cores`);
    positive(`assumptions.pods.value.${pod}.memoryGiB`, r.memoryGiB, `the ${pod} pod's memory`);
  }
  for (const [key, price] of Object.entries(a.prices.value)) {
    if (typeof price === "object") {
      positive(`assumptions.prices.value.${key}.usdPerHour`, price.usdPerHour, `${price.type}'s hourly price`);
      positive(`assumptions.prices.value.${key}.vcpu`, price.vcpu, `${price.type}'s vCPUs`);
      positive(`assumptions.prices.value.${key}.memoryGiB`, price.memoryGiB, `${price.type}'s memory`);
    } else {
      num(`assumptions.prices.value.${key}`, price, { min: 0 }, `set the list price ${key} to 0 or more (USD)`);
    }
  }
  if (out.issues.length > 0) throw new ConfigError("config/capacity.ts", out.issues);
}

// ---------------------------------------------------------------------------------------------
// prod against the model.

/** Defaults of the constructs that prod relies on (passed in: config does not import constructs). */
export interface ConstructDefaults {
  /** The Ingestor construct's maxReplicas default (SERVICE_SIZING_DEFAULTS.maxReplicas). */
  readonly ingestorMaxReplicas: number;
}

/** One figure of prod set against what the model needs. */
export interface ProdFigure {
  /** The config path (or construct default) of the figure. */
  readonly field: string;
  readonly prod: number;
  readonly model: number;
  /** What the model number is. */
  readonly requirement: string;
}

/** The figures prod must reach: each prod value must be at least the model's. */
export function prodFigures(model: CapacityModel, prod: EnvironmentConfig, defaults: ConstructDefaults, a: CapacityAssumptions = CAPACITY_ASSUMPTIONS): ProdFigure[] {
  const group = (name: string) => {
    const g = prod.eks.nodeGroups.find((n) => n.name === name);
    if (!g) throw new Error(`prod has no node group "${name}". Fix: name the model's pools after prod's node groups in config/capacity.ts`);
    return g;
  };
  return [
    { field: "nats.replicas", prod: prod.nats.replicas, model: model.nats.servers, requirement: "servers for the agents' connections at peak (and a quorum)" },
    { field: "nats.storageGiB", prod: prod.nats.storageGiB, model: model.jetstream.storageGiBPerServer, requirement: "a replica of each stream's maxBytes on one server, within JetStream's share of the volume" },
    { field: "nats.account.jetstreamMaxStorageGiB", prod: prod.nats.account.jetstreamMaxStorageGiB, model: model.jetstream.accountStorageGiB, requirement: "the SWARM account's streams, every replica counted" },
    { field: "nats.streams.events.maxBytesGiB", prod: prod.nats.streams.events.maxBytesGiB, model: model.jetstream.eventsMaxBytesGiB, requirement: "the outage buffer at the peak rate" },
    { field: "nats.streams.events.maxAgeHours", prod: prod.nats.streams.events.maxAgeHours, model: a.busOutageHours.value, requirement: "messages kept at least as long as the outage lasts" },
    { field: "clickhouse.shards", prod: prod.clickhouse.shards, model: model.clickhouse.shards, requirement: "shards for the retained rows (disk) and the insert rate" },
    { field: "clickhouse.replicas", prod: prod.clickhouse.replicas, model: model.clickhouse.replicas, requirement: "copies of each shard the model assumes" },
    { field: "clickhouse.storageGiB", prod: prod.clickhouse.storageGiB, model: model.clickhouse.storageGiBPerServer, requirement: "one server's share of the retained rows at the fill target" },
    { field: "clickhouse.eventTtlDays", prod: prod.clickhouse.eventTtlDays, model: model.clickhouse.eventTtlDays, requirement: "the longest tier retention" },
    // The floors, not maxSize: nothing in this repo deploys a cluster autoscaler (the node groups
    // leave desired_size to one), so the pools must hold the model's pods at minSize.
    { field: "eks.nodeGroups[system].minSize", prod: group("system").minSize, model: model.nodes.system.nodes, requirement: "system nodes for Keycloak, the ingestor and the platform's pods, at the pool's floor" },
    { field: "eks.nodeGroups[data].minSize", prod: group("data").minSize, model: model.nodes.data.nodes, requirement: "data nodes for ClickHouse, Keeper and NATS, at the pool's floor" },
    { field: "eks.nodeGroups[workers].minSize", prod: group("workers").minSize, model: model.nodes.workers.nodes, requirement: "the workers' floor (jobs are not modelled)" },
    { field: "keycloak.replicas", prod: prod.keycloak.replicas, model: model.keycloak.pods, requirement: "Keycloak pods for the sign-up peak" },
    { field: "Ingestor maxReplicas (construct default)", prod: defaults.ingestorMaxReplicas, model: model.ingestor.replicas, requirement: "replicas for the peak at the measured per-core drain" },
    { field: "ingestor.cpuRequestMillicores (cores)", prod: prod.ingestor.cpuRequestMillicores / 1000, model: a.pods.value.ingestor.cores, requirement: "the cores per replica the replica count assumes" },
    { field: "eventsApi.maxReplicas", prod: prod.eventsApi.maxReplicas, model: Number.NaN, requirement: "not modelled: no bench measures the events API's requests per core" },
  ];
}

/** A prod figure that knowingly falls short of the model (or is not modelled), and why. */
export interface CapacityException {
  readonly field: string;
  readonly reason: string;
}

/**
 * The figures of prod that do not follow the model, each with its reason. The test fails when a
 * figure falls short without an entry here, and when an entry names a figure that no longer does.
 */
export const CAPACITY_EXCEPTIONS: readonly CapacityException[] = [
  {
    field: "clickhouse.storageGiB",
    reason:
      "the model's figure is the volume after every tier's retention has filled (365 days for enterprise); gp3 volumes grow online (the encrypted storage class sets allowVolumeExpansion), so prod starts smaller and grows them before the fill target",
  },
  {
    field: "eventsApi.maxReplicas",
    reason: "not modelled: bench:query measures latency at concurrency 16, not requests per core; the HPA scales the events API on CPU within 3-20",
  },
];

export type FigureStatus = "meets" | "exception" | "short";

export interface ComparedFigure extends ProdFigure {
  readonly status: FigureStatus;
  readonly reason?: string;
}

/** Every prod figure with its status: meets the model, a listed exception, or short. */
export function compareWithProd(figures: readonly ProdFigure[], exceptions: readonly CapacityException[] = CAPACITY_EXCEPTIONS): ComparedFigure[] {
  return figures.map((f) => {
    const meets = !Number.isNaN(f.model) && f.prod >= f.model;
    const exception = exceptions.find((e) => e.field === f.field);
    if (meets) return { ...f, status: "meets" as const };
    return exception ? { ...f, status: "exception" as const, reason: exception.reason } : { ...f, status: "short" as const };
  });
}

// ---------------------------------------------------------------------------------------------
// The generated section of docs/capacity.md.

export const GENERATED_BEGIN = "<!-- BEGIN GENERATED by `npm run capacity`: do not edit by hand -->";
export const GENERATED_END = "<!-- END GENERATED -->";

export function round(x: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A number with thousands separators, locale-independent. */
export function fmt(x: number, digits = 0): string {
  if (Number.isNaN(x)) return "n/a";
  const fixed = Math.abs(round(x, digits)).toFixed(digits);
  const [int, frac] = fixed.split(".") as [string, string | undefined];
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${x < 0 && round(x, digits) !== 0 ? "-" : ""}${grouped}${frac ? `.${frac}` : ""}`;
}

const pct = (x: number, digits = 1) => `${fmt(x * 100, digits)} %`;
const usd = (x: number, digits = 2) => `$${fmt(x, digits)}`;

function describeValue(value: unknown): string {
  if (typeof value === "number") return fmt(value, Number.isInteger(value) ? 0 : 4).replace(/\.?0+$/, (m) => (m.includes(".") ? "" : m));
  if (Array.isArray(value)) return value.join(", ");
  if (value && typeof value === "object") {
    return Object.entries(value)
      .map(([k, v]) => `${k} ${typeof v === "object" && v !== null ? `{${describeValue(v)}}` : describeValue(v)}`)
      .join("; ");
  }
  return String(value);
}

/** The model, its inputs and prod's comparison as markdown: the generated section of docs/capacity.md. */
export function renderCapacity(model: CapacityModel, inputs: MeasuredInputs, a: CapacityAssumptions, compared: readonly ComparedFigure[]): string {
  const L: string[] = [];
  const table = (head: string[], rows: string[][]) => {
    L.push(`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`);
    for (const r of rows) L.push(`| ${r.join(" | ")} |`);
    L.push("");
  };
  const esc = (s: string) => s.replace(/\|/g, "\\|");

  L.push("### Measured inputs", "");
  table(
    ["input", "value", "unit", "source", "waiting for"],
    Object.entries(inputs).map(([k, i]) => [`\`${k}\``, fmt(i.value, Number.isInteger(i.value) ? 0 : 1), esc(i.unit), esc(i.source), esc(i.pending ?? "measured")]),
  );
  L.push("### Stated assumptions", "");
  table(
    ["assumption", "value", "unit", "reason"],
    Object.entries(a).map(([k, x]) => [`\`${k}\``, esc(describeValue((x as Assumption<unknown>).value)), esc((x as Assumption<unknown>).unit), esc((x as Assumption<unknown>).reason)]),
  );

  L.push("### Tenants and events by tier", "");
  table(
    ["tier", "tenants", "active at peak", "agents at peak", "peak events/s", "average events/s", "events/day", "per active tenant/day", "allowance/day", "allowance used", "retention (days)", "rows retained"],
    [
      ...PLAN_TIER_NAMES.map((t) => {
        const s = model.tiers[t];
        return [t, fmt(s.tenants), fmt(s.activeTenantsAtPeak), fmt(s.agentsAtPeak), fmt(s.peakEventsPerSecond), fmt(s.averageEventsPerSecond), fmt(s.eventsPerDay), fmt(s.eventsPerActiveTenantPerDay), fmt(s.allowancePerDay), pct(s.allowanceUsed), fmt(s.retentionDays), fmt(s.rowsRetained)];
      }),
      ["**all**", fmt(model.tenants), "", fmt(PLAN_TIER_NAMES.reduce((x, t) => x + model.tiers[t].agentsAtPeak, 0)), `**${fmt(model.events.peakPerSecond)}**`, fmt(model.events.averagePerSecond), fmt(model.events.perDay), "", "", "", "", fmt(model.clickhouse.rowsRetained)],
    ],
  );
  L.push(`Every tenant at its full daily allowance would send ${fmt(model.events.allowanceCeilingPerDay)} events a day (${fmt(model.events.allowanceCeilingPerDay / model.events.perDay, 0)} x the modelled day): the sizing follows activity, and the quotas bound what one tenant can add.`, "");

  L.push("### Sizing", "");
  const c = model.clickhouse;
  table(
    ["part", "figure", "how"],
    [
      ["Ingestor", `**${model.ingestor.replicas} replicas** (${fmt(model.ingestor.coresAtPeak, 2)} cores busy at peak)`, `ceil(${fmt(model.events.peakPerSecond)} / (${fmt(inputs.ingestorEventsPerCoreSecond.value)} x ${a.pods.value.ingestor.cores} core x ${a.cpuHeadroom.value})), at least ${a.minReplicas.value}`],
      ["JetStream SWARM_EVENTS", `**maxBytes ${fmt(model.jetstream.eventsMaxBytesGiB)} GiB** (${fmt(model.jetstream.hoursAtAverage, 1)} h at the average rate)`, `${fmt(model.events.peakPerSecond)} events/s x ${a.busOutageHours.value} h x ${a.busBytesPerMessage.value} B`],
      ["JetStream volume per server", `**${fmt(model.jetstream.storageGiBPerServer)} GiB**`, `(events ${fmt(model.jetstream.eventsMaxBytesGiB)} + jobs ${a.jobsStreamMaxBytesGiB.value} GiB) / (1 - ${a.jetstreamVolumeHeadroom.value})`],
      ["JetStream, SWARM account", `${fmt(model.jetstream.accountStorageGiB)} GiB`, `streams' maxBytes x ${a.natsStreamReplicas.value} replicas`],
      ["NATS servers", `**${model.nats.servers}**${model.nats.fitsAllowedSize ? "" : " (more than any allowed cluster size)"}; ${fmt(model.nats.serversForConnections)} for connections`, `${fmt(model.nats.connectionsAtPeak)} connections / (${fmt(a.natsConnectionsPerServer.value)} x ${a.connectionFillTarget.value}), then the next allowed size (${a.natsClusterSizes.value.join(" or ")})`],
      ["NATS resolver", `${fmt(model.nats.resolverGiB, 1)} GiB per server`, `${fmt(model.tenants)} tenant accounts x ${fmt(inputs.natsResolverBytesPerAccount.value)} B (volume: 16 GiB)`],
      ["ClickHouse rows", `${fmt(c.rowsRetained)} rows, **${fmt(c.tibPerReplica, 1)} TiB per replica**`, `each tier's events/day x its retention, x ${inputs.clickhouseBytesPerEvent.value} B`],
      ["ClickHouse shards", `**${c.shards} shards x ${c.replicas} replicas** (disk ${c.shardsForDisk}, inserts ${c.shardsForInserts})`, `disk: ceil(TiB per replica / ${a.diskFillTarget.value} / ${fmt(a.clickhouseMaxDiskGiBPerNode.value)} GiB); inserts: ${fmt(c.insertCoresPerServerAtPeak, 2)} cores per replica at peak (${inputs.clickhouseInsertCpuUsPerRow.value} µs/row) / (${a.pods.value.clickhouse.cores} cores x ${a.cpuHeadroom.value})`],
      ["ClickHouse volume per server", `**${fmt(c.storageGiBPerServer)} GiB**`, `TiB per replica / ${c.shards} shards / ${a.diskFillTarget.value}`],
      ["ClickHouse TTL", `${c.eventTtlDays} days`, "the longest tier retention"],
      ["Keycloak", `**${model.keycloak.pods} pods**`, `ceil(${a.signupsPerSecondAtPeak.value} sign-ups/s / (${inputs.keycloakSignupsPerSecondPerPod.value} per ${inputs.keycloakBenchCores.value} cores x ${a.pods.value.keycloak.cores} core x ${a.cpuHeadroom.value} = ${fmt(model.keycloak.signupsPerPodAtHeadroom, 2)})), at least ${a.minReplicas.value}`],
      ["Aurora (Keycloak)", `**${fmt(model.aurora.storageGiB, 1)} GiB**, ${model.aurora.instances} instances at ~${model.aurora.averageAcu} ACU`, `${fmt(a.users.value)} users x ${fmt(a.auroraBytesPerUser.value)} B`],
      ["FoundationDB (control plane)", `**${fmt(model.foundationDb.logicalGiB, 2)} GiB** logical, ${fmt(model.foundationDb.storedGiB, 2)} GiB of disk`, `${fmt(model.tenants)} tenants x ${fmt(inputs.controlPlaneBytesPerTenant.value)} B + ${fmt(a.users.value - model.tenants)} further members x ${inputs.controlPlaneBytesPerMembership.value} B; x ${a.fdbReplication.value} copies / ${a.diskFillTarget.value}`],
      ["System nodes", `**${model.nodes.system.nodes} x ${a.prices.value.systemNode.type}** (${fmt(model.nodes.system.cores, 1)} cores requested)`, `Keycloak + ingestor + ${a.otherSystemCores.value} other cores / (${a.prices.value.systemNode.vcpu} vCPU x ${a.allocatableShare.value}), at least ${a.minNodesPerPool.value}`],
      ["Data nodes", `**${model.nodes.data.nodes} x ${a.prices.value.dataNode.type}** (${fmt(model.nodes.data.cores, 1)} cores, ${fmt(model.nodes.data.memoryGiB)} GiB requested)`, `ClickHouse, Keeper and NATS pods / (${a.prices.value.dataNode.vcpu} vCPU, ${a.prices.value.dataNode.memoryGiB} GiB x ${a.allocatableShare.value}), at least ${a.minNodesPerPool.value}`],
      ["Worker nodes", `${model.nodes.workers.nodes} x ${a.prices.value.workerNode.type} (floor)`, "not modelled: the tenants' jobs"],
    ],
  );

  L.push("### Cost per month at list prices", "");
  table(
    ["item", "USD/month", "shared by", "how"],
    [...model.cost.lines.map((l) => [esc(l.item), usd(l.usdPerMonth, 0), l.allocation, esc(l.how)]), ["**total**", `**${usd(model.cost.totalUsdPerMonth, 0)}**`, "", ""]],
  );
  L.push(`Fixed cost ${usd(model.cost.fixedUsdPerMonth, 0)} a month, ${usd(model.cost.fixedPerTenantUsd, 4)} per tenant.`, "");
  table(
    ["tier", "tenants", "share of events", "share of rows retained", "cost per tenant per month", "cost of the tier per month"],
    PLAN_TIER_NAMES.map((t) => {
      const s = model.tiers[t];
      return [t, fmt(s.tenants), pct(s.eventsPerDay / model.events.perDay), pct(s.rowsRetained / model.clickhouse.rowsRetained), `**${usd(s.costPerTenantUsdPerMonth)}**`, usd(s.costPerTenantUsdPerMonth * s.tenants, 0)];
    }),
  );

  L.push("### prod's figures against the model", "");
  table(
    ["prod figure", "prod", "model needs", "status", "what the model counts", "why not (exceptions)"],
    compared.map((f) => [esc(f.field), fmt(f.prod, Number.isInteger(f.prod) ? 0 : 2), fmt(f.model, Number.isInteger(f.model) ? 0 : 2), f.status === "meets" ? "meets" : f.status === "exception" ? "**exception**" : "**SHORT**", esc(f.requirement), esc(f.reason ?? "")]),
  );
  return L.join("\n");
}

/** Replaces the generated section of a document; throws when the markers are missing. */
export function replaceGeneratedSection(doc: string, generated: string): string {
  const begin = doc.indexOf(GENERATED_BEGIN);
  const end = doc.indexOf(GENERATED_END);
  if (begin < 0 || end < begin) throw new Error(`docs/capacity.md has no generated section. Fix: put ${GENERATED_BEGIN} and ${GENERATED_END} on lines of their own where the tables go`);
  return `${doc.slice(0, begin + GENERATED_BEGIN.length)}\n\n${generated.trimEnd()}\n\n${doc.slice(end)}`;
}

/** The generated section of a document as it stands, or undefined without markers. */
export function generatedSection(doc: string): string | undefined {
  const begin = doc.indexOf(GENERATED_BEGIN);
  const end = doc.indexOf(GENERATED_END);
  if (begin < 0 || end < begin) return undefined;
  return doc.slice(begin + GENERATED_BEGIN.length, end).trim();
}

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  CAPACITY_ASSUMPTIONS,
  CAPACITY_EXCEPTIONS,
  capacityModel,
  compareWithProd,
  generatedSection,
  MEASURED_INPUTS,
  prodFigures,
  type CapacityAssumptions,
  type MeasuredInputs,
} from "../config/capacity.js";
import { CAPACITY_DOC, currentCapacityMarkdown } from "../config/capacity-cli.js";
import { ConfigError, loadEnvironment, loadTierCatalog, PLAN_TIER_NAMES } from "../config/index.js";
import { resolveClickHouseProps, type ClickHouseProps } from "../constructs/clickhouse/props.js";
import { DEFAULT_NATS_CPU_REQUEST_MILLICORES, DEFAULT_NATS_MEMORY_LIMIT_MIB } from "../constructs/nats/chart-values.js";
import { SERVICE_SIZING_DEFAULTS } from "../constructs/service-workload.js";
import { JETSTREAM_VOLUME_HEADROOM } from "../services/nats-auth/server-config.js";

const tiers = loadTierCatalog();
const prod = loadEnvironment("prod");
const defaults = { ingestorMaxReplicas: SERVICE_SIZING_DEFAULTS.maxReplicas };

function withValue<K extends keyof CapacityAssumptions>(key: K, value: CapacityAssumptions[K]["value"]): Pick<CapacityAssumptions, K> {
  return { [key]: { ...CAPACITY_ASSUMPTIONS[key], value } } as Pick<CapacityAssumptions, K>;
}

function measured(overrides: Partial<Record<keyof MeasuredInputs, number>>): MeasuredInputs {
  const out: Record<string, unknown> = {};
  for (const [k, input] of Object.entries(MEASURED_INPUTS)) out[k] = { ...input, value: overrides[k as keyof MeasuredInputs] ?? input.value };
  return out as MeasuredInputs;
}

describe("capacityModel on a small example worked out by hand", () => {
  // 1,000 users, 2 per tenant: 500 tenants, 400 free and 100 pro. At peak half the free tenants
  // run 2 agents and every pro tenant 10, one event per second each: free 200 x 2 = 400/s, pro
  // 100 x 10 = 1,000/s, 1,400/s in all; a peak factor of 2 makes the day average 700/s.
  const a: CapacityAssumptions = {
    ...CAPACITY_ASSUMPTIONS,
    ...withValue("users", 1_000),
    ...withValue("usersPerTenant", 2),
    ...withValue("tierMix", { free: 0.8, pro: 0.2, enterprise: 0 }),
    ...withValue("activeShareAtPeak", { free: 0.5, pro: 1, enterprise: 0 }),
    ...withValue("agentsPerActiveTenant", { free: 2, pro: 10, enterprise: 0 }),
    ...withValue("eventsPerAgentPerSecond", 1),
    ...withValue("peakFactor", 2),
    ...withValue("cpuHeadroom", 0.5),
    ...withValue("diskFillTarget", 0.5),
    ...withValue("busBytesPerMessage", 1_000),
    ...withValue("busOutageHours", 1),
    ...withValue("jobsStreamMaxBytesGiB", 1),
    ...withValue("natsConnectionsPerServer", 1_000),
    ...withValue("connectionFillTarget", 0.5),
    ...withValue("clickhouseMaxDiskGiBPerNode", 1_024),
    ...withValue("signupsPerSecondAtPeak", 4),
    ...withValue("auroraBytesPerUser", 1_048_576),
  };
  const inputs = measured({
    ingestorEventsPerCoreSecond: 1_000,
    clickhouseBytesPerEvent: 100,
    clickhouseInsertCpuUsPerRow: 100,
    controlPlaneBytesPerTenant: 4_000,
    controlPlaneBytesPerMembership: 200,
  });
  const m = capacityModel(inputs, a, tiers);

  it("counts tenants and events per tier", () => {
    expect(m.tenants).toBe(500);
    expect(m.tiers.free.tenants).toBe(400);
    expect(m.tiers.pro.tenants).toBe(100);
    expect(m.tiers.enterprise.tenants).toBe(0);
    expect(m.events.peakPerSecond).toBe(1_400);
    expect(m.events.averagePerSecond).toBe(700);
    // free: 200/s average x 86,400 s = 17,280,000 a day over 200 active tenants = 86,400 each.
    expect(m.tiers.free.eventsPerDay).toBe(17_280_000);
    expect(m.tiers.free.eventsPerActiveTenantPerDay).toBe(86_400);
    expect(m.tiers.free.allowanceUsed).toBeCloseTo(86_400 / tiers.free.events.perDay, 12);
    // pro: 500/s x 86,400 = 43,200,000 a day, 432,000 per tenant.
    expect(m.tiers.pro.eventsPerDay).toBe(43_200_000);
    expect(m.tiers.pro.eventsPerActiveTenantPerDay).toBe(432_000);
  });

  it("sizes the ingestor, JetStream and NATS", () => {
    // 1,400 / (1,000 per core x 1 core x 0.5) = 2.8: 3 replicas.
    expect(m.ingestor.replicas).toBe(3);
    // 1,400/s x 3,600 s x 1,000 B = 5.04 GB = 4.69 GiB: 5 GiB; (5 + 1) / 0.9 = 6.67: 7 GiB a server; 6 x 3 = 18 for the account.
    expect(m.jetstream.eventsMaxBytesGiB).toBe(5);
    expect(m.jetstream.storageGiBPerServer).toBe(7);
    expect(m.jetstream.accountStorageGiB).toBe(18);
    // 400 + 1,000 agents connected / (1,000 x 0.5) = 2.8: 3 servers, an allowed size.
    expect(m.nats.connectionsAtPeak).toBe(1_400);
    expect(m.nats.servers).toBe(3);
    expect(m.nats.fitsAllowedSize).toBe(true);
  });

  it("sizes ClickHouse from the rows each tier keeps", () => {
    // free 17,280,000 x 30 days + pro 43,200,000 x 180 days = 518,400,000 + 7,776,000,000.
    expect(m.clickhouse.rowsRetained).toBe(8_294_400_000);
    // x 100 B = 829,440,000,000 B a replica; / 0.5 fill / 1,024 GiB (1,099,511,627,776 B) = 1.51: 2 shards.
    expect(m.clickhouse.shardsForDisk).toBe(2);
    // 1,400 rows/s x 100 µs = 0.14 cores / (2 cores x 0.5): 1 shard.
    expect(m.clickhouse.shardsForInserts).toBe(1);
    expect(m.clickhouse.shards).toBe(2);
    // 829,440,000,000 B / 2 shards / 0.5 = 772.48 GiB: 773 GiB a server.
    expect(m.clickhouse.storageGiBPerServer).toBe(773);
    expect(m.clickhouse.eventTtlDays).toBe(365);
  });

  it("sizes Keycloak, Aurora and FoundationDB", () => {
    // 6.4 sign-ups/s on 2 cores = 3.2 a core; x 0.5 = 1.6 a pod; 4 / 1.6 = 2.5: 3 pods.
    expect(m.keycloak.pods).toBe(3);
    // 1,000 users x 1 MiB = 1,000 MiB = 0.9765625 GiB.
    expect(m.aurora.storageGiB).toBeCloseTo(0.9765625, 12);
    // 500 tenants x 4,000 B + 500 further members x 200 B = 2,100,000 B; x 3 copies / 0.5 fill = 12,600,000 B.
    expect(m.foundationDb.logicalGiB * 1024 ** 3).toBeCloseTo(2_100_000, 3);
    expect(m.foundationDb.storedGiB * 1024 ** 3).toBeCloseTo(12_600_000, 3);
  });

  it("prices the control plane at its list price and shares every dollar among the tenants", () => {
    expect(m.cost.lines.find((l) => l.item === "EKS control plane")?.usdPerMonth).toBeCloseTo(73, 9);
    expect(m.cost.fixedPerTenantUsd).toBeCloseTo(m.cost.fixedUsdPerMonth / 500, 12);
    const allocated = PLAN_TIER_NAMES.reduce((sum, t) => sum + m.tiers[t].costPerTenantUsdPerMonth * m.tiers[t].tenants, 0);
    expect(allocated).toBeCloseTo(m.cost.totalUsdPerMonth, 6);
    // A free tenant keeps 30 days, a pro tenant 180, and sends less: it costs less.
    expect(m.tiers.free.costPerTenantUsdPerMonth).toBeLessThan(m.tiers.pro.costPerTenantUsdPerMonth);
  });
});

describe("docs/capacity.md", () => {
  it("holds exactly what the model prints (regenerate with npm run capacity -- --write)", () => {
    expect(generatedSection(readFileSync(CAPACITY_DOC, "utf8"))).toBe(currentCapacityMarkdown().trim());
  });
});

describe("prod against the model", () => {
  const model = capacityModel(MEASURED_INPUTS, CAPACITY_ASSUMPTIONS, tiers);
  const compared = compareWithProd(prodFigures(model, prod, defaults));

  it("meets every figure of the model, or lists it as an exception with its reason", () => {
    expect(compared.filter((f) => f.status === "short").map((f) => `${f.field}: prod ${f.prod} < model ${f.model}`)).toEqual([]);
  });

  it("lists no exception for a figure that meets the model or does not exist", () => {
    for (const e of CAPACITY_EXCEPTIONS) {
      expect(compared.find((f) => f.field === e.field)?.status, e.field).toBe("exception");
      expect(e.reason.length).toBeGreaterThan(40);
    }
  });

  it("finds a figure short when its exception is gone", () => {
    const without = compareWithProd(prodFigures(model, prod, defaults), []);
    expect(without.filter((f) => f.status === "short").map((f) => f.field)).toEqual(CAPACITY_EXCEPTIONS.map((e) => e.field));
  });

  it("takes the replication and volumes it assumes from prod's config and the constructs", () => {
    const a = CAPACITY_ASSUMPTIONS;
    expect(a.natsStreamReplicas.value).toBe(prod.nats.streams.events.replicas);
    expect(a.jobsStreamMaxBytesGiB.value).toBe(prod.nats.streams.jobs.maxBytesGiB);
    expect(a.clickhouseReplicas.value).toBe(prod.clickhouse.replicas);
    expect(a.clickhouseKeeperReplicas.value).toBe(prod.clickhouse.keeperReplicas);
    expect(a.clickhouseKeeperStorageGiB.value).toBe(prod.clickhouse.keeperStorageGiB);
    expect(a.jetstreamVolumeHeadroom.value).toBe(JETSTREAM_VOLUME_HEADROOM);
    expect(a.natGateways.value).toBe(prod.network.natGateways === "one-per-az" ? prod.network.azCount : 1);
    // The resolver applies the sizing defaults only; it never reads the secret store.
    const ch = resolveClickHouseProps({ ...prod.clickhouse, tiers, secretStore: undefined as unknown as ClickHouseProps["secretStore"] });
    expect(a.pods.value.clickhouse).toEqual({ cores: ch.cpuMillicores / 1000, memoryGiB: ch.memoryMiB / 1024 });
    expect(a.pods.value.keeper).toEqual({ cores: ch.keeperCpuMillicores / 1000, memoryGiB: ch.keeperMemoryMiB / 1024 });
    expect(a.pods.value.nats).toEqual({ cores: DEFAULT_NATS_CPU_REQUEST_MILLICORES / 1000, memoryGiB: DEFAULT_NATS_MEMORY_LIMIT_MIB / 1024 });
    expect(a.pods.value.ingestor.memoryGiB).toBe(SERVICE_SIZING_DEFAULTS.memoryLimitMiB / 1024);
    for (const [pool, price] of [["system", a.prices.value.systemNode], ["data", a.prices.value.dataNode], ["workers", a.prices.value.workerNode]] as const) {
      expect(prod.eks.nodeGroups.find((g) => g.name === pool)?.instanceTypes[0]).toBe(price.type);
    }
  });
});

describe("bad assumptions", () => {
  const model = (a: Partial<CapacityAssumptions>, inputs: MeasuredInputs = MEASURED_INPUTS) => () => capacityModel(inputs, { ...CAPACITY_ASSUMPTIONS, ...a }, tiers);
  const message = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error("no error thrown");
  };

  it("names a negative user count and its fix", () => {
    const text = message(model(withValue("users", -5)));
    expect(text).toContain("config/capacity.ts");
    expect(text).toContain("assumptions.users.value = -5: is below 1. Fix: set users to a whole number of registered users, 1 or more");
  });

  it("names a share above 1 and its fix", () => {
    expect(message(model(withValue("activeShareAtPeak", { free: 0.05, pro: 1.5, enterprise: 0.6 })))).toContain(
      "assumptions.activeShareAtPeak.value.pro = 1.5: is above 1. Fix: set the pro tier's share of tenants active at peak to a share from 0 to 1",
    );
    expect(message(model(withValue("cpuHeadroom", 1.2)))).toContain("assumptions.cpuHeadroom.value = 1.2: is above 1. Fix: set cpuHeadroom to a share above 0 and at most 1");
  });

  it("names a tier mix that does not add up to 1", () => {
    expect(message(model(withValue("tierMix", { free: 0.9, pro: 0.2, enterprise: 0 })))).toContain("shares add up to 1.1, not 1. Fix: make the tiers' shares of tenants add up to 1");
  });

  it("names a peak factor below 1, a zero per-core rate and NaN, all in one error", () => {
    const text = message(model({ ...withValue("peakFactor", 0.5), ...withValue("eventsPerAgentPerSecond", Number.NaN) }, measured({ ingestorEventsPerCoreSecond: 0 })));
    expect(text).toContain("3 invalid values");
    expect(text).toContain("assumptions.peakFactor.value = 0.5: is below 1");
    expect(text).toContain("assumptions.eventsPerAgentPerSecond.value");
    expect(text).toContain("is not a finite number");
    expect(text).toContain("inputs.ingestorEventsPerCoreSecond.value = 0: must be greater than 0");
  });
});

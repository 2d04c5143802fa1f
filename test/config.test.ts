import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  ENVIRONMENT_NAMES,
  loadEnvironment,
  loadTierCatalog,
  PLAN_TIER_NAMES,
  PLAN_TIERS,
  RAW_ENVIRONMENTS,
  validateEnvironment,
  validateTierCatalog,
  type EnvironmentName,
} from "../config/index.js";

type Mutable = Record<string, any>;

/** A deep copy of an environment's raw config, to break on purpose. */
function rawEnv(name: EnvironmentName): Mutable {
  return structuredClone(RAW_ENVIRONMENTS[name]) as Mutable;
}

function rawTiers(): Mutable {
  return structuredClone(PLAN_TIERS) as Mutable;
}

/** The ConfigError that validating `raw` throws (fails the test if nothing is thrown). */
function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

describe("environment config", () => {
  it.each(ENVIRONMENT_NAMES)("accepts the %s environment as committed", (name) => {
    const env = loadEnvironment(name);
    expect(env.name).toBe(name);
    expect(Object.isFrozen(env.network)).toBe(true);
  });

  it("refuses overlapping subnet CIDRs, naming both fields, the value and the fix", () => {
    const raw = rawEnv("prod");
    raw.network.subnets.data[1] = "10.30.40.0/24"; // inside private[0] = 10.30.32.0/19
    const err = errorOf(() => validateEnvironment(raw, "prod"));
    expect(err.issues).toHaveLength(1);
    expect(err.message).toContain('network.subnets.data[1] = "10.30.40.0/24"');
    expect(err.message).toContain("overlaps network.subnets.private[0] (10.30.32.0/19)");
    expect(err.message).toContain("Fix: give every subnet its own range");
  });

  it("opens NATS to agents outside the cluster in staging and prod only, to everyone only on purpose (allowAnywhere), and refuses 0.0.0.0/0 without it", () => {
    expect(loadEnvironment("dev").nats.external).toBeUndefined();
    // Customers' agents run anywhere: both open the port explicitly (TLS and a tenant JWT still required).
    for (const name of ["staging", "prod"] as const) {
      const external = loadEnvironment(name).nats.external;
      expect(external, name).toMatchObject({ allowedCidrs: ["0.0.0.0/0"], allowAnywhere: true });
      // No documentation ranges (RFC 5737) dressed as real ones.
      expect(external?.allowedCidrs.some((c) => /^(192\.0\.2|198\.51\.100|203\.0\.113)\./.test(c)), name).toBe(false);
    }
    const raw = rawEnv("prod");
    raw.nats.external = { ...raw.nats.external, allowedCidrs: ["0.0.0.0/0"], allowAnywhere: undefined };
    expect(errorOf(() => validateEnvironment(raw, "prod")).message).toContain('nats.external.allowedCidrs[0] = "0.0.0.0/0": opens the NATS client port to the whole internet. Fix:');
    raw.nats.external = { ...raw.nats.external, allowAnywhere: true };
    expect(validateEnvironment(raw, "prod").nats.external?.allowedCidrs).toEqual(["0.0.0.0/0"]);
    raw.nats.external = { ...raw.nats.external, allowedCidrs: [] };
    expect(errorOf(() => validateEnvironment(raw, "prod")).issues[0]?.path).toBe("nats.external.allowedCidrs");
  });

  it("refuses a VPC range that overlaps the FoundationDB network it must route to", () => {
    const raw = rawEnv("staging");
    raw.foundationDb.cidr = "10.20.0.0/20";
    const err = errorOf(() => validateEnvironment(raw, "staging"));
    expect(err.message).toContain('foundationDb.cidr = "10.20.0.0/20": overlaps network.vpcCidr (10.20.0.0/16)');
  });

  it("refuses a subnet outside the VPC range", () => {
    const raw = rawEnv("dev");
    raw.network.subnets.public[0] = "192.168.0.0/24";
    expect(errorOf(() => validateEnvironment(raw, "dev")).message).toContain("lies outside network.vpcCidr (10.10.0.0/16)");
  });

  it("refuses a CIDR with host bits set", () => {
    const raw = rawEnv("dev");
    raw.network.vpcCidr = "10.10.0.1/16";
    expect(errorOf(() => validateEnvironment(raw, "dev")).message).toContain('network.vpcCidr = "10.10.0.1/16": not an IPv4 CIDR block');
  });

  it.each([1, 7, 2.5])("refuses an AZ count of %s", (azCount) => {
    const raw = rawEnv("dev");
    raw.network.azCount = azCount;
    const err = errorOf(() => validateEnvironment(raw, "dev"));
    expect(err.issues[0]?.path).toBe("network.azCount");
    expect(err.message).toMatch(/network\.azCount = [\d.]+: (out of range \[2, 6\]|expected an integer)\. Fix: use 2 to 6 availability zones/);
  });

  it("refuses an AZ count that does not match the subnet lists", () => {
    const raw = rawEnv("dev");
    raw.network.azCount = 3;
    const err = errorOf(() => validateEnvironment(raw, "dev"));
    expect(err.issues.map((i) => i.path)).toEqual(["network.subnets.public", "network.subnets.private", "network.subnets.data"]);
    expect(err.message).toContain("has 2 subnets for 3 availability zones");
  });

  it("requires three AZs and a NAT gateway per AZ in prod", () => {
    const raw = rawEnv("prod");
    raw.network.azCount = 2;
    raw.network.subnets.public.pop();
    raw.network.subnets.private.pop();
    raw.network.subnets.data.pop();
    raw.network.natGateways = "single";
    const paths = errorOf(() => validateEnvironment(raw, "prod")).issues.map((i) => i.path);
    expect(paths).toEqual(["network.azCount", "network.natGateways"]);
  });

  it("refuses an unknown key and suggests the key that was meant", () => {
    const raw = rawEnv("staging");
    raw.network.natGateway = "single";
    const err = errorOf(() => validateEnvironment(raw, "staging"));
    expect(err.message).toContain('network.natGateway = "single": unknown key. Fix: did you mean "natGateways"?');
  });

  it("refuses a missing required value", () => {
    const raw = rawEnv("staging");
    delete raw.foundationDb.clusterFileSecretName;
    expect(errorOf(() => validateEnvironment(raw, "staging")).message).toContain(
      "foundationDb.clusterFileSecretName = (missing): required value is missing",
    );
  });

  it("keeps the API endpoint private outside dev", () => {
    const raw = rawEnv("prod");
    raw.eks.publicAccessCidrs = ["198.51.100.0/24"];
    expect(errorOf(() => validateEnvironment(raw, "prod")).message).toContain("prod's API endpoint must stay private");
  });

  it.each(["0.0.0.0/0", "10.0.0.0/8"])("never opens the dev API endpoint to %s", (cidr) => {
    const raw = rawEnv("dev");
    raw.eks.publicAccessCidrs = [cidr];
    expect(errorOf(() => validateEnvironment(raw, "dev")).message).toContain("allowlist is effectively public");
  });

  it("refuses a kube-proxy build for another Kubernetes minor", () => {
    const raw = rawEnv("dev");
    raw.eks.addons.kubeProxy = "v1.31.2-eksbuild.3";
    expect(errorOf(() => validateEnvironment(raw, "dev")).message).toContain("is built for Kubernetes 1.31");
  });

  it("refuses a node group whose desired size is outside its bounds", () => {
    const raw = rawEnv("dev");
    raw.eks.nodeGroups[0].desiredSize = 9;
    expect(errorOf(() => validateEnvironment(raw, "dev")).message).toContain("eks.nodeGroups[0].desiredSize = 9: is outside [minSize 2, maxSize 4]");
  });

  it("refuses a FoundationDB peer of an unknown kind", () => {
    const raw = rawEnv("dev");
    raw.foundationDb.peer = { kind: "vpn", vpnId: "x" };
    expect(errorOf(() => validateEnvironment(raw, "dev")).message).toContain(
      'foundationDb.peer.kind = "vpn": expected one of "vpc-peering", "transit-gateway", "privatelink"',
    );
  });

  it("lists every problem at once, not only the first", () => {
    const raw = rawEnv("dev");
    raw.aws.accountId = "12345";
    raw.aws.region = "Europe";
    raw.ecr.keepTaggedImages = -1;
    expect(errorOf(() => validateEnvironment(raw, "dev")).issues.map((i) => i.path)).toEqual([
      "aws.region",
      "aws.accountId",
      "ecr.keepTaggedImages",
    ]);
  });

  it("requires NATS and Keeper quorums and two ClickHouse replicas outside dev", () => {
    const raw = rawEnv("staging");
    raw.nats.replicas = 1;
    raw.nats.streams.events.replicas = 1;
    raw.nats.streams.jobs.replicas = 1;
    raw.clickhouse.keeperReplicas = 1;
    raw.clickhouse.replicas = 1;
    expect(errorOf(() => validateEnvironment(raw, "staging")).issues.map((i) => i.path)).toEqual([
      "nats.replicas",
      "clickhouse.keeperReplicas",
      "clickhouse.replicas",
      // one server no longer holds the account's JetStream allowance
      "nats.account.jetstreamMaxStorageGiB",
    ]);
  });

  it("takes NATS clusters of 1 (dev), 3, 5 or 7 servers and names the sizes for any other", () => {
    for (const replicas of [3, 5, 7]) {
      const raw = rawEnv("staging");
      raw.nats.replicas = replicas;
      expect(validateEnvironment(raw, "staging").nats.replicas).toBe(replicas);
    }
    for (const replicas of [2, 4, 9]) {
      const raw = rawEnv("staging");
      raw.nats.replicas = replicas;
      expect(errorOf(() => validateEnvironment(raw, "staging")).message).toContain(`nats.replicas = ${replicas}`);
      expect(errorOf(() => validateEnvironment(raw, "staging")).message).toContain("an odd quorum of 3, 5 or 7");
    }
  });

  it("refuses streams with more replicas than NATS servers, or more bytes than the cluster stores", () => {
    const raw = rawEnv("dev");
    raw.nats.streams.events.replicas = 3;
    raw.nats.streams.events.maxBytesGiB = 500;
    const err = errorOf(() => validateEnvironment(raw, "dev"));
    expect(err.message).toContain("nats.streams.events.replicas = 3: exceeds the number of NATS servers (1)");
    expect(err.message).toContain("stream copies need 1502 GiB but the cluster has 20 GiB");
  });

  it("gives Keycloak a replica count of its own: 1 in dev, 2 in staging, the capacity model's 3 in prod", () => {
    expect(ENVIRONMENT_NAMES.map((env) => [env, loadEnvironment(env).keycloak.replicas, loadEnvironment(env).platformReplicas])).toEqual([
      ["dev", 1, 1],
      ["staging", 2, 2],
      ["prod", 3, 2],
    ]);
  });

  it("refuses a Keycloak replica count that is not a whole number of 1 to 10, naming the field and the fix", () => {
    for (const bad of [0, 11, 2.5, "3"]) {
      const raw = rawEnv("prod");
      raw.keycloak.replicas = bad;
      const err = errorOf(() => validateEnvironment(raw, "prod"));
      expect(err.issues.map((i) => i.path)).toEqual(["keycloak.replicas"]);
      expect(err.message).toContain(`keycloak.replicas = ${JSON.stringify(bad)}`);
      expect(err.message).toContain("Fix: run 1 Keycloak replica (dev only) to 10");
    }
    const raw = rawEnv("prod");
    delete raw.keycloak;
    expect(errorOf(() => validateEnvironment(raw, "prod")).issues.map((i) => i.path)).toEqual(["keycloak"]);
  });

  it("requires 2 Keycloak replicas outside dev, and no more than the untainted nodes (a node of its own for each)", () => {
    const staging = rawEnv("staging");
    staging.keycloak.replicas = 1;
    expect(errorOf(() => validateEnvironment(staging, "staging")).message).toContain(
      "keycloak.replicas = 1: staging must keep signing users in while a node or a zone is lost. Fix: run at least 2 Keycloak replicas",
    );
    const dev = rawEnv("dev");
    dev.keycloak.replicas = 1;
    expect(validateEnvironment(dev, "dev").keycloak.replicas).toBe(1);
    // prod's system pool (maxSize 9) is the only one without a NoSchedule taint.
    const prod = rawEnv("prod");
    prod.keycloak.replicas = 10;
    expect(errorOf(() => validateEnvironment(prod, "prod")).message).toContain(
      "keycloak.replicas = 10: exceeds the 9 node(s) Keycloak may run on (the maxSize of the untainted node groups: system); each replica needs a node of its own. Fix: run at most 9 Keycloak replicas, or raise the maxSize of an untainted node group",
    );
  });

  it("requests the ingestor's CPU per environment: 250m in dev and staging, the capacity model's whole core in prod", () => {
    expect(ENVIRONMENT_NAMES.map((env) => [env, loadEnvironment(env).ingestor.cpuRequestMillicores])).toEqual([
      ["dev", 250],
      ["staging", 250],
      ["prod", 1_000],
    ]);
  });

  it("refuses an ingestor CPU request outside 100 to 8000 millicores, naming the field and the fix", () => {
    for (const bad of [1, 99, 8_001, 250.5]) {
      const raw = rawEnv("prod");
      raw.ingestor.cpuRequestMillicores = bad;
      const err = errorOf(() => validateEnvironment(raw, "prod"));
      expect(err.issues.map((i) => i.path)).toEqual(["ingestor.cpuRequestMillicores"]);
      expect(err.message).toContain(`ingestor.cpuRequestMillicores = ${bad}`);
      expect(err.message).toContain("Fix: request 100 to 8000 millicores per replica (1000 is the one core the capacity model counts)");
    }
  });

  it("refuses a config loaded under another environment's name", () => {
    expect(errorOf(() => validateEnvironment(rawEnv("dev"), "prod")).message).toContain('name = "dev": does not match the file it is loaded as ("prod")');
  });
});

describe("plan-tier catalog", () => {
  it("has exactly the free, pro and enterprise tiers and validates as committed", () => {
    expect(Object.keys(loadTierCatalog())).toEqual([...PLAN_TIER_NAMES]);
  });

  it("refuses a negative limit, naming the tier and the field", () => {
    const raw = rawTiers();
    raw.pro.gateway.requestsPerMinute = -5;
    const err = errorOf(() => validateTierCatalog(raw));
    expect(err.message).toContain("tiers.pro.gateway.requestsPerMinute = -5: must not be negative. Fix: set the per-minute request limit");
  });

  it("refuses a missing limit", () => {
    const raw = rawTiers();
    delete raw.free.clickhouse.quota.readRows;
    expect(errorOf(() => validateTierCatalog(raw)).message).toContain("tiers.free.clickhouse.quota.readRows = (missing): required value is missing");
  });

  it("refuses a missing tier and an unknown tier", () => {
    const raw = rawTiers();
    raw.platinum = raw.enterprise;
    delete raw.enterprise;
    const paths = errorOf(() => validateTierCatalog(raw)).issues.map((i) => i.path);
    expect(paths).toEqual(["tiers.platinum", "tiers.enterprise"]);
  });

  it("refuses an unknown limit key", () => {
    const raw = rawTiers();
    raw.free.gateway.requestsPerDay = 10;
    expect(errorOf(() => validateTierCatalog(raw)).message).toContain("tiers.free.gateway.requestsPerDay = 10: unknown key");
  });

  it("refuses a per-hour limit below the per-minute limit", () => {
    const raw = rawTiers();
    raw.free.gateway.requestsPerHour = 50;
    expect(errorOf(() => validateTierCatalog(raw)).message).toContain("tiers.free.gateway.requestsPerHour = 50: is below requestsPerMinute (100)");
  });

  it("refuses a higher tier that gets less than the tier below it", () => {
    const raw = rawTiers();
    raw.pro.bus.connections = 5;
    expect(errorOf(() => validateTierCatalog(raw)).message).toContain("tiers.pro.bus.connections = 5: is lower than the free tier's 10");
  });

  it("refuses a KEDA cap above the tier's pod quota", () => {
    const raw = rawTiers();
    raw.free.workers.scaling.maxReplicaCount = 10;
    expect(errorOf(() => validateTierCatalog(raw)).message).toContain("exceeds the tier's pod quota (workers.quota.pods = 4)");
  });
});

describe("synth with a bad value", () => {
  /** A copy of the app's sources in a temp dir, sharing node_modules, with one file edited. */
  function synthCopyWith(edit: { file: string; from: string; to: string }, env: Record<string, string> = {}) {
    const dir = mkdtempSync(join(tmpdir(), "enchanted-badcfg-"));
    try {
      for (const d of ["config", "constructs", "services", "stacks"]) cpSync(d, join(dir, d), { recursive: true });
      cpSync("package.json", join(dir, "package.json"));
      // The console's contract (the realm's web origin, the console's construct); not its workspace.
      cpSync(join("console", "contract.ts"), join(dir, "console", "contract.ts"));
      symlinkSync(resolve("node_modules"), join(dir, "node_modules"));
      const file = join(dir, edit.file);
      const text = readFileSync(file, "utf8");
      expect(text).toContain(edit.from);
      writeFileSync(file, text.replace(edit.from, edit.to));
      const result = spawnSync(process.execPath, ["stacks/synth.cjs"], { cwd: dir, env: { ...process.env, ...env }, encoding: "utf8" });
      return { ...result, wroteStacks: existsSync(join(dir, "cdktf.out", "stacks")) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("stops before writing any stack and prints the field, the value and the fix", () => {
    const result = synthCopyWith({ file: "config/environments/prod.ts", from: '"10.30.8.0/24"', to: '"10.30.32.0/24"' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("config/environments/prod.ts: 1 invalid value");
    expect(result.stderr).toContain('network.subnets.data[0] = "10.30.32.0/24": overlaps network.subnets.private[0] (10.30.32.0/19). Fix:');
    expect(result.wroteStacks).toBe(false);
  });

  it("refuses an unknown environment name in ENCHANTED_ENVIRONMENTS", () => {
    const result = synthCopyWith({ file: "config/environments/dev.ts", from: "dev", to: "dev" }, { ENCHANTED_ENVIRONMENTS: "dev,qa" });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('ENCHANTED_ENVIRONMENTS = "dev,qa": names unknown environment "qa". Fix: use a comma-separated subset of dev,staging,prod');
  });
});

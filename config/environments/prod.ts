/** prod: three AZs, a NAT gateway per AZ, dedicated data and worker pools, private API only. */
import { ORGANIZATION } from "../organization.js";
import { baseEnvironment } from "./shared.js";

const base = baseEnvironment("prod");

export const prod = {
  ...base,
  network: {
    vpcCidr: "10.30.0.0/16",
    azCount: 3,
    subnets: {
      public: ["10.30.0.0/24", "10.30.1.0/24", "10.30.2.0/24"],
      data: ["10.30.8.0/24", "10.30.9.0/24", "10.30.10.0/24"],
      private: ["10.30.32.0/19", "10.30.64.0/19", "10.30.96.0/19"],
    },
    natGateways: "one-per-az",
    flowLogRetentionDays: "365",
  },
  eks: {
    ...base.eks,
    publicAccessCidrs: [],
    logRetentionDays: "365",
    nodeGroups: [
      // The system and data pools' floors hold the capacity model's pods (docs/capacity.md).
      { name: "system", instanceTypes: ["m7i.xlarge", "m6i.xlarge"], capacityType: "ON_DEMAND", minSize: 4, desiredSize: 4, maxSize: 9, diskSizeGiB: 100 },
      {
        name: "data",
        instanceTypes: ["r7i.2xlarge", "r6i.2xlarge"],
        capacityType: "ON_DEMAND",
        minSize: 6,
        desiredSize: 6,
        maxSize: 12,
        diskSizeGiB: 200,
        labels: [{ key: "enchanted.io/pool", value: "data" }],
        taints: [{ key: "enchanted.io/pool", value: "data", effect: "NO_SCHEDULE" }],
      },
      {
        name: "workers",
        instanceTypes: ["m7i.2xlarge", "m6i.2xlarge"],
        capacityType: "ON_DEMAND",
        minSize: 3,
        desiredSize: 6,
        maxSize: 150,
        diskSizeGiB: 100,
        labels: [{ key: "enchanted.io/pool", value: "workers" }],
        taints: [{ key: "enchanted.io/pool", value: "workers", effect: "NO_SCHEDULE" }],
      },
    ],
  },
  foundationDb: {
    // The FoundationDB cluster's network is reached through the organization's transit gateway.
    peer: { kind: "transit-gateway", transitGatewayId: "tgw-0c1d2e3f4a5b69788" },
    cidr: "10.202.0.0/16",
    ports: [4500, 4501],
    clusterFileSecretName: "enchanted/prod/foundationdb/cluster-file",
  },
  nats: {
    // 7 servers: the agents' connections at peak, at nats-server's default max_connections
    // (docs/capacity.md).
    replicas: 7,
    storageGiB: 1_000,
    account: { maxConnections: 250_000, jetstreamMaxStorageGiB: 2_500 },
    streams: {
      events: { replicas: 3, maxAgeHours: 168, maxBytesGiB: 600, duplicateWindowSeconds: 120 },
      jobs: { replicas: 3, maxAgeHours: 72, maxBytesGiB: 50, duplicateWindowSeconds: 300 },
    },
    seedSecretPrefix: "enchanted/prod/nats",
    // Agents outside the cluster connect here (TLS to the servers through an NLB). A tenant's
    // agents run wherever the customer runs them (laptops, CI, their own clouds), so no list of
    // ranges can name them: the port is open on purpose, and every connection still needs TLS and
    // a user JWT signed for its tenant (revocable within BUS_REVOCATION_SECONDS). NATS-1 records
    // the exception. An installation whose agents have known egress ranges lists them instead.
    external: { hostname: `nats.${ORGANIZATION.dnsZone}`, allowedCidrs: ["0.0.0.0/0"], allowAnywhere: true },
    // Enterprise tenants that bought a dedicated account; everyone else is pooled.
    siloTenants: [],
    // Public nkeys from `npm run nats:bootstrap -- --env prod` (public-keys.json). Not secrets.
    // Replace them with your own bootstrap's output before the first deploy: the seeds of the
    // keys committed here were not kept, so JWTs signed for them cannot be produced.
    publicKeys: {
      operator: "OCOWHIZTR5IMPV6IK3VGHDAZ3WIE6GVFWX52RVQYD2UPEJFV5AVHBPMF",
      systemAccount: "ADUZ6PTSVLQ5XUWH7Z7JKGR7SK53FWNMF7ZOXOQDO2ELEDSQHGKEELXR",
      swarmAccount: "AAKHPIQXDLADMKHGH3HKFQBWJ24E42S7CNFSDRBR363MXKFRU5VTZBUN",
      tenantAccountSigningKey: "ODIC6RWFF7XIUM4ZYS3KB7CVYOPYZZKDUQBVFSWJ62AYFSJ6LCCESFL7",
      tenantImportSigningKey: "ADE3N42ASIWXIVNYAHLUDGEJR4MSJ5VE3VGNPZG4UP3FIP6R4ZUTLUEH",
      swarmSigningKeys: {
        free: "ADWVAQOHV4WSFAJ7JT4YRS32DCVAZKSKSXSOCJ4TEMEFRAJAMDUUAPID",
        pro: "AA2ECOYUFPWAGWWFLVVOB3FDEHPRMPXZCZ5UFULJ4YUCTSACUW53DEJ6",
        enterprise: "AD25DVAD4ZG7DMF5AE3DAVMNEQCIFRGGSAGEMXPTQBHWMDJSD3H3RL3G",
      },
      silos: {},
    },
  },
  // 8 shards, the capacity model's count for a year of every tier's retention (docs/capacity.md):
  // set before the data arrives, because the sharding key is the tenant and queries skip unused
  // shards, so adding shards later would strand a tenant's older rows. Volumes start at 750 GiB
  // (the 12,000 GiB of the earlier 6 x 2,000) and grow online toward the model's figure.
  clickhouse: { shards: 8, replicas: 2, keeperReplicas: 3, storageGiB: 750, keeperStorageGiB: 20, eventTtlDays: 365, secretPrefix: "enchanted/prod/clickhouse" },
  platformReplicas: 2,
  // Keycloak's pods: the capacity model's count for the sign-up peak (npm run capacity, docs/capacity.md).
  keycloak: { replicas: 3 },
  // The ingestor's CPU per replica: the one core the capacity model counts (bench:ingest measured its drain per core).
  ingestor: { cpuRequestMillicores: 1_000 },
  // The events API's autoscaler bounds (CPU-based).
  eventsApi: { minReplicas: 3, maxReplicas: 20 },
  gateway: { rateLimitCounters: "redis" },
  // The web console's distribution (api host): edge locations, how long its access logs and a
  // replaced asset's previous version are kept.
  console: { priceClass: "PriceClass_All", accessLogRetentionDays: 365, previousVersionRetentionDays: 30 },
  ephemeral: false,
};

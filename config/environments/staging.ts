/** staging: shaped like prod (three AZs, a NAT gateway per AZ, HA), with smaller node groups. */
import { ORGANIZATION } from "../organization.js";
import { baseEnvironment } from "./shared.js";

const base = baseEnvironment("staging");

export const staging = {
  ...base,
  network: {
    vpcCidr: "10.20.0.0/16",
    azCount: 3,
    subnets: {
      public: ["10.20.0.0/24", "10.20.1.0/24", "10.20.2.0/24"],
      data: ["10.20.8.0/24", "10.20.9.0/24", "10.20.10.0/24"],
      private: ["10.20.32.0/19", "10.20.64.0/19", "10.20.96.0/19"],
    },
    natGateways: "one-per-az",
    flowLogRetentionDays: "30",
  },
  eks: {
    ...base.eks,
    publicAccessCidrs: [],
    logRetentionDays: "30",
    nodeGroups: [
      { name: "system", instanceTypes: ["m7i.xlarge", "m6i.xlarge"], capacityType: "ON_DEMAND", minSize: 3, desiredSize: 3, maxSize: 6, diskSizeGiB: 80 },
      {
        name: "data",
        instanceTypes: ["r7i.xlarge", "r6i.xlarge"],
        capacityType: "ON_DEMAND",
        minSize: 3,
        desiredSize: 3,
        maxSize: 6,
        diskSizeGiB: 100,
        labels: [{ key: "enchanted.io/pool", value: "data" }],
        taints: [{ key: "enchanted.io/pool", value: "data", effect: "NO_SCHEDULE" }],
      },
      {
        name: "workers",
        instanceTypes: ["m7i.xlarge", "m6i.xlarge", "m5.xlarge"],
        capacityType: "SPOT",
        minSize: 0,
        desiredSize: 2,
        maxSize: 30,
        diskSizeGiB: 80,
        labels: [{ key: "enchanted.io/pool", value: "workers" }],
        taints: [{ key: "enchanted.io/pool", value: "workers", effect: "NO_SCHEDULE" }],
      },
    ],
  },
  foundationDb: {
    peer: { kind: "vpc-peering", vpcId: "vpc-0a9b8c7d6e5f40312", ownerAccountId: "444455556666", region: "eu-west-1" },
    cidr: "10.201.0.0/16",
    ports: [4500, 4501],
    clusterFileSecretName: "enchanted/staging/foundationdb/cluster-file",
  },
  nats: {
    replicas: 3,
    storageGiB: 100,
    account: { maxConnections: 50_000, jetstreamMaxStorageGiB: 250 },
    streams: {
      events: { replicas: 3, maxAgeHours: 168, maxBytesGiB: 60, duplicateWindowSeconds: 120 },
      jobs: { replicas: 3, maxAgeHours: 72, maxBytesGiB: 10, duplicateWindowSeconds: 120 },
    },
    seedSecretPrefix: "enchanted/staging/nats",
    // Agents outside the cluster connect here (TLS to the servers through an NLB). A tenant's
    // agents run wherever the customer runs them (laptops, CI, their own clouds), so no list of
    // ranges can name them: the port is open on purpose, and every connection still needs TLS and
    // a user JWT signed for its tenant (revocable within BUS_REVOCATION_SECONDS). NATS-1 records
    // the exception. An installation whose agents have known egress ranges lists them instead.
    external: { hostname: `nats.staging.${ORGANIZATION.dnsZone}`, allowedCidrs: ["0.0.0.0/0"], allowAnywhere: true },
    siloTenants: [],
    // Public nkeys from `npm run nats:bootstrap -- --env staging` (public-keys.json). Not secrets.
    // Replace them with your own bootstrap's output before the first deploy: the seeds of the
    // keys committed here were not kept, so JWTs signed for them cannot be produced.
    publicKeys: {
      operator: "OA4EZM6VUFEYDUBRVL5CZ43ZFGHLQ6R4HINDLDWVOYDUKX35LWOXLTJV",
      systemAccount: "AAMX23WD6RGCF4OVIYAOEAS2A6WGGXRQGHE5JFG4BWOLGHMPZAZOSO7T",
      swarmAccount: "AB643GCUZZRHZQ7GGCJQC74QQNFHO5OWE4SMQVJZ4VETXI5WIC432ODN",
      tenantAccountSigningKey: "OASERMR4RMGM4NOB73FFQB2VZ2SXO7F566BRRMVANCEEZT3AKYS24LHG",
      tenantImportSigningKey: "ABI2SZD3Z3WHETJW6TYQKTDRWEEKKD3NQO2W7TPS67JJSR3IM5E3XAO4",
      swarmSigningKeys: {
        free: "ACB3MO7WDGMSBTIIG7RYAG7OQY4K7ZIF546DNQGQQS5CNSFSUSHK6D4S",
        pro: "ADMRHJTT47TCH2FRHMMZR7PP6PKTWINO2W6HM4WCTFREJ3YCB7X275V7",
        enterprise: "AAJANMESM32T5RZMJ7B7TEIOO6CH5NMJTNOTJ6VQ42CRPJIGDCPWB5WA",
      },
      silos: {},
    },
  },
  clickhouse: { shards: 1, replicas: 2, keeperReplicas: 3, storageGiB: 200, keeperStorageGiB: 10, eventTtlDays: 90, secretPrefix: "enchanted/staging/clickhouse" },
  platformReplicas: 2,
  keycloak: { replicas: 2 },
  ingestor: { cpuRequestMillicores: 250 },
  // The events API's autoscaler bounds (CPU-based).
  eventsApi: { minReplicas: 2, maxReplicas: 6 },
  gateway: { rateLimitCounters: "redis" },
  // The web console's distribution (api host): edge locations, how long its access logs and a
  // replaced asset's previous version are kept.
  console: { priceClass: "PriceClass_100", accessLogRetentionDays: 90, previousVersionRetentionDays: 30 },
  ephemeral: false,
};

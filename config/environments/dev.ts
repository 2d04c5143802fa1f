/** dev: one NAT gateway, two AZs, small nodes; the only environment whose API may be opened to an allowlist. */
import { baseEnvironment } from "./shared.js";

const base = baseEnvironment("dev");

export const dev = {
  ...base,
  network: {
    vpcCidr: "10.10.0.0/16",
    azCount: 2,
    subnets: {
      public: ["10.10.0.0/24", "10.10.1.0/24"],
      data: ["10.10.8.0/24", "10.10.9.0/24"],
      private: ["10.10.32.0/19", "10.10.64.0/19"],
    },
    natGateways: "single",
    flowLogRetentionDays: "14",
  },
  eks: {
    ...base.eks,
    // Office or VPN ranges allowed to reach the dev API server; empty keeps it private.
    publicAccessCidrs: [],
    logRetentionDays: "14",
    nodeGroups: [
      { name: "system", instanceTypes: ["m7i.large", "m6i.large"], capacityType: "ON_DEMAND", minSize: 2, desiredSize: 2, maxSize: 4, diskSizeGiB: 50 },
      {
        name: "workers",
        instanceTypes: ["m7i.large", "m6i.large", "m5.large"],
        capacityType: "SPOT",
        minSize: 0,
        desiredSize: 1,
        maxSize: 6,
        diskSizeGiB: 50,
        labels: [{ key: "enchanted.io/pool", value: "workers" }],
        taints: [{ key: "enchanted.io/pool", value: "workers", effect: "NO_SCHEDULE" }],
      },
    ],
  },
  foundationDb: {
    // The existing FoundationDB cluster's VPC, peered into this one.
    peer: { kind: "vpc-peering", vpcId: "vpc-0f1e2d3c4b5a69788", ownerAccountId: "111122223333", region: "eu-west-1" },
    cidr: "10.200.0.0/16",
    ports: [4500, 4501],
    clusterFileSecretName: "enchanted/dev/foundationdb/cluster-file",
  },
  nats: {
    replicas: 1,
    storageGiB: 20,
    account: { maxConnections: 10_000, jetstreamMaxStorageGiB: 15 },
    streams: {
      events: { replicas: 1, maxAgeHours: 72, maxBytesGiB: 10, duplicateWindowSeconds: 120 },
      jobs: { replicas: 1, maxAgeHours: 24, maxBytesGiB: 2, duplicateWindowSeconds: 120 },
    },
    seedSecretPrefix: "enchanted/dev/nats",
    siloTenants: [],
    // Public nkeys from `npm run nats:bootstrap -- --env dev` (public-keys.json). Not secrets.
    // Replace them with your own bootstrap's output before the first deploy: the seeds of the
    // keys committed here were not kept, so JWTs signed for them cannot be produced.
    publicKeys: {
      operator: "OAEQ5M72EGORVFOXRYZFWM4ZXSMEKV4R5PFVFIXPBLCL5YMD3LJ7G7EK",
      systemAccount: "ABTIC3BH5N2TJB3RCMGRZZH4KY4I55MFIBE4KD7IOPR7IBCLMNLEONMA",
      swarmAccount: "AAZFD5LYAPF6W7NS2MOR47VWRHOJGBQ4H6J4QXIHGEYZIEHPVIND63V6",
      tenantAccountSigningKey: "OBBA2TQT26XLPW2GQCA57VD6EJ3EEUKKIFHV7MK6L2YSOWQVP3GY7VZ7",
      tenantImportSigningKey: "ACYKRVIVEWHC4YUEQMC6PZMVN5QDOFYMTMA5YNR6AUDCFQ5FIBK7C6TU",
      swarmSigningKeys: {
        free: "ADWTFPTGMKPYC3UNNSJGXNZDBGKCQO6KFIZG6TMQMEOCEHSNMWQXD7VM",
        pro: "AAH5R73TJTXNNDFMUQTCOMCCOCXIGPON6NEITRHEY2FL3NOTWJY6XQL4",
        enterprise: "ABMD726OX6EPGHKULL5SLGI6R2PRK675YSJACIXMUH7YSR46ITSMQJ55",
      },
      silos: {},
    },
  },
  clickhouse: { shards: 1, replicas: 1, keeperReplicas: 1, storageGiB: 50, keeperStorageGiB: 5, eventTtlDays: 30, secretPrefix: "enchanted/dev/clickhouse" },
  platformReplicas: 1,
  keycloak: { replicas: 1 },
  ingestor: { cpuRequestMillicores: 250 },
  // The events API's autoscaler bounds (CPU-based).
  eventsApi: { minReplicas: 1, maxReplicas: 3 },
  gateway: { rateLimitCounters: "local" },
  // The web console's distribution (api host): edge locations, how long its access logs and a
  // replaced asset's previous version are kept.
  console: { priceClass: "PriceClass_100", accessLogRetentionDays: 30, previousVersionRetentionDays: 7 },
  ephemeral: true,
};

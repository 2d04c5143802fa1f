/**
 * The per-environment configuration: its schema, its type and the checks that span fields
 * (CIDR overlaps, AZ count against subnet lists, prod-only requirements).
 */
import { contains, overlaps, parseCidr } from "./cidr.js";
import {
  array,
  boolean,
  integer,
  IssueCollector,
  object,
  oneOf,
  optional,
  record,
  refined,
  string,
  taggedUnion,
  type Infer,
  type Schema,
} from "./schema.js";
import { TENANT_ID_FIX, TENANT_ID_PATTERN } from "./tenancy.js";
import { EKS_VERSION } from "./versions.js";

export const ENVIRONMENT_NAMES = ["dev", "staging", "prod"] as const;
export type EnvironmentName = (typeof ENVIRONMENT_NAMES)[number];

/** Limits on the AZ count: EKS needs subnets in two AZs; six is the most any region has. */
export const MIN_AZ_COUNT = 2;
export const MAX_AZ_COUNT = 6;
/** Production spreads a 3-node NATS and ClickHouse Keeper quorum over at least three AZs. */
export const MIN_PROD_AZ_COUNT = 3;
/** A public EKS API allowlist wider than this prefix is effectively public. */
export const MIN_PUBLIC_ACCESS_PREFIX = 16;

const cidr = (what: string): Schema<string> =>
  refined(string(), (value, path, out) => {
    if (parseCidr(value)) return true;
    out.add(path, value, "not an IPv4 CIDR block with its host bits zero", `write ${what} like "10.20.0.0/16"`);
    return false;
  });

const accountId = string({ pattern: /^\d{12}$/, fix: "write the 12-digit AWS account id, quoted" });
const region = string({ pattern: /^[a-z]{2}(-gov)?-[a-z]+-\d$/, fix: 'write an AWS region such as "eu-west-1"' });
const dnsName = string({
  pattern: /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
  fix: 'write a lower-case fully qualified domain name such as "api.example.com"',
});
const roleArn = string({
  pattern: /^arn:aws(-[a-z]+)*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/,
  fix: 'write an IAM role ARN such as "arn:aws:iam::123456789012:role/platform-admin"',
});
const addonVersion = string({ pattern: /^v\d+\.\d+\.\d+-eksbuild\.\d+$/, fix: 'write an EKS add-on build such as "v1.12.1-eksbuild.2"' });
/** A tag the deploy pipeline may write: letters, digits, `_`, `.`, `-`; 1-128 characters; not "latest". */
export const IMAGE_TAG_PATTERN = /^(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const serviceImage = object({
  repository: string({ pattern: /^[a-z0-9]+([._-][a-z0-9]+)*$/, fix: "name one of ecr.repositories" }),
  tag: string({ pattern: IMAGE_TAG_PATTERN, fix: 'use an exact tag such as a release "0.1.0" or a commit SHA, never "latest"' }),
});
const chartVersion = string({ pattern: /^v?\d+\.\d+\.\d+(-[\w.]+)?$/, fix: 'pin an exact chart version such as "2.20.2" (no ranges)' });
const logRetentionDays = oneOf(
  ["1", "3", "5", "7", "14", "30", "60", "90", "120", "150", "180", "365", "400", "545", "731", "1096", "1827", "2192", "2557", "2922", "3288", "3653"] as const,
  "use a retention CloudWatch Logs accepts, as a string: 7, 14, 30, 90, 365, ...",
);

function oneOfNumbers(values: readonly number[], fix: string): Schema<number> {
  return {
    expects: `one of ${values.join(", ")}`,
    check(value, path, out): value is number {
      if (typeof value !== "number" || !values.includes(value)) {
        out.add(path, value, `expected one of ${values.join(", ")}`, fix);
        return false;
      }
      return true;
    },
  };
}

const tenantIdSchema = string({ pattern: TENANT_ID_PATTERN, fix: TENANT_ID_FIX });

const NATS_KEY_FIX = "copy the key from public-keys.json written by `npm run nats:bootstrap -- --env <env>`";
const accountKey = string({ pattern: /^A[A-Z2-7]{55}$/, fix: NATS_KEY_FIX });

/**
 * The NATS cluster sizes accepted: 1 server (dev only) or an odd quorum. 7 is the largest: every
 * server is a peer of JetStream's meta group, and streams keep at most 5 replicas.
 */
export const NATS_CLUSTER_SIZES = [1, 3, 5, 7] as const;
const NATS_CLUSTER_SIZES_FIX = "use 1 server (dev only) or an odd quorum of 3, 5 or 7";

const streamSchema = object({
  replicas: oneOfNumbers([1, 3, 5], "use 1 replica (dev only) or 3 or 5"),
  maxAgeHours: integer({ min: 1, max: 87_600 }),
  maxBytesGiB: integer({ min: 1, max: 16_384 }),
  duplicateWindowSeconds: integer({ min: 1, max: 86_400, fix: "use a duplicate window of 1 s to 1 day (JetStream dedupes by Nats-Msg-Id within it)" }),
});

const nodeGroupSchema = object({
  name: string({ pattern: /^[a-z][a-z0-9-]{0,37}[a-z0-9]$/, fix: "use 2-39 lower-case letters, digits and hyphens" }),
  instanceTypes: array(string({ pattern: /^[a-z][a-z0-9-]*\.[a-z0-9]+$/, fix: 'write an EC2 instance type such as "m7i.large"' }), {
    minLength: 1,
    unique: true,
  }),
  capacityType: oneOf(["ON_DEMAND", "SPOT"] as const),
  minSize: integer({ min: 0, max: 1000 }),
  desiredSize: integer({ min: 0, max: 1000 }),
  maxSize: integer({ min: 1, max: 1000 }),
  diskSizeGiB: integer({ min: 20, max: 16_384, fix: "give nodes a root volume of 20 GiB to 16 TiB" }),
  labels: optional(
    array(
      object({
        key: string({ pattern: /^([a-z0-9.-]+\/)?[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$/ }),
        value: string({ pattern: /^([A-Za-z0-9][-A-Za-z0-9_.]{0,61}[A-Za-z0-9]?)?$/ }),
      }),
    ),
  ),
  taints: optional(
    array(
      object({
        key: string({ pattern: /^([a-z0-9.-]+\/)?[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$/ }),
        value: string({ maxLength: 63 }),
        effect: oneOf(["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"] as const),
      }),
    ),
  ),
});

const fdbPort = integer({ min: 1, max: 65_535, fix: "use a TCP port from 1 to 65535" });

const environmentSchema = object({
  name: oneOf(ENVIRONMENT_NAMES),
  aws: object({
    region,
    accountId,
  }),
  /** Remote state: one S3 object per stack, locked with S3's native lock file. */
  stateBackend: object({
    bucket: string({ pattern: /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, fix: "use an S3 bucket name: 3-63 lower-case letters, digits, dots, hyphens" }),
    region,
    keyPrefix: string({ pattern: /^[a-z0-9][a-z0-9-/]*[a-z0-9]$/, fix: 'write a prefix without leading or trailing "/" such as "enchanted/prod"' }),
    kmsKeyArn: string({ pattern: /^arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/.+$/, fix: "write the ARN of the KMS key that encrypts the state bucket" }),
  }),
  network: object({
    vpcCidr: cidr("the VPC range"),
    azCount: integer({ min: MIN_AZ_COUNT, max: MAX_AZ_COUNT, fix: `use ${MIN_AZ_COUNT} to ${MAX_AZ_COUNT} availability zones` }),
    subnets: object({
      public: array(cidr("a public subnet")),
      private: array(cidr("a private subnet")),
      data: array(cidr("a data subnet")),
    }),
    natGateways: oneOf(["single", "one-per-az"] as const),
    flowLogRetentionDays: logRetentionDays,
  }),
  eks: object({
    version: string({ pattern: /^1\.\d{2}$/, fix: `write a Kubernetes minor such as "${EKS_VERSION}"` }),
    /** Only dev may open the API endpoint, and only to these ranges. */
    publicAccessCidrs: array(cidr("an allowlisted range"), { unique: true }),
    adminRoleArns: array(roleArn, { minLength: 1, unique: true, fix: "list at least the role your deploy pipeline uses" }),
    logRetentionDays,
    addons: object({
      vpcCni: addonVersion,
      coredns: addonVersion,
      kubeProxy: addonVersion,
      ebsCsiDriver: addonVersion,
      podIdentityAgent: addonVersion,
    }),
    nodeGroups: array(nodeGroupSchema, { minLength: 1 }),
  }),
  ecr: object({
    repositories: array(string({ pattern: /^[a-z0-9]+([._-][a-z0-9]+)*$/ }), { minLength: 1, unique: true }),
    keepTaggedImages: integer({ min: 1, max: 1000 }),
    untaggedExpiryDays: integer({ min: 1, max: 365 }),
  }),
  /**
   * The services' images: a repository of `ecr` and an exact tag (never `latest`). The deploy
   * pipeline overrides every tag with ENCHANTED_IMAGE_TAG (the commit it built).
   */
  images: object({
    ingestor: serviceImage,
    provisioning: serviceImage,
    /** The worker runtime (every tier's pool runs the same image). */
    worker: serviceImage,
    /** The events API, the tenants' read path (services/events-api). */
    eventsApi: serviceImage,
  }),
  charts: object({
    keda: chartVersion,
    nats: chartVersion,
    nack: chartVersion,
    clickhouseOperator: chartVersion,
    externalSecrets: chartVersion,
    certManager: chartVersion,
    awsLoadBalancerController: chartVersion,
    keycloakx: chartVersion,
    kongIngress: chartVersion,
  }),
  /** The customer's existing FoundationDB cluster and how the VPC reaches it. */
  foundationDb: object({
    peer: taggedUnion("kind", {
      "vpc-peering": object({
        kind: oneOf(["vpc-peering"] as const),
        vpcId: string({ pattern: /^vpc-[0-9a-f]{8,17}$/, fix: 'write the peer VPC id such as "vpc-0a1b2c3d4e5f60718"' }),
        ownerAccountId: accountId,
        region,
      }),
      "transit-gateway": object({
        kind: oneOf(["transit-gateway"] as const),
        transitGatewayId: string({ pattern: /^tgw-[0-9a-f]{8,17}$/, fix: 'write the transit gateway id such as "tgw-0a1b2c3d4e5f60718"' }),
      }),
      privatelink: object({
        kind: oneOf(["privatelink"] as const),
        serviceName: string({
          pattern: /^com\.amazonaws\.vpce\.[a-z0-9-]+\.vpce-svc-[0-9a-f]{8,17}$/,
          fix: 'write the endpoint service name such as "com.amazonaws.vpce.eu-west-1.vpce-svc-0a1b2c3d4e5f60718"',
        }),
      }),
    }),
    cidr: cidr("the FoundationDB cluster's range"),
    ports: array(fdbPort, { minLength: 1, unique: true, fix: "list the FoundationDB server ports, e.g. [4500, 4501]" }),
    clusterFileSecretName: string({ pattern: /^[A-Za-z0-9/_+=.@-]{1,512}$/, fix: "use a Secrets Manager name such as \"enchanted/prod/foundationdb/cluster-file\"" }),
  }),
  domains: object({
    api: dnsName,
    auth: dnsName,
    /**
     * The public Route 53 zone of both hosts, when this environment's account owns it: the ACM
     * validation records and the hosts' alias records to the gateway's NLB are created there.
     * Without it they are Terraform outputs for the zone's owner.
     */
    hostedZoneId: optional(string({ pattern: /^Z[A-Z0-9]{1,32}$/, fix: 'write the Route 53 hosted zone id such as "Z0123456789ABCDEFGHIJ"' })),
  }),
  /** NATS JetStream, the event bus. */
  nats: object({
    /** Servers in the cluster: 1 (dev) or an odd quorum of 3, 5 or 7 ({@link NATS_CLUSTER_SIZES}). */
    replicas: oneOfNumbers(NATS_CLUSTER_SIZES, NATS_CLUSTER_SIZES_FIX),
    /** JetStream file storage per server, on encrypted gp3. */
    storageGiB: integer({ min: 1, max: 16_384 }),
    /** Limits of the platform account SWARM (its own users: NACK, the ingestor, the workers; each tenant's account takes its limits from the tier catalog). */
    account: object({
      maxConnections: integer({ min: 1 }),
      jetstreamMaxStorageGiB: integer({ min: 1, max: 16_384 }),
    }),
    streams: object({
      events: streamSchema,
      jobs: streamSchema,
    }),
    /** Secrets Manager names of the operator, system-account and account signing-key seeds. */
    seedSecretPrefix: string({ pattern: /^[A-Za-z0-9/_+=.@-]{1,400}$/, fix: 'use a Secrets Manager path such as "enchanted/prod/nats"' }),
    /** Enterprise tenants that get a dedicated (siloed) account instead of the pooled one. */
    siloTenants: array(tenantIdSchema, { unique: true }),
    /**
     * NATS reachable from outside the cluster (agents connect with the credentials the API hands
     * out): an internet-facing NLB on the client port, TCP passed through to the servers' TLS,
     * open only to `allowedCidrs`. 0.0.0.0/0 needs `allowAnywhere: true`.
     * @default - in-cluster only
     */
    external: optional(
      object({
        /** The host name agents dial (`tls://<hostname>:4222`); the servers' certificate names it. */
        hostname: dnsName,
        /** Source ranges the load balancer admits (its `loadBalancerSourceRanges`). */
        allowedCidrs: array(cidr("a range agents connect from"), { minLength: 1, unique: true, fix: 'list the ranges agents connect from, e.g. ["203.0.113.0/24"]' }),
        /** Explicitly allow 0.0.0.0/0 in allowedCidrs (auth is still the NATS user JWTs). @default false */
        allowAnywhere: optional(boolean()),
      }),
    ),
    /** Public nkeys of the operator, accounts and signing keys (`npm run nats:bootstrap` prints them). */
    publicKeys: object({
      operator: string({ pattern: /^O[A-Z2-7]{55}$/, fix: NATS_KEY_FIX }),
      systemAccount: accountKey,
      swarmAccount: accountKey,
      tenantAccountSigningKey: string({ pattern: /^O[A-Z2-7]{55}$/, fix: NATS_KEY_FIX }),
      tenantImportSigningKey: accountKey,
      swarmSigningKeys: object({ free: accountKey, pro: accountKey, enterprise: accountKey }),
      silos: record(object({ account: accountKey, signingKey: accountKey }), { keyPattern: TENANT_ID_PATTERN, keyFix: TENANT_ID_FIX }),
    }),
  }),
  /** ClickHouse, the event store (Altinity operator). */
  clickhouse: object({
    shards: integer({ min: 1, max: 64 }),
    replicas: integer({ min: 1, max: 5 }),
    keeperReplicas: oneOfNumbers([1, 3, 5], "use 1 Keeper (dev only) or an odd quorum of 3 or 5"),
    storageGiB: integer({ min: 10, max: 65_536 }),
    keeperStorageGiB: integer({ min: 1, max: 1_024 }),
    /** Rows older than this are deleted by the table's TTL. */
    eventTtlDays: integer({ min: 1, max: 3_650 }),
    /** Secrets Manager name prefix of the ClickHouse users' passwords. */
    secretPrefix: string({ pattern: /^[A-Za-z0-9/_+=.@-]{1,400}$/, fix: 'use a Secrets Manager path such as "enchanted/prod/clickhouse"' }),
  }),
  /**
   * Replicas of the platform's stateless controllers and services: the operators, Kong, Keycloak's
   * Aurora instances, and the minimum of the ingestor and the provisioning service. 1 saves cost
   * (dev); 2 or more survive a node or a zone. Keycloak's pods are `keycloak.replicas`.
   */
  platformReplicas: integer({ min: 1, max: 5, fix: "use 1 (no availability, dev) or 2 and more" }),
  /**
   * Keycloak, the identity provider (constructs/keycloak). `replicas`: its pods, each on a node of
   * its own (the chart's anti-affinity) and spread over zones. Outside dev at least two, so a node
   * or a zone can go; prod runs the capacity model's count for the sign-up peak (docs/capacity.md).
   */
  keycloak: object({
    replicas: integer({ min: 1, max: 10, fix: "run 1 Keycloak replica (dev only) to 10; prod runs the capacity model's count (npm run capacity)" }),
  }),
  /**
   * The ingestor (SWARM_EVENTS → ClickHouse, constructs/ingestor.ts). `cpuRequestMillicores`: the
   * CPU each replica requests. The capacity model counts one core (1000) per replica, the unit
   * bench:ingest measured its drain in, so prod requests that and its node count holds.
   */
  ingestor: object({
    cpuRequestMillicores: integer({ min: 100, max: 8_000, fix: "request 100 to 8000 millicores per replica (1000 is the one core the capacity model counts)" }),
  }),
  /**
   * The events API (the tenants' read path): the bounds of its HorizontalPodAutoscaler, which
   * scales it on CPU. Outside dev at least two replicas, so a node or a zone can go.
   */
  eventsApi: object({
    minReplicas: integer({ min: 1, max: 50, fix: "run 1 replica (dev only) to 50 at least" }),
    maxReplicas: integer({ min: 1, max: 200, fix: "let the autoscaler run 1 to 200 replicas at most" }),
  }),
  /**
   * The web console (constructs/console): static assets served on the API's own origin
   * (`https://<domains.api>`) by a CloudFront distribution, which also passes `/v1/*` and
   * `/.well-known/*` to the gateway. What the assets are is the deploy workflow's; these are the
   * distribution's knobs.
   */
  console: object({
    /** CloudFront's edge locations: `PriceClass_100` (North America, Europe), `PriceClass_200` (and most of Asia), `PriceClass_All`. */
    priceClass: oneOf(["PriceClass_100", "PriceClass_200", "PriceClass_All"] as const, 'use "PriceClass_100" (North America and Europe), "PriceClass_200" or "PriceClass_All" (every edge location)'),
    /** Days the distribution's access logs are kept in the console's log bucket. */
    accessLogRetentionDays: integer({ min: 1, max: 3_653, fix: "keep the access logs 1 day to 10 years" }),
    /** Days a replaced or deleted asset's previous version is kept (a rollback's window). */
    previousVersionRetentionDays: integer({ min: 1, max: 365, fix: "keep replaced assets 1 to 365 days" }),
    /**
     * A WAF web ACL to attach (scope CLOUDFRONT, so in us-east-1, in this environment's account):
     * e.g. the organization's Firewall Manager ACL.
     * @default - none: the gateway's per-user and per-tenant limits guard the API
     */
    webAclArn: optional(
      string({
        pattern: /^arn:aws:wafv2:us-east-1:\d{12}:global\/webacl\/[\w-]{1,128}\/[0-9a-f-]{36}$/,
        fix: 'write the ARN of a CLOUDFRONT-scope web ACL, such as "arn:aws:wafv2:us-east-1:123456789012:global/webacl/console/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"',
      }),
    ),
  }),
  /** The API gateway. */
  gateway: object({
    /**
     * Where Kong keeps the per-tenant rate-limit counters: `local` to each Kong pod (the limits
     * then hold per pod), or `redis`, shared by every pod in an ElastiCache Redis this stack creates.
     */
    rateLimitCounters: oneOf(["local", "redis"] as const, 'use "redis" where several Kong pods must share one limit, "local" for a single-pod dev gateway'),
  }),
  /** Whether this environment may be destroyed without a second thought (dev). */
  ephemeral: boolean(),
});

export type EnvironmentConfig = Infer<typeof environmentSchema>;
export type NodeGroupConfig = EnvironmentConfig["eks"]["nodeGroups"][number];
export type FoundationDbPeer = EnvironmentConfig["foundationDb"]["peer"];

/** Checks a raw environment config, field by field and then across fields. */
export function checkEnvironment(raw: unknown, expectedName: string, out: IssueCollector): raw is EnvironmentConfig {
  if (!environmentSchema.check(raw, "", out)) return false;
  const env = raw;
  if (env.name !== expectedName) {
    out.add("name", env.name, `does not match the file it is loaded as ("${expectedName}")`, `set name to "${expectedName}"`);
  }
  checkNetwork(env, out);
  checkEks(env, out);
  checkDataPlane(env, out);
  checkEventsApi(env, out);
  checkKeycloak(env, out);
  checkConsole(env, out);
  for (const [service, image] of Object.entries(env.images)) {
    if (!env.ecr.repositories.includes(image.repository)) {
      out.add(`images.${service}.repository`, image.repository, "is not a repository this environment's registry creates", `add it to ecr.repositories or use one of ${env.ecr.repositories.join(", ")}`);
    }
  }
  return out.issues.length === 0;
}

function checkNetwork(env: EnvironmentConfig, out: IssueCollector): void {
  const n = env.network;
  if (env.name === "prod" && n.azCount < MIN_PROD_AZ_COUNT) {
    out.add("network.azCount", n.azCount, `prod needs at least ${MIN_PROD_AZ_COUNT} availability zones for its 3-node quorums`, `set network.azCount to ${MIN_PROD_AZ_COUNT} or more`);
  }
  if (env.name === "prod" && n.natGateways !== "one-per-az") {
    out.add("network.natGateways", n.natGateways, "prod must survive the loss of one AZ's NAT gateway", 'set network.natGateways to "one-per-az"');
  }
  const vpc = parseCidr(n.vpcCidr);
  if (!vpc) return;
  if (vpc.prefix < 16 || vpc.prefix > 22) {
    out.add("network.vpcCidr", n.vpcCidr, "VPC ranges must be /16 to /22 (AWS allows /16 at most; EKS pods need room)", "use a /16 to /22 range");
  }
  const all: { path: string; text: string }[] = [];
  for (const tier of ["public", "private", "data"] as const) {
    const list = n.subnets[tier];
    if (list.length !== n.azCount) {
      out.add(`network.subnets.${tier}`, list, `has ${list.length} subnets for ${n.azCount} availability zones`, `list exactly one ${tier} subnet per AZ (${n.azCount})`);
    }
    list.forEach((text, i) => all.push({ path: `network.subnets.${tier}[${i}]`, text }));
  }
  for (const s of all) {
    const c = parseCidr(s.text);
    if (c && !contains(vpc, c)) {
      out.add(s.path, s.text, `lies outside network.vpcCidr (${n.vpcCidr})`, "carve every subnet out of the VPC range");
    }
  }
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i] as { path: string; text: string };
      const b = all[j] as { path: string; text: string };
      const ca = parseCidr(a.text);
      const cb = parseCidr(b.text);
      if (ca && cb && overlaps(ca, cb)) {
        out.add(b.path, b.text, `overlaps ${a.path} (${a.text})`, "give every subnet its own range inside network.vpcCidr");
      }
    }
  }
  const fdb = parseCidr(env.foundationDb.cidr);
  if (fdb && overlaps(vpc, fdb)) {
    out.add("foundationDb.cidr", env.foundationDb.cidr, `overlaps network.vpcCidr (${n.vpcCidr}); peered or routed networks must not overlap`, "choose a VPC range that does not overlap the FoundationDB network");
  }
}

function checkEks(env: EnvironmentConfig, out: IssueCollector): void {
  const e = env.eks;
  const kubeProxyMinor = /^v(\d+\.\d+)\./.exec(e.addons.kubeProxy)?.[1];
  if (kubeProxyMinor !== e.version) {
    out.add("eks.addons.kubeProxy", e.addons.kubeProxy, `is built for Kubernetes ${kubeProxyMinor ?? "?"}, the cluster runs ${e.version}`, `pin a kube-proxy build for ${e.version} (aws eks describe-addon-versions --addon-name kube-proxy --kubernetes-version ${e.version})`);
  }
  if (e.publicAccessCidrs.length > 0 && env.name !== "dev") {
    out.add("eks.publicAccessCidrs", e.publicAccessCidrs, `${env.name}'s API endpoint must stay private`, "leave eks.publicAccessCidrs empty and reach the API through the VPC (VPN, bastion or CI runners in the VPC)");
  }
  e.publicAccessCidrs.forEach((text, i) => {
    const c = parseCidr(text);
    if (c && c.prefix < MIN_PUBLIC_ACCESS_PREFIX) {
      out.add(`eks.publicAccessCidrs[${i}]`, text, `a /${c.prefix} allowlist is effectively public`, `list specific office or VPN ranges of /${MIN_PUBLIC_ACCESS_PREFIX} or narrower; never 0.0.0.0/0`);
    }
  });
  const names = new Set<string>();
  e.nodeGroups.forEach((g, i) => {
    const p = `eks.nodeGroups[${i}]`;
    if (names.has(g.name)) out.add(`${p}.name`, g.name, "duplicate node group name", "give every node group its own name");
    names.add(g.name);
    if (g.minSize > g.maxSize) out.add(`${p}.minSize`, g.minSize, `exceeds maxSize (${g.maxSize})`, "set minSize <= desiredSize <= maxSize");
    if (g.desiredSize < g.minSize || g.desiredSize > g.maxSize) {
      out.add(`${p}.desiredSize`, g.desiredSize, `is outside [minSize ${g.minSize}, maxSize ${g.maxSize}]`, "set minSize <= desiredSize <= maxSize");
    }
  });
  if (env.name === "prod" && !e.nodeGroups.some((g) => g.capacityType === "ON_DEMAND" && g.minSize >= MIN_PROD_AZ_COUNT)) {
    out.add("eks.nodeGroups", e.nodeGroups.map((g) => g.name), `prod needs an ON_DEMAND node group with minSize >= ${MIN_PROD_AZ_COUNT} for system pods`, "add or resize an ON_DEMAND system node group");
  }
}

/** The events API's replica bounds: an autoscaler with room to move, and availability outside dev. */
function checkEventsApi(env: EnvironmentConfig, out: IssueCollector): void {
  const e = env.eventsApi;
  if (e.maxReplicas < e.minReplicas) {
    out.add("eventsApi.maxReplicas", e.maxReplicas, `is below eventsApi.minReplicas (${e.minReplicas})`, "raise eventsApi.maxReplicas or lower eventsApi.minReplicas");
  }
  if (env.name !== "dev" && e.minReplicas < 2) {
    out.add("eventsApi.minReplicas", e.minReplicas, `${env.name} must keep serving tenants' reads while a node or a zone is lost`, "run at least 2 replicas");
  }
}

/**
 * Keycloak's replicas: availability outside dev, and no more than the nodes it may run on (the
 * keycloakx chart's default affinity requires a node of its own for each replica; the tainted
 * data and worker pools take none).
 */
function checkKeycloak(env: EnvironmentConfig, out: IssueCollector): void {
  const replicas = env.keycloak.replicas;
  if (env.name !== "dev" && replicas < 2) {
    out.add("keycloak.replicas", replicas, `${env.name} must keep signing users in while a node or a zone is lost`, "run at least 2 Keycloak replicas");
  }
  const open = env.eks.nodeGroups.filter((g) => !(g.taints ?? []).some((t) => t.effect === "NO_SCHEDULE" || t.effect === "NO_EXECUTE"));
  const nodes = open.reduce((sum, g) => sum + g.maxSize, 0);
  if (replicas > nodes) {
    out.add(
      "keycloak.replicas",
      replicas,
      `exceeds the ${nodes} node(s) Keycloak may run on (the maxSize of the untainted node groups: ${open.map((g) => g.name).join(", ") || "none"}); each replica needs a node of its own`,
      `run at most ${nodes} Keycloak replicas, or raise the maxSize of an untainted node group`,
    );
  }
}

/** The console's web ACL belongs to this environment's account (CloudFront attaches no other account's). */
function checkConsole(env: EnvironmentConfig, out: IssueCollector): void {
  const acl = env.console.webAclArn;
  const account = acl?.split(":")[4];
  if (acl !== undefined && account !== env.aws.accountId) {
    out.add("console.webAclArn", acl, `is in account ${account}, not this environment's (${env.aws.accountId})`, "create the web ACL (scope CLOUDFRONT) in this environment's account, or leave console.webAclArn out");
  }
}

function checkDataPlane(env: EnvironmentConfig, out: IssueCollector): void {
  const n = env.nats;
  if (env.name !== "dev") {
    if (n.replicas < 3) out.add("nats.replicas", n.replicas, `${env.name} needs a quorum`, "run 3, 5 or 7 NATS servers");
    if (env.clickhouse.keeperReplicas < 3) out.add("clickhouse.keeperReplicas", env.clickhouse.keeperReplicas, `${env.name} needs a Keeper quorum`, "run 3 or 5 Keeper replicas");
    if (env.clickhouse.replicas < 2) out.add("clickhouse.replicas", env.clickhouse.replicas, `${env.name} must survive the loss of one ClickHouse replica`, "run at least 2 replicas per shard");
  }
  for (const [name, stream] of Object.entries(n.streams)) {
    if (stream.replicas > n.replicas) {
      out.add(`nats.streams.${name}.replicas`, stream.replicas, `exceeds the number of NATS servers (${n.replicas})`, `use at most ${n.replicas} stream replicas`);
    }
  }
  const silos = Object.keys(n.publicKeys.silos);
  for (const tenant of n.siloTenants) {
    if (!silos.includes(tenant)) {
      out.add(`nats.publicKeys.silos.${tenant}`, undefined, "a silo tenant needs its account and signing key", "run `npm run nats:bootstrap` and copy the tenant's keys from public-keys.json");
    }
  }
  for (const tenant of silos) {
    if (!n.siloTenants.includes(tenant)) out.add(`nats.publicKeys.silos.${tenant}`, n.publicKeys.silos[tenant], "is not in nats.siloTenants", "remove the keys or add the tenant to nats.siloTenants");
  }
  const external = n.external;
  if (external) {
    external.allowedCidrs.forEach((c, i) => {
      if (c === "0.0.0.0/0" && external.allowAnywhere !== true) {
        out.add(`nats.external.allowedCidrs[${i}]`, c, "opens the NATS client port to the whole internet", "list the ranges agents connect from, or set nats.external.allowAnywhere: true to accept it");
      }
    });
  }
  const streamBytes = Object.values(n.streams).reduce((sum, s) => sum + s.maxBytesGiB * s.replicas, 0);
  if (streamBytes > n.storageGiB * n.replicas) {
    out.add("nats.streams", streamBytes, `stream copies need ${streamBytes} GiB but the cluster has ${n.storageGiB * n.replicas} GiB`, "lower maxBytesGiB or raise nats.storageGiB");
  }
  if (n.account.jetstreamMaxStorageGiB > n.storageGiB * n.replicas) {
    out.add("nats.account.jetstreamMaxStorageGiB", n.account.jetstreamMaxStorageGiB, `exceeds the cluster's JetStream storage (${n.storageGiB * n.replicas} GiB)`, "lower it or raise nats.storageGiB");
  }
}

/**
 * ElastiCache Redis for in-VPC clients: a subnet group, a security group that admits 6379 from the
 * given CIDRs only, and a multi-AZ replication group with automatic failover, TLS required, at-rest
 * encryption with a customer key and an auth token that Secrets Manager generates once into a
 * {@link ManagedSecret} (Terraform never regenerates it: ignore_changes). The token lives in the
 * (encrypted) state and the secret, never in the synthesized JSON.
 *
 * {@link addElastiCacheRedis} adds the resources to the caller's construct, under ids derived from
 * one id (`<id>`, `<id>-subnets`, `<id>-sg`, `<id>-auth-token`, ...), so a component that owns its
 * cache keeps its Terraform addresses.
 */
import { DataAwsSecretsmanagerRandomPassword } from "@cdktf/provider-aws/lib/data-aws-secretsmanager-random-password/index.js";
import { ElasticacheReplicationGroup } from "@cdktf/provider-aws/lib/elasticache-replication-group/index.js";
import { ElasticacheSubnetGroup } from "@cdktf/provider-aws/lib/elasticache-subnet-group/index.js";
import { SecretsmanagerSecretVersion } from "@cdktf/provider-aws/lib/secretsmanager-secret-version/index.js";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group/index.js";
import type { Construct } from "constructs";
import { propFail, scopeLabel } from "../core/validation.js";
import { ManagedSecret } from "../external-secrets.js";
import type { IKmsKey } from "../kms-key.js";

/** Port of ElastiCache Redis. */
export const REDIS_PORT = 6379;

const DEFAULT_NODE_TYPE = "cache.t4g.small";
const DEFAULT_ENGINE_VERSION = "7.1";
const DEFAULT_NODES = 2;
const AUTH_TOKEN_LENGTH = 64;
/** ElastiCache's limit on a replication group id; a longer one is cut. */
const REPLICATION_GROUP_ID_MAX = 40;

export interface ElastiCacheRedisProps {
  /** Name of the subnet group and the security group, and the `Name` tag, e.g. `enchanted-prod-kong-redis`. */
  readonly name: string;
  /** Replication group id (cut to 40 characters), e.g. `enchanted-prod-kong`. */
  readonly replicationGroupId: string;
  /** What the cache holds: the replication group's description. */
  readonly description: string;
  /** @default - `<name>: subnets` */
  readonly subnetGroupDescription?: string;
  /** @default - `<name>: 6379 from the clients' CIDRs only` */
  readonly securityGroupDescription?: string;
  readonly vpcId: string;
  /** Subnets of the nodes (the data subnets). */
  readonly subnetIds: readonly string[];
  /** Where the clients are: the only sources allowed on 6379. */
  readonly clientCidrs: readonly string[];
  /** @default "Redis from the clients' CIDRs" */
  readonly clientRuleDescription?: string;
  /** Key of at-rest encryption. */
  readonly key: IKmsKey;
  /** The Secrets Manager secret the auth token is generated into. */
  readonly authToken: { readonly secretName: string; readonly description: string; readonly key: IKmsKey };
  /** @default "cache.t4g.small" */
  readonly nodeType?: string;
  /** Nodes: one primary and replicas in other AZs (2 to 6). @default 2 */
  readonly nodes?: number;
  /** @default "7.1" */
  readonly engineVersion?: string;
}

/** What {@link addElastiCacheRedis} created. */
export interface ElastiCacheRedis {
  readonly replicationGroup: ElasticacheReplicationGroup;
  readonly securityGroup: SecurityGroup;
  /** The secret holding the auth token (clients read it, e.g. through External Secrets). */
  readonly authTokenSecret: ManagedSecret;
  /** The primary endpoint's host name (TLS, {@link REDIS_PORT}). */
  readonly primaryEndpointAddress: string;
}

/** Adds a Redis replication group (`<id>`) and what it needs to `scope`; see the module comment. */
export function addElastiCacheRedis(scope: Construct, id: string, props: ElastiCacheRedisProps): ElastiCacheRedis {
  const fail = propFail(`${scopeLabel(scope)}/${id}`);
  const nodes = props.nodes ?? DEFAULT_NODES;
  if (!Number.isInteger(nodes) || nodes < 2 || nodes > 6) {
    fail("nodes", nodes, "must be 2 to 6 (a primary and at least one replica for failover)", "use 2 or 3");
  }
  if (props.clientCidrs.length === 0) {
    fail("clientCidrs", props.clientCidrs, "is empty, so no client could reach Redis", "pass the CIDRs of the subnets the clients run in (for pods: the private subnets)");
  }

  const authTokenSecret = new ManagedSecret(scope, `${id}-auth-token`, {
    name: props.authToken.secretName,
    description: props.authToken.description,
    key: props.authToken.key,
  });
  // Secrets Manager generates the token once; Terraform never regenerates it (ignore_changes).
  const random = new DataAwsSecretsmanagerRandomPassword(scope, `${id}-auth-token-random`, {
    passwordLength: AUTH_TOKEN_LENGTH,
    excludePunctuation: true,
  });
  const tokenVersion = new SecretsmanagerSecretVersion(scope, `${id}-auth-token-value`, {
    secretId: authTokenSecret.arn,
    secretString: random.randomPassword,
    lifecycle: { ignoreChanges: ["secret_string"] },
  });
  const subnets = new ElasticacheSubnetGroup(scope, `${id}-subnets`, {
    name: props.name,
    description: props.subnetGroupDescription ?? `${props.name}: subnets`,
    subnetIds: [...props.subnetIds],
  });
  const securityGroup = new SecurityGroup(scope, `${id}-sg`, {
    name: props.name,
    description: props.securityGroupDescription ?? `${props.name}: ${REDIS_PORT} from the clients' CIDRs only`,
    vpcId: props.vpcId,
    ingress: [
      {
        description: props.clientRuleDescription ?? "Redis from the clients' CIDRs",
        protocol: "tcp",
        fromPort: REDIS_PORT,
        toPort: REDIS_PORT,
        cidrBlocks: [...props.clientCidrs],
      },
    ],
    tags: { Name: props.name },
  });
  const replicationGroup = new ElasticacheReplicationGroup(scope, id, {
    replicationGroupId: props.replicationGroupId.slice(0, REPLICATION_GROUP_ID_MAX),
    description: props.description,
    engine: "redis",
    engineVersion: props.engineVersion ?? DEFAULT_ENGINE_VERSION,
    nodeType: props.nodeType ?? DEFAULT_NODE_TYPE,
    numCacheClusters: nodes,
    automaticFailoverEnabled: true,
    multiAzEnabled: true,
    port: REDIS_PORT,
    subnetGroupName: subnets.name,
    securityGroupIds: [securityGroup.id],
    atRestEncryptionEnabled: "true",
    kmsKeyId: props.key.keyArn,
    transitEncryptionEnabled: true,
    transitEncryptionMode: "required",
    authToken: tokenVersion.secretString,
    autoMinorVersionUpgrade: "true",
    tags: { Name: props.name },
  });
  return { replicationGroup, securityGroup, authTokenSecret, primaryEndpointAddress: replicationGroup.primaryEndpointAddress };
}

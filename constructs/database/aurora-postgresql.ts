/**
 * An application's own Aurora PostgreSQL cluster (Serverless v2), private and encrypted, whose
 * master password RDS generates, keeps in Secrets Manager and rotates. Keycloak's database is one
 * (keycloak/platform.ts); the application's names and engine pins are props.
 */
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group/index.js";
import { DbSubnetGroup } from "@cdktf/provider-aws/lib/db-subnet-group/index.js";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role/index.js";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy/index.js";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment/index.js";
import { RdsCluster } from "@cdktf/provider-aws/lib/rds-cluster/index.js";
import { RdsClusterInstance } from "@cdktf/provider-aws/lib/rds-cluster-instance/index.js";
import { RdsClusterParameterGroup } from "@cdktf/provider-aws/lib/rds-cluster-parameter-group/index.js";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group/index.js";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule/index.js";
import { Token } from "cdktf";
import { Construct } from "constructs";
import { propFail } from "../core/validation.js";
import { serviceTrustPolicy } from "../iam.js";
import type { IKmsKey } from "../kms-key.js";
import type { INetwork } from "../network.js";

/** PostgreSQL's port. */
export const POSTGRES_PORT = 5432;

export interface AuroraPostgresProps {
  /** Cluster identifier and prefix of its resources, e.g. `enchanted-prod-keycloak`. */
  readonly name: string;
  /** The VPC and its data subnets, where the cluster lives. */
  readonly network: INetwork;
  /** CIDRs of the private (node and pod) subnets: the only sources allowed on the port. */
  readonly clientCidrs: readonly string[];
  /** Customer key for storage, the master-user secret and Performance Insights. */
  readonly key: IKmsKey;
  /** The AWS account, the only one on whose behalf RDS may assume the enhanced-monitoring role. */
  readonly accountId: string;
  /**
   * Where the PostgreSQL log goes: the CloudWatch Logs group RDS exports it to is created here
   * first, encrypted with this key (one CloudWatch Logs may use) and kept this many days.
   */
  readonly logs: { readonly key: IKmsKey; readonly retentionDays: number };
  /** The database Aurora creates, e.g. `keycloak`. */
  readonly databaseName: string;
  /** The master user Aurora creates (its password is RDS-managed). */
  readonly username: string;
  /** Aurora PostgreSQL engine version, e.g. `16.8`. */
  readonly engineVersion: string;
  /** Family of the cluster parameter group, matching the engine's major version, e.g. `aurora-postgresql16`. */
  readonly parameterGroupFamily: string;
  /**
   * IAM roles (by name) that may read the master-user secret (the External Secrets operator's):
   * one inline policy on each.
   */
  readonly secretReaderRoleNames: readonly string[];
  /**
   * The read statement: its Sid, and other secrets the same roles read next to the master secret
   * (the application's own).
   * @default - Sid `ReadMasterUserSecret`, the master secret only
   */
  readonly readerStatement?: { readonly sid: string; readonly otherSecretArns: readonly string[] };
  /** @default POSTGRES_PORT (5432) */
  readonly port?: number;
  /** Cluster instances: a writer plus readers in other AZs. @default 2 */
  readonly instances?: number;
  /** Serverless v2 capacity. @default 0.5 */
  readonly minCapacityAcu?: number;
  /** @default 8 */
  readonly maxCapacityAcu?: number;
  /** Days of automated backups. @default 14 */
  readonly backupRetentionDays?: number;
  /** Blocks deletion of the cluster and takes a final snapshot. @default true */
  readonly deletionProtection?: boolean;
  /** Allows IAM database authentication next to the password. @default false */
  readonly iamAuthentication?: boolean;
}

const DEFAULTS = {
  instances: 2,
  minCapacityAcu: 0.5,
  maxCapacityAcu: 8,
  backupRetentionDays: 14,
  deletionProtection: true,
  iamAuthentication: false,
  readerStatementSid: "ReadMasterUserSecret",
} as const;
/** Days Performance Insights keeps data (the free tier). */
const PERFORMANCE_INSIGHTS_RETENTION_DAYS = 7;
/** Seconds between Enhanced Monitoring samples (the OS metrics Performance Insights lacks). */
const ENHANCED_MONITORING_INTERVAL_SECONDS = 60;
/** AWS's managed policy for the Enhanced Monitoring role: writes the RDSOSMetrics log group only. */
const ENHANCED_MONITORING_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole";

/**
 * Aurora PostgreSQL (Serverless v2): encrypted with the customer key, in the data subnets,
 * reachable on its port from the client CIDRs only, never public, TLS-only; the master password
 * generated, stored and rotated by RDS in Secrets Manager (encrypted with the same key) and
 * readable by the named roles; automated backups, deletion protection, encrypted Performance
 * Insights and Enhanced Monitoring on every instance; the PostgreSQL log exported to an encrypted
 * log group with a retention.
 */
export class AuroraPostgres extends Construct {
  readonly cluster: RdsCluster;
  readonly endpoint: string;
  readonly readerEndpoint: string;
  readonly port: number;
  readonly databaseName: string;
  readonly username: string;
  /** ARN of the RDS-managed secret with the master credentials (rotated by RDS). */
  readonly masterUserSecretArn: string;
  readonly securityGroupId: string;

  constructor(scope: Construct, id: string, props: AuroraPostgresProps) {
    super(scope, id);
    const port = props.port ?? POSTGRES_PORT;
    const instances = props.instances ?? DEFAULTS.instances;
    const minCapacity = props.minCapacityAcu ?? DEFAULTS.minCapacityAcu;
    const maxCapacity = props.maxCapacityAcu ?? DEFAULTS.maxCapacityAcu;
    const backupRetentionDays = props.backupRetentionDays ?? DEFAULTS.backupRetentionDays;
    const deletionProtection = props.deletionProtection ?? DEFAULTS.deletionProtection;
    checkProps(this, props, { instances, minCapacity, maxCapacity, backupRetentionDays });

    const subnets = new DbSubnetGroup(this, "subnets", {
      name: props.name,
      description: `Data subnets of ${props.name}`,
      subnetIds: [...props.network.dataSubnetIds],
    });
    const sg = new SecurityGroup(this, "security-group", {
      name: `${props.name}-db`,
      description: `PostgreSQL of ${props.name}, from the private subnets only`,
      vpcId: props.network.vpcId,
      // No egress: the database opens no connections.
      tags: { Name: `${props.name}-db` },
    });
    props.clientCidrs.forEach((cidr, i) => {
      new VpcSecurityGroupIngressRule(this, `postgres-from-private-${i}`, {
        securityGroupId: sg.id,
        description: "PostgreSQL from a private subnet (EKS nodes and pods)",
        ipProtocol: "tcp",
        fromPort: port,
        toPort: port,
        cidrIpv4: cidr,
      });
    });
    const parameters = new RdsClusterParameterGroup(this, "parameters", {
      name: props.name,
      family: props.parameterGroupFamily,
      description: `TLS-only connections to ${props.name}`,
      parameter: [{ name: "rds.force_ssl", value: "1" }],
    });

    // RDS exports the PostgreSQL log here; creating the group first gives it a key and a retention
    // (RDS would create it unencrypted, kept forever).
    const logGroup = new CloudwatchLogGroup(this, "postgresql-logs", {
      name: `/aws/rds/cluster/${props.name}/postgresql`,
      retentionInDays: props.logs.retentionDays,
      kmsKeyId: props.logs.key.keyArn,
    });

    this.cluster = new RdsCluster(this, "cluster", {
      clusterIdentifier: props.name,
      engine: "aurora-postgresql",
      engineMode: "provisioned",
      engineVersion: props.engineVersion,
      databaseName: props.databaseName,
      masterUsername: props.username,
      // RDS generates the password, keeps it in Secrets Manager under this key and rotates it
      // (every 7 days); no password ever reaches Terraform.
      manageMasterUserPassword: true,
      masterUserSecretKmsKeyId: props.key.keyArn,
      storageEncrypted: true,
      kmsKeyId: props.key.keyArn,
      dbSubnetGroupName: subnets.name,
      vpcSecurityGroupIds: [sg.id],
      dbClusterParameterGroupName: parameters.name,
      port,
      serverlessv2ScalingConfiguration: { minCapacity, maxCapacity },
      backupRetentionPeriod: backupRetentionDays,
      preferredBackupWindow: "02:00-03:00",
      preferredMaintenanceWindow: "sun:03:30-sun:04:30",
      copyTagsToSnapshot: true,
      deletionProtection,
      skipFinalSnapshot: !deletionProtection,
      ...(deletionProtection ? { finalSnapshotIdentifier: `${props.name}-final` } : {}),
      iamDatabaseAuthenticationEnabled: props.iamAuthentication ?? DEFAULTS.iamAuthentication,
      enabledCloudwatchLogsExports: ["postgresql"],
      tags: { Name: props.name },
      dependsOn: [logGroup],
    });
    // Enhanced Monitoring: OS metrics (CPU steal, memory, processes) of every instance, which
    // Performance Insights does not show; RDS publishes them with this role.
    const monitoringRole = new IamRole(this, "monitoring-role", {
      name: `${props.name}-rds-monitoring`,
      description: `RDS Enhanced Monitoring of ${props.name}`,
      assumeRolePolicy: serviceTrustPolicy("monitoring.rds.amazonaws.com", props.accountId),
    });
    new IamRolePolicyAttachment(this, "monitoring-policy", { role: monitoringRole.name, policyArn: ENHANCED_MONITORING_POLICY_ARN });
    for (let i = 0; i < instances; i++) {
      new RdsClusterInstance(this, `instance-${i}`, {
        identifier: `${props.name}-${i}`,
        clusterIdentifier: this.cluster.id,
        instanceClass: "db.serverless",
        engine: this.cluster.engine,
        engineVersion: this.cluster.engineVersion,
        dbSubnetGroupName: subnets.name,
        publiclyAccessible: false,
        autoMinorVersionUpgrade: true,
        performanceInsightsEnabled: true,
        performanceInsightsKmsKeyId: props.key.keyArn,
        performanceInsightsRetentionPeriod: PERFORMANCE_INSIGHTS_RETENTION_DAYS,
        monitoringInterval: ENHANCED_MONITORING_INTERVAL_SECONDS,
        monitoringRoleArn: monitoringRole.arn,
        promotionTier: i,
        tags: { Name: `${props.name}-${i}` },
      });
    }

    this.masterUserSecretArn = this.cluster.masterUserSecret.get(0).secretArn;
    const statement = props.readerStatement ?? { sid: DEFAULTS.readerStatementSid, otherSecretArns: [] };
    props.secretReaderRoleNames.forEach((roleName, i) => {
      new IamRolePolicy(this, `read-secrets-${i}`, {
        role: roleName,
        name: `read-${props.name}-secrets`,
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: statement.sid,
              Effect: "Allow",
              Action: ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
              Resource: [this.masterUserSecretArn, ...statement.otherSecretArns],
            },
            { Sid: "DecryptThem", Effect: "Allow", Action: ["kms:Decrypt"], Resource: props.key.keyArn },
          ],
        }),
      });
    });
    this.endpoint = this.cluster.endpoint;
    this.readerEndpoint = this.cluster.readerEndpoint;
    this.port = port;
    this.databaseName = props.databaseName;
    this.username = props.username;
    this.securityGroupId = sg.id;
  }
}

function checkProps(
  scope: Construct,
  props: AuroraPostgresProps,
  v: { readonly instances: number; readonly minCapacity: number; readonly maxCapacity: number; readonly backupRetentionDays: number },
): void {
  const fail = propFail(scope);
  if (!Token.isUnresolved(props.name) && !/^[a-z][a-z0-9-]{0,50}[a-z0-9]$/.test(props.name)) {
    fail("name", props.name, "is not a valid RDS cluster identifier", "use lower-case letters, digits and hyphens, starting with a letter");
  }
  if (!Number.isInteger(v.instances) || v.instances < 1 || v.instances > 15) fail("instances", v.instances, "is not 1 to 15", "use 1 (dev) or 2+ for a reader in another AZ");
  if (!(v.minCapacity >= 0 && v.maxCapacity <= 256 && v.minCapacity <= v.maxCapacity && v.maxCapacity >= 1)) {
    fail("minCapacityAcu/maxCapacityAcu", [v.minCapacity, v.maxCapacity], "is not a Serverless v2 range", "use 0 <= min <= max <= 256 ACU, max >= 1");
  }
  if (!Number.isInteger(v.backupRetentionDays) || v.backupRetentionDays < 1 || v.backupRetentionDays > 35) {
    fail("backupRetentionDays", v.backupRetentionDays, "is outside 1-35", "keep 1 to 35 days of backups (RDS limits)");
  }
  if (props.clientCidrs.length === 0) fail("clientCidrs", props.clientCidrs, "is empty", "pass the private subnets' CIDRs (config network.subnets.private)");
  if (props.clientCidrs.some((c) => !Token.isUnresolved(c) && (c === "0.0.0.0/0" || !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(c)))) {
    fail("clientCidrs", props.clientCidrs, "contains a range that is not a private subnet", "pass the private subnets' CIDRs only");
  }
  if (props.secretReaderRoleNames.length === 0) {
    fail("secretReaderRoleNames", props.secretReaderRoleNames, "is empty", "pass the External Secrets operator's role name");
  }
}

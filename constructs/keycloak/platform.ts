/** Keycloak's AWS side (platform stack): its Aurora PostgreSQL and its empty Secrets Manager containers. */
import type { RdsCluster } from "@cdktf/provider-aws/lib/rds-cluster/index.js";
import { Construct } from "constructs";
import { KEYCLOAK_PINS } from "../../config/versions.js";
import { AuroraPostgres, type AuroraPostgresProps } from "../database/aurora-postgresql.js";
import { ManagedSecret } from "../external-secrets.js";
import { BOOTSTRAP_ADMIN_CLIENT_ID, KEYCLOAK_DATABASE, KEYCLOAK_PORTS, keycloakSecrets } from "./names.js";

/** What the workloads part needs of the database (cross-stack references). */
export interface IKeycloakDatabase {
  readonly endpoint: string;
  readonly port: number;
  readonly databaseName: string;
  readonly username: string;
  /** ARN of the RDS-managed secret with the master credentials (rotated by RDS). */
  readonly masterUserSecretArn: string;
}

/** Keycloak's database (the name, network, client ranges, key and sizing of {@link AuroraPostgresProps}) and its secrets. */
export interface KeycloakPlatformProps
  extends Pick<
    AuroraPostgresProps,
    "name" | "network" | "clientCidrs" | "key" | "accountId" | "logs" | "instances" | "minCapacityAcu" | "maxCapacityAcu" | "backupRetentionDays" | "deletionProtection" | "iamAuthentication"
  > {
  /** Secrets Manager prefix of the secrets of {@link keycloakSecrets}, e.g. `enchanted/prod/keycloak`. */
  readonly secretPrefix: string;
  /**
   * IAM roles (by name) that may read the master-user secret and the Keycloak secrets: the
   * External Secrets operator's.
   */
  readonly secretReaderRoleNames: readonly string[];
  /** @default KEYCLOAK_PINS.auroraPostgresqlVersion */
  readonly engineVersion?: string;
}

/**
 * Keycloak's own {@link AuroraPostgres} (database and master user `keycloak`, the engine of
 * `KEYCLOAK_PINS`), read by External Secrets together with the empty Secrets Manager containers
 * of {@link keycloakSecrets}, which this creates (their values are put out of band). Lives in the
 * platform stack.
 */
export class KeycloakPlatform extends Construct implements IKeycloakDatabase {
  readonly endpoint: string;
  readonly readerEndpoint: string;
  readonly port = KEYCLOAK_PORTS.postgres;
  readonly databaseName = KEYCLOAK_DATABASE.name;
  readonly username = KEYCLOAK_DATABASE.username;
  readonly masterUserSecretArn: string;
  readonly securityGroupId: string;
  readonly cluster: RdsCluster;
  /** The database construct (its id `Default` keeps the resources' Terraform addresses under this construct's). */
  readonly database: AuroraPostgres;

  constructor(scope: Construct, id: string, props: KeycloakPlatformProps) {
    super(scope, id);
    // The Secrets Manager containers Keycloak reads; values are put out of band.
    const secrets = keycloakSecrets(props.secretPrefix);
    const descriptions = {
      bootstrapAdmin: `Client secret of ${BOOTSTRAP_ADMIN_CLIENT_ID} (Keycloak master realm) of ${props.name}`,
      provisioningClient: `Client secret of the provisioning service's Keycloak client of ${props.name}`,
      smtp: `SES SMTP credentials {"username","password"} Keycloak sends mail with (${props.name})`,
    } as const;
    const secretArns = (Object.keys(secrets) as (keyof typeof secrets)[]).map(
      (name) => new ManagedSecret(this, `${name}-secret`, { name: secrets[name].remoteKey, description: descriptions[name], key: props.key }).arn,
    );

    this.database = new AuroraPostgres(this, "Default", {
      name: props.name,
      network: props.network,
      clientCidrs: props.clientCidrs,
      key: props.key,
      accountId: props.accountId,
      logs: props.logs,
      databaseName: KEYCLOAK_DATABASE.name,
      username: KEYCLOAK_DATABASE.username,
      engineVersion: props.engineVersion ?? KEYCLOAK_PINS.auroraPostgresqlVersion,
      parameterGroupFamily: KEYCLOAK_PINS.auroraParameterGroupFamily,
      port: KEYCLOAK_PORTS.postgres,
      secretReaderRoleNames: props.secretReaderRoleNames,
      readerStatement: { sid: "ReadKeycloakSecrets", otherSecretArns: secretArns },
      instances: props.instances,
      minCapacityAcu: props.minCapacityAcu,
      maxCapacityAcu: props.maxCapacityAcu,
      backupRetentionDays: props.backupRetentionDays,
      deletionProtection: props.deletionProtection,
      iamAuthentication: props.iamAuthentication,
    });
    this.cluster = this.database.cluster;
    this.endpoint = this.database.endpoint;
    this.readerEndpoint = this.database.readerEndpoint;
    this.masterUserSecretArn = this.database.masterUserSecretArn;
    this.securityGroupId = this.database.securityGroupId;
  }
}

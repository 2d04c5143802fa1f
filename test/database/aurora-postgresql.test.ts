/**
 * The generic Aurora PostgreSQL construct on its own (Keycloak's database is tested through
 * KeycloakPlatform in test/keycloak): the application's names, port and pins are props, and the
 * reader roles read the master secret only unless told otherwise.
 */
import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { AuroraPostgres, type AuroraPostgresProps } from "../../constructs/database/aurora-postgresql.js";
import type { INetwork } from "../../constructs/network.js";
import { resourcesOf, synthApp, type SynthesizedStack } from "../support/synth.js";

type Json = Record<string, any>;
const NETWORK: INetwork = {
  vpcId: "vpc-0123456789abcdef0",
  vpcCidr: "10.0.0.0/16",
  publicSubnetIds: ["subnet-pub0"],
  privateSubnetIds: ["subnet-prv0"],
  dataSubnetIds: ["subnet-dat0", "subnet-dat1"],
  privateRouteTableIds: ["rtb-prv"],
  dataRouteTableIds: ["rtb-dat"],
};
const PROPS: AuroraPostgresProps = {
  name: "team-x-orders",
  network: NETWORK,
  clientCidrs: ["10.0.32.0/19"],
  key: { keyArn: "arn:aws:kms:eu-west-1:111122223333:key/0a1b2c3d-1111-2222-3333-444455556666", aliasName: "alias/team-x" },
  accountId: "111122223333",
  logs: { key: { keyArn: "arn:aws:kms:eu-west-1:111122223333:key/logs", aliasName: "alias/team-x-logs" }, retentionDays: 30 },
  databaseName: "orders",
  username: "orders",
  engineVersion: "16.8",
  parameterGroupFamily: "aurora-postgresql16",
  secretReaderRoleNames: ["team-x-external-secrets"],
};

function synth(props: Partial<AuroraPostgresProps> = {}): SynthesizedStack {
  const stacks = synthApp((app) => {
    const stack = new TerraformStack(app, "db-test");
    new AwsProvider(stack, "aws", { region: "eu-west-1" });
    new AuroraPostgres(stack, "orders", { ...PROPS, ...props });
  });
  return stacks["db-test"] as SynthesizedStack;
}
const only = (stack: SynthesizedStack, type: string): Json => {
  const all = Object.values(resourcesOf(stack, type)) as Json[];
  expect(all, type).toHaveLength(1);
  return all[0] as Json;
};

describe("AuroraPostgres", () => {
  it("creates the database, user, engine and port it is given", () => {
    const stack = synth({ port: 5433 });
    expect(only(stack, "aws_rds_cluster")).toMatchObject({ database_name: "orders", master_username: "orders", engine_version: "16.8", port: 5433 });
    expect(only(stack, "aws_rds_cluster_parameter_group").family).toBe("aurora-postgresql16");
    expect(only(stack, "aws_vpc_security_group_ingress_rule")).toMatchObject({ from_port: 5433, to_port: 5433, cidr_ipv4: "10.0.32.0/19" });
  });

  it("lets the reader roles read the master secret only, by default", () => {
    const doc = JSON.parse(only(synth(), "aws_iam_role_policy").policy as string) as { Statement: { Sid: string; Resource: string | string[] }[] };
    expect(doc.Statement[0]?.Sid).toBe("ReadMasterUserSecret");
    expect(doc.Statement[0]?.Resource).toHaveLength(1);
    expect((doc.Statement[0]?.Resource as string[])[0]).toMatch(/master_user_secret\[0\]\.secret_arn/);
  });

  it("turns on Enhanced Monitoring on every instance, with a role only RDS of this account assumes", () => {
    const stack = synth({ instances: 2 });
    const role = only(stack, "aws_iam_role");
    expect(JSON.parse(role.assume_role_policy as string).Statement).toEqual([
      { Effect: "Allow", Principal: { Service: "monitoring.rds.amazonaws.com" }, Action: "sts:AssumeRole", Condition: { StringEquals: { "aws:SourceAccount": "111122223333" } } },
    ]);
    expect(only(stack, "aws_iam_role_policy_attachment").policy_arn).toBe("arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole");
    const instances = Object.values(resourcesOf(stack, "aws_rds_cluster_instance")) as Json[];
    expect(instances).toHaveLength(2);
    for (const instance of instances) expect(instance).toMatchObject({ monitoring_interval: 60, monitoring_role_arn: expect.stringMatching(/^\$\{aws_iam_role\..*\.arn\}$/) });
  });

  it("exports the PostgreSQL log to a log group it creates first, encrypted and with a retention", () => {
    const stack = synth();
    const group = only(stack, "aws_cloudwatch_log_group");
    expect(group).toMatchObject({ name: "/aws/rds/cluster/team-x-orders/postgresql", retention_in_days: 30, kms_key_id: "arn:aws:kms:eu-west-1:111122223333:key/logs" });
    const cluster = only(stack, "aws_rds_cluster");
    expect(cluster.enabled_cloudwatch_logs_exports).toEqual(["postgresql"]);
    expect(cluster.depends_on).toEqual([expect.stringMatching(/^aws_cloudwatch_log_group\./)]);
  });

  it("names the construct path, the prop and the fix when a prop is refused", () => {
    expect(() => synth({ instances: 0 })).toThrow(/^db-test\/orders: instances = 0 is not 1 to 15\. Fix: /);
  });
});

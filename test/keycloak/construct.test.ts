/**
 * The Keycloak constructs, synthesized: Aurora (encrypted, private, managed rotating password,
 * deletion protection outside dev), the chart's values (HA, cache, proxy, hostname, restricted
 * pods), the synced secrets and the realm Job, the policy pack, and no secret literal anywhere.
 */
import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { HelmProvider } from "@cdktf/provider-helm/lib/provider/index.js";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider/index.js";
import { TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, HELM_CHARTS, KEYCLOAK_PINS, loadEnvironment, type EnvironmentName } from "../../config/index.js";
import {
  Keycloak,
  KEYCLOAK_CLIENT_LABEL,
  KEYCLOAK_DB_SECRET,
  KEYCLOAK_POD_LABELS,
  keycloakChartValues,
  KeycloakPlatform,
  keycloakSecrets,
  REALM_APPLY_COMMAND,
  realmDocument,
} from "../../constructs/keycloak/index.js";
import type { IKmsKey } from "../../constructs/kms-key.js";
import { KONG_NAMESPACE } from "../../constructs/gateway/index.js";
import type { INetwork } from "../../constructs/network.js";
import { NAMESPACES, type ISecretStore } from "../../constructs/platform-interfaces.js";
import { evaluatePolicy, type SynthesizedStackJson } from "../../constructs/policy/index.js";
import { configDigest } from "../../constructs/k8s/config-job.js";
import { realmConfig } from "../../services/keycloak-realm/index.js";
import { REALM_APPLY_ENV } from "../../services/keycloak-realm/names.js";
import { resourcesOf, synthApp, type SynthesizedStack } from "../support/synth.js";

type Json = Record<string, any>;
const KEY: IKmsKey = { keyArn: "arn:aws:kms:eu-west-1:111122223333:key/0a1b2c3d-1111-2222-3333-444455556666", aliasName: "alias/enchanted-secrets" };
const STORE: ISecretStore = { storeName: "aws-secrets-manager", storeKind: "ClusterSecretStore" };
const REALM_APPLY_IMAGE = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/enchanted/provisioning:0.1.0";
const ESO_ROLE = "enchanted-dev-external-secrets";

function networkOf(env: EnvironmentName): INetwork {
  const n = loadEnvironment(env).network;
  return {
    vpcId: "vpc-0123456789abcdef0",
    vpcCidr: n.vpcCidr,
    publicSubnetIds: n.subnets.public.map((_, i) => `subnet-pub${i}`),
    privateSubnetIds: n.subnets.private.map((_, i) => `subnet-prv${i}`),
    dataSubnetIds: n.subnets.data.map((_, i) => `subnet-dat${i}`),
    privateRouteTableIds: ["rtb-prv"],
    dataRouteTableIds: ["rtb-dat"],
  };
}

const synthCache = new Map<EnvironmentName, SynthesizedStack>();
function synthEnv(env: EnvironmentName): SynthesizedStack {
  const cached = synthCache.get(env);
  if (cached) return cached;
  const config = loadEnvironment(env);
  const stacks = synthApp((app) => {
    const stack = new TerraformStack(app, "keycloak-test");
    new AwsProvider(stack, "aws", { region: config.aws.region });
    new KubernetesProvider(stack, "kubernetes", {});
    new HelmProvider(stack, "helm", {});
    const secretPrefix = `enchanted/${env}/keycloak`;
    const db = new KeycloakPlatform(stack, "keycloak-db", {
      name: `enchanted-${env}-keycloak`,
      network: networkOf(env),
      clientCidrs: config.network.subnets.private,
      key: KEY,
      accountId: config.aws.accountId,
      logs: { key: KEY, retentionDays: 30 },
      secretPrefix,
      secretReaderRoleNames: [ESO_ROLE],
      instances: config.platformReplicas,
      deletionProtection: !config.ephemeral,
    });
    const keycloak = new Keycloak(stack, "keycloak", {
      realmApply: { image: REALM_APPLY_IMAGE, tag: "0.1.0" },
      realm: realmConfig(config),
      authDomain: config.domains.auth,
      database: db,
      secretStore: STORE,
      secretPrefix,
      databaseCidrs: config.network.subnets.data,
      replicas: config.keycloak.replicas,
      version: config.charts.keycloakx,
      proxyCidrs: config.network.subnets.public,
    });
    keycloak.allowFrom({ namespace: KONG_NAMESPACE });
    keycloak.allowFrom(config.network.subnets.public.map((cidr) => ({ cidr })));
  });
  const stack = stacks["keycloak-test"] as SynthesizedStack;
  synthCache.set(env, stack);
  return stack;
}

const one = (stack: SynthesizedStack, type: string): Json => {
  const all = Object.values(resourcesOf(stack, type));
  expect(all, type).toHaveLength(1);
  return all[0] as Json;
};
const release = (stack: SynthesizedStack) => one(stack, "helm_release");
const valuesOf = (stack: SynthesizedStack): Json => JSON.parse((release(stack).values as string[])[0] ?? "{}") as Json;

/** Every string under a key that names a password or secret value, anywhere (JSON strings inside are parsed too). */
function secretLiterals(node: unknown, path = ""): string[] {
  if (typeof node === "string") {
    const t = node.trim();
    if (t.startsWith("{") || t.startsWith("[")) {
      try {
        return secretLiterals(JSON.parse(t), path);
      } catch {
        return [];
      }
    }
    return [];
  }
  if (Array.isArray(node)) return node.flatMap((v, i) => secretLiterals(v, `${path}[${i}]`));
  if (node && typeof node === "object") {
    return Object.entries(node).flatMap(([k, v]) => {
      const p = `${path}.${k}`;
      // A reference is fine: keycloak-config-cli `$(env:X)` or Kubernetes `$(X)`.
      if (/^(password|secret|master_password|client_secret|secret_string)$/i.test(k) && typeof v === "string" && !/^\$\((env:)?[A-Z_]+\)$/.test(v)) return [p];
      return secretLiterals(v, p);
    });
  }
  return [];
}

describe("the secret-literal check", () => {
  it("finds a literal password and accepts variable references", () => {
    expect(secretLiterals({ a: { password: "hunter2" }, b: [JSON.stringify({ secret: "s3cr3t" })], c: { password: "$(env:SMTP_PASSWORD)" } })).toEqual([
      ".a.password",
      ".b[0].secret",
    ]);
  });
});

describe.each(ENVIRONMENT_NAMES)("%s: Keycloak's Aurora", (env) => {
  const config = loadEnvironment(env);
  const stack = synthEnv(env);
  const cluster = one(stack, "aws_rds_cluster");

  it("is Aurora PostgreSQL Serverless v2, encrypted with the customer key", () => {
    expect(cluster).toMatchObject({
      engine: "aurora-postgresql",
      engine_mode: "provisioned",
      engine_version: KEYCLOAK_PINS.auroraPostgresqlVersion,
      storage_encrypted: true,
      kms_key_id: KEY.keyArn,
    });
    expect(cluster.serverlessv2_scaling_configuration.max_capacity).toBeGreaterThanOrEqual(1);
    for (const instance of Object.values(resourcesOf(stack, "aws_rds_cluster_instance")) as Json[]) {
      expect(instance).toMatchObject({ instance_class: "db.serverless", publicly_accessible: false, performance_insights_enabled: true, performance_insights_kms_key_id: KEY.keyArn });
    }
  });

  it("lets RDS generate and rotate the master password in Secrets Manager, under the customer key", () => {
    expect(cluster).toMatchObject({ manage_master_user_password: true, master_user_secret_kms_key_id: KEY.keyArn });
    expect(cluster.master_password).toBeUndefined();
  });

  it("keeps backups and blocks deletion outside dev", () => {
    expect(cluster.backup_retention_period).toBeGreaterThanOrEqual(7);
    expect(cluster.deletion_protection).toBe(env !== "dev");
    expect(cluster.skip_final_snapshot).toBe(env === "dev");
  });

  it("runs a reader in another AZ outside dev", () => {
    expect(Object.keys(resourcesOf(stack, "aws_rds_cluster_instance"))).toHaveLength(env === "dev" ? 1 : 2);
  });

  it("lives in the data subnets", () => {
    expect(one(stack, "aws_db_subnet_group").subnet_ids).toEqual(networkOf(env).dataSubnetIds);
  });

  it("accepts 5432 from the private subnets only, and nothing else", () => {
    const sg = one(stack, "aws_security_group");
    expect(sg.ingress).toBeUndefined();
    expect(sg.egress).toBeUndefined();
    const rules = Object.values(resourcesOf(stack, "aws_vpc_security_group_ingress_rule")) as Json[];
    expect(rules.map((r) => r.cidr_ipv4).sort()).toEqual([...config.network.subnets.private].sort());
    for (const r of rules) expect(r).toMatchObject({ ip_protocol: "tcp", from_port: 5432, to_port: 5432 });
  });

  it("enforces TLS on every connection", () => {
    expect(one(stack, "aws_rds_cluster_parameter_group").parameter).toEqual([{ name: "rds.force_ssl", value: "1" }]);
  });

  it("lets the External Secrets role read exactly the master secret and Keycloak's secrets", () => {
    const policy = one(stack, "aws_iam_role_policy");
    expect(policy.role).toBe(ESO_ROLE);
    const doc = JSON.parse(policy.policy as string) as { Statement: { Action: string[]; Resource: string | string[] }[] };
    const read = doc.Statement[0];
    expect(read?.Action).toEqual(["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]);
    expect(read?.Resource).toHaveLength(4);
    expect((read?.Resource as string[])[0]).toMatch(/^\$\{aws_rds_cluster\.[^.]+\.master_user_secret\[0\]\.secret_arn\}$/);
  });

  it("creates Keycloak's own secrets empty, encrypted with the customer key", () => {
    const secrets = Object.values(resourcesOf(stack, "aws_secretsmanager_secret")) as Json[];
    expect(secrets.map((s) => s.name).sort()).toEqual(Object.values(keycloakSecrets(`enchanted/${env}/keycloak`)).map((s) => s.remoteKey).sort());
    for (const s of secrets) expect(s.kms_key_id).toBe(KEY.keyArn);
    expect(resourcesOf(stack, "aws_secretsmanager_secret_version")).toEqual({});
  });

  it("passes the policy pack", () => {
    expect(evaluatePolicy(stack.json as SynthesizedStackJson)).toEqual([]);
  });

  it("holds no password or secret literal anywhere", () => {
    expect(secretLiterals(stack.json)).toEqual([]);
  });
});

describe.each(ENVIRONMENT_NAMES)("%s: Keycloak in the cluster", (env) => {
  const config = loadEnvironment(env);
  const stack = synthEnv(env);
  const values = valuesOf(stack);

  it("installs the pinned keycloakx chart into the platform namespace", () => {
    expect(release(stack)).toMatchObject({
      chart: HELM_CHARTS.keycloakx.chart,
      repository: HELM_CHARTS.keycloakx.repository,
      version: config.charts.keycloakx,
      namespace: NAMESPACES.platform,
      atomic: true,
    });
  });

  it("runs keycloak.replicas (1 in dev, 2 or more elsewhere), with a PDB and a zone spread outside dev", () => {
    expect(values.replicas).toBe(config.keycloak.replicas);
    if (env === "dev") expect(values.podDisruptionBudget).toBeUndefined();
    else expect(values.podDisruptionBudget).toEqual({ maxUnavailable: 1 });
    expect(values.topologySpreadConstraints).toContain('"topologyKey":"topology.kubernetes.io/zone"');
    expect(values.topologySpreadConstraints).toContain(`"whenUnsatisfiable":"${env === "dev" ? "ScheduleAnyway" : "DoNotSchedule"}"`);
    expect(values.topologySpreadConstraints).toContain(JSON.stringify(KEYCLOAK_POD_LABELS));
    // The count is the chart's replicas: no HPA (the chart's autoscaling, off by default, would
    // ignore it), and the chart's own anti-affinity (a node per replica) is left as it is.
    expect(values.autoscaling).toBeUndefined();
    expect(values.affinity).toBeUndefined();
  });

  it("clusters with Infinispan over jdbc-ping, behind an X-Forwarded proxy, at https://<domains.auth>", () => {
    expect(values.cache).toEqual({ stack: "default" });
    expect(values.proxy).toEqual({ enabled: true, mode: "xforwarded", http: { enabled: true } });
    expect(values.http).toEqual({ relativePath: "/" });
    expect(values.extraEnv).toContain(`{"name":"KC_HOSTNAME","value":"https://${config.domains.auth}"}`);
    expect(values.extraEnv).toContain(`"KC_PROXY_TRUSTED_ADDRESSES","value":"${config.network.subnets.public.join(",")}"`);
    expect(values.health).toEqual({ enabled: true });
    expect(values.metrics).toEqual({ enabled: true });
  });

  it("reads the database credentials from the synced Secret, never from values", () => {
    expect(values.database).toMatchObject({ vendor: "postgres", port: 5432, database: "keycloak", existingSecret: KEYCLOAK_DB_SECRET, existingSecretKey: "password" });
    expect(values.database.password).toBeUndefined();
    expect(values.database.username).toBeUndefined();
    expect(values.extraEnv).toContain(`{"name":"KC_DB_USERNAME","valueFrom":{"secretKeyRef":{"name":"${KEYCLOAK_DB_SECRET}","key":"username"}}}`);
    expect(values.database.hostname).toMatch(/^\$\{aws_rds_cluster\.[^.]+\.endpoint\}$/);
  });

  it("runs restricted pods without Kubernetes API access", () => {
    expect(values.podSecurityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(values.securityContext).toMatchObject({ allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ["ALL"] } });
    expect(values.serviceAccount).toMatchObject({ automountServiceAccountToken: false, allowReadPods: false });
    expect(values.dbchecker).toEqual({ enabled: false });
  });

  it("syncs the RDS-managed secret by its ARN, refreshed often enough to follow rotation", () => {
    const es = (Object.values(resourcesOf(stack, "kubernetes_manifest")) as Json[])
      .map((m) => m.manifest)
      .find((m) => m.metadata.name === KEYCLOAK_DB_SECRET);
    expect(es.kind).toBe("ExternalSecret");
    expect(es.spec.refreshInterval).toBe("15m");
    expect(es.spec.data.map((d: Json) => [d.secretKey, d.remoteRef.property])).toEqual([
      ["username", "username"],
      ["password", "password"],
    ]);
    expect(es.spec.data[0].remoteRef.key).toMatch(/master_user_secret\[0\]\.secret_arn/);
  });

  it("applies the realm from a ConfigMap with the platform's realm program (the provisioning image), secrets from Secrets", () => {
    const cm = one(stack, "kubernetes_config_map_v1");
    expect(cm.data["realm.json"]).toBe(realmDocument(realmConfig(config)));
    const jobResource = (Object.values(resourcesOf(stack, "kubernetes_manifest")) as Json[]).find((m) => m.manifest.kind === "Job") as Json;
    const job = jobResource.manifest;
    const container = job.spec.template.spec.containers[0];
    expect(container.image).toBe(REALM_APPLY_IMAGE);
    expect(container.command).toEqual([...REALM_APPLY_COMMAND]);
    // Named by the realm and the image's tag (not the image, whose repository URL is another stack's token).
    expect(job.metadata.name).toBe(`keycloak-realm-${configDigest(realmDocument(realmConfig(config)), "0.1.0")}`);
    const env = new Map((container.env as Json[]).map((e) => [e.name, e]));
    expect(env.get(REALM_APPLY_ENV.file)?.value).toBe("/config/realm.json");
    expect(env.get("PROVISIONING_CLIENT_SECRET")?.valueFrom.secretKeyRef).toEqual({ name: "keycloak-provisioning-client", key: "client-secret" });
    expect(env.get("KEYCLOAK_CLIENTSECRET")?.valueFrom.secretKeyRef).toEqual({ name: "keycloak-bootstrap-admin", key: "client-secret" });
    expect(jobResource.wait).toEqual({ condition: [{ type: "Complete", status: "True" }] });
    expect(jobResource.depends_on).toContain(`helm_release.${Object.keys(resourcesOf(stack, "helm_release"))[0]}`);
  });

  it("opens the default-deny namespace only for HTTP from clients, JGroups between replicas, 5432 to the data subnets and SMTP", () => {
    const policy = (Object.values(resourcesOf(stack, "kubernetes_network_policy_v1")) as Json[]).find((p) => p.metadata.name === "keycloak");
    const egress = policy?.spec.egress as Json[];
    expect(egress[0]).toEqual({
      to: config.network.subnets.data.map((cidr) => ({ ip_block: { cidr } })),
      ports: [{ port: "5432", protocol: "TCP" }],
    });
    expect(policy?.spec.ingress[0].ports).toEqual([{ port: "8080", protocol: "TCP" }]);
  });

  it("lets in on 8080, in one rule, its labelled clients, then whoever allowFrom admitted, then JGroups from the other replicas", () => {
    const policy = (Object.values(resourcesOf(stack, "kubernetes_network_policy_v1")) as Json[]).find((p) => p.metadata.name === "keycloak");
    const ingress = policy?.spec.ingress as Json[];
    expect(ingress).toHaveLength(2);
    expect(ingress[0]?.from).toEqual([
      { pod_selector: { match_labels: { [KEYCLOAK_CLIENT_LABEL]: "true" } } },
      { namespace_selector: { match_labels: { "kubernetes.io/metadata.name": KONG_NAMESPACE } } },
      ...config.network.subnets.public.map((cidr) => ({ ip_block: { cidr } })),
    ]);
    expect(ingress[1]).toEqual({
      from: [{ pod_selector: { match_labels: { ...KEYCLOAK_POD_LABELS } } }],
      ports: [
        { port: "7800", protocol: "TCP" },
        { port: "57800", protocol: "TCP" },
      ],
    });
  });
});

describe("keycloakChartValues", () => {
  it("puts extraEnv in the YAML list form the chart's tpl expects", () => {
    const v = keycloakChartValues({ replicas: 2, authDomain: "auth.example.com", database: { endpoint: "db", port: 5432, databaseName: "keycloak" }, trustedProxyCidrs: [], cpuMillicores: 500, memoryMiB: 1024 });
    for (const line of (v.extraEnv as string).split("\n")) expect(line).toMatch(/^- \{.*\}$/);
    expect(v.extraEnv).not.toContain("{{");
    expect(v.extraEnv).not.toContain("KC_PROXY_TRUSTED_ADDRESSES");
  });
});

describe("prop checks", () => {
  it("rejects an empty clientCidrs, naming the prop", () => {
    expect(() =>
      synthApp((app) => {
        const stack = new TerraformStack(app, "bad");
        new KeycloakPlatform(stack, "db", { name: "bad-keycloak", network: networkOf("dev"), clientCidrs: [], key: KEY, accountId: "111122223333", logs: { key: KEY, retentionDays: 30 }, secretPrefix: "p", secretReaderRoleNames: [ESO_ROLE] });
      }),
    ).toThrow(/clientCidrs = \[\] is empty/);
  });
});

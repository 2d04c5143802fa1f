import { readdirSync, readFileSync } from "node:fs";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider/index.js";
import { TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { KEYCLOAK_POD_LABELS, KEYCLOAK_CLIENT_LABEL, keycloakServiceUrl } from "../../constructs/keycloak/index.js";
import { NAMESPACES, POLICY_LABELS } from "../../constructs/platform-interfaces.js";
import { evaluateStack } from "../../constructs/policy/index.js";
import { Provisioning, PROVISIONING_ENDPOINT, type ProvisioningProps } from "../../constructs/provisioning/index.js";
import { ValidationError } from "../../constructs/core/validation.js";
import { PROVISIONING_ENV_VARS } from "../../services/provisioning/contract.js";
import { natsSecretNames } from "../../services/nats-auth/secret-names.js";
import { issuerUrl } from "../../services/keycloak-realm/names.js";
import { runtimeImports } from "../support/imports.js";
import { resourcesOf, synthApp } from "../support/synth.js";

const ACCOUNT_ID = "123456789012";
const REGION = "eu-west-1";
/** An account public key's shape: `A` and 55 base32 characters. */
const SWARM_ACCOUNT = `A${"CZ4Y5WTEJ6PGEEJYMEXAMPLEACCOUNTKEY".padEnd(55, "Q")}`;
/** `<repository URL>:<tag>`, as the foundation stack's ECR repository URL and a release tag make it. */
const IMAGE = "images.example.internal/enchanted/provisioning:1.4.2";
const NATS_SEEDS = natsSecretNames("enchanted/dev/nats", []).seeds;
const SEEDS = NATS_SEEDS.swarmSigningKeys;
const FDB_CIDR = "10.200.0.0/16";
const PRIVATE_CIDRS = ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"];
const SECRETS_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555";
const ESO_ROLE_ARN = "arn:aws:iam::123456789012:role/enchanted-dev-external-secrets";

const baseProps: ProvisioningProps = {
  image: IMAGE,
  name: "enchanted-dev",
  accountId: ACCOUNT_ID,
  region: REGION,
  clusterName: "enchanted-dev",
  secretStore: { storeName: "aws-secrets-manager", storeKind: "ClusterSecretStore" },
  oidcIssuer: issuerUrl("auth.example.com"),
  tokenIssuer: "https://api.example.com",
  mail: { from: "no-reply@auth.example.com", consoleUrl: "https://api.example.com", smtpCredentialsRemoteKey: "enchanted/dev/keycloak/smtp" },
  billingWebhookRemoteKey: "enchanted/dev/provisioning/billing-webhook-secret",
  keycloak: { serviceUrl: keycloakServiceUrl(), namespace: NAMESPACES.platform, secretPrefix: "enchanted/dev/keycloak" },
  natsAccount: SWARM_ACCOUNT,
  nats: {
    clientUrl: "nats://nats.nats.svc.cluster.local:4222",
    issuer: { issuerName: "internal-ca", issuerKind: "ClusterIssuer" },
    publicUrls: ["tls://nats.example.com:4222"],
    platformCredsRemoteKey: "enchanted/dev/nats/cluster/provisioning-bus-creds",
  },
  signingKeys: {
    secretNames: SEEDS,
    accountSecretNames: { tenantAccountSigningKey: NATS_SEEDS.tenantAccountSigningKey, tenantImportSigningKey: NATS_SEEDS.tenantImportSigningKey, systemUserCreds: NATS_SEEDS.systemUserCreds },
    secretsKey: { keyArn: SECRETS_KEY_ARN, aliasName: "alias/enchanted-dev-secrets" },
    externalSecretsRole: { roleName: "enchanted-dev-external-secrets", roleArn: ESO_ROLE_ARN },
  },
  foundationDb: { destinationCidrs: [FDB_CIDR], ports: [4500, 4501], clusterFileNamespaces: [NAMESPACES.platform] },
  clickhouse: {
    url: "http://clickhouse-events.clickhouse.svc.cluster.local:8123",
    credentials: { username: "swarm_lifecycle", secretName: "clickhouse-lifecycle", passwordKey: "password", remoteKey: "enchanted/dev/clickhouse/lifecycle-password" },
  },
  kmsEndpointCidrs: PRIVATE_CIDRS,
  metricsScraper: { namespace: "monitoring", podLabels: { "app.kubernetes.io/name": "prometheus" } },
  minReplicas: 3,
  maxReplicas: 12,
};

// Synthesized JSON, navigated freely; the assertions give it its shape.
type Obj = Record<string, any>;

function synth(props: ProvisioningProps = baseProps) {
  let policyFindings: readonly { ruleId: string; reason: string; suppressed?: string }[] = [];
  const stacks = synthApp((app) => {
    const stack = new TerraformStack(app, "test");
    new AwsProvider(stack, "aws", { region: REGION });
    new KubernetesProvider(stack, "k8s", {});
    new Provisioning(stack, "provisioning", props);
    policyFindings = evaluateStack(stack);
  });
  const stack = stacks["test"];
  if (!stack) throw new Error("stack not synthesized");
  const manifests = Object.values(resourcesOf(stack, "kubernetes_manifest")).map((r) => r.manifest as Obj);
  const byKind = (kind: string): Obj[] => manifests.filter((m) => m.kind === kind);
  const one = (kind: string): Obj => {
    const found = byKind(kind);
    expect(found, kind).toHaveLength(1);
    return found[0] as Obj;
  };
  const policies = Object.values(resourcesOf(stack, "aws_iam_role_policy")).map((p) => ({ role: p.role as string, doc: JSON.parse(p.policy as string) as Obj }));
  const roles = Object.entries(resourcesOf(stack, "aws_iam_role")).map(([id, r]) => ({ id, name: r.name as string, trust: JSON.parse(r.assume_role_policy as string) as Obj }));
  // The service's own NetworkPolicy (the typed kubernetes_network_policy_v1 every policy is written as).
  const networkPolicies = Object.values(resourcesOf(stack, "kubernetes_network_policy_v1")) as Obj[];
  const networkPolicy = (): Obj => {
    expect(networkPolicies, "NetworkPolicy").toHaveLength(1);
    return networkPolicies[0] as Obj;
  };
  return { stack, text: stack.text, manifests, byKind, one, networkPolicy, policies, roles, policyFindings };
}

const out = synth();
const deployment = out.one("Deployment");
const pod = deployment.spec.template.spec as Obj;
const container = pod.containers[0] as Obj;
const env = new Map((container.env as Obj[]).map((e) => [e.name as string, e]));
const volumes = new Map((pod.volumes as Obj[]).map((v) => [v.name as string, v]));
const mounts = new Map((container.volumeMounts as Obj[]).map((m) => [m.name as string, m]));
const roleByName = (name: string) => out.roles.find((r) => r.name === name);
const roleRef = (name: string) => `\${aws_iam_role.${roleByName(name)?.id}.name}`;

describe("Provisioning", () => {
  it("passes the policy pack", () => {
    expect(out.policyFindings.filter((f) => f.suppressed === undefined)).toEqual([]);
  });

  it("runs non-root with a read-only root filesystem and every capability dropped", () => {
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe("provisioning");
    expect(container.image).toBe(IMAGE);
    expect(mounts.get("tmp")?.mountPath).toBe("/tmp");
  });

  it("probes liveness on /healthz and readiness on /readyz on the API port, and sets requests and limits", () => {
    expect(container.ports).toEqual([{ name: "http", containerPort: 8080, protocol: "TCP" }]);
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(container.startupProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.resources).toEqual({ requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "512Mi" } });
    expect(env.get("NODE_OPTIONS")?.value).toBe("--max-old-space-size=358");
    expect(Number(env.get("PROVISIONING_SHUTDOWN_TIMEOUT_MS")?.value) / 1000 + 10).toBeLessThanOrEqual(pod.terminationGracePeriodSeconds as number);
  });

  it("is the Service Kong's /v1/ route resolves to", () => {
    const service = out.one("Service");
    expect(service.metadata).toMatchObject({ name: PROVISIONING_ENDPOINT.service, namespace: PROVISIONING_ENDPOINT.namespace });
    expect(service.spec.ports).toEqual([{ name: "http", port: PROVISIONING_ENDPOINT.port, targetPort: "http", protocol: "TCP" }]);
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.metadata.namespace).toBe(PROVISIONING_ENDPOINT.namespace);
  });

  it("sets every variable of the service contract, only variables the service reads, and no literal secret", () => {
    const known = new Set<string>(PROVISIONING_ENV_VARS);
    for (const name of env.keys()) if (name.startsWith("PROVISIONING_")) expect(known, name).toContain(name);
    const value = (name: string) => env.get(name)?.value as string | undefined;
    expect(value("PROVISIONING_HTTP_PORT")).toBe("8080");
    expect(value("PROVISIONING_LOG_LEVEL")).toBe("info");
    expect(value("PROVISIONING_BODY_LIMIT_BYTES")).toBe("16384");
    expect(value("PROVISIONING_FDB_CLUSTER_FILE")).toBe("/var/run/secrets/foundationdb/fdb.cluster");
    expect(value("PROVISIONING_OIDC_ISSUER")).toBe("https://auth.example.com/realms/enchanted");
    expect(value("PROVISIONING_OIDC_AUDIENCE")).toBe("api");
    expect(value("PROVISIONING_KEYCLOAK_URL")).toBe("http://keycloak-http.platform.svc.cluster.local");
    expect(value("PROVISIONING_JWKS_URL")).toBe("http://keycloak-http.platform.svc.cluster.local/realms/enchanted/protocol/openid-connect/certs");
    expect(value("PROVISIONING_KEYCLOAK_REALM")).toBe("enchanted");
    expect(value("PROVISIONING_KEYCLOAK_CLIENT_SECRET_FILE")).toBe("/var/run/secrets/keycloak/client-secret");
    expect(value("PROVISIONING_KMS_KEY_ID")).toMatch(/^\$\{aws_kms_key\.[^.]+\.arn\}$/);
    expect(value("PROVISIONING_AWS_REGION")).toBe(REGION);
    expect(value("PROVISIONING_NATS_SIGNING_KEYS_DIR")).toBe("/var/run/secrets/nats-signing-keys");
    expect(value("PROVISIONING_NATS_ACCOUNT")).toBe(SWARM_ACCOUNT);
    expect(value("PROVISIONING_NATS_URL")).toBe("nats://nats.nats.svc.cluster.local:4222");
    expect(value("PROVISIONING_NATS_SYSTEM_CREDS_FILE")).toBe("/var/run/secrets/nats-signing-keys/system-user.creds");
    expect(value("PROVISIONING_NATS_TLS_CA_FILE")).toBe("/var/run/secrets/nats-ca/ca.crt");
    // What agents are handed: the external listener, its CA (the servers' CA, mounted) and the service's own bus user.
    expect(value("PROVISIONING_NATS_PUBLIC_URLS")).toBe("tls://nats.example.com:4222");
    expect(value("PROVISIONING_NATS_PUBLIC_CA_FILE")).toBe("/var/run/secrets/nats-ca/ca.crt");
    expect(value("PROVISIONING_NATS_PLATFORM_CREDS_FILE")).toBe("/var/run/secrets/nats-platform/provisioning.creds");
    expect(value("PROVISIONING_CREDENTIALS_TTL_SECONDS")).toBe("3600");
    expect(value("PROVISIONING_SHUTDOWN_TIMEOUT_MS")).toBe("15000");
    // The event store as the lifecycle user (plans, offboarding's deletion), its password a mounted file.
    expect(value("PROVISIONING_CLICKHOUSE_URL")).toBe("http://clickhouse-events.clickhouse.svc.cluster.local:8123");
    expect(value("PROVISIONING_CLICKHOUSE_USER")).toBe("swarm_lifecycle");
    expect(value("PROVISIONING_CLICKHOUSE_PASSWORD_FILE")).toBe("/var/run/secrets/clickhouse/password");
    expect(value("PROVISIONING_CLICKHOUSE_REPLICATED")).toBe("true");
    // Files only: no secret value in an environment variable or in the synthesized JSON.
    for (const e of env.values()) expect(e.valueFrom, e.name as string).toBeUndefined();
    expect(out.text).not.toMatch(/"kind": "Secret"|stringData/);
  });

  it("mounts the cluster file, the client secret, one seed file per tier, the account-side seeds and the push creds from their Secrets", () => {
    expect(volumes.get("foundationdb")?.secret).toMatchObject({ secretName: "foundationdb-cluster-file", items: [{ key: "fdb.cluster", path: "fdb.cluster" }] });
    expect(mounts.get("foundationdb")).toEqual({ name: "foundationdb", mountPath: "/var/run/secrets/foundationdb", readOnly: true });
    expect(volumes.get("keycloak-client")?.secret.secretName).toBe("provisioning-keycloak-client");
    expect(mounts.get("keycloak-client")).toEqual({ name: "keycloak-client", mountPath: "/var/run/secrets/keycloak", readOnly: true });
    expect(volumes.get("signing-keys")?.secret.items).toEqual([
      { key: "free.seed", path: "free.seed" },
      { key: "pro.seed", path: "pro.seed" },
      { key: "enterprise.seed", path: "enterprise.seed" },
      { key: "tenant-account-signing-key.seed", path: "tenant-account-signing-key.seed" },
      { key: "tenant-import-signing-key.seed", path: "tenant-import-signing-key.seed" },
      { key: "system-user.creds", path: "system-user.creds" },
    ]);
    expect(mounts.get("signing-keys")).toEqual({ name: "signing-keys", mountPath: "/var/run/secrets/nats-signing-keys", readOnly: true });
  });

  it("mounts the ClickHouse lifecycle user's password from a Secret synced from the ClickHouse prefix, and starts only once it exists", () => {
    expect(volumes.get("clickhouse-lifecycle")?.secret).toEqual({ secretName: "clickhouse-lifecycle", defaultMode: 0o440, items: [{ key: "password", path: "password" }] });
    expect(mounts.get("clickhouse-lifecycle")).toEqual({ name: "clickhouse-lifecycle", mountPath: "/var/run/secrets/clickhouse", readOnly: true });
    const sync = Object.entries(resourcesOf(out.stack, "kubernetes_manifest")).find(([, r]) => (r.manifest as Obj).kind === "ExternalSecret" && (r.manifest as Obj).metadata.name === "clickhouse-lifecycle") as [string, Obj];
    expect(sync[1].manifest.metadata.namespace).toBe("platform");
    expect(sync[1].manifest.spec.secretStoreRef).toEqual({ name: "aws-secrets-manager", kind: "ClusterSecretStore" });
    expect(sync[1].manifest.spec.data).toEqual([{ secretKey: "password", remoteRef: { key: "enchanted/dev/clickhouse/lifecycle-password" } }]);
    expect(sync[1].wait).toEqual({ condition: [{ type: "Ready", status: "True" }] });
    const deploymentResource = Object.values(resourcesOf(out.stack, "kubernetes_manifest")).find((r) => (r.manifest as Obj).kind === "Deployment") as Obj;
    expect(deploymentResource.depends_on).toContain(`kubernetes_manifest.${sync[0]}`);
  });

  it("mounts the bus user's creds read-only from a Secret synced from the environment's NATS prefix, and the CA agents get", () => {
    expect(volumes.get("nats-platform-creds")?.secret).toEqual({ secretName: "provisioning-nats-platform-creds", defaultMode: 0o440, items: [{ key: "provisioning.creds", path: "provisioning.creds" }] });
    expect(mounts.get("nats-platform-creds")).toEqual({ name: "nats-platform-creds", mountPath: "/var/run/secrets/nats-platform", readOnly: true });
    expect(mounts.get("nats-ca")).toEqual({ name: "nats-ca", mountPath: "/var/run/secrets/nats-ca", readOnly: true });
    const creds = out.byKind("ExternalSecret").find((e) => e.metadata.name === "provisioning-nats-platform-creds") as Obj;
    expect(creds.spec.secretStoreRef).toEqual({ name: "aws-secrets-manager", kind: "ClusterSecretStore" });
    expect(creds.spec.data).toEqual([{ secretKey: "provisioning.creds", remoteRef: { key: "enchanted/dev/nats/cluster/provisioning-bus-creds" } }]);
  });

  it("hands agents the in-cluster URL when NATS is not exposed, and refuses an empty or malformed public URL list", () => {
    const { publicUrls: _unused, ...inCluster } = baseProps.nats;
    const inClusterEnv = (synth({ ...baseProps, nats: inCluster }).one("Deployment").spec.template.spec.containers[0].env as Obj[]).map((e) => [e.name as string, e.value as string] as const);
    expect(new Map(inClusterEnv).get("PROVISIONING_NATS_PUBLIC_URLS")).toBe("nats://nats.nats.svc.cluster.local:4222");
    expect(() => synth({ ...baseProps, nats: { ...baseProps.nats, publicUrls: [] } })).toThrow(/nats\.publicUrls = \[\] is empty.*Fix: pass Nats\.publicUrl/);
    expect(() => synth({ ...baseProps, nats: { ...baseProps.nats, publicUrls: ["https://nats.example.com"] } })).toThrow(/nats\.publicUrls\[0\] = "https:\/\/nats\.example\.com" is not a NATS URL/);
  });

  it("syncs the seeds through a namespaced store of their own and the client secret through the cluster store", () => {
    const external = new Map(out.byKind("ExternalSecret").map((e) => [e.metadata.name as string, e]));
    const seeds = external.get("provisioning-nats-signing-keys") as Obj;
    expect(seeds.spec.secretStoreRef).toEqual({ name: "provisioning-signing-keys", kind: "SecretStore" });
    expect(seeds.spec.data).toEqual([
      { secretKey: "free.seed", remoteRef: { key: "enchanted/dev/nats/seeds/swarm-signing-key-free" } },
      { secretKey: "pro.seed", remoteRef: { key: "enchanted/dev/nats/seeds/swarm-signing-key-pro" } },
      { secretKey: "enterprise.seed", remoteRef: { key: "enchanted/dev/nats/seeds/swarm-signing-key-enterprise" } },
      { secretKey: "tenant-account-signing-key.seed", remoteRef: { key: "enchanted/dev/nats/seeds/tenant-account-signing-key" } },
      { secretKey: "tenant-import-signing-key.seed", remoteRef: { key: "enchanted/dev/nats/seeds/tenant-import-signing-key" } },
      { secretKey: "system-user.creds", remoteRef: { key: "enchanted/dev/nats/seeds/system-user-creds" } },
    ]);
    const client = external.get("provisioning-keycloak-client") as Obj;
    expect(client.spec.secretStoreRef).toEqual({ name: "aws-secrets-manager", kind: "ClusterSecretStore" });
    expect(client.spec.data).toEqual([{ secretKey: "client-secret", remoteRef: { key: "enchanted/dev/keycloak/provisioning-client-secret" } }]);
    const store = out.one("SecretStore");
    expect(store.metadata).toMatchObject({ name: "provisioning-signing-keys", namespace: "platform" });
    expect(store.spec.provider.aws).toEqual({ service: "SecretsManager", region: REGION, role: `\${aws_iam_role.${roleByName("enchanted-dev-provisioning-signing-keys")?.id}.arn}` });
  });

  it("gives the pod's role exactly kms:GenerateDataKey and kms:Decrypt on the tenant-key CMK, and nothing else", () => {
    const role = roleByName("enchanted-dev-provisioning");
    expect(role?.trust.Statement).toEqual([
      { Effect: "Allow", Principal: { Service: "pods.eks.amazonaws.com" }, Action: ["sts:AssumeRole", "sts:TagSession"], Condition: { StringEquals: { "aws:SourceAccount": ACCOUNT_ID } } },
    ]);
    const attached = out.policies.filter((p) => p.role === roleRef("enchanted-dev-provisioning"));
    expect(attached).toHaveLength(1);
    const keys = Object.entries(resourcesOf(out.stack, "aws_kms_key"));
    expect(keys).toHaveLength(1);
    const [keyId, key] = keys[0] as [string, Obj];
    expect(key).toMatchObject({ enable_key_rotation: true, key_usage: "ENCRYPT_DECRYPT" });
    expect(key.description).toMatch(/Tenant data keys/);
    expect(attached[0]?.doc.Statement).toEqual([{ Sid: "TenantDataKeys", Effect: "Allow", Action: ["kms:GenerateDataKey", "kms:Decrypt"], Resource: `\${aws_kms_key.${keyId}.arn}` }]);
    const association = Object.values(resourcesOf(out.stack, "aws_eks_pod_identity_association"));
    expect(association).toEqual([
      expect.objectContaining({ cluster_name: "enchanted-dev", namespace: "platform", service_account: "provisioning", role_arn: `\${aws_iam_role.${role?.id}.arn}` }),
    ]);
    expect(out.one("ServiceAccount").metadata).toMatchObject({ name: "provisioning", namespace: "platform" });
  });

  it("lets only External Secrets, through the reader role, read exactly the NATS signing seeds and the push user's creds", () => {
    const reader = roleByName("enchanted-dev-provisioning-signing-keys");
    expect(reader?.trust.Statement).toEqual([{ Effect: "Allow", Principal: { AWS: ESO_ROLE_ARN }, Action: "sts:AssumeRole" }]);
    const readerPolicies = out.policies.filter((p) => p.role === roleRef("enchanted-dev-provisioning-signing-keys"));
    expect(readerPolicies).toHaveLength(1);
    expect(readerPolicies[0]?.doc.Statement).toEqual([
      {
        Sid: "ReadNatsSigningKeys",
        Effect: "Allow",
        Action: ["secretsmanager:GetSecretValue"],
        Resource: [...["free", "pro", "enterprise"].map((t) => `swarm-signing-key-${t}`), "tenant-account-signing-key", "tenant-import-signing-key", "system-user-creds"].map((n) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT_ID}:secret:enchanted/dev/nats/seeds/${n}-??????`),
      },
      { Sid: "DecryptThemThroughSecretsManager", Effect: "Allow", Action: ["kms:Decrypt"], Resource: SECRETS_KEY_ARN, Condition: { StringEquals: { "kms:ViaService": `secretsmanager.${REGION}.amazonaws.com` } } },
    ]);
    const eso = out.policies.filter((p) => p.role === "enchanted-dev-external-secrets");
    expect(eso.map((p) => p.doc.Statement)).toEqual([[{ Sid: "AssumeSigningKeyReader", Effect: "Allow", Action: ["sts:AssumeRole"], Resource: `\${aws_iam_role.${reader?.id}.arn}` }]]);
    // Three roles' policies in all: nothing grants Secrets Manager to the pod's role.
    expect(out.policies).toHaveLength(3);
    expect(out.text).not.toContain("secretsmanager:*");
  });

  it("allows egress only to DNS, FoundationDB, Keycloak, the KMS endpoint, the Pod Identity Agent, NATS, ClickHouse's HTTP port and SES's SMTP port", () => {
    const policy = out.networkPolicy();
    expect(policy.metadata).toMatchObject({ name: "provisioning", namespace: "platform" });
    expect(policy.spec.pod_selector).toEqual({ match_labels: deployment.spec.selector.matchLabels });
    expect(policy.spec.policy_types).toEqual(["Ingress", "Egress"]);
    const ns = (name: string) => ({ namespace_selector: { match_labels: { "kubernetes.io/metadata.name": name } } });
    expect(policy.spec.egress).toEqual([
      { to: [{ ...ns("kube-system"), pod_selector: { match_labels: { "k8s-app": "kube-dns" } } }], ports: [{ port: "53", protocol: "UDP" }, { port: "53", protocol: "TCP" }] },
      { to: [{ ip_block: { cidr: FDB_CIDR } }], ports: [{ port: "4500", protocol: "TCP" }, { port: "4501", protocol: "TCP" }] },
      { to: [{ ...ns("platform"), pod_selector: { match_labels: { ...KEYCLOAK_POD_LABELS } } }], ports: [{ port: "8080", protocol: "TCP" }] },
      { to: PRIVATE_CIDRS.map((cidr) => ({ ip_block: { cidr } })), ports: [{ port: "443", protocol: "TCP" }] },
      { to: [{ ip_block: { cidr: "169.254.170.23/32" } }], ports: [{ port: "80", protocol: "TCP" }] },
      { to: [ns("nats")], ports: [{ port: "4222", protocol: "TCP" }] },
      { to: [ns("clickhouse")], ports: [{ port: "8123", protocol: "TCP" }] },
      { ports: [{ port: "587", protocol: "TCP" }] },
    ]);
    // Ingress: the scraper only (the gateway is admitted by the stack: provisioning.allowFrom(kong.peer)).
    expect(policy.spec.ingress).toEqual([{ from: [{ ...ns("monitoring"), pod_selector: { match_labels: { "app.kubernetes.io/name": "prometheus" } } }], ports: [{ port: "8080", protocol: "TCP" }] }]);
    const labels = deployment.spec.template.metadata.labels as Obj;
    for (const label of [POLICY_LABELS.natsClient, POLICY_LABELS.foundationDbClient, KEYCLOAK_CLIENT_LABEL]) expect(labels[label], label).toBe("true");
    expect(labels[POLICY_LABELS.clickhouseClient]).toBeUndefined();
  });

  it("scales on CPU between the given bounds and keeps one replica through disruptions", () => {
    const hpa = out.one("HorizontalPodAutoscaler");
    expect(hpa.apiVersion).toBe("autoscaling/v2");
    expect(hpa.spec).toMatchObject({
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name },
      minReplicas: 3,
      maxReplicas: 12,
      metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } }],
    });
    expect(deployment.spec.replicas).toBeUndefined();
    expect(out.one("PodDisruptionBudget").spec).toEqual({ selector: { matchLabels: deployment.spec.selector.matchLabels }, minAvailable: 1 });
    const spread = pod.topologySpreadConstraints as Obj[];
    expect(spread.map((s) => s.topologyKey)).toEqual(["topology.kubernetes.io/zone", "kubernetes.io/hostname"]);
  });

  it("defaults to 2-10 replicas without a scraper, and lets a single replica's node drain", () => {
    const { metricsScraper: _, minReplicas: __, maxReplicas: ___, ...rest } = baseProps;
    const d = synth(rest);
    expect(d.one("HorizontalPodAutoscaler").spec).toMatchObject({ minReplicas: 2, maxReplicas: 10 });
    expect(d.networkPolicy().spec.ingress).toEqual([]);
    expect(synth({ ...baseProps, minReplicas: 1 }).one("PodDisruptionBudget").spec).toMatchObject({ maxUnavailable: 1 });
  });

  it("uses a tenant key passed in instead of creating one", () => {
    const arn = "arn:aws:kms:eu-west-1:123456789012:key/99999999-2222-3333-4444-555555555555";
    const s = synth({ ...baseProps, tenantKey: { keyArn: arn, aliasName: "alias/x" } });
    expect(Object.keys(resourcesOf(s.stack, "aws_kms_key"))).toHaveLength(0);
    expect(s.policies.find((p) => p.doc.Statement[0]?.Sid === "TenantDataKeys")?.doc.Statement[0].Resource).toBe(arn);
  });

  it("rejects a mutable or malformed image, crossing replica caps and an unsynced cluster file, naming the fix", () => {
    expect(() => synth({ ...baseProps, image: `${IMAGE.split(":")[0]}:latest` })).toThrow(/image = .*latest.*Fix: deploy an exact tag/);
    expect(() => synth({ ...baseProps, image: "provisioning" })).toThrow(/image = "provisioning" is not `<repository>:<tag>`/);
    expect(() => synth({ ...baseProps, minReplicas: 5, maxReplicas: 2 })).toThrow(/maxReplicas = 2 is below minReplicas = 5/);
    expect(() => synth({ ...baseProps, foundationDb: { ...baseProps.foundationDb, clusterFileNamespaces: ["elsewhere"] } })).toThrow(/clusterFileNamespaces .*Fix: add "platform"/);
    expect(() => synth({ ...baseProps, kmsEndpointCidrs: [] })).toThrow(/kmsEndpointCidrs = \[\] is empty/);
    expect(() => synth({ ...baseProps, clickhouse: { ...baseProps.clickhouse, url: "clickhouse:8123" } })).toThrow(/clickhouse\.url = "clickhouse:8123" .*PROVISIONING_CLICKHOUSE_URL.*Fix: pass an http\(s\) URL/);
    expect(() => synth({ ...baseProps, clickhouse: { ...baseProps.clickhouse, port: 0 } })).toThrow(/clickhouse\.port = 0 is not a TCP port/);
  });

  it("refuses, itself, values the service's contract says the service would refuse, naming the prop and the fix", () => {
    let error: unknown;
    try {
      synth({ ...baseProps, natsAccount: "not-a-key" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/^test\/provisioning: natsAccount = "not-a-key" is not an account public key \(PROVISIONING_NATS_ACCOUNT must match .*\)\. Fix: pass the platform account's public key/);
    expect(() => synth({ ...baseProps, oidcIssuer: "ftp://auth.example.com/realms/enchanted" })).toThrow(/oidcIssuer = "ftp:.*" is not an http\(s\) URL .*Fix: pass an http\(s\) URL/);
    expect(() => synth({ ...baseProps, credentialsTtlSeconds: 30 })).toThrow(/credentialsTtlSeconds = 30 is not a whole number from 60 to 86400.*Fix: use 60 to 86400/);
  });

  it("builds from the service's contract, never from the service's code", () => {
    // The contract loads no npm package and no service code: only other name modules.
    const contract = runtimeImports("services/provisioning/contract.ts");
    expect(contract.packages).toEqual([]);
    for (const file of contract.files) expect(file, file).not.toMatch(/\/src\//);
    const dir = new URL("../../constructs/provisioning/", import.meta.url);
    const sources = readdirSync(dir).map((f) => readFileSync(new URL(f, dir), "utf8"));
    for (const source of sources) expect(source).not.toMatch(/services\/provisioning\/src\//);
    expect(sources.some((source) => source.includes("services/provisioning/contract.js"))).toBe(true);
  });
});

/**
 * The provisioning service's Secrets. The tier signing-key seeds (`<prefix>/seeds/...`), which the
 * cluster-wide secret store may NOT read (see services/nats-auth/secret-names.ts), are synced
 * through a namespaced SecretStore whose own role may `secretsmanager:GetSecretValue` exactly
 * those secrets (and decrypt them via Secrets Manager); the External Secrets operator assumes that
 * role for this store only. So the seeds are readable from this namespace's store alone, and
 * mounted as `<tier>.seed` files. The Keycloak client secret comes through the cluster's store.
 */
import { IamRole } from "@cdktf/provider-aws/lib/iam-role/index.js";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy/index.js";
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import type { Construct } from "constructs";
import { PLAN_TIER_NAMES } from "../../config/tiers.js";
import { addExternalSecret } from "../external-secrets.js";
import { keycloakSecrets } from "../keycloak/index.js";
import { NATS_ACCOUNT_KEY_FILES } from "../../services/provisioning/contract.js";
import { PROVISIONING_APP_LABELS as APP_LABELS, PROVISIONING_NAMESPACE, PROVISIONING_PATHS, PROVISIONING_SECRETS, SIGNING_KEY_STORE } from "./names.js";
import type { ProvisioningProps } from "./props.js";

/** The ARN of a Secrets Manager secret by name: AWS appends `-` and six random characters. */
function secretArn(region: string, accountId: string, name: string): string {
  return `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-??????`;
}

/** The files of the signing-keys Secret (and directory): each file's key and the secret it comes from. */
export function signingKeyFiles(props: Pick<ProvisioningProps, "signingKeys">): { readonly secretKey: string; readonly remoteKey: string }[] {
  const a = props.signingKeys.accountSecretNames;
  return [
    ...PLAN_TIER_NAMES.map((tier) => ({ secretKey: `${tier}.seed`, remoteKey: props.signingKeys.secretNames[tier] })),
    { secretKey: NATS_ACCOUNT_KEY_FILES.tenantAccounts, remoteKey: a.tenantAccountSigningKey },
    { secretKey: NATS_ACCOUNT_KEY_FILES.tenantImports, remoteKey: a.tenantImportSigningKey },
    { secretKey: PROVISIONING_PATHS.systemUserCredsFile, remoteKey: a.systemUserCreds },
  ];
}

/** The seeds' reader role, store and ExternalSecret, and the Keycloak client secret, in `scope` (the Provisioning construct). */
export function addSigningKeysAndClientSecret(
  scope: Construct,
  props: ProvisioningProps,
): { readonly signingKeyReaderRole: IamRole; readonly seeds: Manifest; readonly clientSecret: Manifest; readonly smtp: Manifest; readonly billingWebhook: Manifest; readonly natsPlatformCreds: Manifest } {
  const namespace = PROVISIONING_NAMESPACE;
  const files = signingKeyFiles(props);
  const seedArns = files.map((f) => secretArn(props.region, props.accountId, f.remoteKey));
  const signingKeyReaderRole = new IamRole(scope, "signing-key-reader", {
    name: `${props.name}-provisioning-signing-keys`,
    description: "Assumed by External Secrets for the provisioning namespace's signing-key store only",
    assumeRolePolicy: JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { AWS: props.signingKeys.externalSecretsRole.roleArn }, Action: "sts:AssumeRole" }],
    }),
  });
  new IamRolePolicy(scope, "read-signing-keys", {
    role: signingKeyReaderRole.name,
    name: "read-nats-signing-keys",
    policy: JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        { Sid: "ReadNatsSigningKeys", Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: seedArns },
        {
          Sid: "DecryptThemThroughSecretsManager",
          Effect: "Allow",
          Action: ["kms:Decrypt"],
          Resource: props.signingKeys.secretsKey.keyArn,
          Condition: { StringEquals: { "kms:ViaService": `secretsmanager.${props.region}.amazonaws.com` } },
        },
      ],
    }),
  });
  new IamRolePolicy(scope, "external-secrets-assumes-reader", {
    role: props.signingKeys.externalSecretsRole.roleName,
    name: `assume-${props.name}-provisioning-signing-keys`,
    policy: JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Sid: "AssumeSigningKeyReader", Effect: "Allow", Action: ["sts:AssumeRole"], Resource: signingKeyReaderRole.arn }],
    }),
  });
  const signingKeyStore = new Manifest(scope, "signing-key-store", {
    manifest: {
      apiVersion: "external-secrets.io/v1",
      kind: "SecretStore",
      metadata: { name: SIGNING_KEY_STORE, namespace, labels: { ...APP_LABELS } },
      spec: { provider: { aws: { service: "SecretsManager", region: props.region, role: signingKeyReaderRole.arn } } },
    },
  });
  const seeds = addExternalSecret(scope, "signing-keys", {
    secretName: PROVISIONING_SECRETS.signingKeys,
    namespace,
    store: { storeName: SIGNING_KEY_STORE, storeKind: "SecretStore" },
    data: files,
    labels: APP_LABELS,
    // Ready once the Secret exists: the pods never start without their files.
    waitUntilReady: true,
    dependsOn: [signingKeyStore],
  });
  const clientSecret = addExternalSecret(scope, "keycloak-client", {
    secretName: PROVISIONING_SECRETS.keycloakClient,
    namespace,
    store: props.secretStore,
    data: [{ secretKey: PROVISIONING_SECRETS.keycloakClientKey, remoteKey: keycloakSecrets(props.keycloak.secretPrefix).provisioningClient.remoteKey }],
    labels: APP_LABELS,
    waitUntilReady: true,
  });
  // One file `username:password` from the SES SMTP credentials Keycloak sends its mail with.
  const smtp = addExternalSecret(scope, "smtp", {
    secretName: PROVISIONING_SECRETS.smtp,
    namespace,
    store: props.secretStore,
    data: [
      { secretKey: "username", remoteKey: props.mail.smtpCredentialsRemoteKey, property: "username" },
      { secretKey: "password", remoteKey: props.mail.smtpCredentialsRemoteKey, property: "password" },
    ],
    template: { data: { [PROVISIONING_SECRETS.smtpKey]: "{{ .username }}:{{ .password }}" } },
    labels: APP_LABELS,
    waitUntilReady: true,
  });
  const billingWebhook = addExternalSecret(scope, "billing-webhook", {
    secretName: PROVISIONING_SECRETS.billingWebhook,
    namespace,
    store: props.secretStore,
    data: [{ secretKey: PROVISIONING_SECRETS.billingWebhookKey, remoteKey: props.billingWebhookRemoteKey }],
    labels: APP_LABELS,
    waitUntilReady: true,
  });
  // The service's own user of the platform account (jobs, the workers' credential requests): a
  // cluster artifact of nats:bootstrap under `<prefix>/cluster/`, like the platform user's creds.
  const natsPlatformCreds = addExternalSecret(scope, "nats-platform-creds", {
    secretName: PROVISIONING_SECRETS.natsPlatformCreds,
    namespace,
    store: props.secretStore,
    data: [{ secretKey: PROVISIONING_SECRETS.natsPlatformCredsKey, remoteKey: props.nats.platformCredsRemoteKey }],
    labels: APP_LABELS,
    waitUntilReady: true,
  });
  return { signingKeyReaderRole, seeds, clientSecret, smtp, billingWebhook, natsPlatformCreds };
}

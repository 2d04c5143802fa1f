import { EksPodIdentityAssociation } from "@cdktf/provider-aws/lib/eks-pod-identity-association/index.js";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role/index.js";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy/index.js";
import { SecretsmanagerSecret } from "@cdktf/provider-aws/lib/secretsmanager-secret/index.js";
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import type { ITerraformDependable } from "cdktf";
import { ValidationError } from "./core/validation.js";
import { Construct } from "constructs";
import { HELM_CHARTS } from "../config/versions.js";
import { POD_IDENTITY_SERVICE, serviceTrustPolicy } from "./iam.js";
import type { IKmsKey } from "./kms-key.js";
import { PinnedHelmRelease, RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT } from "./pinned-helm-release.js";
import { NAMESPACES, type ISecretStore } from "./platform-interfaces.js";

const SERVICE_ACCOUNT = "external-secrets";

export interface ExternalSecretsOperatorProps {
  /** Resources the release waits for (its namespace). @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
  readonly clusterName: string;
  readonly accountId: string;
  readonly region: string;
  /** Secrets Manager names the operator may read: `<prefix>/*` for each. */
  readonly secretPrefixes: readonly string[];
  /** Key that encrypts those secrets; the operator may decrypt with it. */
  readonly secretsKey: IKmsKey;
  /** Chart version from the environment's config. @default HELM_CHARTS.externalSecrets.version */
  readonly version?: string;
  /** @default 2 */
  readonly replicas?: number;
}

/** The external-secrets chart's values. Pure, for tests. */
export function externalSecretsChartValues(replicas: number): Record<string, unknown> {
  return {
    installCRDs: true,
    replicaCount: replicas,
    leaderElect: replicas > 1,
    serviceAccount: { create: true, name: SERVICE_ACCOUNT },
    podDisruptionBudget: { enabled: replicas > 1, minAvailable: 1 },
    podSecurityContext: RESTRICTED_POD_SECURITY_CONTEXT,
    securityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT,
    webhook: { replicaCount: replicas, podSecurityContext: RESTRICTED_POD_SECURITY_CONTEXT, securityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT },
    certController: { replicaCount: 1, podSecurityContext: RESTRICTED_POD_SECURITY_CONTEXT, securityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT },
  };
}

/**
 * External Secrets Operator with an EKS Pod Identity role that may read only the platform's
 * secret prefixes and decrypt only with their key. Lives in the platform stack.
 */
export class ExternalSecretsOperator extends Construct {
  readonly helm: PinnedHelmRelease;
  readonly roleArn: string;
  /** The operator's role name: other constructs attach read access to their own secrets to it. */
  readonly roleName: string;

  constructor(scope: Construct, id: string, props: ExternalSecretsOperatorProps) {
    super(scope, id);
    if (props.secretPrefixes.length === 0) {
      throw new ValidationError(this, "secretPrefixes", props.secretPrefixes, "is empty", 'list the Secrets Manager prefixes the platform syncs (e.g. "enchanted/prod/nats")');
    }
    const role = new IamRole(this, "role", {
      name: `${props.clusterName}-external-secrets`,
      assumeRolePolicy: serviceTrustPolicy(POD_IDENTITY_SERVICE, props.accountId),
    });
    new IamRolePolicy(this, "read-secrets", {
      role: role.name,
      name: "read-platform-secrets",
      policy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "ReadPlatformSecrets",
            Effect: "Allow",
            Action: ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            Resource: props.secretPrefixes.map((p) => `arn:aws:secretsmanager:${props.region}:${props.accountId}:secret:${p}/*`),
          },
          { Sid: "DecryptThem", Effect: "Allow", Action: ["kms:Decrypt"], Resource: props.secretsKey.keyArn },
        ],
      }),
    });
    new EksPodIdentityAssociation(this, "pod-identity", {
      clusterName: props.clusterName,
      namespace: NAMESPACES.externalSecrets,
      serviceAccount: SERVICE_ACCOUNT,
      roleArn: role.arn,
    });
    this.roleArn = role.arn;
    this.roleName = role.name;
    this.helm = new PinnedHelmRelease(this, "chart", {
      chart: HELM_CHARTS.externalSecrets,
      ...(props.version ? { version: props.version } : {}),
      releaseName: "external-secrets",
      namespace: NAMESPACES.externalSecrets,
      ...(props.dependsOn ? { dependsOn: props.dependsOn } : {}),
      values: externalSecretsChartValues(props.replicas ?? 2),
    });
  }
}

export interface AwsSecretStoreProps {
  readonly region: string;
  /** @default "aws-secrets-manager" */
  readonly name?: string;
}

/** The ClusterSecretStore every ExternalSecret reads through (workloads stack: it is a custom resource). */
export class AwsSecretStore extends Construct implements ISecretStore {
  readonly storeName: string;
  readonly storeKind = "ClusterSecretStore" as const;

  constructor(scope: Construct, id: string, props: AwsSecretStoreProps) {
    super(scope, id);
    this.storeName = props.name ?? "aws-secrets-manager";
    new Manifest(this, "store", {
      manifest: {
        apiVersion: "external-secrets.io/v1",
        kind: "ClusterSecretStore",
        metadata: { name: this.storeName },
        // No auth block: the controller's Pod Identity credentials (default AWS credential chain).
        spec: { provider: { aws: { service: "SecretsManager", region: props.region } } },
      },
    });
  }
}

export interface ManagedSecretProps {
  /** Secrets Manager name, e.g. `enchanted/prod/nats/auth-conf`. */
  readonly name: string;
  readonly description: string;
  readonly key: IKmsKey;
  /** Days a deleted secret can be restored. @default 30 */
  readonly recoveryWindowDays?: number;
}

/**
 * A Secrets Manager secret encrypted with a customer key. Terraform creates only the container:
 * the value is put out of band (`aws secretsmanager put-secret-value`, a bootstrap command or a
 * rotation function), so no secret value ever appears in Terraform state or synthesized JSON.
 */
export class ManagedSecret extends Construct {
  readonly secretName: string;
  readonly arn: string;
  constructor(scope: Construct, id: string, props: ManagedSecretProps) {
    super(scope, id);
    const secret = new SecretsmanagerSecret(this, "secret", {
      name: props.name,
      description: props.description,
      kmsKeyId: props.key.keyArn,
      recoveryWindowInDays: props.recoveryWindowDays ?? 30,
    });
    this.secretName = props.name;
    this.arn = secret.arn;
  }
}

export interface SyncedSecretProps {
  readonly store: ISecretStore;
  readonly namespace: string;
  /** Name of the Kubernetes Secret to create. */
  readonly secretName: string;
  /** Secrets Manager name to read. */
  readonly remoteKey: string;
  /**
   * Keys of the Kubernetes Secret and the JSON property of the remote value each comes from.
   * @default - the whole remote value under the key "value"
   */
  readonly data?: readonly { readonly secretKey: string; readonly property?: string }[];
  /** @default "1h" */
  readonly refreshInterval?: string;
}

/** An ExternalSecret's contents (see {@link addExternalSecret}). */
export interface ExternalSecretSpec {
  /** The Kubernetes Secret to create (also the ExternalSecret's name). */
  readonly secretName: string;
  readonly namespace: string;
  /** The store the values are read through (a ClusterSecretStore, or a namespace's own SecretStore). */
  readonly store: { readonly storeName: string; readonly storeKind: string };
  /** Each key of the Secret and the Secrets Manager name (and JSON property) its value comes from. */
  readonly data: readonly { readonly secretKey: string; readonly remoteKey: string; readonly property?: string }[];
  /** @default - none */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Shapes the Secret (External Secrets' `target.template`): labels it carries and literal keys
   * merged beside the synced ones, e.g. a Kong credential's `key` and `algorithm`.
   * @default - the synced keys only, no labels
   */
  readonly template?: { readonly labels?: Readonly<Record<string, string>>; readonly data?: Readonly<Record<string, string>> };
  /** @default "1h" */
  readonly refreshInterval?: string;
  /** Terraform waits until the Secret exists (for pods that must not start without it). @default false */
  readonly waitUntilReady?: boolean;
  /** @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/** An ExternalSecret manifest in `scope` under `id`: a Kubernetes Secret kept in sync with Secrets Manager. */
export function addExternalSecret(scope: Construct, id: string, spec: ExternalSecretSpec): Manifest {
  return new Manifest(scope, id, {
    manifest: {
      apiVersion: "external-secrets.io/v1",
      kind: "ExternalSecret",
      metadata: { name: spec.secretName, namespace: spec.namespace, ...(spec.labels ? { labels: { ...spec.labels } } : {}) },
      spec: {
        refreshInterval: spec.refreshInterval ?? "1h",
        secretStoreRef: { name: spec.store.storeName, kind: spec.store.storeKind },
        target: {
          name: spec.secretName,
          creationPolicy: "Owner",
          deletionPolicy: "Retain",
          ...(spec.template
            ? {
                template: {
                  mergePolicy: "Merge",
                  ...(spec.template.labels ? { metadata: { labels: { ...spec.template.labels } } } : {}),
                  ...(spec.template.data ? { data: { ...spec.template.data } } : {}),
                },
              }
            : {}),
        },
        data: spec.data.map((d) => ({ secretKey: d.secretKey, remoteRef: { key: d.remoteKey, ...(d.property ? { property: d.property } : {}) } })),
      },
    },
    ...(spec.waitUntilReady ? { wait: { condition: [{ type: "Ready", status: "True" }] } } : {}),
    ...(spec.dependsOn ? { dependsOn: [...spec.dependsOn] } : {}),
  });
}

/** An ExternalSecret: a Kubernetes Secret kept in sync with one Secrets Manager secret. */
export class SyncedSecret extends Construct {
  readonly secretName: string;
  /** The ExternalSecret resource, for `dependsOn` of what reads the Secret. */
  readonly resource: Manifest;
  constructor(scope: Construct, id: string, props: SyncedSecretProps) {
    super(scope, id);
    this.resource = addExternalSecret(this, "external-secret", {
      secretName: props.secretName,
      namespace: props.namespace,
      store: props.store,
      data: (props.data ?? [{ secretKey: "value" }]).map((d) => ({ ...d, remoteKey: props.remoteKey })),
      ...(props.refreshInterval !== undefined ? { refreshInterval: props.refreshInterval } : {}),
    });
    this.secretName = props.secretName;
  }
}

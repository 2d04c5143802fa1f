import { HelmProvider } from "@cdktf/provider-helm/lib/provider/index.js";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider/index.js";
import { StorageClassV1 } from "@cdktf/provider-kubernetes/lib/storage-class-v1/index.js";
import { Fn } from "cdktf";
import type { Construct } from "constructs";
import type { EnvironmentConfig } from "../config/index.js";
import type { IEksCluster } from "../constructs/eks-cluster.js";
import type { IKmsKey } from "../constructs/kms-key.js";
import { ENCRYPTED_STORAGE_CLASS } from "../constructs/platform-interfaces.js";
import { EnvironmentStack } from "./environment-stack.js";

export interface PlatformStackProps {
  readonly config: EnvironmentConfig;
  /** The cluster of the environment's foundation stack (a cross-stack reference). */
  readonly cluster: IEksCluster;
  /** Key of the environment's EBS volumes; persistent volumes are encrypted with it. */
  readonly ebsKey: IKmsKey;
}

/** The default StorageClass: encrypted gp3 with the environment's EBS key. */
export const DEFAULT_STORAGE_CLASS = ENCRYPTED_STORAGE_CLASS;

/**
 * `<env>-platform`: everything inside Kubernetes. Its Kubernetes and Helm providers are
 * configured from the foundation stack's cluster through cross-stack references (Terraform
 * remote state), and authenticate with short-lived `aws eks get-token` credentials.
 */
export class PlatformStack extends EnvironmentStack {
  readonly kubernetes: KubernetesProvider;
  readonly helm: HelmProvider;

  constructor(scope: Construct, props: PlatformStackProps) {
    super(scope, { config: props.config, kind: "platform" });
    const { cluster, config } = props;
    const exec = {
      apiVersion: "client.authentication.k8s.io/v1beta1",
      command: "aws",
      args: ["eks", "get-token", "--cluster-name", cluster.clusterName, "--region", config.aws.region],
    };
    const caCertificate = Fn.base64decode(cluster.certificateAuthorityData);
    this.kubernetes = new KubernetesProvider(this, "kubernetes", {
      host: cluster.endpoint,
      clusterCaCertificate: caCertificate,
      exec: [exec],
    });
    this.helm = new HelmProvider(this, "helm", {
      kubernetes: { host: cluster.endpoint, clusterCaCertificate: caCertificate, exec },
    });

    new StorageClassV1(this, "default-storage-class", {
      metadata: {
        name: DEFAULT_STORAGE_CLASS,
        annotations: { "storageclass.kubernetes.io/is-default-class": "true" },
      },
      storageProvisioner: "ebs.csi.aws.com",
      parameters: { type: "gp3", encrypted: "true", kmsKeyId: props.ebsKey.keyArn, "csi.storage.k8s.io/fstype": "ext4" },
      reclaimPolicy: "Retain",
      volumeBindingMode: "WaitForFirstConsumer",
      allowVolumeExpansion: true,
    });
  }
}

import { HelmProvider } from "@cdktf/provider-helm/lib/provider/index.js";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider/index.js";
import { Fn } from "cdktf";
import type { Construct } from "constructs";
import type { EnvironmentConfig } from "../config/index.js";
import type { IEksCluster } from "../constructs/eks-cluster.js";
import { EnvironmentStack, type StackKind } from "./environment-stack.js";

export interface KubernetesStackProps {
  readonly config: EnvironmentConfig;
  readonly kind: Exclude<StackKind, "foundation">;
  /** The cluster of the environment's foundation stack (a cross-stack reference). */
  readonly cluster: IEksCluster;
}

/**
 * Base of the stacks that work inside the cluster. Their Kubernetes and Helm providers are
 * configured from the foundation stack's cluster through cross-stack references (Terraform
 * remote state) and authenticate with short-lived `aws eks get-token` credentials. A stack that
 * creates the cluster never has these providers.
 */
export class KubernetesStack extends EnvironmentStack {
  readonly kubernetes: KubernetesProvider;
  readonly helm: HelmProvider;

  constructor(scope: Construct, props: KubernetesStackProps) {
    super(scope, { config: props.config, kind: props.kind });
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
  }
}

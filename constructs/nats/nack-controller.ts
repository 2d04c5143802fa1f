/**
 * NACK, the JetStream controller, and its CRDs (platform stack): it turns the `Account`,
 * `Stream` and `Consumer` resources of the workloads stack into JetStream state.
 */
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { HELM_CHARTS } from "../../config/versions.js";
import { addNetworkPolicy } from "../k8s/network-policy.js";
import { PinnedHelmRelease, RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT } from "../pinned-helm-release.js";
import { PORTS } from "../platform-interfaces.js";
import { NACK_SELECTOR, NATS_NAMES, NATS_NAMESPACE, NATS_UID } from "./names.js";

export interface NackControllerProps {
  /** Chart version from the environment's config (`charts.nack`). @default HELM_CHARTS.nack.version */
  readonly version?: string;
  /** Resources the release waits for (the `nats` namespace). @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/**
 * The NACK chart's values: the JetStream controller watching only the `nats` namespace, taking
 * its connection (servers, creds, TLS) from `Account` resources (`-crd-connect`: no URL), so it
 * starts before NATS exists; restricted, non-root. Pure, for tests.
 */
export function nackChartValues(): Record<string, unknown> {
  return {
    jetstream: { enabled: true, nats: { url: "" } },
    namespaced: true,
    // Standard app.kubernetes.io labels (NACK_SELECTOR) instead of the chart's legacy `app`.
    useLegacyNames: false,
    securityContext: { ...RESTRICTED_POD_SECURITY_CONTEXT, runAsUser: NATS_UID, runAsGroup: NATS_UID, fsGroup: NATS_UID },
    containerSecurityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT,
    resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
  };
}

/**
 * NACK, the JetStream controller, and its CRDs (platform stack: the workloads stack's `Stream`,
 * `Consumer` and `Account` resources need the CRDs when Terraform plans), and its way out of the
 * default-deny namespace to the Kubernetes API (443); NATS itself admits it (same namespace).
 */
export class NackController extends Construct {
  readonly helm: PinnedHelmRelease;
  constructor(scope: Construct, id: string, props: NackControllerProps = {}) {
    super(scope, id);
    this.helm = new PinnedHelmRelease(this, "chart", {
      chart: HELM_CHARTS.nack,
      ...(props.version ? { version: props.version } : {}),
      releaseName: NATS_NAMES.nackRelease,
      namespace: NATS_NAMESPACE,
      values: nackChartValues(),
      ...(props.dependsOn ? { dependsOn: props.dependsOn } : {}),
    });
    addNetworkPolicy(this, "allow-kubernetes-api", {
      name: "allow-nack-kubernetes-api",
      namespace: NATS_NAMESPACE,
      podLabels: NACK_SELECTOR,
      egress: [{ ports: [PORTS.https] }],
      ...(props.dependsOn ? { dependsOn: props.dependsOn } : {}),
    });
  }
}

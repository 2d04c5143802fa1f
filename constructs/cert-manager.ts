import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { HELM_CHARTS } from "../config/versions.js";
import { PinnedHelmRelease, RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT } from "./pinned-helm-release.js";
import { NAMESPACES, type ICertificateIssuer } from "./platform-interfaces.js";

export interface CertManagerProps {
  /** Resources the release waits for (its namespace). @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
  /** Chart version from the environment's config. @default HELM_CHARTS.certManager.version */
  readonly version?: string;
  /** Controller replicas (leader-elected; more only shortens failover). @default 2 */
  readonly replicas?: number;
}

const DEFAULT_REPLICAS = 2;

/** The cert-manager chart's values: CRDs installed, HA, restricted security contexts. Pure, for tests. */
export function certManagerChartValues(replicas: number): Record<string, unknown> {
  return {
    crds: { enabled: true, keep: true },
    replicaCount: replicas,
    podDisruptionBudget: { enabled: replicas > 1, minAvailable: 1 },
    securityContext: RESTRICTED_POD_SECURITY_CONTEXT,
    containerSecurityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT,
    webhook: { replicaCount: replicas, securityContext: RESTRICTED_POD_SECURITY_CONTEXT, containerSecurityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT },
    cainjector: { replicaCount: replicas, securityContext: RESTRICTED_POD_SECURITY_CONTEXT, containerSecurityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT },
  };
}

/** cert-manager (operator and CRDs); lives in the platform stack. */
export class CertManager extends Construct {
  readonly helm: PinnedHelmRelease;
  constructor(scope: Construct, id: string, props: CertManagerProps = {}) {
    super(scope, id);
    this.helm = new PinnedHelmRelease(this, "chart", {
      chart: HELM_CHARTS.certManager,
      ...(props.version ? { version: props.version } : {}),
      releaseName: "cert-manager",
      namespace: NAMESPACES.certManager,
      ...(props.dependsOn ? { dependsOn: props.dependsOn } : {}),
      values: certManagerChartValues(props.replicas ?? DEFAULT_REPLICAS),
    });
  }
}

export interface InternalCaProps {
  /** @default "enchanted-internal-ca" */
  readonly name?: string;
  /** CA certificate lifetime. @default "87600h" (10 years) */
  readonly caDuration?: string;
}

/**
 * The cluster's internal CA for service-to-service TLS (NATS, ClickHouse): a self-signed root
 * kept in a Secret, and a ClusterIssuer that signs service certificates with it. Custom
 * resources, so it lives in the workloads stack (after cert-manager's CRDs exist).
 */
export class InternalCa extends Construct implements ICertificateIssuer {
  readonly issuerName: string;
  readonly issuerKind = "ClusterIssuer" as const;

  constructor(scope: Construct, id: string, props: InternalCaProps = {}) {
    super(scope, id);
    const name = props.name ?? "enchanted-internal-ca";
    const selfSigned = new Manifest(this, "self-signed", {
      manifest: { apiVersion: "cert-manager.io/v1", kind: "ClusterIssuer", metadata: { name: `${name}-bootstrap` }, spec: { selfSigned: {} } },
    });
    const root = new Manifest(this, "root", {
      manifest: {
        apiVersion: "cert-manager.io/v1",
        kind: "Certificate",
        metadata: { name, namespace: NAMESPACES.certManager },
        spec: {
          isCA: true,
          commonName: name,
          secretName: name,
          duration: props.caDuration ?? "87600h",
          privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
          issuerRef: { name: `${name}-bootstrap`, kind: "ClusterIssuer", group: "cert-manager.io" },
        },
      },
      dependsOn: [selfSigned],
    });
    new Manifest(this, "issuer", {
      manifest: { apiVersion: "cert-manager.io/v1", kind: "ClusterIssuer", metadata: { name }, spec: { ca: { secretName: name } } },
      dependsOn: [root],
    });
    this.issuerName = name;
  }
}

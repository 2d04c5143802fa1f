import type { ITerraformDependable } from "cdktf";
import { ValidationError, type PropScope } from "./core/validation.js";
import { Construct } from "constructs";
import { HELM_CHARTS } from "../config/versions.js";
import { PinnedHelmRelease } from "./pinned-helm-release.js";
import { NAMESPACES } from "./platform-interfaces.js";

export interface KedaProps {
  /** Resources the release waits for (its namespace). @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
  /** Chart version from the environment's config. @default HELM_CHARTS.keda.version */
  readonly version?: string;
  /** Operator and metrics-server replicas (leader-elected: more only shortens failover). @default 2 */
  readonly replicas?: number;
}

const DEFAULT_REPLICAS = 2;

/** Label KEDA's operator pods carry; NetworkPolicies let it reach the NATS monitoring port. */
export const KEDA_OPERATOR_SELECTOR = { "app.kubernetes.io/name": "keda-operator" } as const;

/** The KEDA chart's values: HA, restricted security contexts, PDBs. Pure, for tests. */
export function kedaChartValues(props: KedaProps = {}, scope: PropScope = "Keda"): Record<string, unknown> {
  const replicas = props.replicas ?? DEFAULT_REPLICAS;
  if (!Number.isInteger(replicas) || replicas < 1) throw new ValidationError(scope, "replicas", replicas, "must be a positive integer", "use 1 (dev) or 2");
  const pdb = replicas > 1 ? { minAvailable: 1 } : {};
  const container = {
    capabilities: { drop: ["ALL"] },
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    seccompProfile: { type: "RuntimeDefault" },
  };
  const pod = { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } };
  return {
    crds: { install: true },
    operator: { replicaCount: replicas },
    metricsServer: { replicaCount: replicas },
    webhooks: { replicaCount: replicas },
    podDisruptionBudget: { operator: pdb, metricServer: pdb, webhooks: pdb },
    securityContext: { operator: container, metricServer: container, webhooks: container },
    podSecurityContext: { operator: pod, metricServer: pod, webhooks: pod },
    topologySpreadConstraints: {
      operator: [zoneSpread("keda-operator")],
      metricsServer: [zoneSpread("keda-operator-metrics-apiserver")],
      webhooks: [zoneSpread("keda-admission-webhooks")],
    },
  };
}

function zoneSpread(name: string) {
  return {
    maxSkew: 1,
    topologyKey: "topology.kubernetes.io/zone",
    whenUnsatisfiable: "ScheduleAnyway",
    labelSelector: { matchLabels: { "app.kubernetes.io/name": name } },
  };
}

/** KEDA (operator, metrics server, webhooks and CRDs); lives in the platform stack. */
export class Keda extends Construct {
  readonly helm: PinnedHelmRelease;
  constructor(scope: Construct, id: string, props: KedaProps = {}) {
    super(scope, id);
    this.helm = new PinnedHelmRelease(this, "chart", {
      chart: HELM_CHARTS.keda,
      ...(props.version ? { version: props.version } : {}),
      releaseName: "keda",
      namespace: NAMESPACES.keda,
      ...(props.dependsOn ? { dependsOn: props.dependsOn } : {}),
      values: kedaChartValues(props),
    });
  }
}

export interface JetStreamLagTriggerProps {
  /** `host:port` of the NATS monitoring endpoint (`/jsz`), e.g. `nats-headless.nats.svc.cluster.local:8222`. */
  readonly monitoringEndpoint: string;
  /** Public key of the NATS account that owns the stream (JetStream is per account). */
  readonly account: string;
  readonly stream: string;
  readonly consumer: string;
  /** Pending messages per replica KEDA aims for (KEDA's `lagThreshold`). */
  readonly lagThreshold: number;
  /** Pending messages below which the target stays scaled to zero. @default 0 */
  readonly activationLagThreshold?: number;
}

/** A KEDA `nats-jetstream` trigger on one consumer's lag (used by worker pools and the ingestor). */
export function jetStreamLagTrigger(props: JetStreamLagTriggerProps, scope: PropScope = "jetStreamLagTrigger"): Record<string, unknown> {
  if (!Number.isInteger(props.lagThreshold) || props.lagThreshold < 1) {
    throw new ValidationError(scope, "lagThreshold", props.lagThreshold, "must be a positive integer", "set the tier's workers.scaling.lagThreshold");
  }
  return {
    type: "nats-jetstream",
    metadata: {
      natsServerMonitoringEndpoint: props.monitoringEndpoint,
      account: props.account,
      stream: props.stream,
      consumer: props.consumer,
      lagThreshold: String(props.lagThreshold),
      activationLagThreshold: String(props.activationLagThreshold ?? 0),
      useHttps: "false",
    },
  };
}

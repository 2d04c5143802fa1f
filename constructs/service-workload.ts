/**
 * What the constructs of this repository's own services (Ingestor, Provisioning) share: the
 * image and sizing checks, the restricted Deployment (probes, spread, resources, V8 heap) and the
 * Service and PodDisruptionBudget every replicated HTTP service gets. Plain manifests, like the rest.
 */
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import { Token, type ITerraformDependable } from "cdktf";
import type { Construct } from "constructs";
import type { PropFail } from "./core/validation.js";
import { RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT } from "./pinned-helm-release.js";

/** `<repository>:<tag>`: an exact tag, never a digest-less `latest`. */
export const SERVICE_IMAGE_PATTERN = /^[a-z0-9][a-z0-9._/:-]*[a-z0-9]:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** Kubelet's grace beyond the service's own shutdown bound: its exit, logs, the endpoint removal. */
export const TERMINATION_MARGIN_SECONDS = 15;

export interface ServiceResources {
  /** @default 250 */
  readonly cpuRequestMillicores?: number;
  /** @default 256 */
  readonly memoryRequestMiB?: number;
  /** Also sets V8's heap to the service's share of it. @default 512 */
  readonly memoryLimitMiB?: number;
}

/** Replicas and resources of a service whose props leave them out (the doc defaults above). */
export const SERVICE_SIZING_DEFAULTS = { minReplicas: 2, maxReplicas: 10, cpuRequestMillicores: 250, memoryRequestMiB: 256, memoryLimitMiB: 512 } as const;

/** A service's replicas and resources: its props, else {@link SERVICE_SIZING_DEFAULTS}. */
export function resolveServiceSizing(props: { readonly minReplicas?: number; readonly maxReplicas?: number; readonly resources?: ServiceResources }): Omit<ServiceSizing, "shutdownTimeoutSeconds"> {
  const d = SERVICE_SIZING_DEFAULTS;
  return {
    minReplicas: props.minReplicas ?? d.minReplicas,
    maxReplicas: props.maxReplicas ?? d.maxReplicas,
    cpuRequestMillicores: props.resources?.cpuRequestMillicores ?? d.cpuRequestMillicores,
    memoryRequestMiB: props.resources?.memoryRequestMiB ?? d.memoryRequestMiB,
    memoryLimitMiB: props.resources?.memoryLimitMiB ?? d.memoryLimitMiB,
  };
}

/** The resolved sizing every service construct checks. */
export interface ServiceSizing {
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly cpuRequestMillicores: number;
  readonly memoryRequestMiB: number;
  readonly memoryLimitMiB: number;
  readonly shutdownTimeoutSeconds: number;
}

export { propFail, type PropFail } from "./core/validation.js";

/** `image` (unless a token) is `<repository>:<exact tag>`; `repository` names the example. */
export function checkServiceImage(image: string, repository: string, fail: PropFail): void {
  if (Token.isUnresolved(image)) return;
  if (!SERVICE_IMAGE_PATTERN.test(image)) fail("image", image, "is not `<repository>:<tag>`", `pass the ECR repository URL and an exact tag, e.g. \`<account>.dkr.ecr.<region>.amazonaws.com/${repository}:1.4.2\``);
  if (image.endsWith(":latest")) fail("image", image, "uses the mutable tag latest", "deploy an exact tag (a version or a commit SHA)");
}

export function checkPositive(prop: string, value: number, fail: PropFail): void {
  if (!Number.isInteger(value) || value < 1) fail(prop, value, "is not a positive integer", `set ${prop} to a whole number of at least 1`);
}

/** Replica bounds, resources and the shutdown bound: positive, max ≥ min, limit ≥ request. */
export function checkServiceSizing(r: ServiceSizing, fail: PropFail): void {
  checkPositive("minReplicas", r.minReplicas, fail);
  checkPositive("maxReplicas", r.maxReplicas, fail);
  checkPositive("resources.cpuRequestMillicores", r.cpuRequestMillicores, fail);
  checkPositive("resources.memoryRequestMiB", r.memoryRequestMiB, fail);
  checkPositive("resources.memoryLimitMiB", r.memoryLimitMiB, fail);
  checkPositive("shutdownTimeoutSeconds", r.shutdownTimeoutSeconds, fail);
  if (r.maxReplicas < r.minReplicas) fail("maxReplicas", r.maxReplicas, `is below minReplicas = ${r.minReplicas}`, "raise maxReplicas or lower minReplicas");
  if (r.memoryLimitMiB < r.memoryRequestMiB) {
    fail("resources.memoryLimitMiB", r.memoryLimitMiB, `is below resources.memoryRequestMiB = ${r.memoryRequestMiB}`, "set the limit at least as large as the request");
  }
}

/** Startup, liveness and readiness probes on the container's `http` port. */
function httpProbes(healthPath: string, readyPath: string) {
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({ httpGet: { path, port: "http" }, periodSeconds, timeoutSeconds: 2, failureThreshold });
  return { startupProbe: probe(healthPath, 2, 30), livenessProbe: probe(healthPath, 10, 3), readinessProbe: probe(readyPath, 5, 2) };
}

/** Replicas spread over zones, then nodes (best effort). */
function zoneAndHostSpread(labels: Readonly<Record<string, string>>) {
  const spread = (topologyKey: string) => ({ maxSkew: 1, topologyKey, whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: { ...labels } } });
  return [spread("topology.kubernetes.io/zone"), spread("kubernetes.io/hostname")];
}

/** CPU and memory requested, memory limited (no CPU limit: throttling a service helps no one). */
function containerResources(r: Pick<ServiceSizing, "cpuRequestMillicores" | "memoryRequestMiB" | "memoryLimitMiB">) {
  return { requests: { cpu: `${r.cpuRequestMillicores}m`, memory: `${r.memoryRequestMiB}Mi` }, limits: { memory: `${r.memoryLimitMiB}Mi` } };
}

/** `NODE_OPTIONS` sizing V8's heap to `share` of the memory limit (buffers and native memory need the rest). */
function heapLimitEnv(memoryLimitMiB: number, share: number) {
  return { name: "NODE_OPTIONS", value: `--max-old-space-size=${Math.floor(memoryLimitMiB * share)}` };
}

export interface ServiceAndBudgetProps {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly port: number;
  /** The Service port's name (e.g. `http`, `http-metrics`); it targets the container port `http`. */
  readonly portName: string;
  readonly minReplicas: number;
}

/**
 * The ClusterIP Service on the container's `http` port, and a PodDisruptionBudget: one replica
 * always up when there are several; with one replica (dev) nodes must still drain.
 */
export function addServiceAndDisruptionBudget(scope: Construct, p: ServiceAndBudgetProps): void {
  const metadata = { name: p.name, namespace: p.namespace, labels: { ...p.labels } };
  new Manifest(scope, "service", {
    manifest: {
      apiVersion: "v1",
      kind: "Service",
      metadata,
      spec: { type: "ClusterIP", selector: { ...p.labels }, ports: [{ name: p.portName, port: p.port, targetPort: "http", protocol: "TCP" }] },
    },
  });
  new Manifest(scope, "pdb", {
    manifest: {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata,
      spec: { selector: { matchLabels: { ...p.labels } }, ...(p.minReplicas > 1 ? { minAvailable: 1 } : { maxUnavailable: 1 }) },
    },
  });
}

/** A Secret mounted read-only into the service's container. */
export interface SecretVolume {
  readonly name: string;
  readonly mountPath: string;
  /** The pod volume's `secret` (`secretName`, `items`, `defaultMode`). */
  readonly secret: Readonly<Record<string, unknown>>;
}

export interface ServiceDeploymentProps {
  readonly name: string;
  readonly namespace: string;
  /** The app labels: the Deployment's, its selector's and the spread's. */
  readonly labels: Readonly<Record<string, string>>;
  /** The pods' labels: the app labels and those other namespaces' policies admit clients by. */
  readonly podLabels: Readonly<Record<string, string>>;
  readonly image: string;
  /** The container's `http` port: probes, metrics and the Service. */
  readonly port: number;
  readonly metricsPath: string;
  readonly healthPath: string;
  readonly readyPath: string;
  readonly sizing: ServiceSizing;
  /** V8's heap as a share of the memory limit (`NODE_OPTIONS`, added after `env`). */
  readonly heapShare: number;
  readonly env: readonly Readonly<Record<string, unknown>>[];
  /** Mounted read-only, in this order; a writable `/tmp` (64 MiB) follows them. */
  readonly secretVolumes: readonly SecretVolume[];
  /** @default - the namespace's default ServiceAccount (with no API token either way) */
  readonly serviceAccountName?: string;
  /** Nodes the pods run on (e.g. a dedicated, tainted pool). @default - any node */
  readonly scheduling?: ServiceScheduling;
  readonly dependsOn: readonly ITerraformDependable[];
}

/** A node selector and the tolerations of the nodes' taints. */
export interface ServiceScheduling {
  readonly nodeSelector?: Readonly<Record<string, string>>;
  readonly tolerations?: readonly { readonly key: string; readonly operator: "Equal" | "Exists"; readonly value?: string; readonly effect: "NoSchedule" | "NoExecute" | "PreferNoSchedule" }[];
}

/**
 * A pod spec's `nodeSelector` and `tolerations` (Kubernetes API shape) for the scheduling given:
 * each only when it says something, so an unplaced pod's spec carries neither.
 */
export function podPlacement(s: ServiceScheduling | undefined): Pick<ServiceScheduling, "nodeSelector" | "tolerations"> {
  return {
    ...(s?.nodeSelector && Object.keys(s.nodeSelector).length > 0 ? { nodeSelector: { ...s.nodeSelector } } : {}),
    ...(s?.tolerations && s.tolerations.length > 0 ? { tolerations: s.tolerations.map((t) => ({ ...t })) } : {}),
  };
}

/**
 * The service's Deployment: restricted pod and container, read-only root filesystem but `/tmp`,
 * no Kubernetes API token, replicas spread over zones and nodes, surge-only rolling updates, the
 * kubelet's grace {@link TERMINATION_MARGIN_SECONDS} beyond the service's shutdown bound, and
 * Prometheus scrape annotations. No `replicas`: an autoscaler (KEDA's or an HPA) owns the count,
 * and setting it here would fight it on every apply.
 */
export function addServiceDeployment(scope: Construct, p: ServiceDeploymentProps): Manifest {
  return new Manifest(scope, "deployment", {
    manifest: {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: p.name, namespace: p.namespace, labels: { ...p.labels } },
      spec: {
        selector: { matchLabels: { ...p.labels } },
        strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          metadata: {
            labels: { ...p.podLabels },
            annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": String(p.port), "prometheus.io/path": p.metricsPath },
          },
          spec: {
            ...(p.serviceAccountName !== undefined ? { serviceAccountName: p.serviceAccountName } : {}),
            ...podPlacement(p.scheduling),
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: p.sizing.shutdownTimeoutSeconds + TERMINATION_MARGIN_SECONDS,
            securityContext: { ...RESTRICTED_POD_SECURITY_CONTEXT },
            topologySpreadConstraints: zoneAndHostSpread(p.labels),
            containers: [
              {
                name: p.name,
                image: p.image,
                imagePullPolicy: "IfNotPresent",
                ports: [{ name: "http", containerPort: p.port, protocol: "TCP" }],
                env: [...p.env, heapLimitEnv(p.sizing.memoryLimitMiB, p.heapShare)],
                resources: containerResources(p.sizing),
                ...httpProbes(p.healthPath, p.readyPath),
                securityContext: { ...RESTRICTED_CONTAINER_SECURITY_CONTEXT },
                volumeMounts: [...p.secretVolumes.map((v) => ({ name: v.name, mountPath: v.mountPath, readOnly: true })), { name: "tmp", mountPath: "/tmp" }],
              },
            ],
            volumes: [...p.secretVolumes.map((v) => ({ name: v.name, secret: { ...v.secret } })), { name: "tmp", emptyDir: { sizeLimit: "64Mi" } }],
          },
        },
      },
    },
    dependsOn: [...p.dependsOn],
  });
}

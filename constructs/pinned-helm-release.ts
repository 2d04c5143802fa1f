import { Release } from "@cdktf/provider-helm/lib/release/index.js";
import type { ITerraformDependable } from "cdktf";
import { ValidationError } from "./core/validation.js";
import { Construct } from "constructs";
import type { HelmChartPin } from "../config/versions.js";

export interface PinnedHelmReleaseProps {
  /** Chart, repository and exact version: one constant per chart in config/versions.ts. */
  readonly chart: HelmChartPin;
  /** Version override from the environment's config (`charts.<name>`). @default chart.version */
  readonly version?: string;
  readonly releaseName: string;
  /** Namespace, created by the tenancy construct (never by Helm). */
  readonly namespace: string;
  /** Chart values; built by the chart's pure values function. */
  readonly values: Readonly<Record<string, unknown>>;
  /** Seconds Helm waits for the release's resources to be ready. @default 600 */
  readonly timeoutSeconds?: number;
  /** @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

const DEFAULT_TIMEOUT_SECONDS = 600;
/** Release history Helm keeps, enough to roll back a few deploys. */
const MAX_HISTORY = 5;

/**
 * A Helm release pinned to an exact chart version, installed atomically (a failed upgrade rolls
 * back), with values passed as one JSON document (a subset of YAML) so that the synthesized
 * Terraform shows every value in a diff.
 */
export class PinnedHelmRelease extends Construct {
  readonly release: Release;

  constructor(scope: Construct, id: string, props: PinnedHelmReleaseProps) {
    super(scope, id);
    const version = props.version ?? props.chart.version;
    if (!/^v?\d+\.\d+\.\d+(-[\w.]+)?$/.test(version)) {
      throw new ValidationError(this, "version", version, "is not an exact version", 'pin a release such as "2.20.2", never a range');
    }
    this.release = new Release(this, "release", {
      name: props.releaseName,
      namespace: props.namespace,
      repository: props.chart.repository,
      chart: props.chart.chart,
      version,
      values: [JSON.stringify(props.values)],
      atomic: true,
      cleanupOnFail: true,
      createNamespace: false,
      maxHistory: MAX_HISTORY,
      timeout: props.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
      ...(props.dependsOn ? { dependsOn: [...props.dependsOn] } : {}),
    });
  }
}

/** Pod and container security settings every platform chart gets (Pod Security `restricted`). */
export const RESTRICTED_POD_SECURITY_CONTEXT = {
  runAsNonRoot: true,
  seccompProfile: { type: "RuntimeDefault" },
} as const;

export const RESTRICTED_CONTAINER_SECURITY_CONTEXT = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
} as const;

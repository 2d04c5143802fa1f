import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { PinnedHelmRelease, RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT } from "../pinned-helm-release.js";
import { NAMESPACES } from "../platform-interfaces.js";
import { CLICKHOUSE_OPERATOR_CHART, CLICKHOUSE_OPERATOR_NAME, NOBODY_UID, OPERATOR_CREDENTIALS_SECRET } from "./names.js";

// The operator (platform stack: its chart installs the CRDs the workloads stack's resources use).

export interface ClickHouseOperatorProps {
  /** Chart version from the environment's config. @default CLICKHOUSE_OPERATOR_CHART.version */
  readonly version?: string;
  /** Resources the release waits for (its namespace). @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/**
 * The operator chart's values. Pure, for tests.
 * - CRDs come from the chart's `crds/` on install. The chart's CRD hook is off: its Job runs an
 *   unpinned kubectl image without a security context, which Pod Security `restricted` refuses.
 * - The operator's own ClickHouse credentials come from an ExternalSecret ({@link ClickHouse}),
 *   never from values: the chart's Secret (with its well-known default password) is not created.
 * - It watches only the ClickHouse namespace and runs as a numeric non-root user.
 */
export function clickhouseOperatorChartValues(): Record<string, unknown> {
  return {
    fullnameOverride: CLICKHOUSE_OPERATOR_NAME,
    crdHook: { enabled: false },
    secret: { create: false },
    podSecurityContext: { ...RESTRICTED_POD_SECURITY_CONTEXT, runAsUser: NOBODY_UID, runAsGroup: NOBODY_UID },
    operator: { containerSecurityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT },
    metrics: { containerSecurityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT },
    configs: {
      files: {
        "config.yaml": {
          watch: { namespaces: [NAMESPACES.clickhouse] },
          clickhouse: { access: { secret: { namespace: NAMESPACES.clickhouse, name: OPERATOR_CREDENTIALS_SECRET } } },
        },
      },
    },
  };
}

/** The Altinity ClickHouse operator and its CRDs, in the ClickHouse namespace. */
export class ClickHouseOperator extends Construct {
  readonly helm: PinnedHelmRelease;
  constructor(scope: Construct, id: string, props: ClickHouseOperatorProps = {}) {
    super(scope, id);
    this.helm = new PinnedHelmRelease(this, "chart", {
      chart: CLICKHOUSE_OPERATOR_CHART,
      ...(props.version ? { version: props.version } : {}),
      releaseName: CLICKHOUSE_OPERATOR_NAME,
      namespace: NAMESPACES.clickhouse,
      ...(props.dependsOn ? { dependsOn: props.dependsOn } : {}),
      values: clickhouseOperatorChartValues(),
    });
  }
}

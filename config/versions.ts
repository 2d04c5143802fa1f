/**
 * Pinned versions: the one home for every version the platform deploys.
 *
 * Environments take these defaults and may override one (for example to try a new chart in dev
 * first); validation checks the format and that kube-proxy matches the cluster's minor version.
 * EKS add-on builds are specific to a Kubernetes minor: list the valid ones with
 * `aws eks describe-addon-versions --kubernetes-version <minor> --addon-name <name>` when you
 * move `EKS_VERSION`.
 */

/** Kubernetes minor version of every EKS cluster. */
export const EKS_VERSION = "1.33";

/** EKS managed add-ons, pinned to builds published for {@link EKS_VERSION}. */
export const EKS_ADDON_VERSIONS = {
  vpcCni: "v1.19.6-eksbuild.7",
  coredns: "v1.12.1-eksbuild.2",
  kubeProxy: "v1.33.0-eksbuild.2",
  ebsCsiDriver: "v1.45.0-eksbuild.2",
  podIdentityAgent: "v1.3.7-eksbuild.2",
} as const;

/** A Helm chart pinned to one version. */
export interface HelmChartPin {
  readonly repository: string;
  readonly chart: string;
  readonly version: string;
}

/**
 * The nats-server the tests and `npm run local` run: the NATS chart's appVersion (chart
 * {@link HELM_CHARTS}.nats 2.14.2 deploys nats-server 2.14.2), so the bus is tested on the server
 * the cluster runs. Move it with the chart. `.ci/install-system-deps` builds exactly this version
 * from the Go module proxy and reads it from this line (keep it one line, a plain `"x.y.z"`).
 */
export const NATS_SERVER_VERSION = "2.14.2";

/**
 * Every Helm chart the platform stacks install. Values keys of each chart are checked against
 * that exact version's `values.yaml` by the construct that installs it.
 */
export const HELM_CHARTS = {
  keda: { repository: "https://kedacore.github.io/charts", chart: "keda", version: "2.20.2" },
  nats: { repository: "https://nats-io.github.io/k8s/helm/charts", chart: "nats", version: "2.14.2" },
  nack: { repository: "https://nats-io.github.io/k8s/helm/charts", chart: "nack", version: "0.34.0" },
  clickhouseOperator: {
    repository: "https://helm.altinity.com",
    chart: "altinity-clickhouse-operator",
    version: "0.25.6",
  },
  externalSecrets: { repository: "https://charts.external-secrets.io", chart: "external-secrets", version: "2.9.0" },
  certManager: { repository: "https://charts.jetstack.io", chart: "cert-manager", version: "v1.21.1" },
  awsLoadBalancerController: {
    repository: "https://aws.github.io/eks-charts",
    chart: "aws-load-balancer-controller",
    version: "3.5.0",
  },
  keycloakx: { repository: "https://codecentric.github.io/helm-charts", chart: "keycloakx", version: "7.1.11" },
  kongIngress: { repository: "https://charts.konghq.com", chart: "ingress", version: "0.24.0" },
} as const satisfies Record<string, HelmChartPin>;

export type HelmChartName = keyof typeof HELM_CHARTS;

/**
 * The tag of this repository's service images (ingestor, provisioning) when no pipeline sets
 * one: the release in package.json. CI builds and pushes images tagged with the commit SHA and
 * synthesizes with ENCHANTED_IMAGE_TAG set to it (stacks/main.ts).
 */
export const SERVICE_IMAGE_TAG = "0.1.0";

/** Terraform CLI and provider constraints written into every stack. */
export const TERRAFORM_REQUIRED_VERSION = ">= 1.10.0";

/**
 * Container images the platform runs that no chart pins for it. ClickHouse server and Keeper
 * follow the 25.8 LTS line (Keeper and server from the same release).
 */
export const CONTAINER_IMAGES = {
  clickhouseServer: "clickhouse/clickhouse-server:25.8",
  clickhouseKeeper: "clickhouse/clickhouse-keeper:25.8",
} as const;

/**
 * Identity (Keycloak): what the keycloakx chart does not pin. The realm is applied by the
 * platform's own realm program (services/keycloak-realm/apply-main.ts, in the provisioning image),
 * so no third-party importer is pinned. Aurora PostgreSQL 16 is a Keycloak 26 supported database.
 */
export const KEYCLOAK_PINS = {
  /**
   * The Keycloak release the keycloakx chart above runs (its appVersion). The tests run the same
   * release: `.ci/install-keycloak` reads this line (keep it `server: "x.y.z",`) and fetches
   * `org.keycloak:keycloak-quarkus-dist` of it with Maven.
   */
  server: "26.5.6",
  auroraPostgresqlVersion: "16.8",
  auroraParameterGroupFamily: "aurora-postgresql16",
} as const;

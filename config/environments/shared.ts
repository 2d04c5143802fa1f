/** Values every environment starts from; an environment file overrides what differs. */
import { EVENTS_API_IMAGE_REPOSITORY } from "../../services/events-api/contract.js";
import type { EnvironmentName } from "../environment.js";
import { ORGANIZATION, roleArn, stateBucketName } from "../organization.js";
import { EKS_ADDON_VERSIONS, EKS_VERSION, HELM_CHARTS, SERVICE_IMAGE_TAG, type HelmChartName } from "../versions.js";

/** Pinned chart versions, as the environment config records them (a version per chart). */
export function pinnedChartVersions(): Record<HelmChartName, string> {
  return Object.fromEntries(Object.entries(HELM_CHARTS).map(([name, pin]) => [name, pin.version])) as Record<HelmChartName, string>;
}

export function baseEnvironment(env: EnvironmentName) {
  return {
    name: env,
    aws: { region: ORGANIZATION.region, accountId: ORGANIZATION.accounts[env] },
    stateBackend: {
      bucket: stateBucketName(env),
      region: ORGANIZATION.region,
      keyPrefix: `${ORGANIZATION.namePrefix}/${env}`,
      kmsKeyArn: `arn:aws:kms:${ORGANIZATION.region}:${ORGANIZATION.accounts[env]}:alias/${ORGANIZATION.namePrefix}-tfstate`,
    },
    eks: {
      version: EKS_VERSION,
      addons: { ...EKS_ADDON_VERSIONS },
      adminRoleArns: [roleArn(env, ORGANIZATION.deployRoleName), roleArn(env, ORGANIZATION.platformAdminRoleName)],
    },
    ecr: { repositories: ["ingestor", "provisioning", "worker", EVENTS_API_IMAGE_REPOSITORY], keepTaggedImages: 50, untaggedExpiryDays: 7 },
    images: {
      ingestor: { repository: "ingestor", tag: SERVICE_IMAGE_TAG },
      provisioning: { repository: "provisioning", tag: SERVICE_IMAGE_TAG },
      worker: { repository: "worker", tag: SERVICE_IMAGE_TAG },
      eventsApi: { repository: EVENTS_API_IMAGE_REPOSITORY, tag: SERVICE_IMAGE_TAG },
    },
    charts: pinnedChartVersions(),
    domains: {
      api: `api.${env === "prod" ? "" : `${env}.`}${ORGANIZATION.dnsZone}`,
      auth: `auth.${env === "prod" ? "" : `${env}.`}${ORGANIZATION.dnsZone}`,
    },
  };
}

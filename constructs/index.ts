/**
 * Public entry point `@enchanted/platform/constructs`: every reusable construct, the small
 * interfaces they reference each other by (INetwork, IEksCluster, IKmsKey, ...), and the policy
 * rule pack (applyPolicyPack, suppressPolicyRule). The constructs take plain props and never
 * read this repository's config. Import providers by deep path, never the package root.
 */
export * from "./aws-load-balancer-controller/index.js";
export * from "./cert-manager.js";
export * from "./clickhouse/index.js";
export * from "./container-registry.js";
export * from "./database/aurora-postgresql.js";
export * from "./eks-cluster.js";
export * from "./events-api/index.js";
export * from "./external-secrets.js";
export * from "./foundationdb-connectivity.js";
export * from "./iam.js";
export * from "./ingestor.js";
export * from "./keda.js";
export * from "./keycloak/index.js";
export * from "./kms-key.js";
export * from "./gateway/index.js";
export * from "./nats/index.js";
export * from "./network.js";
export * from "./pinned-helm-release.js";
export * from "./provisioning/index.js";
export * from "./redis/elasticache-redis.js";
export * from "./platform-interfaces.js";
export * from "./tenancy.js";
export * from "./worker-pools.js";
export * from "./workers.js";
export * from "./policy/index.js";

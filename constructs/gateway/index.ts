/**
 * The API gateway: Kong Ingress Controller with a DB-less Kong behind an internet-facing NLB
 * (TLS from ACM), the platform's only public listener (tcp 443). Every route runs the global
 * plugins (plugins.ts): token verification against the Keycloak realm, the tenant gate with the
 * tier catalog's limits, a body cap and a correlation id. Nothing is per tenant.
 *
 * Split like ClickHouse: {@link KongGateway} (gateway.ts, platform stack: AWS resources, namespace,
 * the Lua ConfigMap and the chart, which installs the CRDs) and {@link KongGatewayRoutes} (routes.ts,
 * workloads stack: the custom resources and the Ingress).
 */
export * from "./names.js";
export * from "./chart-values.js";
export * from "./edge.js";
export * from "./network-policies.js";
export * from "./plugins.js";
export * from "./gateway.js";
export * from "./routes.js";

import { GATEWAY_PATHS } from "../../../services/identity/names.js";
import { TENANT_GATE_PLUGIN } from "../../../services/kong-plugins/tenant-gate.js";
import { KEYCLOAK_PUBLIC_PATH_PREFIXES, KEYCLOAK_SERVICE } from "../../keycloak/names.js";
import type { StackIndex } from "../index-of-stack.js";
import { ingressRoutes, isKongIngress, namedKongPlugins } from "../ingresses.js";
import { compliant, fromProblems, notApplicable } from "../results.js";
import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { show } from "../values.js";

/**
 * The only API paths published without a bearer token: the billing webhook (HMAC-signed), the key
 * set, and the agent routes (signed by the agent's own NATS nkey over its user JWT, which the
 * service verifies against the tier's signing keys and the revocations: Kong cannot).
 */
const UNAUTHENTICATED_API_PATHS: readonly string[] = [...GATEWAY_PATHS.webhook, ...GATEWAY_PATHS.public, ...GATEWAY_PATHS.agent].map((p) => `/~${p}`);

/**
 * GW-1: every Kong Ingress either names (`konghq.com/plugins`) a KongPlugin or KongClusterPlugin
 * of this stack running the token-verifying `tenant-gate` plugin, or publishes only the paths
 * meant to go without a token: the billing webhook and the key set of the identity contract
 * (`GATEWAY_PATHS.webhook`, `GATEWAY_PATHS.public`), the agent routes whose NATS-JWT signature the
 * service checks (`GATEWAY_PATHS.agent`, `AGENT_AUTH`), and Keycloak's public paths
 * (`KEYCLOAK_PUBLIC_PATH_PREFIXES`, on its HTTP Service) for browsers. A default backend without
 * the plugin publishes everything and is refused.
 */
export const kongRoutesAuthenticated: PolicyRule = {
  id: "GW-1",
  name: "KongRoutesAuthenticated",
  level: "error",
  explanation:
    "A gateway route without the tenant-gate plugin reaches its service with no verified token, no per-user or per-tenant limit and client-chosen tenant headers; only the signed webhook, the public key set, the agent routes (signed with the agent's nkey, verified by the service) and Keycloak's browser paths may go without one.",
  fix: `name the route class's ${TENANT_GATE_PLUGIN} KongClusterPlugin in the Ingress's konghq.com/plugins annotation (KongGatewayRoutes does), or publish only the webhook, key set and agent paths of GATEWAY_PATHS`,
  resourceTypes: ["kubernetes_ingress_v1"],
  evaluate(resource: SynthResource, index: StackIndex): RuleResult {
    if (!isKongIngress(resource)) return notApplicable("not a Kong Ingress");
    const plugins = namedKongPlugins(resource, index);
    const problems = plugins.filter((p) => p.plugin === undefined).map((p) => `konghq.com/plugins names ${show(p.name)}, which is no KongPlugin or KongClusterPlugin of this stack`);
    if (problems.length === 0 && plugins.some((p) => p.plugin === TENANT_GATE_PLUGIN)) return compliant();
    for (const route of ingressRoutes(resource)) {
      const keycloakPublic = route.service === KEYCLOAK_SERVICE.name && route.path !== undefined && KEYCLOAK_PUBLIC_PATH_PREFIXES.some((prefix) => route.path?.startsWith(prefix));
      if (route.path !== undefined && (UNAUTHENTICATED_API_PATHS.includes(route.path) || keycloakPublic)) continue;
      problems.push(`${route.label} ${route.path === undefined ? "(every path)" : show(route.path)} to ${show(route.service)} runs no ${TENANT_GATE_PLUGIN} plugin`);
    }
    return fromProblems(problems);
  },
};

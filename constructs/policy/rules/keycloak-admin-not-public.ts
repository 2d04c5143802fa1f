import { KEYCLOAK_PUBLIC_PATH_PREFIXES, KEYCLOAK_SERVICE } from "../../keycloak/names.js";
import { ingressRoutes } from "../ingresses.js";
import { fromProblems, notApplicable } from "../results.js";
import type { PolicyRule, RuleResult, SynthResource } from "../types.js";
import { show } from "../values.js";

/**
 * GW-2: an Ingress to Keycloak's HTTP Service publishes only the paths browsers need
 * (`KEYCLOAK_PUBLIC_PATH_PREFIXES`: the platform realm and the theme resources), on the Service's
 * HTTP port: never `/admin` (the console and the Admin REST API), another realm (e.g. `master`),
 * everything (a default backend or `/`), or another port of the Service (management: health, metrics).
 */
export const keycloakAdminNotPublic: PolicyRule = {
  id: "GW-2",
  name: "KeycloakAdminNotPublic",
  level: "error",
  explanation:
    "Keycloak's admin console and Admin REST API, the master realm and the management port are for operators inside the cluster; published, they make every admin credential and every Keycloak admin vulnerability reachable from the internet.",
  fix: `publish Keycloak only under ${KEYCLOAK_PUBLIC_PATH_PREFIXES.join(" and ")} on port ${KEYCLOAK_SERVICE.port} of ${KEYCLOAK_SERVICE.name}; reach the admin console with kubectl port-forward`,
  resourceTypes: ["kubernetes_ingress_v1"],
  evaluate(resource: SynthResource): RuleResult {
    const routes = ingressRoutes(resource).filter((r) => r.service === KEYCLOAK_SERVICE.name);
    if (routes.length === 0) return notApplicable("no path to Keycloak");
    const problems: string[] = [];
    for (const route of routes) {
      const path = route.path;
      if (path === undefined) problems.push(`${route.label} publishes every path of ${KEYCLOAK_SERVICE.name}`);
      else if (/\/admin(\/|$)/i.test(path)) problems.push(`${route.label}.path ${show(path)} publishes the admin console or API`);
      else if (!KEYCLOAK_PUBLIC_PATH_PREFIXES.some((prefix) => path.startsWith(prefix))) problems.push(`${route.label}.path ${show(path)} is not under ${KEYCLOAK_PUBLIC_PATH_PREFIXES.join(" or ")}`);
      if (route.portNumber !== KEYCLOAK_SERVICE.port) problems.push(`${route.label} backend port is ${show(route.portName ?? route.portNumber)} (must be ${KEYCLOAK_SERVICE.port})`);
    }
    return fromProblems(problems);
  },
};

/**
 * Access control for the embedded engine (chdb).
 *
 * chdb runs ClickHouse as a library (clickhouse-local): it has only the read-only users.xml user
 * directory, so `CREATE ROLE / SETTINGS PROFILE / QUOTA / ROW POLICY` fail there
 * (ACCESS_STORAGE_FOR_INSERTION_NOT_FOUND), and every query runs as the user `default`. To run
 * the embedded engine *as* a principal, its users.xml defines `default` as that principal, built
 * from the same model the SQL comes from: the tier's settings and constraints
 * ({@link tierProfileSettings}), its quota ({@link tierQuota}), its role's grants and the
 * tenant-isolation filter ({@link tenantRowFilter}, with the principal's user name in place of
 * `currentUser()`, which in chdb is always `default`). ClickHouse enforces all of it exactly as it
 * enforces the SQL-defined entities in production.
 */
import type { PlanTierName, TierCatalog } from "../../config/tiers.js";
import { boundTenantRowFilter, grantQueries, ingestorPrivileges, tenantReaderPrivileges, workerReaderPrivileges, tenantRowFilter, tierProfileSettings, tierQuota, type AccessOptions } from "./access.js";
import { eventTables, SWARM_DATABASE, tenantUserName, tierProfileName, tierQuotaName, tierRoleName } from "./names.js";
import { quoteString } from "./sql.js";

/** Who the embedded engine's queries run as. */
export type EmbeddedPrincipal =
  | { readonly kind: "admin" }
  | { readonly kind: "ingestor" }
  | { readonly kind: "workers" }
  | { readonly kind: "tenant"; readonly tenantId: string; readonly tier: PlanTierName };

function xmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function element(name: string, body: string): string {
  return `<${name}>${body}</${name}>`;
}

/**
 * users.xml for an embedded engine whose every query runs as `principal`: the administrator
 * (everything), the ingestor (its grants only) or one tenant's reader (its tier's role, profile,
 * quota and row filter).
 */
export function embeddedUsersXml(principal: EmbeddedPrincipal, catalog: TierCatalog, options: AccessOptions = {}): string {
  const profiles = [element("default", "")];
  const quotas = [element("default", "")];
  const roles: string[] = [];
  const user = [element("no_password", ""), element("networks", element("ip", "::/0"))];

  if (principal.kind === "admin") {
    user.push(element("profile", "default"), element("quota", "default"), element("access_management", "1"));
  } else if (principal.kind === "ingestor") {
    user.push(element("profile", "default"), element("quota", "default"), grantsXml(grantQueries(ingestorPrivileges(options))));
  } else if (principal.kind === "workers") {
    // The server's SQL row policy `ROW_POLICIES.workers` (the query's tenant binding), as a users.xml filter here.
    const filter = xmlEscape(boundTenantRowFilter());
    const tables = eventTables(options.replicated ?? false).map((t) => element(t, element("filter", filter)));
    user.push(element("profile", "default"), element("quota", "default"), grantsXml(grantQueries(workerReaderPrivileges(options))), element("databases", element(SWARM_DATABASE, tables.join(""))));
  } else {
    const tier = catalog[principal.tier];
    const settings = tierProfileSettings(tier);
    const constraints = settings
      .filter((s) => s.constraint)
      .map((s) => element(s.name, s.constraint === "CONST" ? "<const/>" : element("max", xmlEscape(String(s.value)))));
    profiles.push(
      element(tierProfileName(principal.tier), [...settings.map((s) => element(s.name, xmlEscape(String(s.value)))), element("constraints", constraints.join(""))].join("")),
    );
    const quota = tierQuota(tier);
    quotas.push(
      element(
        tierQuotaName(principal.tier),
        element("interval", [element("duration", String(quota.intervalSeconds)), ...quota.limits.map((l) => element(l.resource, String(l.max)))].join("")),
      ),
    );
    roles.push(element(tierRoleName(principal.tier), grantsXml(grantQueries(tenantReaderPrivileges(options)))));
    const filter = xmlEscape(tenantRowFilter(quoteString(tenantUserName(principal.tenantId))));
    const tables = eventTables(options.replicated ?? false).map((t) => element(t, element("filter", filter)));
    user.push(
      element("profile", tierProfileName(principal.tier)),
      element("quota", tierQuotaName(principal.tier)),
      grantsXml([`GRANT ${tierRoleName(principal.tier)}`]),
      element("databases", element(SWARM_DATABASE, tables.join(""))),
    );
  }

  return [
    "<clickhouse>",
    element("profiles", profiles.join("")),
    element("quotas", quotas.join("")),
    ...(roles.length ? [element("roles", roles.join(""))] : []),
    element("users", element("default", user.join(""))),
    "</clickhouse>",
  ].join("\n");
}

function grantsXml(queries: readonly string[]): string {
  return element("grants", queries.map((q) => element("query", xmlEscape(q))).join(""));
}

/** The engine configuration (`--config-file`) that loads a users.xml written by the caller. */
export function embeddedServerConfigXml(usersXmlPath: string): string {
  return `<clickhouse>${element("users_config", xmlEscape(usersXmlPath))}</clickhouse>`;
}

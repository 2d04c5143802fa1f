/**
 * Access control for the embedded engine (chdb).
 *
 * chdb runs ClickHouse as a library (clickhouse-local): it has only the read-only users.xml user
 * directory, so `CREATE ROLE / SETTINGS PROFILE / QUOTA / ROW POLICY` fail there
 * (ACCESS_STORAGE_FOR_INSERTION_NOT_FOUND), and every query runs as the user `default`. To run
 * the embedded engine *as* a principal, its users.xml defines `default` as that principal, built
 * from the same model production's come from: a tier reader's settings, constraints and quota
 * ({@link readerUsersConfig}), each principal's grants, and the bound-tenant row filter of the
 * readers and the workers ({@link boundTenantRowFilter}). ClickHouse enforces all of it exactly as
 * it enforces the configuration users and SQL policies in production. One difference: the
 * embedded engine takes no per-query quota key, so a reader's quota here counts every query of
 * the engine, not each tenant's on its own.
 */
import type { PlanTierName, TierCatalog } from "../../config/tiers.js";
import { boundTenantRowFilter, grantQueries, ingestorPrivileges, lifecyclePrivileges, readerUsersConfig, workerReaderPrivileges, type AccessOptions } from "./access.js";
import { eventTables, SWARM_DATABASE, usageTables } from "./names.js";

/** Who the embedded engine's queries run as. */
export type EmbeddedPrincipal =
  | { readonly kind: "admin" }
  | { readonly kind: "ingestor" }
  | { readonly kind: "workers" }
  | { readonly kind: "lifecycle" }
  /** The events API's reader of a tier: every query is bound to a tenant by its settings. */
  | { readonly kind: "reader"; readonly tier: PlanTierName };

function xmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function element(name: string, body: string): string {
  return `<${name}>${body}</${name}>`;
}

/**
 * users.xml for an embedded engine whose every query runs as `principal`: the administrator
 * (everything), the ingestor, the workers or the lifecycle user (their grants only), or a tier's
 * reader (its profile, quota, grants and the bound-tenant row filter).
 */
export function embeddedUsersXml(principal: EmbeddedPrincipal, catalog: TierCatalog, options: AccessOptions = {}): string {
  const profiles = [element("default", "")];
  const quotas = [element("default", "")];
  const user = [element("no_password", ""), element("networks", element("ip", "::/0"))];
  const replicated = options.replicated ?? false;
  // The server's SQL row policy of a bound principal (the query's tenant), as a users.xml filter here.
  const bound = (tables: readonly string[]) => element("databases", element(SWARM_DATABASE, tables.map((t) => element(t, element("filter", xmlEscape(boundTenantRowFilter())))).join("")));

  if (principal.kind === "admin") {
    user.push(element("profile", "default"), element("quota", "default"), element("access_management", "1"));
  } else if (principal.kind === "ingestor") {
    user.push(element("profile", "default"), element("quota", "default"), grantsXml(grantQueries(ingestorPrivileges(options))));
  } else if (principal.kind === "lifecycle") {
    user.push(element("profile", "default"), element("quota", "default"), grantsXml(grantQueries(lifecyclePrivileges(options))));
  } else if (principal.kind === "workers") {
    user.push(element("profile", "default"), element("quota", "default"), grantsXml(grantQueries(workerReaderPrivileges(options))), bound(eventTables(replicated)));
  } else {
    const reader = readerUsersConfig(catalog, options).find((r) => r.tier === principal.tier);
    if (!reader) throw new Error(`embeddedUsersXml: no reader for tier ${String(principal.tier)}`);
    const constraints = reader.settings
      .filter((s) => s.constraint)
      .map((s) => element(s.name, s.constraint === "CONST" ? "<const/>" : element("max", xmlEscape(String(s.value)))));
    profiles.push(element(reader.profile, [...reader.settings.map((s) => element(s.name, xmlEscape(String(s.value)))), element("constraints", constraints.join(""))].join("")));
    quotas.push(
      element(
        reader.quotaName,
        [element("keyed", "true"), element("interval", [element("duration", String(reader.quota.intervalSeconds)), ...reader.quota.limits.map((l) => element(l.resource, String(l.max)))].join(""))].join(""),
      ),
    );
    user.push(element("profile", reader.profile), element("quota", reader.quotaName), grantsXml(reader.grants), bound([...eventTables(replicated), ...usageTables(replicated)]));
  }

  return [
    "<clickhouse>",
    element("profiles", profiles.join("")),
    element("quotas", quotas.join("")),
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

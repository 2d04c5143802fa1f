/**
 * The event store's SQL: the one home of the `swarm_events` schema, its access control and its
 * queries, used by the migration Job (constructs/clickhouse.ts), the ingestor, the provisioning
 * service and the tests. Pure functions returning SQL statements; nothing here connects.
 */
import type { TierCatalog } from "../../config/tiers.js";
import { accessControlSql } from "./access.js";
import { ClickHouseSchemaError } from "./errors.js";
import { MIGRATION_SETTINGS, schemaSql, type EventStoreOptions } from "./table.js";

export * from "./access.js";
export * from "./embedded.js";
export * from "./errors.js";
export * from "./names.js";
export * from "./queries.js";
export * from "./table.js";
export * from "./tenant-deletion.js";
export * from "./usage-queries.js";
export * from "./tenant-queries.js";

/**
 * Everything the migration applies, in order: its session's settings ({@link MIGRATION_SETTINGS}),
 * database and tables brought to the declaration, then access control.
 */
export function migrationSql(catalog: TierCatalog, options: EventStoreOptions): string[] {
  const settings = Object.entries(MIGRATION_SETTINGS).map(([name, value]) => `SET ${name} = ${value}`);
  return [...settings, ...schemaSql(options), ...accessControlSql(catalog, options)];
}

/** Statements as one script for `clickhouse-client --multiquery` (no statement contains `;`). */
export function sqlScript(statements: readonly string[]): string {
  statements.forEach((s, i) => {
    const at = s.indexOf(";");
    if (at >= 0) throw new ClickHouseSchemaError(`statements[${i}]`, s.slice(Math.max(0, at - 40), at + 40), 'contains ";" and would be split in two', "remove the semicolon from its comments or literals");
  });
  return statements.map((s) => `${s};\n`).join("\n");
}

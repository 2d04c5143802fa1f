/**
 * Deleting one tenant's rows at offboarding: the SQL the provisioning service runs (its outbox
 * effect `events.delete`, as the lifecycle user) until the tenant's rows are gone. A lightweight
 * `DELETE` marks the rows deleted at once (no reader sees them again) and merges remove them;
 * `tenant_id` leads every sorting key, so the delete touches only the tenant's granules. In the
 * replicated topology each statement targets the per-shard table on every replica (`ON CLUSTER`).
 * The tenant's plan row stays, as `offboarded`: the ingestor refuses an event that reaches it
 * after the deletion.
 */
import { assertTenantId } from "../../config/tenancy.js";
import type { BoundQuery } from "./queries.js";
import { CLUSTER_MACRO, qualified, SWARM_EVENTS_LOCAL_TABLE, SWARM_EVENTS_TABLE, TENANT_USAGE_LOCAL_TABLE, TENANT_USAGE_TABLE } from "./names.js";
import { quoteString } from "./sql.js";

/** The statements that delete every event and usage row of `tenantId`. */
export function tenantEventDeletionSql(tenantId: string, options: { readonly replicated?: boolean } = {}): string[] {
  const id = quoteString(assertTenantId(tenantId));
  if (options.replicated) {
    return [SWARM_EVENTS_LOCAL_TABLE, TENANT_USAGE_LOCAL_TABLE].map((t) => `DELETE FROM ${qualified(t)} ON CLUSTER '${CLUSTER_MACRO}' WHERE tenant_id = ${id}`);
  }
  return [SWARM_EVENTS_TABLE, TENANT_USAGE_TABLE].map((t) => `DELETE FROM ${qualified(t)} WHERE tenant_id = ${id}`);
}

/** How many event and usage rows of `tenantId` any reader could still see (0 and 0 once the deletion is done). */
export function tenantRowCountsQuery(tenantId: string): BoundQuery {
  return {
    query: `SELECT
    (SELECT count() FROM ${qualified(SWARM_EVENTS_TABLE)} WHERE tenant_id = {tenantId:String}) AS events,
    (SELECT count() FROM ${qualified(TENANT_USAGE_TABLE)} WHERE tenant_id = {tenantId:String}) AS usage`,
    query_params: { tenantId: assertTenantId(tenantId) },
  };
}

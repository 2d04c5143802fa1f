/**
 * Deleting one tenant's event rows at offboarding: the SQL the provisioning service queues (its
 * outbox effect `events.delete`) and the event-store maintenance job runs as the platform
 * administrator. A lightweight `DELETE` marks the rows deleted at once (no reader sees them
 * again) and merges remove them; `tenant_id` leads the sorting key, so the delete touches only
 * the tenant's granules. In the replicated topology the statement targets the per-shard table on
 * every replica (`ON CLUSTER`).
 */
import { assertTenantId } from "../../config/tenancy.js";
import { CLUSTER_MACRO, qualified, SWARM_EVENTS_LOCAL_TABLE, SWARM_EVENTS_TABLE } from "./names.js";
import { quoteString } from "./sql.js";

/** The statements that delete every event row of `tenantId`. */
export function tenantEventDeletionSql(tenantId: string, options: { readonly replicated?: boolean } = {}): string[] {
  const id = quoteString(assertTenantId(tenantId));
  if (options.replicated) {
    return [`DELETE FROM ${qualified(SWARM_EVENTS_LOCAL_TABLE)} ON CLUSTER '${CLUSTER_MACRO}' WHERE tenant_id = ${id}`];
  }
  return [`DELETE FROM ${qualified(SWARM_EVENTS_TABLE)} WHERE tenant_id = ${id}`];
}

import { TENANT_ROLES } from "../../../../services/identity/names.js";
import type { TenantRole } from "../../api-types.js";

/** The roles `me` may grant: an owner all of them, an admin all but owner (only an owner deals in the owner role). */
export function grantableRoles(me: TenantRole): TenantRole[] {
  return TENANT_ROLES.filter((r) => r !== "owner" || me === "owner");
}

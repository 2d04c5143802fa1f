/**
 * What every screen shares: the runtime config, the API client of the signed-in user, the user's
 * tenants and the one being looked at (from the URL, `/t/{tenantId}/…`), with the member's role in
 * it. Screens show or hide actions with {@link useCan} (services/identity/names.ts
 * `TENANT_ACTIONS`); the API decides anyway, this only keeps the page honest about what works.
 */
import { createContext, useContext, type ReactNode } from "react";
import { roleAtLeast, TENANT_ACTIONS, type TenantAction } from "../../services/identity/names.js";
import type { ConsoleRuntimeConfig } from "../contract.js";
import type { ApiClient } from "./api.js";
import type { Membership, TenantRole } from "./api-types.js";
import type { Auth } from "./auth.js";
import { useAsync } from "./ui/useAsync.js";

export interface SessionUser {
  readonly sub: string;
  readonly email: string | undefined;
  readonly name: string | undefined;
}

export interface Session {
  readonly config: ConsoleRuntimeConfig;
  readonly auth: Auth;
  readonly api: ApiClient;
  readonly user: SessionUser;
  readonly tenants: readonly Membership[] | undefined;
  readonly tenantsError: unknown;
  readonly tenantsLoading: boolean;
  readonly reloadTenants: () => Promise<void>;
  /** The tenant in the URL, when the user is a member of it. */
  readonly tenant: Membership | undefined;
  readonly tenantId: string | undefined;
}

const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("useSession outside <SessionProvider>: render the screen inside the signed-in app");
  return s;
}

/** The session of a screen that needs a tenant (the app renders those only with one). */
export function useTenant(): { session: Session; tenant: Membership } {
  const session = useSession();
  if (!session.tenant) throw new Error("useTenant without a tenant in the URL: render tenant screens under /t/{tenantId}/");
  return { session, tenant: session.tenant };
}

/** May the member do `action` in the current tenant? */
export function can(role: TenantRole | undefined, action: TenantAction): boolean {
  return role !== undefined && roleAtLeast(role, TENANT_ACTIONS[action].minRole);
}

export function useCan(action: TenantAction): boolean {
  return can(useSession().tenant?.role, action);
}

export function SessionProvider(props: { config: ConsoleRuntimeConfig; auth: Auth; api: ApiClient; user: SessionUser; tenantId: string | undefined; children: ReactNode }) {
  const { api, tenantId } = props;
  const list = useAsync(() => api.listTenants().then((a) => a.tenants), [api]);
  const tenants = list.data;
  const value: Session = {
    config: props.config,
    auth: props.auth,
    api,
    user: props.user,
    tenants,
    tenantsError: list.error,
    tenantsLoading: list.loading,
    reloadTenants: list.reload,
    tenant: tenantId ? tenants?.find((t) => t.id === tenantId) : undefined,
    tenantId,
  };
  return <SessionContext.Provider value={value}>{props.children}</SessionContext.Provider>;
}

/** For tests and isolated screens: a fixed session. */
export function SessionValue({ value, children }: { value: Session; children: ReactNode }) {
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

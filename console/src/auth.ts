/**
 * Sign-in: OIDC authorization code with PKCE (S256) against the realm's public web client
 * (services/keycloak-realm/names.ts `WEB_CLIENT_ID`), with oidc-client-ts. Tokens live in
 * sessionStorage (gone with the tab); they are renewed before expiry with the refresh token only:
 * no `silent_redirect_uri`, so oidc-client-ts never opens an iframe (the CSP forbids framing anyway),
 * and no session-monitor iframe.
 *
 * Registration is Keycloak's own form: the realm's `…/protocol/openid-connect/registrations`
 * endpoint takes the same authorization request and ends at the same callback (the local
 * platform's sign-up drives exactly that endpoint), so "Create account" sends the browser there
 * with its own PKCE state, and the ordinary callback finishes it.
 */
import { UserManager, WebStorageStateStore, type User, type UserManagerSettings } from "oidc-client-ts";
import { WEB_APP_PATHS } from "../../services/keycloak-realm/names.js";
import type { ConsoleRuntimeConfig } from "../contract.js";

/** What the app keeps after sign-in: where to go back to. */
interface SigninState {
  readonly returnTo: string;
}

/** Only a path of this origin (never `//host` or a scheme) is a place to return to. */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== "string" || !value.startsWith("/") || value.startsWith("//") || value.startsWith("/\\")) return "/";
  return value;
}

export interface Auth {
  /** The signed-in user, or null. */
  user(): Promise<User | null>;
  /** The user's access token for the API, renewed with the refresh token when expired; null when signed out. */
  accessToken(): Promise<string | null>;
  signIn(returnTo: string): Promise<void>;
  register(returnTo: string): Promise<void>;
  /** Finishes the redirect at {@link WEB_APP_PATHS.redirect}; answers where to go next. */
  completeSignIn(): Promise<string>;
  signOut(): Promise<void>;
  /** Called with the new user (or null) whenever it changes (renewal, sign-out, renewal failure). */
  onChange(listener: (user: User | null) => void): () => void;
}

export function authSettings(config: ConsoleRuntimeConfig, origin: string): UserManagerSettings {
  const store = new WebStorageStateStore({ store: window.sessionStorage });
  return {
    authority: config.issuer,
    client_id: config.clientId,
    redirect_uri: `${origin}${WEB_APP_PATHS.redirect}`,
    post_logout_redirect_uri: `${origin}${WEB_APP_PATHS.postLogout}`,
    response_type: "code",
    scope: "openid profile email",
    userStore: store,
    stateStore: store,
    // Renew with the refresh token a minute before expiry; never with an iframe.
    automaticSilentRenew: true,
    accessTokenExpiringNotificationTimeInSeconds: 60,
    monitorSession: false,
    loadUserInfo: false,
  };
}

export function createAuth(config: ConsoleRuntimeConfig, origin: string): Auth {
  const settings = authSettings(config, origin);
  const manager = new UserManager(settings);
  const listeners = new Set<(user: User | null) => void>();
  const emit = (user: User | null) => listeners.forEach((l) => l(user));
  manager.events.addUserLoaded((u) => emit(u));
  manager.events.addUserUnloaded(() => emit(null));
  // A refresh that fails (session ended at Keycloak, refresh token expired): signed out here too.
  manager.events.addSilentRenewError(() => {
    void manager.removeUser().then(() => emit(null));
  });

  const live = async (): Promise<User | null> => {
    const u = await manager.getUser();
    if (!u) return null;
    if (!u.expired) return u;
    if (!u.refresh_token) {
      await manager.removeUser();
      return null;
    }
    try {
      return await manager.signinSilent();
    } catch {
      await manager.removeUser();
      return null;
    }
  };

  return {
    user: live,
    accessToken: async () => (await live())?.access_token ?? null,
    signIn: (returnTo) => manager.signinRedirect({ state: { returnTo: safeReturnTo(returnTo) } satisfies SigninState }),
    register: async (returnTo) => {
      const registration = new UserManager({
        ...settings,
        // Keycloak's registration form takes the authorization request at its own endpoint.
        metadataSeed: {},
        metadata: {
          issuer: config.issuer,
          authorization_endpoint: `${config.issuer}/protocol/openid-connect/registrations`,
          token_endpoint: `${config.issuer}/protocol/openid-connect/token`,
          end_session_endpoint: `${config.issuer}/protocol/openid-connect/logout`,
          jwks_uri: `${config.issuer}/protocol/openid-connect/certs`,
        },
        automaticSilentRenew: false,
      });
      await registration.signinRedirect({ state: { returnTo: safeReturnTo(returnTo) } satisfies SigninState });
    },
    completeSignIn: async () => {
      const user = await manager.signinRedirectCallback();
      return safeReturnTo((user.state as Partial<SigninState> | undefined)?.returnTo);
    },
    signOut: async () => {
      const u = await manager.getUser();
      await manager.removeUser();
      await manager.signoutRedirect(u?.id_token ? { id_token_hint: u.id_token } : {});
    },
    onChange: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

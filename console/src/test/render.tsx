/**
 * Renders a console screen as the app does: Mantine, the real SessionProvider and the real
 * ApiClient against a {@link TestApi} server. Only sign-in is a stand-in (it would leave the page
 * for Keycloak): {@link RecordingAuth} records what the screen asked for.
 */
import { MantineProvider } from "@mantine/core";
import { render, screen, waitFor } from "@testing-library/react";
import type { ReactNode } from "react";
import type { ConsoleRuntimeConfig } from "../../contract.js";
import { ApiClient } from "../api.js";
import type { Auth } from "../auth.js";
import { SessionProvider } from "../session.js";
import { theme } from "../theme.js";
import type { TestApi } from "./api-server.js";

export const CONFIG: ConsoleRuntimeConfig = { issuer: "http://127.0.0.1:1/realms/enchanted", clientId: "enchanted-web", environment: "test", natsServers: ["nats://127.0.0.1:4222"] };

export class RecordingAuth implements Auth {
  readonly calls: string[] = [];
  async user() {
    return null;
  }
  async accessToken() {
    return "user-token-alice";
  }
  async signIn(returnTo: string) {
    this.calls.push(`signIn ${returnTo}`);
  }
  async register(returnTo: string) {
    this.calls.push(`register ${returnTo}`);
  }
  async completeSignIn() {
    return "/";
  }
  async signOut() {
    this.calls.push("signOut");
  }
  onChange() {
    return () => undefined;
  }
}

export function wrap(children: ReactNode) {
  // env "test": no transitions or portals, so menus and options are in the tree at once.
  return (
    <MantineProvider theme={theme} env="test">
      {children}
    </MantineProvider>
  );
}

/** Renders `ui` signed in as alice, at `path` (`/t/<tenant>/…` selects the tenant), once the tenants are loaded. */
export async function renderSignedIn(server: TestApi, ui: ReactNode, path = "/") {
  window.history.replaceState(null, "", path);
  const tenantId = /^\/t\/([^/]+)/.exec(path)?.[1];
  const api = new ApiClient({ origin: server.origin, userToken: async () => "user-token-alice" });
  const auth = new RecordingAuth();
  const result = render(
    wrap(
      <SessionProvider config={CONFIG} auth={auth} api={api} user={{ sub: "alice", email: "alice@example.com", name: "Alice" }} tenantId={tenantId}>
        {ui}
      </SessionProvider>,
    ),
  );
  return { ...result, api, auth };
}

/** A tenant list answer for GET /v1/tenants. */
export function membership(id: string, role: string, name = id.toUpperCase()) {
  return { id, slug: id, name, planTier: "free", status: "active", createdAt: "2026-12-01T10:00:00.000Z", payloadEncryption: false, history: "kept", role };
}

export { screen, waitFor };

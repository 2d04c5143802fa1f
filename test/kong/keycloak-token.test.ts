/**
 * The tenant-gate plugin in user mode against the run's real Keycloak (test/support/keycloak.ts):
 * a user's access token from a real sign-in (authorization code with PKCE), verified by the
 * plugin's FFI code against the key set Keycloak itself publishes at its certs endpoint (RS256 and
 * an RSA-OAEP encryption key, certificates in x5c), with the claims Keycloak really puts in it
 * (`typ: Bearer`, `aud` with the API, `sub`).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { loadTierCatalog, loadUserLimits } from "../../config/index.js";
import { tenantGateConfig, USER_HEADER } from "../../services/kong-plugins/tenant-gate.js";
import { AdminClient, claimsOf, createRegisteredUser, issuerOf, KEYCLOAK_WAIT_MS, keycloakServer, UserSession, type KeycloakTestServer } from "../support/keycloak.js";
import { refusal, runTenantGate, single } from "./lua.js";

let server: KeycloakTestServer;
beforeAll(async () => {
  server = await keycloakServer();
}, KEYCLOAK_WAIT_MS);

describe("tenant-gate with Keycloak's own tokens and key set", () => {
  it("passes a signed-in user's access token in user mode, counting per user; refuses it on a tenant route and after its expiry", async () => {
    const user = await createRegisteredUser(AdminClient.bootstrap(server));
    const token = await (await UserSession.signIn(server, user)).accessToken();
    const claims = claimsOf(token) as { iat: number; exp: number; sub: string };
    const issuer = issuerOf(server);
    const jwksUrl = `${issuer}/protocol/openid-connect/certs`;
    const common = { tiers: loadTierCatalog(), userLimits: loadUserLimits(), issuer, jwksUrl, counters: { policy: "local" } as const };
    const out = await runTenantGate({
      config: tenantGateConfig({ mode: "user", ...common }),
      steps: [
        { now: claims.iat + 1, request: { token } },
        { now: claims.exp + 60, request: { token } },
      ],
    });
    expect(out.schema_errors).toEqual([]);
    const ok = single(out, 0);
    expect(ok.status, ok.log.join("\n")).toBe(200);
    expect(claims.sub).toBe(user.id);
    expect(ok.upstream[USER_HEADER.toLowerCase()]).toBe(user.id);
    expect(ok.keys[0]).toBe(`local:ratelimit:user:${user.id}:second:${claims.iat + 1}`);
    expect(out.jwks_fetches[0]).toEqual({ url: jwksUrl, at: claims.iat + 1, status: 200, error: null });
    expect(single(out, 1).status).toBe(401);
    expect(refusal(single(out, 1))).toMatch(/expired/);

    const tenantRoute = await runTenantGate({ config: tenantGateConfig({ mode: "tenant", ...common }), steps: [{ now: claims.iat + 1, request: { token } }] });
    expect(single(tenantRoute, 0).status).toBe(401);
    expect(refusal(single(tenantRoute, 0))).toMatch(/algorithm RS256/);
  });
});

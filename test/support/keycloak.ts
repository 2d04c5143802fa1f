/**
 * The real Keycloak of the test run (test/support/keycloak-global-setup.ts): waiting for it, an
 * admin client for assertions, and the browser's side of the realm (registration, login with
 * PKCE, the code exchange) over plain HTTP, the way the web app's users go through it.
 */
import { parseJsonOr } from "../../services/runtime/json.js";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { inject } from "vitest";
import { loadEnvironment } from "../../config/index.js";
import { PROVISIONING_CLIENT_ID, REALM_NAME, REALM_VARIABLES, WEB_APP_PATHS, WEB_CLIENT_ID } from "../../services/keycloak-realm/names.js";
import type { KeycloakTestServer } from "./keycloak-global-setup.js";

export type { KeycloakTestServer } from "./keycloak-global-setup.js";

/** How long a test file's `beforeAll` may wait for the shared server (it starts with the run). */
export const KEYCLOAK_WAIT_MS = 300_000;

/** The shared Keycloak, once it runs with the realm applied. */
export async function keycloakServer(timeoutMs = KEYCLOAK_WAIT_MS - 5_000): Promise<KeycloakTestServer> {
  const server = inject("keycloak");
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(server.statusFile)) {
    if (Date.now() > deadline) throw new Error(`Keycloak (${server.url}) was not ready after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const status = JSON.parse(readFileSync(server.statusFile, "utf8")) as { ok: boolean; error?: string };
  if (!status.ok) throw new Error(`Keycloak did not start or the realm did not apply: ${status.error}`);
  return server;
}

export function provisioningClientSecret(server: KeycloakTestServer): string {
  return server.variables[REALM_VARIABLES.provisioningClientSecret] as string;
}

export function issuerOf(server: KeycloakTestServer, realm = REALM_NAME): string {
  return `${server.url}/realms/${realm}`;
}

/** The web client's redirect URI in the dev realm. */
export function webRedirectUri(): string {
  return `https://${loadEnvironment("dev").domains.api}${WEB_APP_PATHS.redirect}`;
}

export interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly text: string;
  readonly location: string | null;
}

/** Admin REST calls with a client-credentials token (the bootstrap admin client, or the provisioning client). */
export class AdminClient {
  private token: string | undefined;
  constructor(
    private readonly server: KeycloakTestServer,
    private readonly client: { id: string; secret: string; realm: string },
  ) {}

  static bootstrap(server: KeycloakTestServer): AdminClient {
    return new AdminClient(server, { id: server.adminClientId, secret: server.adminClientSecret, realm: "master" });
  }
  static provisioning(server: KeycloakTestServer): AdminClient {
    return new AdminClient(server, { id: PROVISIONING_CLIENT_ID, secret: provisioningClientSecret(server), realm: REALM_NAME });
  }

  async accessToken(): Promise<string> {
    if (this.token) return this.token;
    const res = await fetch(`${this.server.url}/realms/${this.client.realm}/protocol/openid-connect/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: this.client.id, client_secret: this.client.secret }),
    });
    const body = (await res.json()) as { access_token?: string };
    if (!body.access_token) throw new Error(`no token for ${this.client.id}: ${res.status} ${JSON.stringify(body)}`);
    this.token = body.access_token;
    return this.token;
  }

  /** `path` below `/admin/realms`. */
  async call(method: string, path: string, body?: unknown): Promise<Reply> {
    const res = await fetch(`${this.server.url}/admin/realms${path}`, {
      method,
      headers: { authorization: `Bearer ${await this.accessToken()}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const parsed = parseJsonOr(text, text);
    return { status: res.status, body: parsed, text, location: res.headers.get("location") };
  }

  async get<T>(path: string): Promise<T> {
    const r = await this.call("GET", path);
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.text.slice(0, 200)}`);
    return r.body as T;
  }
}

export interface RealmUser {
  readonly id: string;
  readonly email: string;
  readonly password: string;
}

/** A user as registration leaves it once the e-mail is verified: enabled, e-mail as user name, a password. */
export async function createRegisteredUser(admin: AdminClient, password = `pw-${randomBytes(9).toString("base64url")}`): Promise<RealmUser> {
  const email = `user-${randomBytes(6).toString("hex")}@example.com`;
  const created = await admin.call("POST", `/${REALM_NAME}/users`, {
    username: email,
    email,
    emailVerified: true,
    enabled: true,
    credentials: [{ type: "password", value: password, temporary: false }],
  });
  if (created.status !== 201) throw new Error(`create user: ${created.status} ${created.text}`);
  return { id: (created.location ?? "").split("/").pop() as string, email, password };
}

/** A cookie jar and a fetch that keeps it, without following redirects. */
export class Browser {
  private readonly cookies = new Map<string, string>();

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = (pair ?? "").indexOf("=");
      if (eq > 0) this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
    return res;
  }
}

/** The `action` of the first form of a Keycloak page. */
export function formAction(html: string): string {
  const m = /<form[^>]*action="([^"]+)"/.exec(html);
  if (!m?.[1]) throw new Error(`no form on the page:\n${html.slice(0, 500)}`);
  return m[1].replace(/&amp;/g, "&");
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

export interface LoginResult {
  /** Tokens when the login reached the redirect URI and the code was exchanged. */
  readonly tokens?: { access_token: string; refresh_token?: string; id_token?: string };
  /** Else the HTML page Keycloak answered (an error, a required action). */
  readonly page?: string;
  readonly status: number;
}

export interface LoginOptions {
  readonly clientId?: string;
  readonly redirectUri?: string;
  readonly realm?: string;
  readonly scope?: string;
}

/** The authorization-code flow with PKCE through the login form, as a browser does it. */
export async function browserLogin(server: KeycloakTestServer, username: string, password: string, o: LoginOptions = {}): Promise<LoginResult> {
  const clientId = o.clientId ?? WEB_CLIENT_ID;
  const redirectUri = o.redirectUri ?? webRedirectUri();
  const issuer = issuerOf(server, o.realm);
  const { verifier, challenge } = pkce();
  const browser = new Browser();
  const auth = new URL(`${issuer}/protocol/openid-connect/auth`);
  auth.search = new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: "code", scope: o.scope ?? "openid", code_challenge: challenge, code_challenge_method: "S256", state: randomBytes(8).toString("hex") }).toString();
  const loginPage = await browser.fetch(auth.toString());
  const html = await loginPage.text();
  if (loginPage.status !== 200) return { status: loginPage.status, page: html };
  let posted = await browser.fetch(formAction(html), { method: "POST", body: new URLSearchParams({ username, password, credentialId: "" }) });
  let location = posted.headers.get("location");
  // Redirects within Keycloak (a required action such as OTP setup) are followed to their page.
  for (let hops = 0; posted.status === 302 && location?.startsWith(server.url) && !location.startsWith(redirectUri) && hops < 5; hops++) {
    posted = await browser.fetch(location);
    location = posted.headers.get("location");
  }
  if (posted.status !== 302 || !location?.startsWith(redirectUri)) return { status: posted.status, page: await posted.text() };
  const code = new URL(location).searchParams.get("code");
  const token = await fetch(`${issuer}/protocol/openid-connect/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "authorization_code", client_id: clientId, code: code ?? "", redirect_uri: redirectUri, code_verifier: verifier }),
  });
  const body = (await token.json()) as LoginResult["tokens"] & { error?: string };
  if (token.status !== 200) return { status: token.status, page: JSON.stringify(body) };
  return { status: 200, tokens: body };
}

/** The payload of a JWT (no verification: the tests that need it verify against the JWKS). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
}

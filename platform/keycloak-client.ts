/**
 * Talking to a real Keycloak as its users and admins do, with no test-runner dependency (the tests
 * and `npm run bench:provision` share it): an admin client (client credentials), users as
 * registration leaves them, the browser's side of the realm (login with PKCE through the login
 * form, the code exchange) over plain HTTP, and {@link UserSession}: a signed-in user's tokens,
 * refreshed with the refresh token as the web app does.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import { loadEnvironment } from "../config/index.js";
import { PROVISIONING_CLIENT_ID, REALM_NAME, REALM_VARIABLES, WEB_APP_PATHS, WEB_CLIENT_ID } from "../services/keycloak-realm/names.js";
import { parseJsonOr } from "../services/runtime/json.js";
import type { KeycloakServer } from "./keycloak-process.js";

export function provisioningClientSecret(server: KeycloakServer): string {
  return server.variables[REALM_VARIABLES.provisioningClientSecret] as string;
}

export function issuerOf(server: KeycloakServer, realm = REALM_NAME): string {
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
    private readonly server: KeycloakServer,
    private readonly client: { id: string; secret: string; realm: string },
  ) {}

  static bootstrap(server: KeycloakServer): AdminClient {
    return new AdminClient(server, { id: server.adminClientId, secret: server.adminClientSecret, realm: "master" });
  }
  static provisioning(server: KeycloakServer): AdminClient {
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

  /** `path` below `/admin/realms`. A 401 (the client's token expired) takes a new token once. */
  async call(method: string, path: string, body?: unknown): Promise<Reply> {
    const send = async () =>
      fetch(`${this.server.url}/admin/realms${path}`, {
        method,
        headers: { authorization: `Bearer ${await this.accessToken()}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    let res = await send();
    if (res.status === 401) {
      this.token = undefined;
      res = await send();
    }
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
  /** The base URL the browser uses (default the server's): Keycloak names the issuer after it. */
  readonly baseUrl?: string;
  readonly clientId?: string;
  readonly redirectUri?: string;
  readonly realm?: string;
  readonly scope?: string;
  /**
   * An authenticator app: when the login asks to set up OTP, the secret it shows is kept here and
   * answered; when it asks for a code, one is computed from the kept secret. Without it the login
   * stops at such a page (returned as `page`). Keycloak accepts each code once, and only the
   * current step's (no look-ahead): the time step of the last code answered is kept too (`step`),
   * and a second login within the same 30 s waits for the next step, as a person would.
   */
  readonly totp?: { secret?: string; step?: number };
}

const TOTP_PERIOD_MS = 30_000;

/** The next code of `totp` that Keycloak has not seen (see {@link LoginOptions.totp}); records its step. */
async function nextTotpCode(totp: { secret?: string; step?: number }, secret: string): Promise<string> {
  const now = Math.floor(Date.now() / TOTP_PERIOD_MS);
  const step = Math.max(now, (totp.step ?? -1) + 1);
  const wait = step * TOTP_PERIOD_MS - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait + 200));
  totp.step = step;
  return totpCode(secret, step * TOTP_PERIOD_MS);
}

/** The current TOTP code for a Keycloak OTP secret (the realm's policy: HmacSHA1, 6 digits, 30 s; the key is the secret's UTF-8 bytes). */
export function totpCode(secret: string, at: number = Date.now()): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / TOTP_PERIOD_MS)));
  const mac = createHmac("sha1", Buffer.from(secret, "utf8")).update(counter).digest();
  const offset = (mac[mac.length - 1] as number) & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

/** The authorization-code flow with PKCE through the login form, as a browser does it. */
export async function browserLogin(server: KeycloakServer, username: string, password: string, o: LoginOptions = {}): Promise<LoginResult> {
  const clientId = o.clientId ?? WEB_CLIENT_ID;
  const redirectUri = o.redirectUri ?? webRedirectUri();
  const base = o.baseUrl ?? server.url;
  const issuer = `${base}/realms/${o.realm ?? REALM_NAME}`;
  const { verifier, challenge } = pkce();
  const browser = new Browser();
  const auth = new URL(`${issuer}/protocol/openid-connect/auth`);
  auth.search = new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: "code", scope: o.scope ?? "openid", code_challenge: challenge, code_challenge_method: "S256", state: randomBytes(8).toString("hex") }).toString();
  const loginPage = await browser.fetch(auth.toString());
  const html = await loginPage.text();
  if (loginPage.status !== 200) return { status: loginPage.status, page: html };
  let res = await browser.fetch(formAction(html), { method: "POST", body: new URLSearchParams({ username, password, credentialId: "" }) });
  // Redirects within Keycloak (a required action) are followed to their page; with `totp`, OTP
  // setup and the OTP prompt are answered as an authenticator app would.
  let location: string | null = null;
  let answered = false;
  for (let step = 0; step < 8; step++) {
    location = res.headers.get("location");
    if (res.status === 302 && location?.startsWith(base) && !location.startsWith(redirectUri)) {
      res = await browser.fetch(location);
      continue;
    }
    if (res.status !== 200 || !o.totp) break;
    const page = await res.text();
    const setup = /<input[^>]*name="totpSecret"[^>]*>/.exec(page)?.[0];
    const secret = setup ? /value="([^"]+)"/.exec(setup)?.[1] : undefined;
    if (answered) return { status: res.status, page }; // the code was refused: no second guess
    if (secret) {
      answered = true;
      o.totp.secret = secret.replace(/&amp;/g, "&");
      res = await browser.fetch(formAction(page), { method: "POST", body: new URLSearchParams({ totp: await nextTotpCode(o.totp, o.totp.secret), totpSecret: o.totp.secret, userLabel: "test authenticator" }) });
    } else if (/name="otp"/.test(page) && o.totp.secret) {
      answered = true;
      res = await browser.fetch(formAction(page), { method: "POST", body: new URLSearchParams({ otp: await nextTotpCode(o.totp, o.totp.secret) }) });
    } else {
      return { status: res.status, page };
    }
  }
  if (res.status !== 302 || !location?.startsWith(redirectUri)) return { status: res.status, page: res.bodyUsed ? "" : await res.text() };
  const code = new URL(location).searchParams.get("code");
  const token = await fetch(`${issuer}/protocol/openid-connect/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "authorization_code", client_id: clientId, code: code ?? "", redirect_uri: redirectUri, code_verifier: verifier }),
  });
  const body = (await token.json()) as LoginResult["tokens"] & { error?: string };
  if (token.status !== 200) return { status: token.status, page: JSON.stringify(body) };
  return { status: 200, tokens: body };
}

/** What a person reads on a Keycloak page: its text without markup, scripts or styles. */
export function pageText(html: string): string {
  return html
    .replace(/<(script|style|head)[^>]*>[\s\S]*?<\/\1>/g, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/\s+/g, " ")
    .trim();
}

/** The payload of a JWT (no verification: the tests that need it verify against the JWKS). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
}

/** A signed-in user of the web app: its tokens, refreshed with the refresh token as the web app does. */
export class UserSession {
  private constructor(
    private readonly issuer: string,
    private readonly clientId: string,
    private tokens: { access_token: string; refresh_token?: string },
  ) {}

  /** Signs `user` in through the login form (authorization code with PKCE); throws with Keycloak's answer when that fails. */
  static async signIn(server: KeycloakServer, user: { readonly email: string; readonly password: string }, o: LoginOptions = {}): Promise<UserSession> {
    const login = await browserLogin(server, user.email, user.password, o);
    if (!login.tokens) throw new Error(`sign-in of ${user.email} failed (${login.status}): ${pageText(login.page ?? "").slice(0, 400)}`);
    return new UserSession(`${o.baseUrl ?? server.url}/realms/${o.realm ?? REALM_NAME}`, o.clientId ?? WEB_CLIENT_ID, login.tokens);
  }

  /** The access token, refreshed first when it expires within `marginSeconds`. */
  async accessToken(marginSeconds = 30): Promise<string> {
    const exp = claimsOf(this.tokens.access_token).exp;
    if (typeof exp === "number" && exp - Date.now() / 1000 > marginSeconds) return this.tokens.access_token;
    return this.refresh();
  }

  /** New tokens through the refresh grant: they carry what changed on the user since (the tenant provisioning wrote). */
  async refresh(): Promise<string> {
    if (!this.tokens.refresh_token) throw new Error("no refresh token in this session");
    const res = await fetch(`${this.issuer}/protocol/openid-connect/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "refresh_token", client_id: this.clientId, refresh_token: this.tokens.refresh_token }),
    });
    const body = (await res.json()) as { access_token?: string; refresh_token?: string; error?: string };
    if (res.status !== 200 || !body.access_token) throw new Error(`refresh failed (${res.status}): ${JSON.stringify(body)}`);
    this.tokens = { access_token: body.access_token, refresh_token: body.refresh_token ?? this.tokens.refresh_token };
    return body.access_token;
  }
}

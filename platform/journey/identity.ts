/**
 * A person's side of the realm, over plain HTTP as a browser does it, for any running platform
 * (only the issuer and the console's origin are needed, never a Keycloak admin): the registration
 * form, the e-mail verification link opened in the same browser, and sign-in through the login
 * form with the authorization code and PKCE, to the console's own redirect URI. The journey and the
 * browser journey share these steps.
 */
import { createHash, randomBytes } from "node:crypto";
import { WEB_APP_PATHS } from "../../services/keycloak-realm/names.js";
import { Browser, claimsOf, formAction, pageText } from "../keycloak-client.js";

/** The realm's web client as the console uses it. */
export interface WebClient {
  /** The realm's issuer (`…/realms/enchanted`). */
  readonly issuer: string;
  /** The console's public PKCE client (`WEB_CLIENT_ID`). */
  readonly clientId: string;
  /** `<console origin>/auth/callback`: where Keycloak sends the code. */
  readonly redirectUri: string;
}

export function webClient(issuer: string, clientId: string, consoleUrl: string): WebClient {
  return { issuer: issuer.replace(/\/+$/, ""), clientId, redirectUri: `${consoleUrl.replace(/\/+$/, "")}${WEB_APP_PATHS.redirect}` };
}

export interface Person {
  readonly email: string;
  readonly password: string;
}

/** A new person: a unique address on a reserved domain and a password the realm's policy accepts (12+ characters, not the e-mail). */
export function newPerson(label: string): Person {
  return { email: `${label}-${randomBytes(5).toString("hex")}@example.com`, password: `pw-${randomBytes(16).toString("base64url")}` };
}

interface Pkce {
  readonly verifier: string;
  readonly challenge: string;
}

function pkce(): Pkce {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

function authorizationQuery(client: WebClient, p: Pkce): string {
  return new URLSearchParams({
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    response_type: "code",
    scope: "openid",
    code_challenge: p.challenge,
    code_challenge_method: "S256",
    state: randomBytes(8).toString("hex"),
  }).toString();
}

/** A registration sent, waiting for its e-mail to be verified: the browser that sent it (its cookies continue the flow). */
export interface PendingRegistration {
  readonly person: Person;
  readonly browser: Browser;
  readonly pkce: Pkce;
}

/** The error or notice a Keycloak page shows (its feedback block), else the start of its text. */
function feedbackOf(html: string): string {
  const feedback = /<(?:div|span)[^>]*(?:kc-feedback-text|alert-error|input-error|kc-feedback)[^>]*>([\s\S]*?)<\/(?:div|span)>/.exec(html)?.[1];
  return pageText(feedback ?? html).slice(0, 300);
}

/**
 * Fills in and sends the realm's registration form (e-mail as user name, names, password twice) and
 * follows Keycloak to the page that asks the person to verify their e-mail. A form shown again (a
 * refused password, a taken address) fails with what the form says.
 */
export async function submitRegistration(client: WebClient, person: Person): Promise<PendingRegistration> {
  const browser = new Browser();
  const codes = pkce();
  const start = `${client.issuer}/protocol/openid-connect/registrations?${authorizationQuery(client, codes)}`;
  const form = await browser.fetch(start);
  const formHtml = await form.text();
  if (form.status !== 200) throw new Error(`GET the registration form → ${form.status}: ${feedbackOf(formHtml)}`);
  let res = await browser.fetch(formAction(formHtml), {
    method: "POST",
    body: new URLSearchParams({ email: person.email, firstName: "Journey", lastName: "Person", password: person.password, "password-confirm": person.password }),
  });
  for (let i = 0; i < 5 && res.status === 302; i++) {
    const location = res.headers.get("location") ?? "";
    if (location.startsWith(client.redirectUri)) throw new Error(`registration of ${person.email} signed in without verifying the e-mail (the realm must require verification)`);
    res = await browser.fetch(new URL(location, client.issuer).toString());
  }
  const page = await res.text();
  if (res.status !== 200) throw new Error(`registration of ${person.email} → ${res.status}: ${feedbackOf(page)}`);
  if (/name="password-confirm"/.test(page)) throw new Error(`the registration form refused ${person.email}: ${feedbackOf(page)}`);
  return { person, browser, pkce: codes };
}

/**
 * Opens the verification link in the browser that registered (as a person clicking it in their
 * mail), follows Keycloak until it sends the browser to the console's callback with a code, and
 * exchanges that code (PKCE) as the console would: resolves with the new user's first tokens.
 */
export async function openVerificationLink(client: WebClient, pending: PendingRegistration, link: string): Promise<Tokens> {
  const { browser, person } = pending;
  let res = await browser.fetch(link);
  let location = "";
  for (let i = 0; i < 8; i++) {
    location = res.headers.get("location") ?? "";
    if (res.status === 302 && location.startsWith(client.redirectUri)) break;
    if (res.status === 302) {
      res = await browser.fetch(new URL(location, client.issuer).toString());
      continue;
    }
    // An information page ("proceed to the application") links onward.
    const page = await res.text();
    const next = /href="([^"]*login-actions[^"]*)"/.exec(page)?.[1]?.replace(/&amp;/g, "&");
    if (res.status !== 200 || !next) throw new Error(`after opening the verification link of ${person.email}: ${res.status} ${feedbackOf(page)}`);
    res = await browser.fetch(new URL(next, client.issuer).toString());
  }
  if (!location.startsWith(client.redirectUri)) throw new Error(`the verification link of ${person.email} did not lead back to ${client.redirectUri} (last answer ${res.status})`);
  return exchangeCode(client, location, pending.pkce.verifier, person.email);
}

export interface Tokens {
  readonly access_token: string;
  readonly refresh_token?: string;
  readonly id_token?: string;
}

/** The code of a redirect to the console's callback, exchanged at the token endpoint with the PKCE verifier. */
async function exchangeCode(client: WebClient, callback: string, verifier: string, who: string): Promise<Tokens> {
  const url = new URL(callback);
  const error = url.searchParams.get("error");
  if (error) throw new Error(`Keycloak sent ${who} back with ${error}: ${url.searchParams.get("error_description") ?? ""}`);
  const code = url.searchParams.get("code");
  if (!code) throw new Error(`no authorization code in the redirect of ${who} (${url.pathname})`);
  const res = await fetch(`${client.issuer}/protocol/openid-connect/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "authorization_code", client_id: client.clientId, code, redirect_uri: client.redirectUri, code_verifier: verifier }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`code exchange for ${who} → ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as Tokens;
}

/**
 * Signs a registered person in through the login form: authorization code with PKCE to the
 * console's callback, the code exchanged for tokens. A page instead of the redirect (wrong
 * password, a required action such as OTP setup) fails with what the page says.
 */
export async function signIn(client: WebClient, person: Person): Promise<WebSession> {
  const browser = new Browser();
  const codes = pkce();
  const login = await browser.fetch(`${client.issuer}/protocol/openid-connect/auth?${authorizationQuery(client, codes)}`);
  const html = await login.text();
  if (login.status !== 200) throw new Error(`GET the login form → ${login.status}: ${feedbackOf(html)}`);
  let res = await browser.fetch(formAction(html), { method: "POST", body: new URLSearchParams({ username: person.email, password: person.password, credentialId: "" }) });
  let location = "";
  for (let i = 0; i < 5; i++) {
    location = res.headers.get("location") ?? "";
    if (res.status !== 302 || location.startsWith(client.redirectUri)) break;
    res = await browser.fetch(new URL(location, client.issuer).toString());
  }
  if (res.status !== 302 || !location.startsWith(client.redirectUri)) throw new Error(`sign-in of ${person.email} stopped at a page (${res.status}): ${feedbackOf(await res.text())}`);
  return new WebSession(client, await exchangeCode(client, location, codes.verifier, person.email));
}

/** A signed-in person's tokens, refreshed with the refresh grant as the console does. */
export class WebSession {
  constructor(
    private readonly client: WebClient,
    private tokens: Tokens,
  ) {}

  /** The access token's claims (read, not verified: the services verify it). */
  get claims(): Record<string, unknown> {
    return claimsOf(this.tokens.access_token);
  }

  /** The access token, refreshed first when it expires within `marginSeconds`. */
  async accessToken(marginSeconds = 30): Promise<string> {
    const exp = this.claims["exp"];
    if (typeof exp === "number" && exp - Date.now() / 1000 > marginSeconds) return this.tokens.access_token;
    if (!this.tokens.refresh_token) throw new Error("the access token expired and the session has no refresh token");
    const res = await fetch(`${this.client.issuer}/protocol/openid-connect/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "refresh_token", client_id: this.client.clientId, refresh_token: this.tokens.refresh_token }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`token refresh → ${res.status} ${text.slice(0, 300)}`);
    const next = JSON.parse(text) as Tokens;
    this.tokens = { ...next, refresh_token: next.refresh_token ?? this.tokens.refresh_token };
    return this.tokens.access_token;
  }
}

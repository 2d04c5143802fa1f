/**
 * Sign-up as a person does it: the realm's registration form, the verification e-mail Keycloak
 * sends (to a real SMTP server on loopback), the link in it opened in the same browser, and the
 * authorization code (PKCE) that follows, exchanged for tokens. Nothing is created through the
 * Admin API. {@link pointRealmMailAt} sends the realm's mail to the catcher instead of SES.
 */
import { createHash, randomBytes } from "node:crypto";
import { REALM_NAME, WEB_CLIENT_ID } from "../services/keycloak-realm/names.js";
import type { AdminClient } from "./keycloak-client.js";
import type { KeycloakServer } from "./keycloak-process.js";
import { Browser, formAction, webRedirectUri } from "./keycloak-client.js";
import { decodeQuotedPrintable, type SmtpCatcher } from "./mail-catcher.js";

/** Points the realm's SMTP settings at `smtp` (plain SMTP on loopback, no auth). */
export async function pointRealmMailAt(admin: AdminClient, smtp: SmtpCatcher): Promise<void> {
  const res = await admin.call("PUT", `/${REALM_NAME}`, { smtpServer: { host: "127.0.0.1", port: String(smtp.port), from: "no-reply@enchanted.test", fromDisplayName: "Enchanted", ssl: "false", starttls: "false", auth: "false" } });
  if (res.status !== 204) throw new Error(`set the realm's SMTP server: ${res.status} ${res.text}`);
}

export interface Registered {
  readonly email: string;
  readonly password: string;
  readonly tokens: { access_token: string; refresh_token?: string };
}

/**
 * Registers a new person through the form and the e-mail link; resolves with their first tokens.
 * `redirectUri`: the web app's callback the realm knows (the local platform's console), default the dev realm's.
 */
export async function registerThroughForm(server: KeycloakServer, smtp: SmtpCatcher, o: { email?: string; password?: string; redirectUri?: string } = {}): Promise<Registered> {
  const email = o.email ?? `signup-${randomBytes(6).toString("hex")}@example.com`;
  const password = o.password ?? `pw-${randomBytes(12).toString("base64url")}`;
  const issuer = `${server.url}/realms/${REALM_NAME}`;
  const redirectUri = o.redirectUri ?? webRedirectUri();
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  const browser = new Browser();
  const start = new URL(`${issuer}/protocol/openid-connect/registrations`);
  start.search = new URLSearchParams({ client_id: WEB_CLIENT_ID, redirect_uri: redirectUri, response_type: "code", scope: "openid", code_challenge: challenge, code_challenge_method: "S256", state: randomBytes(8).toString("hex") }).toString();
  const form = await browser.fetch(start.toString());
  if (form.status !== 200) throw new Error(`registration form: ${form.status}`);
  let res = await browser.fetch(formAction(await form.text()), { method: "POST", body: new URLSearchParams({ email, firstName: "New", lastName: "User", password, "password-confirm": password }) });
  // Follow Keycloak's own redirects to the "verify your e-mail" page.
  for (let i = 0; i < 5 && res.status === 302; i++) {
    const location = res.headers.get("location") ?? "";
    if (location.startsWith(redirectUri)) break;
    res = await browser.fetch(location);
  }
  if (res.status !== 200) throw new Error(`registration of ${email}: ${res.status}`);
  const mail = await smtp.waitFor(email);
  smtp.messages.splice(smtp.messages.indexOf(mail), 1);
  const link = /https?:\/\/[^\s"<>]*action-token[^\s"<>]*/.exec(decodeQuotedPrintable(mail.raw))?.[0]?.replace(/&amp;/g, "&");
  if (!link) throw new Error(`no verification link in the mail to ${email}`);
  // The link, in the same browser: the e-mail is verified and the login continues to the app.
  res = await browser.fetch(link);
  let location = "";
  for (let i = 0; i < 8; i++) {
    location = res.headers.get("location") ?? "";
    if (res.status === 302 && location.startsWith(redirectUri)) break;
    if (res.status === 302) {
      res = await browser.fetch(location);
      continue;
    }
    // An information page ("proceed") links onward.
    const page = await res.text();
    const next = /href="([^"]*login-actions[^"]*)"/.exec(page)?.[1]?.replace(/&amp;/g, "&");
    if (res.status !== 200 || !next) throw new Error(`after the verification link of ${email}: ${res.status} ${page.slice(0, 300)}`);
    res = await browser.fetch(new URL(next, server.url).toString());
  }
  const code = new URL(location).searchParams.get("code");
  if (!code) throw new Error(`no authorization code after verifying ${email}`);
  const token = await fetch(`${issuer}/protocol/openid-connect/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "authorization_code", client_id: WEB_CLIENT_ID, code, redirect_uri: redirectUri, code_verifier: verifier }),
  });
  if (token.status !== 200) throw new Error(`code exchange for ${email}: ${token.status} ${await token.text()}`);
  return { email, password, tokens: (await token.json()) as Registered["tokens"] };
}

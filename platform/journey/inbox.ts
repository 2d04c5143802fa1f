/**
 * The local platform's mail catcher, read over HTTP as a person reads their mailbox: its inbox URL
 * answers every message it caught (`[{from, to, subject, text, receivedAt}]`). The journey finds
 * Keycloak's verification e-mail and the provisioning service's invitation there, and takes the
 * link out of each.
 */
import { decodeQuotedPrintable } from "../mail-catcher.js";
import { reasonOf, waitFor } from "./http.js";

export interface InboxMail {
  readonly from: string;
  readonly to: readonly string[];
  readonly subject: string;
  readonly text: string;
  readonly receivedAt: string;
}

function mailOf(value: unknown, i: number): InboxMail {
  const m = value as Record<string, unknown> | null;
  if (!m || typeof m !== "object") throw new Error(`inbox message ${i} is not an object`);
  const to = m["to"];
  const recipients = typeof to === "string" ? to.split(",") : Array.isArray(to) ? to.map(String) : [];
  return {
    from: String(m["from"] ?? ""),
    to: recipients.map((r) => r.trim().toLowerCase()),
    subject: String(m["subject"] ?? ""),
    text: String(m["text"] ?? ""),
    receivedAt: String(m["receivedAt"] ?? ""),
  };
}

export class Inbox {
  constructor(readonly url: string) {}

  /** Every message the catcher holds. */
  async list(): Promise<InboxMail[]> {
    let res: Response;
    try {
      res = await fetch(this.url, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      throw new Error(`GET ${this.url} (the mail inbox): no answer: ${reasonOf(error)}`, { cause: error });
    }
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET ${this.url} (the mail inbox) → ${res.status} ${text.slice(0, 200)}`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`GET ${this.url} (the mail inbox) did not answer JSON: ${text.slice(0, 200)}`);
    }
    const list = Array.isArray(body) ? body : (body as { messages?: unknown })?.messages;
    if (!Array.isArray(list)) throw new Error(`GET ${this.url} (the mail inbox) answered no list of messages: ${text.slice(0, 200)}`);
    return list.map(mailOf);
  }

  /** The first message to `address` that `match` accepts, waiting up to `timeoutMs`. */
  async waitFor(address: string, what: string, match: (m: InboxMail) => boolean, timeoutMs = 30_000): Promise<InboxMail> {
    const to = address.toLowerCase();
    let seen: InboxMail[] = [];
    return waitFor(
      `${what} in the inbox of ${address}`,
      timeoutMs,
      async () => {
        seen = (await this.list()).filter((m) => m.to.includes(to));
        return seen.find(match);
      },
      { last: () => (seen.length === 0 ? `no mail to ${address}` : `mail to ${address}: ${seen.map((m) => JSON.stringify(m.subject)).join(", ")}`) },
    );
  }
}

/**
 * The body as a person's mail program shows it. Keycloak's mails are multipart with quoted-printable
 * parts, which the catcher's `text` may keep encoded; decoding text that is already plain would
 * corrupt a URL's `=XX`, so only text that shows quoted-printable's marks (`=3D`, soft line breaks) is decoded.
 */
export function readableText(mail: InboxMail): string {
  return /=3D|=\r?\n/i.test(mail.text) ? decodeQuotedPrintable(mail.text) : mail.text;
}

/** Keycloak's e-mail verification link (an action token) in the mail, HTML entities undone. */
export function verificationLinkOf(mail: InboxMail): string | undefined {
  return /https?:\/\/[^\s"<>]*action-token[^\s"<>]*/.exec(readableText(mail))?.[0]?.replace(/&amp;/g, "&");
}

/** The invitation secret of the mail's link (`<console>/invitations/accept#token=…`). */
export function invitationTokenOf(mail: InboxMail): string | undefined {
  return /\/invitations\/accept#token=([A-Za-z0-9_-]{43})/.exec(readableText(mail))?.[1];
}

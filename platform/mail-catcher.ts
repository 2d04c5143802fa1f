/**
 * A real SMTP server on a free loopback port (the npm `smtp-server` package) that keeps every
 * message it receives: what the provisioning service's mailer and Keycloak talk to in tests and in
 * `npm run platform`, exactly as they talk to SES's SMTP interface in production (EHLO, MAIL FROM,
 * RCPT TO, DATA).
 *
 * With `inbox: true` it also answers `GET <inboxUrl>` over HTTP on another loopback port: the
 * caught messages as JSON ({@link InboxMessage}: from, to, subject, text, receivedAt), newest last,
 * `?to=<address>` for one recipient's. That is where a person running the platform reads the
 * verification and invitation e-mails.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

export interface CaughtMail {
  readonly from: string;
  readonly to: readonly string[];
  /** The raw message (headers and body) as received. */
  readonly raw: string;
  readonly subject: string;
  /** The body (of a multipart message: its text/plain part), quoted-printable or base64 decoded when it was encoded so. */
  readonly text: string;
  /** When the message's DATA ended. */
  readonly receivedAt: Date;
}

/** One message as the HTTP inbox answers it. */
export interface InboxMessage {
  readonly from: string;
  readonly to: readonly string[];
  readonly subject: string;
  readonly text: string;
  /** ISO 8601. */
  readonly receivedAt: string;
}

/** The path of the HTTP inbox. */
export const INBOX_PATH = "/messages";

/** Quoted-printable (RFC 2045) decoded, soft line breaks joined, as UTF-8. */
export function decodeQuotedPrintable(s: string): string {
  const bytes = s.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, "latin1").toString("utf8");
}

/** A header's value in an unfolded header block ("" when absent). */
function headerOf(head: string, name: string): string {
  return new RegExp(`^${name}:\\s*(.*)$`, "im").exec(head.replace(/\r?\n[ \t]+/g, " "))?.[1]?.trim() ?? "";
}

/** Headers and body of a MIME entity. */
function splitEntity(raw: string): { head: string; body: string } {
  const split = raw.search(/\r?\n\r?\n/);
  return { head: split < 0 ? raw : raw.slice(0, split), body: split < 0 ? "" : raw.slice(split).replace(/^\r?\n\r?\n/, "") };
}

/** The readable text of a MIME entity: its body decoded, or of a multipart one its first text/plain part (else its first part). */
function textOf(head: string, body: string, depth = 0): string {
  const type = headerOf(head, "Content-Type");
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (/^multipart\//i.test(type) && boundary && depth < 5) {
    const parts = body
      .split(`--${boundary}`)
      .slice(1)
      .filter((p) => !p.startsWith("--"))
      .map((p) => splitEntity(p.replace(/^\r?\n/, "")));
    const plain = parts.find((p) => /^text\/plain/i.test(headerOf(p.head, "Content-Type")) || /^multipart\//i.test(headerOf(p.head, "Content-Type")));
    const chosen = plain ?? parts[0];
    return chosen ? textOf(chosen.head, chosen.body, depth + 1) : "";
  }
  const encoding = headerOf(head, "Content-Transfer-Encoding").toLowerCase();
  return encoding === "quoted-printable" ? decodeQuotedPrintable(body) : encoding === "base64" ? Buffer.from(body, "base64").toString("utf8") : body;
}

function parse(raw: string): { subject: string; text: string } {
  const { head, body } = splitEntity(raw);
  return { subject: headerOf(head, "Subject"), text: textOf(head, body).trim() };
}

/** The inbox's view of a caught message. */
export function inboxMessage(mail: CaughtMail): InboxMessage {
  return { from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, receivedAt: mail.receivedAt.toISOString() };
}

export class SmtpCatcher {
  readonly messages: CaughtMail[] = [];
  private waiters: (() => void)[] = [];

  private inbox: Server | undefined;

  private constructor(
    private readonly server: SMTPServer,
    readonly port: number,
  ) {}

  /** `smtp://127.0.0.1:<port>` for PROVISIONING_SMTP_URL. */
  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** `http://127.0.0.1:<port>/messages` of the HTTP inbox (started with `inbox: true`). */
  get inboxUrl(): string {
    const address = this.inbox?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error("SmtpCatcher.inboxUrl: this catcher has no HTTP inbox. Fix: start it with SmtpCatcher.start({ inbox: true })");
    return `http://127.0.0.1:${address.port}${INBOX_PATH}`;
  }

  /**
   * Starts the SMTP server on a free loopback port (or `smtpPort`); with `inbox`, the HTTP inbox
   * too (on `inboxPort`, default any free port).
   */
  static async start(o: { readonly inbox?: boolean; readonly smtpPort?: number; readonly inboxPort?: number } = {}): Promise<SmtpCatcher> {
    let catcher: SmtpCatcher | undefined;
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          const raw = Buffer.concat(chunks).toString("utf8");
          const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
          catcher?.messages.push({ from, to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()), raw, ...parse(raw), receivedAt: new Date() });
          for (const w of catcher?.waiters.splice(0) ?? []) w();
          callback();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(o.smtpPort ?? 0, "127.0.0.1", () => resolve());
    });
    const port = ((server as unknown as { server: { address(): AddressInfo } }).server.address() as AddressInfo).port;
    catcher = new SmtpCatcher(server, port);
    if (o.inbox) {
      try {
        await catcher.startInbox(o.inboxPort ?? 0);
      } catch (error) {
        await catcher.stop();
        throw error;
      }
    }
    return catcher;
  }

  /** `GET /messages[?to=<address>]`: the caught messages as JSON, newest last. */
  private async startInbox(port: number): Promise<void> {
    const inbox = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://inbox.invalid");
      if (url.pathname !== INBOX_PATH && url.pathname !== "/") {
        res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "not_found", message: `no ${url.pathname} here: the inbox is GET ${INBOX_PATH}` } }));
        return;
      }
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD", "content-type": "application/json" }).end(JSON.stringify({ error: { code: "method_not_allowed", message: `the inbox is read with GET ${INBOX_PATH}` } }));
        return;
      }
      const to = url.searchParams.get("to")?.toLowerCase();
      const body = JSON.stringify(this.messages.filter((m) => !to || m.to.includes(to)).map(inboxMessage));
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", "content-length": Buffer.byteLength(body) });
      res.end(req.method === "HEAD" ? undefined : body);
    });
    await new Promise<void>((resolve, reject) => {
      inbox.once("error", reject);
      inbox.listen(port, "127.0.0.1", () => resolve());
    });
    this.inbox = inbox;
  }

  /** The first message to `address` (waits for it). */
  async waitFor(address: string, timeoutMs = 15_000): Promise<CaughtMail> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((m) => m.to.includes(address.toLowerCase()));
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no mail to ${address} within ${timeoutMs} ms (got mail to: ${this.messages.map((m) => m.to.join(",")).join("; ") || "nobody"})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Stops the SMTP server and the inbox. */
  async stop(): Promise<void> {
    const inbox = this.inbox;
    if (inbox) {
      await new Promise<void>((resolve) => {
        inbox.close(() => resolve());
        inbox.closeAllConnections();
      });
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The invitation secret in a mail's link (`#token=…`). */
export function invitationTokenOf(mail: CaughtMail): string {
  const m = /#token=([A-Za-z0-9_-]{43})/.exec(mail.text);
  if (!m?.[1]) throw new Error(`no invitation link in the mail to ${mail.to.join(", ")}: ${mail.text.slice(0, 300)}`);
  return m[1];
}

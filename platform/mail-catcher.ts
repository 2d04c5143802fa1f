/**
 * A real SMTP server on a free loopback port (the npm `smtp-server` package) that keeps every
 * message it receives: what the provisioning service's mailer talks to in tests, exactly as it
 * talks to SES's SMTP interface in production (EHLO, MAIL FROM, RCPT TO, DATA).
 */
import { SMTPServer } from "smtp-server";
import type { AddressInfo } from "node:net";

export interface CaughtMail {
  readonly from: string;
  readonly to: readonly string[];
  /** The raw message (headers and body) as received. */
  readonly raw: string;
  readonly subject: string;
  /** The body, quoted-printable decoded when it was encoded so. */
  readonly text: string;
}

/** Quoted-printable (RFC 2045) decoded, soft line breaks joined, as UTF-8. */
export function decodeQuotedPrintable(s: string): string {
  const bytes = s.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, "latin1").toString("utf8");
}

function parse(raw: string): { subject: string; text: string } {
  const split = raw.search(/\r?\n\r?\n/);
  const head = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? "" : raw.slice(split).replace(/^\r?\n\r?\n/, "");
  const unfolded = head.replace(/\r?\n[ \t]+/g, " ");
  const header = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "im").exec(unfolded)?.[1]?.trim() ?? "";
  const encoding = header("Content-Transfer-Encoding").toLowerCase();
  const text = encoding === "quoted-printable" ? decodeQuotedPrintable(body) : encoding === "base64" ? Buffer.from(body, "base64").toString("utf8") : body;
  return { subject: header("Subject"), text };
}

export class SmtpCatcher {
  readonly messages: CaughtMail[] = [];
  private waiters: (() => void)[] = [];

  private constructor(
    private readonly server: SMTPServer,
    readonly port: number,
  ) {}

  /** `smtp://127.0.0.1:<port>` for PROVISIONING_SMTP_URL. */
  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<SmtpCatcher> {
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
          catcher?.messages.push({ from, to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()), raw, ...parse(raw) });
          for (const w of catcher?.waiters.splice(0) ?? []) w();
          callback();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const port = ((server as unknown as { server: { address(): AddressInfo } }).server.address() as AddressInfo).port;
    catcher = new SmtpCatcher(server, port);
    return catcher;
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

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The invitation secret in a mail's link (`#token=…`). */
export function invitationTokenOf(mail: CaughtMail): string {
  const m = /#token=([A-Za-z0-9_-]{43})/.exec(mail.text);
  if (!m?.[1]) throw new Error(`no invitation link in the mail to ${mail.to.join(", ")}: ${mail.text.slice(0, 300)}`);
  return m[1];
}

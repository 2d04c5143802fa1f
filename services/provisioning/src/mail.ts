/**
 * Outgoing e-mail: the invitations. One transport, SMTP (nodemailer): in production Amazon SES's
 * SMTP interface (`smtp://email-smtp.<region>.amazonaws.com:587`, STARTTLS required, the SMTP
 * credentials from a mounted secret), in tests and `npm run platform` a real SMTP server on
 * loopback. The link carries the invitation's secret in the URL fragment, which browsers never
 * send to a server (so it reaches no access log).
 */
import { readFileSync } from "node:fs";
import nodemailer from "nodemailer";

export interface InvitationMail {
  readonly to: string;
  readonly tenantName: string;
  readonly role: string;
  readonly secret: string;
  readonly expiresAt: string;
}

export interface Mailer {
  readonly enabled: boolean;
  sendInvitation(mail: InvitationMail): Promise<void>;
  close(): void;
}

export const disabledMailer: Mailer = { enabled: false, sendInvitation: async () => undefined, close: () => undefined };

export interface SmtpMailerOptions {
  /** `smtp://host:port` (STARTTLS when offered; required with `requireTls`) or `smtps://host:port`. */
  readonly url: string;
  readonly from: string;
  /** Where the console accepts invitations: `<consoleUrl>/invitations/accept#token=…`. */
  readonly consoleUrl: string;
  /** A file holding `username:password` for SMTP AUTH. @default - no AUTH */
  readonly credentialsFile?: string;
  /** Refuse to send without TLS (production). @default false */
  readonly requireTls?: boolean;
}

/** The invitation link (the secret in the fragment). */
export function invitationLink(consoleUrl: string, secret: string): string {
  return `${consoleUrl.replace(/\/+$/, "")}/invitations/accept#token=${encodeURIComponent(secret)}`;
}

export function smtpMailer(o: SmtpMailerOptions): Mailer {
  let auth: { user: string; pass: string } | undefined;
  if (o.credentialsFile) {
    const text = readFileSync(o.credentialsFile, "utf8").trim();
    const colon = text.indexOf(":");
    if (colon < 1) throw new Error(`${o.credentialsFile} does not hold "username:password". Fix: write the SMTP credentials as username:password`);
    auth = { user: text.slice(0, colon), pass: text.slice(colon + 1) };
  }
  const transport = nodemailer.createTransport({
    url: o.url,
    ...(auth ? { auth } : {}),
    requireTLS: o.requireTls === true,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
    pool: true,
    maxConnections: 4,
  } as Parameters<typeof nodemailer.createTransport>[0]);
  return {
    enabled: true,
    async sendInvitation(m) {
      const link = invitationLink(o.consoleUrl, m.secret);
      await transport.sendMail({
        from: o.from,
        to: m.to,
        subject: `You are invited to ${m.tenantName} on Enchanted`,
        text: [
          `You were invited to join ${m.tenantName} as ${m.role}.`,
          "",
          `Accept while signed in as ${m.to} (the invitation works once, until ${m.expiresAt}):`,
          link,
          "",
          "If you did not expect this, ignore this e-mail.",
        ].join("\n"),
      });
    },
    close: () => transport.close(),
  };
}

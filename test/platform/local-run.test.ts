/**
 * The small pieces of `npm run platform`, without starting it:
 * - the mail catcher's HTTP inbox (a real SMTP delivery by nodemailer, as the provisioning
 *   service sends; multipart and quoted-printable as Keycloak sends);
 * - when the console is (re)built: modification times of its sources against the built page;
 * - the command line: flags, PLATFORM_DATA_DIR, and the error naming a bad flag and its fix.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePlatformArgs, PLATFORM_DATA_DIR_ENV, PlatformArgsError } from "../../platform/main.js";
import { INBOX_PATH, SmtpCatcher, type InboxMessage } from "../../platform/mail-catcher.js";
import { buildConsole, consoleBuildState } from "../../platform/start.js";

describe("the mail catcher's inbox", () => {
  let catcher: SmtpCatcher;
  beforeAll(async () => {
    catcher = await SmtpCatcher.start({ inbox: true });
  });
  afterAll(async () => {
    await catcher?.stop();
  });

  it("answers every caught message as JSON, newest last, decoded to its text part, and one recipient's with ?to=", async () => {
    const transport = nodemailer.createTransport({ host: "127.0.0.1", port: catcher.port, secure: false, ignoreTLS: true });
    const link = "http://127.0.0.1:5173/invitations/accept#token=abc_DEF-123";
    await transport.sendMail({ from: "no-reply@enchanted.localhost", to: "first@example.com", subject: "Verify email", text: `Someone has created an account with this e-mail address. Open ${link} — ${"long line ".repeat(20)}`, html: `<p><a href="${link}">verify</a></p>` });
    await transport.sendMail({ from: "no-reply@enchanted.localhost", to: "Second@Example.com", subject: "Invitation", text: "plain body" });
    transport.close();

    const res = await fetch(catcher.inboxUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    const all = (await res.json()) as InboxMessage[];
    expect(all.map((m) => m.subject)).toEqual(["Verify email", "Invitation"]);
    const [first, second] = all;
    expect(first).toMatchObject({ from: "no-reply@enchanted.localhost", to: ["first@example.com"] });
    // The text/plain part, quoted-printable decoded: the link whole, no HTML, no MIME boundary.
    expect(first?.text).toContain(link);
    expect(first?.text).toContain("—");
    expect(first?.text).not.toMatch(/<a |Content-Type|=\r?\n/);
    expect(Date.parse(first?.receivedAt ?? "")).toBeLessThanOrEqual(Date.parse(second?.receivedAt ?? ""));
    const one = (await (await fetch(`${catcher.inboxUrl}?to=second@example.com`)).json()) as InboxMessage[];
    expect(one.map((m) => m.text)).toEqual(["plain body"]);
  });

  it("is at /messages, read with GET only", async () => {
    expect(new URL(catcher.inboxUrl).pathname).toBe(INBOX_PATH);
    const base = new URL(catcher.inboxUrl).origin;
    expect((await fetch(`${base}/elsewhere`)).status).toBe(404);
    const post = await fetch(catcher.inboxUrl, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });

  it("a catcher started without an inbox says how to get one", async () => {
    const plain = await SmtpCatcher.start();
    try {
      expect(() => plain.inboxUrl).toThrow(/start it with SmtpCatcher.start\(\{ inbox: true \}\)/);
    } finally {
      await plain.stop();
    }
  });
});

describe("when the console is built", () => {
  let root: string;
  const dist = () => join(root, "console", "dist");
  const at = (path: string, seconds: number) => utimesSync(path, seconds, seconds);
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "console-build-state-"));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("not without console/src, always without a built page, again once a source is newer than the page", () => {
    expect(consoleBuildState(root, dist())).toMatchObject({ build: false, reason: expect.stringContaining("console/src does not exist") });
    mkdirSync(join(root, "console", "src", "pages"), { recursive: true });
    writeFileSync(join(root, "console", "src", "pages", "Tenants.tsx"), "export {}");
    writeFileSync(join(root, "console", "index.html"), "<html></html>");
    at(join(root, "console", "src", "pages", "Tenants.tsx"), 1_000);
    at(join(root, "console", "index.html"), 1_000);
    expect(consoleBuildState(root, dist())).toMatchObject({ build: true, reason: "console/dist/index.html is missing" });
    mkdirSync(dist(), { recursive: true });
    writeFileSync(join(dist(), "index.html"), "<html>built</html>");
    at(join(dist(), "index.html"), 2_000);
    expect(consoleBuildState(root, dist())).toMatchObject({ build: false, reason: "console/dist is current" });
    at(join(root, "console", "src", "pages", "Tenants.tsx"), 3_000);
    expect(consoleBuildState(root, dist())).toEqual({ build: true, reason: "console/src/pages/Tenants.tsx changed after the last build" });
    at(join(dist(), "index.html"), 4_000);
    writeFileSync(join(root, "console", "vite.config.ts"), "export default {}");
    at(join(root, "console", "vite.config.ts"), 5_000);
    expect(consoleBuildState(root, dist()).reason).toBe("console/vite.config.ts changed after the last build");
  });
});

describe("building the console", () => {
  /** A repository root whose `console:build` script is `script` (a real npm run, as the platform runs it). */
  function rootWith(script: string): string {
    const dir = mkdtempSync(join(tmpdir(), "console-build-"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "build-fixture", private: true, scripts: { "console:build": script } }));
    return dir;
  }

  it("runs npm run console:build in the repository and resolves with its duration", async () => {
    const root = rootWith(`node -e "require('fs').mkdirSync('console/dist',{recursive:true});require('fs').writeFileSync('console/dist/index.html','<html></html>')"`);
    try {
      const ms = await buildConsole(root);
      expect(ms).toBeGreaterThan(0);
      expect(consoleBuildState(root, join(root, "console", "dist")).reason).toContain("console/src does not exist");
      expect(readFileSync(join(root, "console", "dist", "index.html"), "utf8")).toBe("<html></html>");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 30_000);

  it("a failed build rejects with the command, the fix and the build's last output", async () => {
    const root = rootWith(`node -e "console.error('Failed to resolve /src/main.tsx'); process.exit(3)"`);
    try {
      const error = (await buildConsole(root).catch((e: unknown) => e)) as Error;
      expect(error.message).toMatch(/^npm run console:build exited 3 \(its last output below\)\. Fix: .*--no-console-build/);
      expect(error.message).toContain("Failed to resolve /src/main.tsx");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 30_000);
});

describe("npm run platform's command line", () => {
  it("takes --data-dir (two spellings), --no-console-build and --help", () => {
    expect(parsePlatformArgs([], {})).toEqual({ dataDir: undefined, buildConsole: true, help: false });
    expect(parsePlatformArgs(["--data-dir", "/tmp/kept"], {})).toMatchObject({ dataDir: "/tmp/kept" });
    expect(parsePlatformArgs(["--data-dir=/tmp/kept", "--no-console-build"], {})).toMatchObject({ dataDir: "/tmp/kept", buildConsole: false });
    expect(parsePlatformArgs(["--help"], {}).help).toBe(true);
  });

  it("reads PLATFORM_DATA_DIR when --data-dir is not given; the flag wins", () => {
    expect(parsePlatformArgs([], { [PLATFORM_DATA_DIR_ENV]: "/tmp/from-env" }).dataDir).toBe("/tmp/from-env");
    expect(parsePlatformArgs(["--data-dir", "/tmp/flag"], { [PLATFORM_DATA_DIR_ENV]: "/tmp/from-env" }).dataDir).toBe("/tmp/flag");
  });

  it.each([
    [["--data"], /unknown flag "--data"\. Fix: use --data-dir <path>/],
    [["--data-dir"], /--data-dir needs a path\. Fix: --data-dir <path>/],
    [["--data-dir", "--no-console-build"], /--data-dir needs a path/],
    [["--data-dir", "/a", "--data-dir", "/b"], /--data-dir is given twice/],
    [["run"], /unknown flag "run"/],
  ])("refuses %j, naming the flag and the fix", (argv, message) => {
    expect(() => parsePlatformArgs(argv, {})).toThrow(PlatformArgsError);
    expect(() => parsePlatformArgs(argv, {})).toThrow(message);
  });

  it("refuses an empty PLATFORM_DATA_DIR, naming it", () => {
    expect(() => parsePlatformArgs([], { [PLATFORM_DATA_DIR_ENV]: " " })).toThrow(/PLATFORM_DATA_DIR is set but empty\. Fix:/);
  });
});

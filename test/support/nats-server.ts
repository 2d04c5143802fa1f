/**
 * A real nats-server for tests: the Debian package's binary, started on free loopback ports with
 * a configuration the test writes into a fresh temporary directory, stopped (and the directory
 * removed) by {@link NatsServer.stop}.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fromSeed } from "@nats-io/nkeys";

const BINARY = "nats-server";
const READY_TIMEOUT_MS = 10_000;

/** Fails with the install command when the binary is missing. */
export function requireNatsServer(): string {
  const probe = spawnSync(BINARY, ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    throw new Error(`${BINARY} is not on PATH (${probe.error?.message ?? probe.stderr}). Fix: apt-get install -y nats-server`);
  }
  return probe.stdout.trim();
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface NatsServerLayout {
  /** The temporary root; everything below is removed on stop. */
  readonly root: string;
  readonly port: number;
  readonly monitorPort: number;
}

export interface StartNatsServerOptions {
  /**
   * Files to write, relative to the root, from the layout (ports and directories known).
   * Must include `configFile`.
   */
  readonly files: (layout: NatsServerLayout) => Readonly<Record<string, string>>;
  /** Path of the main config file relative to the root. */
  readonly configFile: string;
}

export class NatsServer {
  private exited = false;
  private constructor(
    readonly layout: NatsServerLayout,
    private readonly child: ChildProcess,
    private readonly logFile: string,
  ) {
    child.once("exit", () => {
      this.exited = true;
    });
  }

  get url(): string {
    return `nats://127.0.0.1:${this.layout.port}`;
  }

  get monitorUrl(): string {
    return `http://127.0.0.1:${this.layout.monitorPort}`;
  }

  /** The server's log so far (for failure messages). */
  log(): string {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }

  static async start(options: StartNatsServerOptions): Promise<NatsServer> {
    requireNatsServer();
    const root = mkdtempSync(join(tmpdir(), "enchanted-nats-"));
    try {
      const layout: NatsServerLayout = { root, port: await freePort(), monitorPort: await freePort() };
      for (const [rel, text] of Object.entries(options.files(layout))) {
        const path = join(root, rel);
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, text, { mode: 0o600 });
      }
      const logFile = join(root, "nats-server.log");
      const child = spawn(BINARY, ["--config", join(root, options.configFile), "--log", logFile], { stdio: "ignore" });
      const server = new NatsServer(layout, child, logFile);
      await server.waitHealthy();
      return server;
    } catch (error) {
      rmSync(root, { recursive: true, force: true });
      throw error;
    }
  }

  private async waitHealthy(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (this.exited) break;
      try {
        const res = await fetch(`${this.monitorUrl}/healthz`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const log = this.log();
    await this.stop();
    throw new Error(`nats-server did not become healthy within ${READY_TIMEOUT_MS} ms. Log:\n${log}`);
  }

  /** Re-reads the configuration (SIGHUP), as the chart's config reloader does. */
  reload(): void {
    this.child.kill("SIGHUP");
  }

  /** Stops the server and removes its directory. */
  async stop(): Promise<void> {
    if (!this.exited) {
      const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.layout.root, { recursive: true, force: true });
  }
}

/**
 * A raw NATS protocol connection authenticated with a user JWT and seed. nats.js refuses to
 * send a payload above the limit the server advertised, so proving that the *server* enforces
 * a limit needs a client that does not check.
 */
export class RawNatsConnection {
  private buffer = "";
  private constructor(private readonly socket: Socket) {
    socket.on("data", (d) => {
      this.buffer += d.toString("utf8");
    });
  }

  static async connect(port: number, jwt: string, seed: string): Promise<RawNatsConnection> {
    const socket = new Socket();
    const conn = new RawNatsConnection(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.connect(port, "127.0.0.1", () => resolve());
    });
    const infoLine = await conn.waitFor(/^INFO (.*)\r\n/m);
    const info = JSON.parse(infoLine[1] ?? "{}") as { nonce?: string };
    if (!info.nonce) throw new Error("nats-server sent no nonce: is it in operator mode?");
    const user = fromSeed(new TextEncoder().encode(seed));
    const sig = Buffer.from(user.sign(new TextEncoder().encode(info.nonce))).toString("base64url");
    conn.buffer = "";
    socket.write(`CONNECT ${JSON.stringify({ jwt, sig, verbose: false, pedantic: false, protocol: 1, headers: true })}\r\nPING\r\n`);
    await conn.waitFor(/PONG\r\n|-ERR [^\r]*\r\n/);
    if (conn.buffer.includes("-ERR")) throw new Error(`CONNECT refused: ${conn.buffer.trim()}`);
    return conn;
  }

  /** Publishes `size` bytes and returns what the server answered to a PING sent after it. */
  async publish(subject: string, size: number): Promise<string> {
    this.buffer = "";
    this.socket.write(`PUB ${subject} ${size}\r\n${"x".repeat(size)}\r\nPING\r\n`);
    await this.waitFor(/PONG\r\n|-ERR [^\r]*\r\n/);
    return this.buffer;
  }

  get closed(): boolean {
    return this.socket.destroyed || this.socket.readyState === "closed";
  }

  async waitClosed(timeoutMs = 2_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }

  private async waitFor(pattern: RegExp, timeoutMs = 3_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(this.buffer);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`no ${pattern} from nats-server within ${timeoutMs} ms; got ${JSON.stringify(this.buffer.slice(0, 500))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

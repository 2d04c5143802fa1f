/**
 * A real nats-server as a local process, for tests and for `npm run local`: the version pinned
 * in config/versions.ts ({@link NATS_SERVER_VERSION}, the NATS chart's appVersion), built by
 * `.ci/install-system-deps` into a cache outside the repo. Started on free loopback ports with a
 * configuration written into a fresh temporary directory, stopped (and the directory removed) by
 * {@link NatsServer.stop}.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { NATS_SERVER_VERSION } from "../../config/versions.js";

const READY_TIMEOUT_MS = 10_000;

/** Overrides where the nats-server binary is found (it must still be the pinned version). */
export const NATS_SERVER_ENV = "ENCHANTED_NATS_SERVER";

const INSTALL_HINT = "Install it with: bash .ci/install-system-deps (builds it with Go, cached)";

/** Where `.ci/install-system-deps` puts the pinned nats-server. */
export function natsServerCachePath(env: NodeJS.ProcessEnv = process.env): string {
  const cacheHome = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
  return join(cacheHome, "enchanted", "nats-server", NATS_SERVER_VERSION, "nats-server");
}

/** The nats-server binary: `$ENCHANTED_NATS_SERVER`, else the cache path of the pinned version. */
export function natsServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env[NATS_SERVER_ENV] || natsServerCachePath(env);
}

/**
 * The binary to run, after checking that it reports exactly the pinned version; fails with how
 * to install it otherwise (no fallback to another nats-server, such as one on PATH).
 */
export function requireNatsServer(env: NodeJS.ProcessEnv = process.env): string {
  const binary = natsServerBinary(env);
  const from = env[NATS_SERVER_ENV] ? `${NATS_SERVER_ENV}=${binary}` : binary;
  const expected = `nats-server: v${NATS_SERVER_VERSION}`;
  const probe = spawnSync(binary, ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    throw new Error(`nats-server ${NATS_SERVER_VERSION} not found at ${from} (${probe.error?.message ?? probe.stderr.trim()}). ${INSTALL_HINT}`);
  }
  const reported = probe.stdout.trim();
  if (reported !== expected) {
    throw new Error(`${from} reports "${reported}", expected "${expected}" (config/versions.ts NATS_SERVER_VERSION). ${INSTALL_HINT}`);
  }
  return binary;
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
    private child: ChildProcess,
    private readonly logFile: string,
    private readonly args: readonly string[],
  ) {
    this.watch(child);
  }

  private watch(child: ChildProcess): void {
    this.exited = false;
    child.once("exit", () => {
      this.exited = true;
    });
  }

  /** The server's process id (undefined once it could not be spawned). */
  get pid(): number | undefined {
    return this.child.pid;
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
    const binary = requireNatsServer();
    const root = mkdtempSync(join(tmpdir(), "enchanted-nats-"));
    try {
      const layout: NatsServerLayout = { root, port: await freePort(), monitorPort: await freePort() };
      for (const [rel, text] of Object.entries(options.files(layout))) {
        const path = join(root, rel);
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, text, { mode: 0o600 });
      }
      const logFile = join(root, "nats-server.log");
      const args = ["--config", join(root, options.configFile), "--log", logFile];
      const child = spawn(binary, args, { stdio: "ignore" });
      const server = new NatsServer(layout, child, logFile, args);
      await server.waitHealthy();
      return server;
    } catch (error) {
      rmSync(root, { recursive: true, force: true });
      throw error;
    }
  }

  private async waitHealthy(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
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
    throw new Error(`nats-server did not become healthy within ${timeoutMs} ms. Log:\n${log}`);
  }

  /** Re-reads the configuration (SIGHUP), as the chart's config reloader does. */
  reload(): void {
    this.child.kill("SIGHUP");
  }

  /**
   * Stops the server (SIGTERM) and starts it again on the same files and ports, keeping its
   * JetStream store and resolver directory; resolves when it is healthy again (a full resolver
   * reads every stored account JWT first: allow for it with `readyTimeoutMs`).
   */
  async restart(readyTimeoutMs = READY_TIMEOUT_MS): Promise<void> {
    await this.terminate();
    this.child = spawn(requireNatsServer(), [...this.args], { stdio: "ignore" });
    this.watch(this.child);
    await this.waitHealthy(readyTimeoutMs);
  }

  private async terminate(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the server and removes its directory. */
  async stop(): Promise<void> {
    await this.terminate();
    rmSync(this.layout.root, { recursive: true, force: true });
  }
}

/** A single nats-server with JetStream (no auth) in a temporary directory. */
export function startJetStreamServer(options: { readonly maxFileStoreMiB?: number } = {}): Promise<NatsServer> {
  const maxFileStore = `${options.maxFileStoreMiB ?? 1024}M`;
  return NatsServer.start({
    configFile: "nats.conf",
    files: (l) => ({
      "nats.conf": `listen: 127.0.0.1:${l.port}\nhttp: 127.0.0.1:${l.monitorPort}\njetstream {\n  store_dir: "${join(l.root, "js")}"\n  max_file_store: ${maxFileStore}\n  max_memory_store: 64M\n}\n`,
    }),
  });
}

/**
 * The provisioning service as a child process (the way main.ts runs it: configuration from the
 * environment, the real LMDB store in a directory, real HTTP on a free loopback port), for tests
 * and benchmarks that kill it. Run as a script (`node --import tsx test/support/provisioning-process.ts`)
 * it serves and prints `READY <port>` on stdout; {@link spawnProvisioning} starts it and waits for that.
 *
 * {@link killDuringReplays} is the crash experiment of issue 14 item 5: rounds of concurrent
 * creates with Idempotency-Keys and replays of the same keys, a SIGKILL as soon as the first
 * replayed answer arrives (so the other requests of the round are in flight: some written, some
 * being committed), a restart on the same store, replays of every key answered so far. It
 * counts; the caller asserts or prints.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { Agent, request as httpRequest } from "node:http";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";

export interface ProvisioningProcess {
  readonly port: number;
  readonly child: ChildProcess;
  /** Resolves with the exit code or signal once the process has exited. */
  readonly exited: Promise<string>;
  kill(signal: NodeJS.Signals): Promise<string>;
}

/** Starts the service with `env` (on top of this process's environment) and waits until it listens. */
export async function spawnProvisioning(env: Record<string, string>): Promise<ProvisioningProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
    env: { ...process.env, PROVISIONING_HTTP_PORT: "0", PROVISIONING_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<string>((resolve) => child.once("exit", (code, signal) => resolve(signal ?? String(code))));
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      if (line.startsWith("READY ")) resolve(Number(line.slice(6)));
    });
    void exited.then((how) => reject(new Error(`the provisioning process exited (${how}) before it listened`)));
  });
  return {
    port,
    child,
    exited,
    kill(signal) {
      child.kill(signal);
      return exited;
    },
  };
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
  readonly replayed: boolean;
}

/** One request over a fresh connection; rejects when the connection dies (the process was killed). */
export function httpCall(agent: Agent, port: number, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<HttpAnswer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { agent, host: "127.0.0.1", port, method, path, headers: { ...headers, ...(payload !== undefined ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), replayed: res.headers["idempotent-replayed"] === "true" }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

export interface KillExperimentOptions {
  /** Environment of the service (store path, issuer, KEK, Keycloak off). */
  readonly env: Record<string, string>;
  /** The users sending requests: their current access token (UserSession of test/support/keycloak-client.ts). */
  readonly users: readonly { accessToken(): Promise<string> }[];
  /** SIGKILLs (rounds). */
  readonly rounds: number;
  /** New Idempotency-Keys per round. */
  readonly keysPerRound: number;
  /** Requests per key sent at once (the first is the original, the others replays). */
  readonly copies: number;
  /** Called after each round. */
  readonly onRound?: (round: number, stats: KillStats) => void;
}

export interface KillStats {
  rounds: number;
  /** 2xx answers received (originals and replays). */
  answered: number;
  /** Requests whose connection died with the process. */
  interrupted: number;
  /** Replayed answers received. */
  replayedAnswers: number;
  /** Distinct tenant ids ever answered with 2xx. */
  answeredIds: number;
  /** Of those, ids missing after the final restart. */
  lostIds: number;
  /** Idempotency-Keys that were answered with two different ids. */
  keysWithTwoIds: number;
  /** Answers other than 2xx (each is a failure of the experiment). */
  otherStatuses: Record<string, number>;
}

interface KeyState {
  readonly round: number;
  readonly user: number;
  readonly key: string;
  readonly body: { name: string; slug: string };
  readonly ids: Set<string>;
}

/**
 * Runs the experiment and returns the counts. Every round: start the service, send
 * `keysPerRound × copies` creates (all at once) plus one replay of every key of the round before,
 * SIGKILL on the first replayed answer to a key of this round (or when all are answered), wait
 * for the exit. Then one
 * last start: replay every key and read every answered id back, stop with SIGTERM.
 */
export async function killDuringReplays(o: KillExperimentOptions): Promise<KillStats> {
  const stats: KillStats = { rounds: 0, answered: 0, interrupted: 0, replayedAnswers: 0, answeredIds: 0, lostIds: 0, keysWithTwoIds: 0, otherStatuses: {} };
  const keys: KeyState[] = [];
  const idOwner = new Map<string, number>();
  const record = (k: KeyState, a: HttpAnswer) => {
    if (a.status < 200 || a.status > 299) {
      stats.otherStatuses[a.status] = (stats.otherStatuses[a.status] ?? 0) + 1;
      return;
    }
    stats.answered++;
    if (a.replayed) stats.replayedAnswers++;
    const id = (JSON.parse(a.body) as { tenant: { id: string } }).tenant.id;
    k.ids.add(id);
    idOwner.set(id, k.user);
  };
  const send = async (agent: Agent, port: number, k: KeyState) =>
    httpCall(agent, port, "POST", "/v1/tenants", { authorization: `Bearer ${await o.users[k.user]!.accessToken()}`, "idempotency-key": k.key }, k.body);

  for (let round = 1; round <= o.rounds; round++) {
    const svc = await spawnProvisioning(o.env);
    const agent = new Agent({ keepAlive: false });
    const fresh: KeyState[] = Array.from({ length: o.keysPerRound }, (_, i) => {
      const n = keys.length + i;
      return { round, user: n % o.users.length, key: `crash-${round}-${i}`, body: { name: `Crash ${n}`, slug: `crash-${n}` }, ids: new Set<string>() };
    });
    const older = keys.filter((k) => k.round === round - 1);
    keys.push(...fresh);
    let killed: Promise<string> | undefined;
    const killNow = () => (killed ??= svc.kill("SIGKILL"));
    const requests: { k: KeyState; p: Promise<HttpAnswer> }[] = [];
    for (let c = 0; c < o.copies; c++) for (const k of fresh) requests.push({ k, p: send(agent, svc.port, k) });
    for (const k of older) requests.push({ k, p: send(agent, svc.port, k) });
    await Promise.all(
      requests.map(({ k, p }) =>
        p.then(
          (a) => {
            record(k, a); // even one that arrives after the signal was sent: the client holds it
            if (a.replayed && k.round === round) void killNow();
          },
          () => {
            stats.interrupted++;
          },
        ),
      ),
    );
    await killNow();
    agent.destroy();
    stats.rounds = round;
    o.onRound?.(round, { ...stats });
  }

  // The last start: every key replays to its one id, and every id ever answered is there.
  const svc = await spawnProvisioning(o.env);
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  try {
    for (const k of keys) {
      const a = await send(agent, svc.port, k);
      record(k, a);
    }
    const ids = [...idOwner.entries()];
    stats.answeredIds = ids.length;
    for (const [id, user] of ids) {
      // Selecting the tenant (a tenant token) answers 200 only for a tenant that exists and is the user's.
      const a = await httpCall(agent, svc.port, "POST", `/v1/tenants/${id}/token`, { authorization: `Bearer ${await o.users[user]!.accessToken()}` }, {});
      if (a.status !== 200) stats.lostIds++;
    }
    stats.keysWithTwoIds = keys.filter((k) => k.ids.size > 1).length;
  } finally {
    agent.destroy();
    await svc.kill("SIGTERM");
  }
  return stats;
}

async function serve(): Promise<void> {
  const { loadProvisioningConfig } = await import("../../services/provisioning/src/config.js");
  const { startProvisioning } = await import("../../services/provisioning/src/service.js");
  const running = await startProvisioning(loadProvisioningConfig(), { host: "127.0.0.1" });
  process.stdout.write(`READY ${running.port}\n`);
  process.once("SIGTERM", () => {
    void running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void serve();
}

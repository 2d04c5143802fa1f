/**
 * The local nats-server process (services/nats-auth/nats-server-process.ts), the data-plane server
 * (platform/nats-server.ts), and a raw protocol client the tests need to prove limits the server enforces.
 */
import { Socket } from "node:net";
import { createAccount, fromSeed } from "@nats-io/nkeys";
import type { NatsConnection, Status } from "@nats-io/transport-node";
import type { PlanTierName, TierCatalog } from "../../config/index.js";
import { mintTenantCredentials, type TenantCredentials } from "../../services/nats-auth/mint.js";
import { keyPairFromSeed, publicKeysOf, type NatsSeeds } from "../../services/nats-auth/sign.js";
import { pushAccountJwt, signTenantAccount, signTenantActivations, tenantAccountClaims } from "../../services/nats-auth/tenant-accounts.js";

export * from "../../services/nats-auth/nats-server-process.js";
export * from "../../platform/nats-server.js";

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

/** Every server error the connection reports, as they arrive. */
export function collectErrors(nc: NatsConnection): Error[] {
  const errors: Error[] = [];
  void (async () => {
    for await (const s of nc.status() as AsyncIterable<Status>) if (s.type === "error") errors.push(s.error);
  })();
  return errors;
}

/** Polls `condition` every 20 ms until true or `timeoutMs` passed (the caller asserts). */
export async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** A tenant account made the way the provisioning service makes it, and a user of it. */
export interface TestTenant {
  readonly tenantId: string;
  readonly tier: PlanTierName;
  readonly account: string;
  /** The account JWT that was pushed. */
  readonly accountJwt: string;
  /** Mints a user of the account, as the service's minter does. */
  mint(expiresInSeconds?: number): Promise<TenantCredentials>;
}

/**
 * Creates a tenant account as the provisioning service does (tenant-accounts.ts: activation
 * tokens, account JWT signed by the operator's tenant-account key) and pushes it through the
 * system connection; `tiers` may differ from the catalog (a changed tier number).
 */
export async function provisionTenant(system: NatsConnection, seeds: NatsSeeds, tenantId: string, tier: PlanTierName, tiers: TierCatalog, accountPublicKey?: string): Promise<TestTenant> {
  const keys = publicKeysOf(seeds);
  const account = accountPublicKey ?? createAccount().getPublicKey();
  const state = { tenantId, tier, accountPublicKey: account };
  const activations = await signTenantActivations(state, keys.swarmAccount, keyPairFromSeed("tenantImportSigningKey", seeds.tenantImportSigningKey, "A"));
  const accountJwt = await signTenantAccount(tenantAccountClaims(state, tiers, keys, activations), keyPairFromSeed("tenantAccountSigningKey", seeds.tenantAccountSigningKey, "O"));
  await pushAccountJwt(system, account, accountJwt);
  return {
    tenantId,
    tier,
    account,
    accountJwt,
    mint: (expiresInSeconds = 600) => mintTenantCredentials({ tenantId, tier, signingKeySeed: seeds.swarmSigningKeys[tier], accountPublicKey: account, expiresInSeconds }),
  };
}

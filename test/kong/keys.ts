/**
 * Keys, tokens and key set servers for the tenant-gate tests: real ES256 and RS256 keys (jose), key
 * sets served by a node:http server on a free loopback port, and controls the harness calls
 * between steps (publish another key set, go down) so that one scenario (one Kong worker, one key
 * cache) sees a rotation or an outage.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from "jose";

export interface SigningKey {
  readonly kid: string;
  readonly alg: "ES256" | "RS256";
  readonly privateKey: CryptoKey;
  /** The public JWK as a key set publishes it (`kid`, `alg`, `use: sig`). */
  readonly jwk: JWK;
  /** The public key as PEM (for the HS256-with-the-public-key forgery). */
  readonly spkiPem: string;
}

export async function signingKey(kid: string, alg: "ES256" | "RS256"): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { kid, alg, privateKey, jwk, spkiPem: await exportSPKI(publicKey) };
}

/** A compact JWS of `claims` signed by `key`, with its kid and alg unless `header` says otherwise. */
export async function sign(key: SigningKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header } as never).sign(key.privateKey);
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value), "utf8").toString("base64url");

/** An unsigned token (`alg: none`, empty signature). */
export function unsigned(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: "none" }): string {
  return `${b64url(header)}.${b64url(claims)}.`;
}

/** HS256 keyed with `secret` (the classic forgery: the verifier's public key as an HMAC secret). */
export async function hmac(secret: string, claims: JWTPayload, header: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256", ...header } as never).sign(new TextEncoder().encode(secret));
}

/** `token` with its signature replaced by another token's (same algorithm, wrong signer or input). */
export function withSignatureOf(token: string, other: string): string {
  return `${token.split(".").slice(0, 2).join(".")}.${other.split(".")[2]}`;
}

/**
 * A key set server: `GET /<set>` answers `{ "keys": [...] }` for the current stage, counting each
 * request per set; `GET /_control/stage/<name>` switches to a staged set of key sets,
 * `GET /_control/down` answers and then stops listening (connections are refused afterwards).
 */
export class KeySetServer {
  private server: Server | undefined;
  private readonly stages = new Map<string, Record<string, readonly JWK[]>>();
  private current: Record<string, readonly JWK[]>;
  /** Requests per key set path (`/tenant`), whatever the stage. */
  readonly requests = new Map<string, number>();
  private port = 0;

  private constructor(initial: Record<string, readonly JWK[]>) {
    this.current = initial;
  }

  static async start(initial: Record<string, readonly JWK[]>): Promise<KeySetServer> {
    const s = new KeySetServer(initial);
    await s.listen();
    return s;
  }

  private listen(): Promise<void> {
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      const stage = /^\/_control\/stage\/([\w-]+)$/.exec(path)?.[1];
      if (stage !== undefined) {
        const sets = this.stages.get(stage);
        if (!sets) return void res.writeHead(404).end();
        this.current = sets;
        return void res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      }
      if (path === "/_control/down") {
        res.writeHead(200, { "content-type": "text/plain", connection: "close" }).end("ok", () => void this.stop());
        return;
      }
      this.requests.set(path, (this.requests.get(path) ?? 0) + 1);
      const keys = this.current[path.slice(1)];
      if (!keys) return void res.writeHead(404).end();
      res.writeHead(200, { "content-type": "application/jwk-set+json" }).end(JSON.stringify({ keys }));
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** URL of a key set (`url("tenant")`). */
  url(set: string): string {
    return `http://127.0.0.1:${this.port}/${set}`;
  }

  /** Registers key sets the harness can switch to with {@link stageUrl}. */
  stage(name: string, sets: Record<string, readonly JWK[]>): string {
    this.stages.set(name, sets);
    return this.stageUrl(name);
  }

  stageUrl(name: string): string {
    return `http://127.0.0.1:${this.port}/_control/stage/${name}`;
  }

  get downUrl(): string {
    return `http://127.0.0.1:${this.port}/_control/down`;
  }

  stop(): Promise<void> {
    const server = this.server;
    if (!server?.listening) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

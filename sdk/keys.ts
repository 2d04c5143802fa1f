/**
 * The tenant's data keys, fetched from the provisioning service with the agent's own bus
 * credentials (never a user's token): each request carries the NATS user JWT and an Ed25519
 * signature by the user's nkey over the method, path, time and a nonce
 * (services/identity/names.ts `AGENT_AUTH`). The service checks the JWT's chain and revocation,
 * so revoked or expired credentials, and an offboarded tenant, get no key.
 *
 * Keys are cached in memory by id; the current key is re-read after the service's
 * `refreshAfterSeconds`, which is how a rotation reaches running agents.
 */
import { randomBytes } from "node:crypto";
import { fromSeed } from "@nats-io/nkeys";
import { AGENT_AUTH, agentSigningInput } from "../services/identity/names.js";
import { DATA_KEY_ID_PATTERN, type DataKey } from "./cipher.js";
import type { AgentCredentials } from "./credentials.js";
import { KeyServiceError } from "./errors.js";

/** The answer of `GET /v1/agent/data-key`. */
export interface CurrentKey {
  /** The tenant encrypts its agents' payloads. */
  readonly encryption: boolean;
  /** The current key: present when encryption is on. */
  readonly key: DataKey | undefined;
  /** Read the current key again after this long. */
  readonly refreshAfterMs: number;
}

/** The `Authorization` and signature headers of one agent request. */
export function agentAuthHeaders(credentials: Pick<AgentCredentials, "jwt" | "seed">, method: string, pathWithQuery: string, nowMs = Date.now()): Record<string, string> {
  const t = Math.floor(nowMs / 1000);
  const nonce = randomBytes(16).toString("base64url");
  const signer = fromSeed(new TextEncoder().encode(credentials.seed));
  const signature = Buffer.from(signer.sign(new TextEncoder().encode(agentSigningInput(method, pathWithQuery, t, nonce)))).toString("base64url");
  return { authorization: `${AGENT_AUTH.scheme} ${credentials.jwt}`, [AGENT_AUTH.signatureHeader]: `t=${t},n=${nonce},s=${signature}` };
}

interface KeyAnswer {
  readonly keyId?: string;
  readonly key?: string;
  readonly encryption?: boolean;
  readonly refreshAfterSeconds?: number;
}

export class DataKeyClient {
  private readonly cache = new Map<string, Promise<DataKey>>();

  constructor(
    private readonly api: string,
    private readonly credentials: Pick<AgentCredentials, "jwt" | "seed">,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  private async call(path: string): Promise<KeyAnswer> {
    let res: Response;
    try {
      res = await this.fetchImpl(new URL(path, this.api), { headers: agentAuthHeaders(this.credentials, "GET", path), signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      throw new KeyServiceError(0, `the data-key service at ${this.api} did not answer (${(error as Error).message}). Fix: check the api URL of the credentials and the network path to it.`, { cause: error });
    }
    const body = (await res.json().catch(() => ({}))) as KeyAnswer & { error?: { code?: string; message?: string } };
    if (!res.ok) {
      const why = body.error?.message ?? res.statusText;
      const fix = res.status === 401 ? "the credentials are expired, revoked or not the API's; mint new ones" : res.status === 410 ? "the tenant was offboarded: its data key is destroyed and nothing it encrypted can be read" : "retry later";
      throw new KeyServiceError(res.status, `the data-key service refused (${res.status}: ${why}). Fix: ${fix}.`);
    }
    return body;
  }

  private toKey(answer: KeyAnswer): DataKey {
    const key = answer.key ? Buffer.from(answer.key, "base64") : undefined;
    if (!answer.keyId || !DATA_KEY_ID_PATTERN.test(answer.keyId) || !key || key.length !== 32) throw new KeyServiceError(200, "the data-key service answered without a 32-byte key and its id");
    return { keyId: answer.keyId, key };
  }

  /** The tenant's encryption setting and current key. */
  async current(): Promise<CurrentKey> {
    const answer = await this.call("/v1/agent/data-key");
    const key = answer.encryption ? this.toKey(answer) : undefined;
    if (key) this.cache.set(key.keyId, Promise.resolve(key));
    return { encryption: answer.encryption === true, key, refreshAfterMs: Math.max(1, answer.refreshAfterSeconds ?? 3_600) * 1000 };
  }

  /** One of the tenant's keys by id (cached): what opens an event sealed with it. */
  key(keyId: string): Promise<DataKey> {
    if (!DATA_KEY_ID_PATTERN.test(keyId)) return Promise.reject(new KeyServiceError(0, `${JSON.stringify(keyId)} is not a data key id`));
    let pending = this.cache.get(keyId);
    if (!pending) {
      pending = this.call(`/v1/agent/data-keys/${keyId}`).then((a) => this.toKey(a));
      pending.catch(() => this.cache.delete(keyId));
      this.cache.set(keyId, pending);
    }
    return pending;
  }
}

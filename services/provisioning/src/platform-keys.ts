/**
 * The platform's own keys, shared by every replica through the control-plane store and never
 * stored in the clear: each is a 32-byte secret from the data-key provider (KMS
 * `GenerateDataKey` under the CMK in production, the local KEK in development), kept wrapped.
 *
 * - **Tenant-token signing keys** `("pk", "sign", kid)`: the secret is the private scalar of an
 *   ECDSA P-256 key (ES256). A new key is made when the newest is older than the rotation period;
 *   tokens are signed with the newest key published for at least {@link PUBLISH_AHEAD_SECONDS}
 *   (verifiers that fetched the set just before the rotation learn the new key by then: the
 *   gateway refetches on an unknown `kid` at most every 10 s), the first key at once; the key set ({@link PlatformKeys.jwks}) publishes every key
 *   younger than rotation + the longest token lifetime + a margin, so a token verifies for its whole
 *   life after a rotation. Verifiers fetch the set by key id (an unknown `kid` makes them refetch),
 *   so a rotation needs no manual step anywhere. The `kid` is the key's RFC 7638 thumbprint.
 *   Signing is local (~0.1 ms), not a KMS call per token: KMS's request quotas are far below the
 *   token rate of a million users, and the private key exists only in the service's memory.
 * - **The invitation key** `("pk", "invite")`: an HMAC key. An invitation's secret is
 *   HMAC(key, invitation id): the store keeps only its SHA-256, and the outbox recomputes the
 *   secret when it sends the e-mail, so no stored record yields it.
 */
import { createECDH, createHash, createHmac, createPrivateKey, randomUUID, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, createLocalJWKSet, SignJWT, type JWK, type JWTVerifyGetKey } from "jose";
import { TENANT_TOKEN, type TenantRole } from "../../identity/names.js";
import type { WrappedDataKey } from "./control-plane.js";
import type { DataKeyProvider } from "./datakeys.js";
import { getJson, setJson, type KvStore } from "./store/kv.js";

const SIGNING_PURPOSE = "tenant-token-signing";
/** A new signing key is published this long before tokens are signed with it. */
export const PUBLISH_AHEAD_SECONDS = 60;
const INVITE_PURPOSE = "invitation-mac";
const signKey = (kid: string) => ["pk", "sign", kid];
const signKeys = () => ["pk", "sign"];
const inviteKey = () => ["pk", "invite"];

interface StoredSigningKey {
  readonly kid: string;
  readonly createdAt: number;
  readonly wrapped: WrappedDataKey;
  /** The public JWK (x, y): published without unwrapping. */
  readonly publicJwk: JWK;
}

interface LoadedSigningKey {
  readonly kid: string;
  readonly createdAt: number;
  readonly privateKey: KeyObject;
  readonly publicJwk: JWK;
}

export interface PlatformKeysOptions {
  readonly store: KvStore;
  readonly provider: DataKeyProvider;
  /** `iss` of tenant tokens. */
  readonly issuer: string;
  /** Tenant-token lifetime, seconds. */
  readonly tokenTtlSeconds: number;
  /** A new signing key after this many seconds. @default 30 days */
  readonly rotationSeconds?: number;
  readonly now?: () => number;
}

export interface TenantTokenClaims {
  readonly userId: string;
  readonly tenantId: string;
  readonly planTier: string;
  readonly role: TenantRole;
}

/** A P-256 key from a 32-byte scalar, or undefined when the scalar is not a valid private key (p ≈ 2^-32). */
function p256FromScalar(d: Buffer): { privateKey: KeyObject; publicJwk: JWK } | undefined {
  const ecdh = createECDH("prime256v1");
  try {
    ecdh.setPrivateKey(d);
  } catch {
    return undefined;
  }
  const point = ecdh.getPublicKey(); // 0x04 || x || y
  const x = point.subarray(1, 33).toString("base64url");
  const y = point.subarray(33, 65).toString("base64url");
  const privateKey = createPrivateKey({ key: { kty: "EC", crv: "P-256", x, y, d: d.toString("base64url") }, format: "jwk" });
  return { privateKey, publicJwk: { kty: "EC", crv: "P-256", x, y } };
}

export class PlatformKeys {
  private signing: LoadedSigningKey[] = [];
  private invite: Buffer | undefined;
  private readonly now: () => number;
  readonly rotationSeconds: number;
  private refreshing: Promise<void> | undefined;
  /** The published set as verifiers see it; rebuilt when the loaded keys change (its imported keys are cached inside). */
  private published: { keys: JWK[] } = { keys: [] };
  private localSet: JWTVerifyGetKey = createLocalJWKSet({ keys: [] });

  constructor(private readonly o: PlatformKeysOptions) {
    this.now = o.now ?? Date.now;
    this.rotationSeconds = o.rotationSeconds ?? 30 * 86_400;
  }

  /** Reads the keys from the store, making the first (or a rotated) signing key and the invitation key when missing. */
  async load(): Promise<void> {
    await this.ensureInviteKey();
    await this.refresh();
  }

  /** Seconds a retired key stays published: the longest token lifetime and a margin for clock skew and caches. */
  private get publishedSeconds(): number {
    return this.rotationSeconds + TENANT_TOKEN.lifetimeBounds.max + 3_600;
  }

  /**
   * Re-reads the signing keys (other replicas' rotations) and rotates when due. At most one at a
   * time; the service calls it every minute (never on a request's path).
   */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        let stored = await this.readSigningKeys();
        const newest = stored[0];
        if (!newest || this.now() - newest.createdAt >= this.rotationSeconds * 1000) {
          await this.rotate();
          stored = await this.readSigningKeys();
        }
        const horizon = this.now() - this.publishedSeconds * 1000;
        const loaded: LoadedSigningKey[] = [];
        for (const k of stored.filter((s) => s.createdAt > horizon)) {
          const known = this.signing.find((l) => l.kid === k.kid);
          if (known) {
            loaded.push(known);
            continue;
          }
          const d = await this.o.provider.unwrapSecret(SIGNING_PURPOSE, k.wrapped);
          const key = p256FromScalar(d);
          d.fill(0);
          if (key) loaded.push({ kid: k.kid, createdAt: k.createdAt, privateKey: key.privateKey, publicJwk: k.publicJwk });
        }
        if (loaded.map((k) => k.kid).join() !== this.signing.map((k) => k.kid).join()) {
          this.published = { keys: loaded.map((k) => ({ ...k.publicJwk, kid: k.kid, alg: TENANT_TOKEN.algorithm, use: "sig" })) };
          this.localSet = createLocalJWKSet(this.published);
        }
        this.signing = loaded;
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private async readSigningKeys(): Promise<StoredSigningKey[]> {
    const rows = await this.o.store.transact((tx) => tx.getRange(signKeys()));
    return rows.map((r) => JSON.parse(r.value.toString("utf8")) as StoredSigningKey).sort((a, b) => b.createdAt - a.createdAt);
  }

  /** Makes a new signing key unless another replica made one within the rotation period meanwhile. */
  private async rotate(): Promise<void> {
    let made: { plaintext: Buffer; wrapped: WrappedDataKey } | undefined;
    let key: ReturnType<typeof p256FromScalar>;
    do {
      made?.plaintext.fill(0);
      made = await this.o.provider.generateSecret(SIGNING_PURPOSE);
      key = p256FromScalar(made.plaintext);
    } while (!key);
    made.plaintext.fill(0);
    const kid = await calculateJwkThumbprint(key.publicJwk, "sha256");
    const record: StoredSigningKey = { kid, createdAt: this.now(), wrapped: made.wrapped, publicJwk: key.publicJwk };
    await this.o.store.transact(async (tx) => {
      const rows = await tx.getRange(signKeys());
      const fresh = rows.map((r) => JSON.parse(r.value.toString("utf8")) as StoredSigningKey).some((k) => this.now() - k.createdAt < this.rotationSeconds * 1000);
      if (!fresh) setJson(tx, signKey(kid), record);
    });
  }

  private async ensureInviteKey(): Promise<void> {
    const stored = await this.o.store.transact((tx) => getJson<WrappedDataKey>(tx, inviteKey()));
    if (stored) {
      this.invite = await this.o.provider.unwrapSecret(INVITE_PURPOSE, stored);
      return;
    }
    const made = await this.o.provider.generateSecret(INVITE_PURPOSE);
    const winner = await this.o.store.transact(async (tx) => {
      const other = await getJson<WrappedDataKey>(tx, inviteKey());
      if (other) return other;
      setJson(tx, inviteKey(), made.wrapped);
      return undefined;
    });
    if (winner) {
      made.plaintext.fill(0);
      this.invite = await this.o.provider.unwrapSecret(INVITE_PURPOSE, winner);
    } else {
      this.invite = made.plaintext;
    }
  }

  /** The public key set (RFC 7517): every published signing key, newest first. */
  jwks(): { keys: JWK[] } {
    return this.published;
  }

  /** The published keys as a jose key set, for this service's own verification of tenant tokens. */
  readonly keySet: JWTVerifyGetKey = (header, token) => this.localSet(header, token);

  /** Ids of the published keys, newest first. */
  get keyIds(): string[] {
    return this.signing.map((k) => k.kid);
  }

  /** A tenant token for a membership the caller has checked. */
  async signTenantToken(c: TenantTokenClaims): Promise<{ token: string; expiresAt: number; kid: string }> {
    const key = this.signing.find((k) => this.now() - k.createdAt >= PUBLISH_AHEAD_SECONDS * 1000) ?? this.signing[0];
    if (!key) throw new Error("no tenant-token signing key is loaded");
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + this.o.tokenTtlSeconds;
    const token = await new SignJWT({ [TENANT_TOKEN.claims.tenant]: c.tenantId, [TENANT_TOKEN.claims.planTier]: c.planTier, [TENANT_TOKEN.claims.role]: c.role })
      .setProtectedHeader({ alg: TENANT_TOKEN.algorithm, kid: key.kid, typ: TENANT_TOKEN.type })
      .setIssuer(this.o.issuer)
      .setAudience(TENANT_TOKEN.audience)
      .setSubject(c.userId)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(key.privateKey);
    return { token, expiresAt: exp, kid: key.kid };
  }

  /** An invitation's secret: HMAC of its id under the invitation key (base64url, 43 characters). */
  invitationSecret(invitationId: string): string {
    if (!this.invite) throw new Error("the invitation key is not loaded");
    return createHmac("sha256", this.invite).update(`invitation:${invitationId}`).digest("base64url");
  }
}

/** What the store keeps of an invitation secret. */
export function secretHash(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("base64url");
}

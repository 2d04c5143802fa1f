/**
 * Per-tenant data keys (envelope encryption). Only the wrapped key is ever stored; the plaintext
 * exists in memory for as long as it takes to wrap it and is then zeroed.
 *
 * - KMS (production, `PROVISIONING_KMS_KEY_ID`): `GenerateDataKey` (AES_256) under the tenant-key
 *   CMK with the encryption context `{tenant_id}`; the CiphertextBlob is stored, the Plaintext
 *   discarded. Decrypting needs `kms:Decrypt` with the same context, so a wrapped key cannot be
 *   replayed for another tenant.
 * - Local (development): a 32-byte key-encryption key wraps a random data key with AES-256-GCM,
 *   the tenant id as additional authenticated data.
 *
 * Offboarding clears the wrapped key: without it the tenant's encrypted payloads are unreadable
 * (crypto-shredding). The CMK itself is shared and never deleted.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { DataKeyConfig } from "./config.js";
import type { WrappedDataKey } from "./control-plane.js";

export interface DataKeyProvider {
  readonly kind: "kms" | "local";
  /** Generates and wraps a new data key for `tenantId`. */
  generate(tenantId: string): Promise<WrappedDataKey>;
  /** How many keys this provider generated (metrics, tests). */
  readonly generated: number;
  /**
   * A new 32-byte platform secret for `purpose` (the tenant-token signing keys, the invitation
   * key): the plaintext to use in memory and its wrapped form, the only one ever stored.
   */
  generateSecret(purpose: string): Promise<{ plaintext: Buffer; wrapped: WrappedDataKey }>;
  /** The plaintext of a secret {@link generateSecret} made for `purpose`. */
  unwrapSecret(purpose: string, wrapped: WrappedDataKey): Promise<Buffer>;
  /** The plaintext of `tenantId`'s data key (KMS Decrypt with the tenant's encryption context): for the tenant's own agents and reads only. */
  unwrap(tenantId: string, wrapped: WrappedDataKey): Promise<Buffer>;
}

const aad = (tenantId: string) => Buffer.from(`tenant_id=${tenantId}`, "utf8");
const purposeAad = (purpose: string) => Buffer.from(`platform_key=${purpose}`, "utf8");

export class LocalKekProvider implements DataKeyProvider {
  readonly kind = "local";
  generated = 0;
  readonly keyId: string;
  constructor(private readonly kek: Buffer) {
    if (kek.length !== 32) throw new RangeError(`the local key-encryption key has ${kek.length} bytes, not 32`);
    this.keyId = `local:${createHash("sha256").update(kek).digest("hex").slice(0, 16)}`;
  }

  async generate(tenantId: string): Promise<WrappedDataKey> {
    const dataKey = randomBytes(32);
    const wrapped = this.wrap(dataKey, aad(tenantId));
    dataKey.fill(0);
    this.generated++;
    return wrapped;
  }

  async generateSecret(purpose: string): Promise<{ plaintext: Buffer; wrapped: WrappedDataKey }> {
    const plaintext = randomBytes(32);
    return { plaintext, wrapped: this.wrap(plaintext, purposeAad(purpose)) };
  }

  async unwrapSecret(purpose: string, wrapped: WrappedDataKey): Promise<Buffer> {
    return this.open(wrapped, purposeAad(purpose));
  }

  private wrap(plaintext: Buffer, additional: Buffer): WrappedDataKey {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.kek, iv);
    cipher.setAAD(additional);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { provider: "local", keyId: this.keyId, ciphertext: ciphertext.toString("base64"), iv: iv.toString("base64"), tag: cipher.getAuthTag().toString("base64"), createdAt: new Date().toISOString() };
  }

  private open(wrapped: WrappedDataKey, additional: Buffer): Buffer {
    const decipher = createDecipheriv("aes-256-gcm", this.kek, Buffer.from(wrapped.iv ?? "", "base64"));
    decipher.setAAD(additional);
    decipher.setAuthTag(Buffer.from(wrapped.tag ?? "", "base64"));
    return Buffer.concat([decipher.update(Buffer.from(wrapped.ciphertext, "base64")), decipher.final()]);
  }

  async unwrap(tenantId: string, wrapped: WrappedDataKey): Promise<Buffer> {
    return this.open(wrapped, aad(tenantId));
  }
}

/** The subset of the KMS client used (a stub in tests). */
export interface KmsLike {
  send(command: unknown): Promise<{ CiphertextBlob?: Uint8Array; Plaintext?: Uint8Array; KeyId?: string }>;
}

/** The KMS commands used, built by the caller (the SDK's classes in production, plain objects in tests). */
export interface KmsCommands {
  generateDataKey(input: { KeyId: string; KeySpec: "AES_256"; EncryptionContext: Record<string, string> }): unknown;
  decrypt(input: { KeyId: string; CiphertextBlob: Uint8Array; EncryptionContext: Record<string, string> }): unknown;
}

export class KmsProvider implements DataKeyProvider {
  readonly kind = "kms";
  generated = 0;
  constructor(
    private readonly client: KmsLike,
    private readonly keyId: string,
    private readonly commands: KmsCommands,
  ) {}

  async generateSecret(purpose: string): Promise<{ plaintext: Buffer; wrapped: WrappedDataKey }> {
    const out = await this.client.send(this.commands.generateDataKey({ KeyId: this.keyId, KeySpec: "AES_256", EncryptionContext: { platform_key: purpose } }));
    if (!out.CiphertextBlob || !out.Plaintext) throw new Error("KMS GenerateDataKey returned no key");
    return { plaintext: Buffer.from(out.Plaintext), wrapped: { provider: "kms", keyId: out.KeyId ?? this.keyId, ciphertext: Buffer.from(out.CiphertextBlob).toString("base64"), createdAt: new Date().toISOString() } };
  }

  async unwrapSecret(purpose: string, wrapped: WrappedDataKey): Promise<Buffer> {
    const out = await this.client.send(this.commands.decrypt({ KeyId: wrapped.keyId, CiphertextBlob: Buffer.from(wrapped.ciphertext, "base64"), EncryptionContext: { platform_key: purpose } }));
    if (!out.Plaintext) throw new Error("KMS Decrypt returned no plaintext");
    return Buffer.from(out.Plaintext);
  }

  async unwrap(tenantId: string, wrapped: WrappedDataKey): Promise<Buffer> {
    const out = await this.client.send(this.commands.decrypt({ KeyId: wrapped.keyId, CiphertextBlob: Buffer.from(wrapped.ciphertext, "base64"), EncryptionContext: { tenant_id: tenantId } }));
    if (!out.Plaintext) throw new Error("KMS Decrypt returned no plaintext");
    return Buffer.from(out.Plaintext);
  }

  async generate(tenantId: string): Promise<WrappedDataKey> {
    const out = await this.client.send(this.commands.generateDataKey({ KeyId: this.keyId, KeySpec: "AES_256", EncryptionContext: { tenant_id: tenantId } }));
    out.Plaintext?.fill(0);
    if (!out.CiphertextBlob) throw new Error("KMS GenerateDataKey returned no CiphertextBlob");
    this.generated++;
    return { provider: "kms", keyId: out.KeyId ?? this.keyId, ciphertext: Buffer.from(out.CiphertextBlob).toString("base64"), createdAt: new Date().toISOString() };
  }
}

/** Reads a KEK file: 32 raw bytes, 64 hex digits or base64 of 32 bytes. */
export function readKek(path: string): Buffer {
  const raw = readFileSync(path);
  if (raw.length === 32) return raw;
  const text = raw.toString("utf8").trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, "hex");
  const b64 = Buffer.from(text, "base64");
  if (b64.length === 32) return b64;
  throw new Error(`PROVISIONING_LOCAL_KEK_FILE ${path} does not hold a 32-byte key (raw, hex or base64). Fix: generate one with: head -c 32 /dev/urandom | base64 > ${path}`);
}

/** The configured provider. Without KMS and a KEK file, a development KEK is created under `devDir`. */
export async function dataKeyProvider(config: DataKeyConfig, devDir: string, onDevKek?: (path: string) => void): Promise<DataKeyProvider> {
  if (config.kind === "kms") {
    const { KMSClient, GenerateDataKeyCommand, DecryptCommand } = await import("@aws-sdk/client-kms");
    const client = new KMSClient(config.region ? { region: config.region } : {});
    return new KmsProvider(client as unknown as KmsLike, config.keyId, { generateDataKey: (input) => new GenerateDataKeyCommand(input), decrypt: (input) => new DecryptCommand(input) });
  }
  if (config.kekFile) return new LocalKekProvider(readKek(config.kekFile));
  const path = `${devDir}/dev-kek`;
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, randomBytes(32), { mode: 0o600 });
    chmodSync(path, 0o600);
    onDevKek?.(path);
  }
  return new LocalKekProvider(readKek(path));
}

/** Plaintext keys one cache holds at most; beyond, it starts over (a burst of new tenants, not a leak). */
const PLAINTEXT_CACHE_MAX = 10_000;

/**
 * Plaintext data keys in this process's memory for `ttlMs`, by tenant and key id: one unwrap (a
 * KMS Decrypt in production) per key per interval, not per request. Concurrent callers share the
 * pending unwrap; a failed one is forgotten, so the next caller tries again. Used by every service
 * that unwraps tenants' keys (the provisioning service's agent routes, the events API).
 */
export class PlaintextKeyCache<K extends Buffer | undefined = Buffer> {
  private readonly entries = new Map<string, { readonly key: Promise<K>; readonly until: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(tenantId: string, keyId: string, load: () => Promise<K>): Promise<K> {
    const id = `${tenantId}/${keyId}`;
    const now = this.now();
    const hit = this.entries.get(id);
    if (hit && hit.until > now) return hit.key;
    const key = load();
    if (this.ttlMs <= 0) {
      this.entries.delete(id);
      return key;
    }
    if (this.entries.size >= PLAINTEXT_CACHE_MAX) this.entries.clear();
    this.entries.set(id, { key, until: now + this.ttlMs });
    key.catch(() => this.entries.delete(id));
    return key;
  }
}

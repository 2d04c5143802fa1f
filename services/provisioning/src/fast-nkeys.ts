/**
 * nkey key pairs backed by Node's native Ed25519 (OpenSSL) instead of the pure-JavaScript
 * implementation inside `@nats-io/nkeys`, which needs ~10 ms per signature and ~50 ms per minted
 * credential: too slow for a request path. The encodings (base32 nkey strings with CRC-16) are
 * nkeys' own; a test checks both produce the same public keys, seeds and signatures.
 */
import { createPrivateKey, createPublicKey, randomBytes, sign as edSign, verify as edVerify, type KeyObject } from "node:crypto";
import type { KeyPair } from "@nats-io/nkeys";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const PREFIX_SEED = 18 << 3;
/** nkeys prefixes: the first base32 character of a public key. */
export const NKEY_PREFIX = { user: 20 << 3, account: 0, operator: 14 << 3 } as const;
const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(text: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of text) {
    const v = ALPHABET.indexOf(c);
    if (v < 0) throw new RangeError("not a base32 nkey");
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

function withCrc(bytes: Uint8Array): Uint8Array {
  const crc = crc16(bytes);
  const out = new Uint8Array(bytes.length + 2);
  out.set(bytes);
  out[bytes.length] = crc & 0xff;
  out[bytes.length + 1] = crc >> 8;
  return out;
}

export class FastKeyPair implements KeyPair {
  private readonly privateKey: KeyObject;
  private readonly publicKey: string;
  private readonly seedText: string;

  private readonly rawPublic: Uint8Array;
  private constructor(
    prefix: number,
    private readonly raw: Uint8Array,
  ) {
    this.privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, raw]), format: "der", type: "pkcs8" });
    const spki = createPublicKey(this.privateKey).export({ format: "der", type: "spki" });
    const pub = spki.subarray(spki.length - 32);
    this.rawPublic = Uint8Array.from(pub);
    this.publicKey = base32(withCrc(Uint8Array.from([prefix, ...pub])));
    this.seedText = base32(withCrc(Uint8Array.from([PREFIX_SEED | (prefix >> 5), (prefix & 31) << 3, ...raw])));
  }

  /** A fresh key pair of the given kind. */
  static create(prefix: number): FastKeyPair {
    return new FastKeyPair(prefix, randomBytes(32));
  }

  /** The key pair of an nkey seed string (`SU…`, `SA…`, `SO…`). */
  static fromSeed(seed: string): FastKeyPair {
    const bytes = unbase32(seed.trim());
    if (bytes.length !== 36) throw new RangeError("not an nkey seed");
    const body = bytes.subarray(0, 34);
    const crc = (bytes[34] as number) | ((bytes[35] as number) << 8);
    if (crc16(body) !== crc || ((bytes[0] as number) & 0xf8) !== PREFIX_SEED) throw new RangeError("not a valid nkey seed");
    const prefix = (((bytes[0] as number) & 7) << 5) | (((bytes[1] as number) & 0xf8) >> 3);
    return new FastKeyPair(prefix, body.subarray(2));
  }

  getPublicKey(): string {
    return this.publicKey;
  }
  /** nkeys' private key encoding (`P…`: the 64-byte Ed25519 secret key). */
  getPrivateKey(): Uint8Array {
    return new TextEncoder().encode(base32(withCrc(Uint8Array.from([15 << 3, ...this.raw, ...this.rawPublic]))));
  }
  getSeed(): Uint8Array {
    return new TextEncoder().encode(this.seedText);
  }
  sign(input: Uint8Array): Uint8Array {
    return new Uint8Array(edSign(null, input, this.privateKey));
  }
  verify(input: Uint8Array, sig: Uint8Array): boolean {
    return edVerify(null, input, createPublicKey(this.privateKey), sig);
  }
  clear(): void {
    // KeyObjects are freed by the garbage collector.
  }
  seal(): Uint8Array {
    throw new Error("not a curve key");
  }
  open(): Uint8Array | null {
    throw new Error("not a curve key");
  }
  getXKey(): Uint8Array {
    throw new Error("not a curve key");
  }
}

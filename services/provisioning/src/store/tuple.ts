/**
 * Keys of the control-plane store: tuples of strings and non-negative integers, encoded exactly as
 * FoundationDB's tuple layer encodes them (type code 0x02 for UTF-8 strings with 0x00 escaped as
 * 0x00 0xFF, 0x14 ± length for integers). Byte order of encoded keys is tuple order, so the
 * embedded store (LMDB, binary keys) and FoundationDB order keys identically, and a tuple prefix
 * is a contiguous key range (a subspace).
 */

export type TupleItem = string | number;
export type Tuple = readonly TupleItem[];

const STRING = 0x02;
const INT_ZERO = 0x14;

export function pack(tuple: Tuple): Buffer {
  const parts: Buffer[] = [];
  for (const item of tuple) {
    if (typeof item === "string") {
      const bytes = Buffer.from(item, "utf8");
      let zeros = 0;
      for (const b of bytes) if (b === 0) zeros++;
      const out = Buffer.allocUnsafe(bytes.length + zeros + 2);
      out[0] = STRING;
      let j = 1;
      for (const b of bytes) {
        out[j++] = b;
        if (b === 0) out[j++] = 0xff;
      }
      out[j] = 0;
      parts.push(out);
    } else {
      if (!Number.isSafeInteger(item) || item < 0) throw new RangeError(`tuple integer ${item} is not a non-negative safe integer`);
      if (item === 0) {
        parts.push(Buffer.from([INT_ZERO]));
        continue;
      }
      const bytes: number[] = [];
      let n = item;
      while (n > 0) {
        bytes.unshift(n % 256);
        n = Math.floor(n / 256);
      }
      parts.push(Buffer.from([INT_ZERO + bytes.length, ...bytes]));
    }
  }
  return Buffer.concat(parts);
}

export function unpack(key: Uint8Array): TupleItem[] {
  const out: TupleItem[] = [];
  let i = 0;
  while (i < key.length) {
    const code = key[i++] as number;
    if (code === STRING) {
      const bytes: number[] = [];
      for (;;) {
        if (i >= key.length) throw new RangeError("unterminated tuple string");
        const b = key[i++] as number;
        if (b === 0) {
          if (key[i] === 0xff) {
            bytes.push(0);
            i++;
            continue;
          }
          break;
        }
        bytes.push(b);
      }
      out.push(Buffer.from(bytes).toString("utf8"));
    } else if (code >= INT_ZERO && code <= INT_ZERO + 8) {
      let n = 0;
      for (let k = 0; k < code - INT_ZERO; k++) n = n * 256 + (key[i++] as number);
      out.push(n);
    } else {
      throw new RangeError(`unsupported tuple type code 0x${code.toString(16)}`);
    }
  }
  return out;
}

/** The key range of every tuple that extends `prefix` (FDB's `range(prefix)`: [P+0x00, P+0xFF)). */
export function prefixRange(prefix: Tuple): { readonly begin: Buffer; readonly end: Buffer } {
  const p = pack(prefix);
  return { begin: Buffer.concat([p, Buffer.from([0x00])]), end: Buffer.concat([p, Buffer.from([0xff])]) };
}

/** IPv4 CIDR arithmetic for config validation and subnet planning (no dependency needed for this much). */

export interface Ipv4Cidr {
  readonly text: string;
  /** First address as an unsigned 32-bit integer. */
  readonly start: number;
  /** Last address, inclusive. */
  readonly end: number;
  readonly prefix: number;
}

const CIDR_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** Parses `a.b.c.d/n`; returns undefined for anything else, including host bits set (`10.0.0.1/16`). */
export function parseCidr(text: string): Ipv4Cidr | undefined {
  const m = CIDR_PATTERN.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  if (address % size !== 0) return undefined;
  return { text, start: address, end: address + size - 1, prefix };
}

export function overlaps(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return a.start <= b.end && b.start <= a.end;
}

export function contains(outer: Ipv4Cidr, inner: Ipv4Cidr): boolean {
  return outer.start <= inner.start && inner.end <= outer.end;
}

/** Number of addresses in the block. */
export function size(c: Ipv4Cidr): number {
  return c.end - c.start + 1;
}

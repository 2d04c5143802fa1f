/**
 * The API has no route that lists a tenant's bus credentials, so the console lists the ones minted
 * in this browser tab: public key and expiry only (never the seed or JWT), in sessionStorage per
 * tenant, gone with the tab. Any other credential is revoked by typing its public key.
 */
export interface MintedCredential {
  readonly publicKey: string;
  /** Unix seconds. */
  readonly expiresAt: number;
  readonly mintedAt: string;
  readonly revokedAt?: string;
}

const key = (tenantId: string) => `console.minted.${tenantId}`;

export function readMinted(tenantId: string): MintedCredential[] {
  try {
    const raw = window.sessionStorage.getItem(key(tenantId));
    const parsed: unknown = raw ? JSON.parse(raw) : [];
    return Array.isArray(parsed) ? (parsed.filter((c) => c && typeof c.publicKey === "string" && typeof c.expiresAt === "number") as MintedCredential[]) : [];
  } catch {
    return [];
  }
}

export function writeMinted(tenantId: string, list: readonly MintedCredential[]): void {
  window.sessionStorage.setItem(key(tenantId), JSON.stringify(list));
}

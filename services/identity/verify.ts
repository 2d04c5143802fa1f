/**
 * Verifying a tenant token: the one way every service does it (the gateway's Lua plugin applies
 * the same rules). ES256 only, the key found by `kid` in the provisioning service's key set
 * (fetched over HTTP and cached; an unknown `kid` refetches, at most every 30 s, so a rotation
 * needs no step here), JOSE `typ` `at+jwt`, issuer, audience, expiry and not-before with a small
 * clock skew, a lifetime no longer than the platform issues, and well-formed claims.
 */
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from "jose";
import { TENANT_ID_PATTERN } from "../../config/tenancy.js";
import { PLAN_TIER_NAMES, type PlanTierName } from "../../config/tiers.js";
import { TENANT_ROLES, TENANT_TOKEN, USER_ID_PATTERN, type TenantRole } from "./names.js";

/** What a verified tenant token says. */
export interface TenantPrincipal {
  readonly kind: "tenant";
  readonly userId: string;
  readonly tenantId: string;
  readonly planTier: PlanTierName;
  readonly role: TenantRole;
  readonly expiresAt: number;
}

/** A token that is missing, malformed, forged, expired or meant for something else. */
export class TokenRejectedError extends Error {
  override readonly name = "TokenRejectedError";
}

export interface TenantTokenVerifierOptions {
  /** `iss`: `tenantTokenIssuer(apiDomain)`. */
  readonly issuer: string;
  /** The key set's URL (the provisioning service's JWKS_PATH). */
  readonly jwksUrl?: string;
  /** A key set to use instead of fetching (the issuing service itself). */
  readonly keySet?: JWTVerifyGetKey;
  /** @default 5 */
  readonly clockToleranceSeconds?: number;
}

/**
 * A published key set fetched over HTTP, the one way services fetch one (Keycloak's certs, the
 * tenant tokens' set): cached 10 minutes, an unknown `kid` refetches at most every 30 s.
 */
export function remoteKeySet(url: string): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(url), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000, timeoutDuration: 5_000 });
}

export function createTenantTokenVerifier(o: TenantTokenVerifierOptions): (token: string) => Promise<TenantPrincipal> {
  const keys = o.keySet ?? (o.jwksUrl ? remoteKeySet(o.jwksUrl) : undefined);
  if (!keys) throw new Error("createTenantTokenVerifier: pass jwksUrl or keySet");
  const c = TENANT_TOKEN.claims;
  return async (token) => {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: o.issuer,
        audience: TENANT_TOKEN.audience,
        algorithms: [TENANT_TOKEN.algorithm],
        typ: TENANT_TOKEN.type,
        requiredClaims: ["sub", "exp", "iat", c.tenant, c.planTier, c.role],
        clockTolerance: o.clockToleranceSeconds ?? 5,
        maxTokenAge: TENANT_TOKEN.lifetimeBounds.max + (o.clockToleranceSeconds ?? 5),
      }));
    } catch (error) {
      throw new TokenRejectedError(error instanceof joseErrors.JOSEError ? error.code : "token verification failed");
    }
    const { sub, exp, iat } = payload;
    const tenantId = payload[c.tenant];
    const planTier = payload[c.planTier];
    const role = payload[c.role];
    if (typeof sub !== "string" || !USER_ID_PATTERN.test(sub)) throw new TokenRejectedError("bad subject");
    if (typeof tenantId !== "string" || !TENANT_ID_PATTERN.test(tenantId)) throw new TokenRejectedError("bad tenant claim");
    if (typeof planTier !== "string" || !(PLAN_TIER_NAMES as readonly string[]).includes(planTier)) throw new TokenRejectedError("bad plan tier claim");
    if (typeof role !== "string" || !(TENANT_ROLES as readonly string[]).includes(role)) throw new TokenRejectedError("bad role claim");
    if (typeof exp !== "number" || typeof iat !== "number" || exp - iat > TENANT_TOKEN.lifetimeBounds.max) throw new TokenRejectedError("lifetime too long");
    return { kind: "tenant", userId: sub, tenantId, planTier: planTier as PlanTierName, role: role as TenantRole, expiresAt: exp };
  };
}

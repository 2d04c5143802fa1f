/**
 * Access-token verification: every `/v1` call carries a Keycloak access token, verified with jose
 * against the realm's JWKS: signature, algorithm pinned to RS256 (so `alg: none` and HMAC
 * confusion are refused), issuer, audience, expiry (and not-before), a subject. The key set is
 * fetched once and cached (jose's remote JWK set re-fetches on an unknown `kid`, at most every
 * 30 s), so verification costs one RSA signature check per request.
 */
import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { USER_ID_PATTERN } from "../../identity/names.js";
import { remoteKeySet } from "../../identity/verify.js";

/** A signed-in user, from a verified Keycloak access token. */
export interface Principal {
  readonly kind: "user";
  /** `sub`: the Keycloak user id. */
  readonly userId: string;
  /** Realm roles (`realm_access.roles`). */
  readonly roles: ReadonlySet<string>;
  /** `email`, lower-cased, when present. */
  readonly email: string | undefined;
  /** `email_verified` is true. */
  readonly emailVerified: boolean;
}

export class UnauthorizedError extends Error {
  override readonly name = "UnauthorizedError";
}

export interface VerifierOptions {
  readonly issuer: string;
  /** The `aud` the token must carry (`api` for user routes, `platform-operations` for operator routes). */
  readonly audience: string;
  readonly jwksUrl: string;
  /** A key set to use instead of fetching `jwksUrl` (tests). */
  readonly keySet?: JWTVerifyGetKey;
  /** Allowed clock skew in seconds. @default {@link CLOCK_TOLERANCE_SECONDS} */
  readonly clockToleranceSeconds?: number;
}

export const ACCESS_TOKEN_ALGORITHMS = ["RS256"] as const;
/** Allowed clock skew between Keycloak and the service, in seconds. */
export const CLOCK_TOLERANCE_SECONDS = 5;

export type TokenVerifier = (token: string) => Promise<Principal>;

/** The compact JWS of an `Authorization: Bearer` header; throws {@link UnauthorizedError} otherwise. */
export function bearerToken(authorization: string | undefined): string {
  const m = authorization ? /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(authorization) : null;
  if (!m) throw new UnauthorizedError("missing or malformed bearer token");
  return m[1] as string;
}

export function createVerifier(options: VerifierOptions): TokenVerifier {
  const keys = options.keySet ?? remoteKeySet(options.jwksUrl);
  return async (token) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: [...ACCESS_TOKEN_ALGORITHMS],
        requiredClaims: ["sub", "exp"],
        clockTolerance: options.clockToleranceSeconds ?? CLOCK_TOLERANCE_SECONDS,
      }));
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) throw new UnauthorizedError(error.code);
      throw new UnauthorizedError("token verification failed");
    }
    const typ = payload["typ"];
    if (typ !== undefined && typ !== "Bearer") throw new UnauthorizedError("not an access token");
    const sub = payload.sub;
    if (typeof sub !== "string" || !USER_ID_PATTERN.test(sub)) throw new UnauthorizedError("bad subject");
    const realmAccess = payload["realm_access"] as { roles?: unknown } | undefined;
    const roles = new Set(Array.isArray(realmAccess?.roles) ? realmAccess.roles.filter((r): r is string => typeof r === "string") : []);
    const email = payload["email"];
    return { kind: "user", userId: sub, roles, email: typeof email === "string" ? email.toLowerCase() : undefined, emailVerified: payload["email_verified"] === true };
  };
}

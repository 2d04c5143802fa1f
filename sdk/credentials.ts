/**
 * Agent credentials: what `POST /v1/tenants/{tenantId}/bus-credentials` answers (a user JWT and
 * its nkey seed, the NATS URLs, the CA to trust, the API origin), or a `.creds` file plus the
 * servers. Parsed here once, with errors that name the field; the JWT's claims (tenant, tier,
 * expiry) are read, not trusted: the server verifies them.
 */
import { readFileSync } from "node:fs";
import { fromSeed } from "@nats-io/nkeys";
import { TENANT_TAG, TIER_TAG } from "../services/nats-auth/claims.js";
import { InvalidOptionError } from "./errors.js";

/** What an agent connects with. */
export interface AgentCredentials {
  /** The user JWT (`eyJ…`). */
  readonly jwt: string;
  /** The user's nkey seed (`SU…`): a secret. */
  readonly seed: string;
  /** NATS URLs (`tls://nats.example.com:4222`). */
  readonly servers?: readonly string[];
  /** PEM of the CA that signed the servers' certificate, when it is not a public one. */
  readonly ca?: string;
  /** Origin of the platform API (`https://api.example.com`): data keys of encrypted payloads. */
  readonly api?: string;
  /** The tenant member the credentials were minted by: the events' `user_id` unless an event names another. */
  readonly userId?: string;
}

/** The credentials' claims as the JWT states them. */
export interface CredentialClaims {
  readonly tenantId: string;
  readonly tier: string | undefined;
  /** The user's public nkey (`U…`). */
  readonly publicKey: string;
  /** The tenant's account (`A…`). */
  readonly account: string;
  /** Expiry, seconds since the epoch (undefined: none). */
  readonly expiresAt: number | undefined;
}

const CREDS_JWT = /-----BEGIN NATS USER JWT-----\s*([A-Za-z0-9_.=-]+)\s*------END NATS USER JWT------/;
const CREDS_SEED = /-----BEGIN USER NKEY SEED-----\s*(SU[A-Z2-7]+)\s*------END USER NKEY SEED------/;
const CREDS_FIX = "use the creds file or the JSON answer of POST /v1/tenants/{tenantId}/bus-credentials, unmodified";

/** Reads the claims of a NATS user JWT (no signature check: that is the server's). */
export function credentialClaims(jwt: string): CredentialClaims {
  const parts = jwt.split(".");
  let claims: { sub?: string; name?: string; exp?: number; nats?: { tags?: string[]; issuer_account?: string; type?: string } };
  try {
    if (parts.length !== 3) throw new Error("not three parts");
    claims = JSON.parse(Buffer.from(parts[1] as string, "base64url").toString("utf8"));
  } catch (error) {
    throw new InvalidOptionError("credentials.jwt", "is not a NATS user JWT", CREDS_FIX, { cause: error });
  }
  const tag = (name: string) => claims.nats?.tags?.find((t) => t.startsWith(`${name}:`))?.slice(name.length + 1);
  const tenantId = tag(TENANT_TAG);
  if (claims.nats?.type !== "user" || !tenantId || !claims.sub || !claims.nats.issuer_account) {
    throw new InvalidOptionError("credentials.jwt", "is not a tenant user's JWT (no user type, tenant tag or issuer account)", CREDS_FIX);
  }
  return { tenantId, tier: tag(TIER_TAG), publicKey: claims.sub, account: claims.nats.issuer_account, expiresAt: claims.exp };
}

/** Checks credentials: the JWT's claims and that the seed is the JWT's own key. */
export function checkCredentials(credentials: AgentCredentials): CredentialClaims {
  if (typeof credentials?.jwt !== "string" || typeof credentials.seed !== "string") {
    throw new InvalidOptionError("credentials", "needs a jwt and a seed", CREDS_FIX);
  }
  const claims = credentialClaims(credentials.jwt);
  let publicKey: string;
  try {
    publicKey = fromSeed(new TextEncoder().encode(credentials.seed)).getPublicKey();
  } catch (error) {
    throw new InvalidOptionError("credentials.seed", "is not a user nkey seed (SU…)", CREDS_FIX, { cause: error });
  }
  if (publicKey !== claims.publicKey) throw new InvalidOptionError("credentials.seed", "is not the seed of the JWT's user", "use the jwt and seed of the same credentials answer");
  for (const [i, url] of (credentials.servers ?? []).entries()) {
    if (!/^(nats|tls|wss?):\/\/[^\s/]+$/.test(url)) throw new InvalidOptionError(`credentials.servers[${i}]`, `= ${JSON.stringify(url)} is not a NATS URL`, "use tls://host:port (or nats://host:port inside the cluster)");
  }
  if (credentials.ca !== undefined && !credentials.ca.includes("-----BEGIN CERTIFICATE-----")) {
    throw new InvalidOptionError("credentials.ca", "is not a PEM certificate", "pass the ca of the credentials answer as it came");
  }
  return claims;
}

/** Credentials from the text of a `.creds` file (the `creds` field of the answer, or a file written from it). */
export function credentialsFromCredsFile(text: string, extra: Omit<AgentCredentials, "jwt" | "seed"> = {}): AgentCredentials {
  const jwt = CREDS_JWT.exec(text)?.[1];
  const seed = CREDS_SEED.exec(text)?.[1];
  if (!jwt || !seed) throw new InvalidOptionError("creds file", "holds no NATS user JWT and seed", CREDS_FIX);
  return { ...extra, jwt, seed };
}

/** Credentials from the JSON answer of `POST /v1/tenants/{tenantId}/bus-credentials` (parsed or as text). */
export function credentialsFromAnswer(answer: unknown): AgentCredentials {
  const a = (typeof answer === "string" ? JSON.parse(answer) : answer) as Record<string, unknown>;
  if (!a || typeof a !== "object" || typeof a["jwt"] !== "string" || typeof a["seed"] !== "string") {
    throw new InvalidOptionError("credentials answer", "has no jwt and seed", CREDS_FIX);
  }
  const servers = a["servers"];
  return {
    jwt: a["jwt"],
    seed: a["seed"],
    ...(Array.isArray(servers) ? { servers: servers.map(String) } : {}),
    ...(typeof a["ca"] === "string" ? { ca: a["ca"] } : {}),
    ...(typeof a["api"] === "string" ? { api: a["api"] } : {}),
    ...(typeof a["userId"] === "string" ? { userId: a["userId"] } : {}),
  };
}

/**
 * Credentials from a file: the credentials answer saved as JSON (`*.json`), or a `.creds` file
 * (then `extra` gives the servers, CA and API the answer would have carried).
 */
export function loadCredentials(path: string, extra: Omit<AgentCredentials, "jwt" | "seed"> = {}): AgentCredentials {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new InvalidOptionError("credentials file", `${path} cannot be read (${(error as Error).message})`, "pass the path of the saved credentials answer or creds file", { cause: error });
  }
  return text.trimStart().startsWith("{") ? { ...extra, ...credentialsFromAnswer(text) } : credentialsFromCredsFile(text, extra);
}

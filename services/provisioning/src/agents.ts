/**
 * The agent routes' authentication: an agent proves it holds bus credentials this service
 * minted, with no user token (services/identity/names.ts `AGENT_AUTH`):
 * 1. `Authorization: NATS-JWT <jwt>`: a NATS user JWT whose Ed25519 signature verifies with its
 *    `iss`, which must be the signing key of the tenant's CURRENT tier (the one its account lists:
 *    the same rule the servers apply), for the tenant its `tenant:` tag names, in that tenant's
 *    account (`issuer_account` = the tenant record's `busAccount`), not expired;
 * 2. the tenant is active and the credential not revoked (the store, read now);
 * 3. the signature header: Ed25519 by the JWT's `sub` over method, path, time and nonce, with the
 *    time within `AGENT_AUTH.toleranceSeconds` of ours.
 * Every failure is the same 401 (the reason goes to the log, not to the caller), except an
 * offboarded tenant's: 410, its data key is gone.
 *
 * The data key itself: `dataKeyId` names a wrapped key stably (a hash of its ciphertext), so the
 * SDK caches by id and picks up a new key when the id changes.
 */
import { createHash } from "node:crypto";
import { fromPublic } from "@nats-io/nkeys";
import type { PlanTierName } from "../../../config/tiers.js";
import { TENANT_TAG } from "../../nats-auth/claims.js";
import { AGENT_AUTH, agentSigningInput } from "../../identity/names.js";
import type { ControlPlane, TenantRecord, WrappedDataKey } from "./control-plane.js";
import { ApiError } from "./errors.js";

/** An agent, authenticated by its bus credentials. */
export interface AgentPrincipal {
  readonly kind: "agent";
  readonly tenantId: string;
  /** The credential's user key (`U…`). */
  readonly publicKey: string;
  readonly tenant: TenantRecord;
  readonly wrapped: WrappedDataKey | undefined;
}

/** The one refusal of agent authentication (why is logged). */
export class AgentAuthError extends Error {
  override readonly name = "AgentAuthError";
}

const JWT_PATTERN = /^NATS-JWT ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;
const SIGNATURE_PATTERN = /^t=(\d{1,12}),n=([A-Za-z0-9_-]{16,64}),s=([A-Za-z0-9_-]{80,90})$/;

/** The id of a wrapped data key: `dk-` and 32 hex digits of the SHA-256 of its ciphertext. */
export function dataKeyId(wrapped: WrappedDataKey): string {
  return `dk-${createHash("sha256").update(wrapped.ciphertext).digest("hex").slice(0, 32)}`;
}

function verifyEd25519(publicKey: string, input: Uint8Array, signature: Uint8Array): boolean {
  try {
    return fromPublic(publicKey).verify(input, signature);
  } catch {
    return false;
  }
}

export interface AgentVerifierOptions {
  readonly plane: ControlPlane;
  /** Public keys of the tiers' user signing keys. */
  readonly tierSigningKeys: Readonly<Record<PlanTierName, string>>;
  readonly now?: () => number;
}

export type AgentVerifier = (headers: { authorization?: string | undefined; signature?: string | undefined }, method: string, pathWithQuery: string) => Promise<AgentPrincipal>;

export function createAgentVerifier(o: AgentVerifierOptions): AgentVerifier {
  const now = o.now ?? Date.now;
  return async (h, method, pathWithQuery) => {
    const jwt = h.authorization ? JWT_PATTERN.exec(h.authorization)?.[1] : undefined;
    if (!jwt) throw new AgentAuthError(`missing or malformed Authorization (${AGENT_AUTH.scheme} <jwt>)`);
    const sig = h.signature ? SIGNATURE_PATTERN.exec(h.signature) : null;
    if (!sig) throw new AgentAuthError(`missing or malformed ${AGENT_AUTH.signatureHeader}`);
    const [header, payload, signature] = jwt.split(".") as [string, string, string];
    let claims: { iss?: string; sub?: string; exp?: number; nats?: { type?: string; tags?: string[]; issuer_account?: string } };
    try {
      const head = JSON.parse(Buffer.from(header, "base64url").toString("utf8")) as { alg?: string };
      if (head.alg !== "ed25519-nkey") throw new Error(`alg ${head.alg}`);
      claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    } catch (error) {
      throw new AgentAuthError(`undecodable JWT (${(error as Error).message})`);
    }
    const { iss, sub, exp } = claims;
    if (claims.nats?.type !== "user" || !iss || !sub || !/^U[A-Z2-7]{55}$/.test(sub)) throw new AgentAuthError("not a user JWT");
    if (!verifyEd25519(iss, new TextEncoder().encode(`${header}.${payload}`), Buffer.from(signature, "base64url"))) throw new AgentAuthError("JWT signature does not verify");
    const nowSeconds = Math.floor(now() / 1000);
    if (exp !== undefined && exp <= nowSeconds) throw new AgentAuthError("credentials expired");
    const tenantId = claims.nats.tags?.find((t) => t.startsWith(`${TENANT_TAG}:`))?.slice(TENANT_TAG.length + 1);
    if (!tenantId) throw new AgentAuthError("no tenant tag");
    const t = Number(sig[1]);
    if (Math.abs(t - nowSeconds) > AGENT_AUTH.toleranceSeconds) throw new AgentAuthError(`request time ${t} is more than ${AGENT_AUTH.toleranceSeconds} s from ours`);
    if (!verifyEd25519(sub, new TextEncoder().encode(agentSigningInput(method, pathWithQuery, t, sig[2] as string)), Buffer.from(sig[3] as string, "base64url"))) throw new AgentAuthError("request signature does not verify");
    const { tenant, revoked, wrapped } = await o.plane.agentLookup(tenantId, sub);
    if (!tenant || tenant.busAccount !== claims.nats.issuer_account) throw new AgentAuthError("no such tenant account");
    if (tenant.status !== "active") throw new ApiError(410, "gone", "the tenant was offboarded: its data key is destroyed");
    if (o.tierSigningKeys[tenant.planTier] !== iss) throw new AgentAuthError("not signed by the tenant's current tier key");
    if (revoked) throw new AgentAuthError("credentials revoked");
    return { kind: "agent", tenantId, publicKey: sub, tenant, wrapped };
  };
}

/**
 * What the events API's tests share:
 * - {@link TestTokenIssuer}: tenant tokens signed exactly as the provisioning service signs them
 *   (ES256, `typ` at+jwt, its claims), with a key set served over real HTTP, so the service
 *   verifies them through its production path (`EVENTS_API_JWKS_URL`);
 * - {@link eventRow}: a row exactly as the ingestor writes it, from an event the SDK builds (and
 *   seals, for an encrypted tenant), encoded and decoded by the ingestor's own `decodeEvent`;
 * - {@link eventsApiEnv}: a complete environment for `loadEventsApiConfig` (the readers' password
 *   files written into a temporary directory);
 * - {@link call}: one HTTP request to a running service.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { toBinary } from "@bufbuild/protobuf";
import type { ClickHouseClient } from "@clickhouse/client";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { PLAN_TIER_NAMES, type PlanTierName, type TierCatalog } from "../../config/tiers.js";
import { sealField, type DataKey } from "../../sdk/cipher.js";
import { completeEvent, type EventDraft } from "../../sdk/events.js";
import { qualified, SWARM_EVENTS_INSERT_COLUMNS, SWARM_EVENTS_TABLE, TENANT_USAGE_TABLE, type EmbeddedPrincipal, type SwarmEventRow } from "../../services/clickhouse-schema/index.js";
import { EVENTS_API_ENV, EVENTS_API_READER_ENV } from "../../services/events-api/contract.js";
import { JWKS_PATH, TENANT_TOKEN, type TenantRole } from "../../services/identity/names.js";
import { decodeEvent } from "../../services/ingestor/src/event.js";
import { SwarmEventSchema } from "../../services/ingestor/src/gen/enchanted/events/v1/events_pb.js";
import { eventSubject } from "../../services/nats-auth/jetstream-names.js";
import { parseJsonOr } from "../../services/runtime/json.js";

/** `iss` of the test tokens. */
export const TEST_ISSUER = "https://api.events-api.test";

export interface TokenClaims {
  readonly tenantId: string;
  readonly planTier: PlanTierName;
  readonly role: TenantRole;
  /** @default a fresh user id */
  readonly userId?: string;
  /** Seconds from now. @default 300 */
  readonly ttlSeconds?: number;
  /** @default TEST_ISSUER */
  readonly issuer?: string;
  /** @default TENANT_TOKEN.audience */
  readonly audience?: string;
  /** Seconds to shift iat and exp by (negative: in the past). @default 0 */
  readonly shiftSeconds?: number;
}

/** An ES256 signing key whose public half is served as a JWK Set over HTTP. */
export class TestTokenIssuer {
  private constructor(
    private readonly privateKey: CryptoKey,
    private readonly kid: string,
    private readonly server: Server,
    /** `http://127.0.0.1:<port>/.well-known/jwks.json`. */
    readonly jwksUrl: string,
  ) {}

  static async start(): Promise<TestTokenIssuer> {
    const { privateKey, publicKey } = await generateKeyPair(TENANT_TOKEN.algorithm, { extractable: true });
    const kid = `test-${randomBytes(6).toString("hex")}`;
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: TENANT_TOKEN.algorithm, use: "sig" }] });
    const server = createServer((req, res) => {
      if (req.url === JWKS_PATH) res.writeHead(200, { "content-type": "application/json" }).end(jwks);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    return new TestTokenIssuer(privateKey, kid, server, `http://127.0.0.1:${port}${JWKS_PATH}`);
  }

  /** A tenant token as the provisioning service issues one. */
  async mint(c: TokenClaims): Promise<string> {
    const iat = Math.floor(Date.now() / 1000) + (c.shiftSeconds ?? 0);
    const claims = TENANT_TOKEN.claims;
    return new SignJWT({ [claims.tenant]: c.tenantId, [claims.planTier]: c.planTier, [claims.role]: c.role })
      .setProtectedHeader({ alg: TENANT_TOKEN.algorithm, kid: this.kid, typ: TENANT_TOKEN.type })
      .setIssuer(c.issuer ?? TEST_ISSUER)
      .setAudience(c.audience ?? TENANT_TOKEN.audience)
      .setSubject(c.userId ?? `user-${randomBytes(4).toString("hex")}`)
      .setIssuedAt(iat)
      .setExpirationTime(iat + (c.ttlSeconds ?? 300))
      .setJti(randomUUID())
      .sign(this.privateKey);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A complete environment for `loadEventsApiConfig`: the readers' password files in `dir`
 * (random passwords: the tests give the service the embedded engine's reader instead), the
 * token issuer and key set, the provisioning URL; `extra` overrides any of it.
 */
export function eventsApiEnv(dir: string, o: { jwksUrl: string; issuer?: string; provisioningUrl: string; extra?: Record<string, string> }): Record<string, string> {
  const env: Record<string, string> = {
    [EVENTS_API_ENV.httpPort]: "0",
    [EVENTS_API_ENV.logLevel]: "silent",
    [EVENTS_API_ENV.clickhouseUrl]: "http://127.0.0.1:8123",
    [EVENTS_API_ENV.tokenIssuer]: o.issuer ?? TEST_ISSUER,
    [EVENTS_API_ENV.jwksUrl]: o.jwksUrl,
    [EVENTS_API_ENV.provisioningUrl]: o.provisioningUrl,
  };
  for (const tier of PLAN_TIER_NAMES) {
    const file = join(dir, `${tier}-reader-password`);
    writeFileSync(file, `${randomBytes(24).toString("base64url")}\n`, { mode: 0o600 });
    env[EVENTS_API_READER_ENV[tier].passwordFile] = file;
  }
  return { ...env, ...o.extra };
}

/** The stored row of an event the SDK builds for `tenantId` (sealed with `key` when given), as the ingestor decodes it. */
export function eventRow(draft: EventDraft, tenantId: string, o: { projectId?: string; userId?: string; key?: DataKey; storedAt?: Date } = {}): SwarmEventRow {
  const projectId = draft.projectId ?? o.projectId ?? "web";
  const key = o.key;
  const event = completeEvent(draft, { tenantId, projectId, userId: o.userId ?? "member-1" }, key ? (plaintext, field, ids) => sealField(key, plaintext, field, ids) : undefined);
  const bytes = toBinary(SwarmEventSchema, event);
  const storedAt = o.storedAt ?? new Date();
  // retentionDays 0: no tier's retention applied (the table's default TTL), as a tool replaying rows.
  const meta = { streamTimestampMs: Math.max(storedAt.getTime(), (draft.timestamp ?? new Date()).getTime()), retentionDays: 0 };
  const decoded = decodeEvent(eventSubject(tenantId, projectId), bytes, meta);
  if (!decoded.ok) throw new Error(`the ingestor refuses the test event: ${decoded.reason} ${decoded.detail}`);
  return decoded.row;
}

/** Inserts rows as the ingestor does (the ephemeral raw_proto_base64 named, so raw_proto is stored). */
export async function insertEvents(client: ClickHouseClient, rows: readonly SwarmEventRow[]): Promise<void> {
  await client.insert({ table: qualified(SWARM_EVENTS_TABLE), values: rows as SwarmEventRow[], format: "JSONEachRow", columns: [...SWARM_EVENTS_INSERT_COLUMNS] as [string, ...string[]] });
}

/** A row of the usage table (what the ingestor's refusals and the view write). */
export interface UsageRowInput {
  readonly tenant_id: string;
  /** 'YYYY-MM-DD' (UTC). */
  readonly day: string;
  readonly events: number;
  readonly rejected_quota: number;
  readonly rejected_expired: number;
}

export async function insertUsage(client: ClickHouseClient, rows: readonly UsageRowInput[]): Promise<void> {
  await client.insert({ table: qualified(TENANT_USAGE_TABLE), values: rows as UsageRowInput[], format: "JSONEachRow" });
}

export interface Answer<T = unknown> {
  readonly status: number;
  readonly body: T;
  readonly text: string;
  readonly headers: Headers;
}

/** One request to `base` (JSON body when given). */
export async function call<T = Record<string, unknown>>(base: string, method: string, path: string, o: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...o.headers };
  let body = o.rawBody;
  if (o.body !== undefined) body = JSON.stringify(o.body);
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
  const res = await fetch(`${base}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: parseJsonOr(text, text) as T, text, headers: res.headers };
}

/** 'YYYY-MM-DD hh:mm:ss.ffffff' of a row as RFC 3339 (what the API answers). */
export function rfc3339Of(literal: string): string {
  return `${literal.replace(" ", "T")}Z`;
}

/**
 * The engine opened as `principal` until `release()` (EmbeddedClickHouse.as, held open across
 * tests: one engine per process, so release before opening another).
 */
export function holdEngine(engine: { as<T>(principal: EmbeddedPrincipal, fn: (client: ClickHouseClient) => Promise<T>, catalog?: TierCatalog): Promise<T> }, principal: EmbeddedPrincipal, catalog?: TierCatalog): Promise<{ client: ClickHouseClient; release: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const done = engine.as(
      principal,
      (client) =>
        new Promise<void>((finish) => {
          resolve({
            client,
            release: async () => {
              finish();
              await done;
            },
          });
        }),
      ...(catalog ? [catalog] : []),
    );
    done.catch(reject);
  });
}

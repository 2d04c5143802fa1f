/**
 * Wiring: builds the running events API from an {@link EventsApiConfig}: the tenant-token
 * verifier (the provisioning service's key set over HTTP), one ClickHouse client per tier's
 * reader, the data-key source (control-plane store and the platform's unwrapping key), the
 * provisioning jobs client and the HTTP app. Tests and benchmarks call {@link startEventsApi}
 * with overrides (the embedded engine's reader, a test key set, the provisioning harness's own
 * store and key provider); main.ts calls it with the configuration alone.
 */
import type { AddressInfo } from "node:net";
import type { ClickHouseClient } from "@clickhouse/client";
import type { FastifyInstance } from "fastify";
import type { JWTVerifyGetKey } from "jose";
import { pino, type Logger } from "pino";
import { loadTierCatalog } from "../../../config/index.js";
import type { TierCatalog } from "../../../config/tiers.js";
import { createTenantTokenVerifier } from "../../identity/verify.js";
import { httpReaders, TenantReader, type TierReaders } from "./clickhouse.js";
import type { EventsApiConfig } from "./config.js";
import { openDataKeySource, type DataKeySource, type OpenDataKeySource } from "./datakeys.js";
import { buildApp } from "./http.js";
import { createEventsApiMetrics, type EventsApiMetrics } from "./metrics.js";
import { ProvisioningJobs } from "./replays.js";

export interface EventsApiOverrides {
  readonly log?: Logger;
  /** Host to listen on. @default "0.0.0.0" */
  readonly host?: string;
  /**
   * ClickHouse clients by tier instead of the configured HTTP readers (the embedded engine's
   * reader in tests and benchmarks). The caller owns and closes them; a tier without one answers 503.
   */
  readonly readers?: TierReaders;
  /** The tenant tokens' key set instead of fetching `EVENTS_API_JWKS_URL`. */
  readonly keySet?: JWTVerifyGetKey;
  /** Where data keys come from instead of the configured store (the provisioning harness's own); `null`: none. */
  readonly dataKeys?: DataKeySource | null;
  /** The plan-tier catalog (allowances, limits in messages). @default loadTierCatalog() */
  readonly catalog?: TierCatalog;
  /** The clock of defaults (`before`, `until`) and of usage's day. @default () => new Date() */
  readonly now?: () => Date;
}

export interface RunningEventsApi {
  readonly app: FastifyInstance;
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly metrics: EventsApiMetrics;
  /** Stops taking requests (503, `/readyz` not ready), finishes those in flight, closes its own clients and the store. */
  stop(): Promise<void>;
}

export async function startEventsApi(config: EventsApiConfig, o: EventsApiOverrides = {}): Promise<RunningEventsApi> {
  const log = o.log ?? pino({ level: config.logLevel, base: { service: "events-api" } });
  const catalog = o.catalog ?? loadTierCatalog();
  const own: ClickHouseClient[] = [];
  let keys: OpenDataKeySource | undefined;
  try {
    let readers = o.readers;
    if (!readers) {
      const connection = config.clickhouse.connection;
      if (connection === undefined) throw new Error("startEventsApi: the config has no ClickHouse connection (loaded with readers handed in), and no readers were passed. Fix: pass `readers`, or load the config without { readers: \"handed-in\" }");
      const clients = httpReaders({ ...connection, queryTimeoutMs: config.clickhouse.queryTimeoutMs }, log);
      own.push(...Object.values(clients));
      readers = clients;
    }
    if (o.dataKeys === undefined) keys = await openDataKeySource(config.dataKeys, config.dataKeyCacheSeconds);
    const dataKeys = o.dataKeys === undefined ? keys?.source : (o.dataKeys ?? undefined);
    const metrics = createEventsApiMetrics(true);
    const reader = new TenantReader({ readers, catalog, metrics, queryTimeoutMs: config.clickhouse.queryTimeoutMs });
    const verifyTenant = createTenantTokenVerifier({ issuer: config.tokens.issuer, ...(o.keySet ? { keySet: o.keySet } : { jwksUrl: config.tokens.jwksUrl }) });
    let stopping = false;
    const app = buildApp({
      verifyTenant,
      reader,
      catalog,
      dataKeys,
      jobs: new ProvisioningJobs({ url: config.provisioning.url, timeoutMs: config.provisioning.timeoutMs }),
      metrics,
      log,
      bodyLimitBytes: config.bodyLimitBytes,
      http: config.http,
      ready: async () => !stopping && (await reader.ping()) && (keys ? await keys.ping() : true),
      ...(o.now ? { now: o.now } : {}),
    });
    await app.listen({ port: config.httpPort, host: o.host ?? "0.0.0.0" });
    const port = (app.server.address() as AddressInfo).port;
    let stopped: Promise<void> | undefined;
    return {
      app,
      port,
      url: `http://127.0.0.1:${port}`,
      metrics,
      stop() {
        stopped ??= (async () => {
          stopping = true;
          await app.close();
          await Promise.allSettled(own.map((c) => c.close()));
          await keys?.close();
        })();
        return stopped;
      },
    };
  } catch (error) {
    await Promise.allSettled(own.map((c) => c.close()));
    await keys?.close().catch(() => undefined);
    throw error;
  }
}

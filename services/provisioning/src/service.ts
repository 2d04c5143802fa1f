/**
 * Wiring: builds the running service from a {@link ProvisioningConfig}: store, token verifier,
 * Keycloak adapter, data-key provider, bus-credential minter, control plane, outbox worker and
 * the HTTP app. Tests and the benchmark call {@link startProvisioning} with overrides (a
 * fault-injecting store, a test key set); main.ts calls it with the configuration alone.
 */
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import type { JWTVerifyGetKey } from "jose";
import { pino, type Logger } from "pino";
import { loadTierCatalog, loadUserLimits } from "../../../config/index.js";
import type { UserLimits } from "../../../config/tiers.js";
import { OPERATOR_AUDIENCE } from "../../identity/names.js";
import { createTenantTokenVerifier, remoteKeySet } from "../../identity/verify.js";
import { createAgentVerifier } from "./agents.js";
import { createVerifier } from "./auth.js";
import { billingWebhook, readBillingSecrets } from "./billing.js";
import type { ProvisioningConfig } from "./config.js";
import { ControlPlane } from "./control-plane.js";
import { dataKeyProvider, type DataKeyProvider } from "./datakeys.js";
import { openEventStore, type EventStore } from "./event-store.js";
import { PROVISIONING_ENV } from "../contract.js";
import { buildApp } from "./http.js";
import { Invitations } from "./invitations.js";
import { FastKeyPair } from "./fast-nkeys.js";
import { PlatformBus } from "./jobs.js";
import { disabledMailer, smtpMailer, type Mailer } from "./mail.js";
import { PlatformKeys } from "./platform-keys.js";
import { disabledIdentityAdmin, KeycloakAdmin, type IdentityAdmin } from "./keycloak.js";
import { createProvisioningMetrics, type ProvisioningMetrics } from "./metrics.js";
import { natsAccountPublisher, readAccountSigningKeys, readSigningKeys, signingKeyMinter, type BusMinter, type TenantAccountPublisher } from "./nats.js";
import { OutboxWorker, type TenantStreamsAccess } from "./outbox.js";
import type { KvStore } from "./store/kv.js";
import { openStore } from "./store/open.js";

export interface ProvisioningOverrides {
  readonly store?: KvStore;
  readonly log?: Logger;
  readonly keySet?: JWTVerifyGetKey;
  readonly identity?: IdentityAdmin;
  readonly dataKeys?: DataKeyProvider;
  readonly minter?: BusMinter;
  /** Sends invitation e-mails. @default - SMTP from the configuration, else none (skipped) */
  readonly mailer?: Mailer;
  /** A signed-in user's caps instead of the catalog's (load benchmarks that register thousands of tenants per user). @default USER_LIMITS */
  readonly userLimits?: UserLimits;
  /** The clock of tokens and invitations (tests). @default Date.now */
  readonly now?: () => number;
  /** Pushes tenant account JWTs. @default - from PROVISIONING_NATS_URL and the signing keys, else none */
  readonly accounts?: TenantAccountPublisher;
  /**
   * The event store (plan rows, offboarded tenants' rows): e.g. a `ClickHouseEventStore` on the
   * embedded engine's client. The service never closes it. @default - PROVISIONING_CLICKHOUSE_* over HTTP, else none
   */
  readonly eventStore?: EventStore;
  /** Host to listen on. @default "0.0.0.0" */
  readonly host?: string;
  /** Start the outbox worker. @default true */
  readonly worker?: boolean;
  readonly workerPollMs?: number;
  readonly workerBackoffMs?: number;
  readonly workerConcurrency?: number;
  /** Wait between an offboarded tenant's plan row and its history's deletion. @default HISTORY_DELETION_GRACE_MS (tests shorten it) */
  readonly historyDeletionGraceMs?: number;
}

export interface RunningProvisioning {
  readonly app: FastifyInstance;
  readonly port: number;
  readonly url: string;
  readonly store: KvStore;
  readonly plane: ControlPlane;
  readonly worker: OutboxWorker;
  readonly identity: IdentityAdmin;
  readonly dataKeys: DataKeyProvider;
  readonly metrics: ProvisioningMetrics;
  readonly keys: PlatformKeys;
  readonly invitations: Invitations;
  /** The platform-account connection (jobs, workers' credentials, purges); undefined when not configured. */
  readonly bus: PlatformBus | undefined;
  /** The event store the outbox writes to; undefined when not configured. */
  readonly eventStore: EventStore | undefined;
  /** Stops taking requests, finishes those in flight, stops the worker, closes the store. */
  stop(): Promise<void>;
}

export async function startProvisioning(config: ProvisioningConfig, o: ProvisioningOverrides = {}): Promise<RunningProvisioning> {
  const log = o.log ?? pino({ level: config.logLevel, base: { service: "provisioning" } });
  const store = o.store ?? (await openStore(config.store));
  // Only what this function opened is closed on a failed start (the overrides belong to the caller).
  const opened: { close(): Promise<void> }[] = [];
  try {
    const identity =
      o.identity ??
      (config.keycloak.kind === "admin"
        ? new KeycloakAdmin({ baseUrl: config.keycloak.url, realm: config.keycloak.realm, clientSecret: readFileSync(config.keycloak.clientSecretFile, "utf8").trim() })
        : disabledIdentityAdmin);
    const dataKeys = o.dataKeys ?? (await dataKeyProvider(config.dataKeys, config.lmdbPath, (path) => log.warn({ path }, "generated a development key-encryption key (set PROVISIONING_KMS_KEY_ID in production)")));
    let minter = o.minter;
    const tierSeeds = config.nats.signingKeysDir ? readSigningKeys(config.nats.signingKeysDir) : undefined;
    if (!minter && tierSeeds) minter = signingKeyMinter(tierSeeds);
    const push = config.nats.push;
    const accounts =
      o.accounts ??
      (push && tierSeeds && config.nats.signingKeysDir && config.nats.account
        ? natsAccountPublisher({
            url: push.url,
            systemCreds: readFileSync(push.systemCredsFile),
            ...(push.tlsCaFile ? { tlsCaFile: push.tlsCaFile } : {}),
            seeds: readAccountSigningKeys(config.nats.signingKeysDir),
            tierSeeds,
            platformAccount: config.nats.account,
            tiers: loadTierCatalog(),
          })
        : undefined);

    const keys = new PlatformKeys({ store, provider: dataKeys, issuer: config.tokens.issuer, tokenTtlSeconds: config.tokens.tenantTokenTtlSeconds, rotationSeconds: config.tokens.rotationSeconds, ...(o.now ? { now: o.now } : {}) });
    await keys.load();
    const keyRefresh = setInterval(() => void keys.refresh().catch((error: unknown) => log.error({ err: String(error) }, "signing key refresh failed")), 60_000);
    keyRefresh.unref();
    const mailer =
      o.mailer ??
      (config.mail
        ? smtpMailer({ url: config.mail.url, from: config.mail.from, consoleUrl: config.mail.consoleUrl, requireTls: config.mail.requireTls, ...(config.mail.credentialsFile ? { credentialsFile: config.mail.credentialsFile } : {}) })
        : disabledMailer);

    const eventStore = o.eventStore ?? (config.eventStore ? openEventStore(config.eventStore) : undefined);
    if (eventStore && !o.eventStore) opened.push(eventStore);
    if (!eventStore) log.warn({ variable: PROVISIONING_ENV.clickhouseUrl }, "no event store configured: plan rows and offboarded tenants' deletions wait (their outbox effects fail and retry) until it is set");

    let worker: OutboxWorker | undefined;
    const plane = new ControlPlane({ store, catalog: loadTierCatalog(), userLimits: o.userLimits ?? loadUserLimits(), onEnqueued: () => worker?.wake(), ...(o.now ? { now: o.now } : {}) });
    const invitations = new Invitations(plane, { ttlSeconds: config.invitationTtlSeconds, secretOf: (id) => keys.invitationSecret(id), ...(o.now ? { now: o.now } : {}) });
    const metrics = createProvisioningMetrics(() => worker?.lastReady ?? 0, true);
    const bus =
      config.nats.platformCredsFile && push
        ? await PlatformBus.start({ url: push.url, credsFile: config.nats.platformCredsFile, tlsCaFile: push.tlsCaFile, plane, minter, api: config.tokens.issuer, log })
        : undefined;
    if (bus) opened.push(bus);
    // Tenant accounts pushed to NATS (or accounts handed in) = tenants may have published: purging needs the connection.
    const streams: TenantStreamsAccess = bus
      ? { kind: "bus", bus }
      : push || o.accounts
        ? { kind: "unavailable", problem: `tenant accounts are pushed to NATS but the platform-account connection that purges their messages is not configured: set ${PROVISIONING_ENV.natsPlatformCredsFile} (nats:bootstrap's provisioning.creds); this effect is retried until then` }
        : { kind: "none" };
    worker = new OutboxWorker({
      store,
      identity,
      dataKeys,
      mailer,
      invitationSecret: (id) => keys.invitationSecret(id),
      ...(accounts ? { accounts } : {}),
      log,
      ...(o.workerPollMs !== undefined ? { pollMs: o.workerPollMs } : {}),
      ...(o.workerBackoffMs !== undefined ? { backoffMs: o.workerBackoffMs } : {}),
      ...(o.workerConcurrency !== undefined ? { concurrency: o.workerConcurrency } : {}),
      ...(o.historyDeletionGraceMs !== undefined ? { historyDeletionGraceMs: o.historyDeletionGraceMs } : {}),
      onApplied: (kind) => metrics.outboxApplied.inc({ kind }),
      onFailed: (kind) => metrics.outboxFailed.inc({ kind }),
      ...(eventStore ? { eventStore } : {}),
      streams,
    });
    const w = worker;
    const realmKeys = o.keySet ?? remoteKeySet(config.oidc.jwksUrl);
    const verify = createVerifier({ ...config.oidc, keySet: realmKeys });
    const verifyOperator = createVerifier({ ...config.oidc, audience: OPERATOR_AUDIENCE, keySet: realmKeys });
    // This service's own keys, as published (a rotation by another replica is picked up by refresh()).
    const verifyTenant = createTenantTokenVerifier({ issuer: config.tokens.issuer, keySet: keys.keySet });
    const tierSigningKeys = tierSeeds ? (Object.fromEntries(Object.entries(tierSeeds).map(([tier, seed]) => [tier, FastKeyPair.fromSeed(seed).getPublicKey()])) as Record<keyof typeof tierSeeds, string>) : undefined;
    const agents = tierSigningKeys ? createAgentVerifier({ plane, tierSigningKeys, ...(o.now ? { now: o.now } : {}) }) : undefined;
    const app = buildApp({
      plane,
      verify,
      verifyOperator,
      verifyTenant,
      keys,
      invitations,
      billing: config.billingWebhookSecretFile ? billingWebhook(readBillingSecrets(config.billingWebhookSecretFile)) : undefined,
      minter,
      metrics,
      log,
      bodyLimitBytes: config.bodyLimitBytes,
      http: config.http,
      credentialsTtlSeconds: config.credentialsTtlSeconds,
      agents,
      dataKeys,
      bus,
      agentEndpoints: { servers: config.nats.public.servers, ca: config.nats.public.caFile ? readFileSync(config.nats.public.caFile, "utf8") : undefined, api: config.tokens.issuer },
      ready: async () => w.isRunning === (o.worker ?? true) && (await store.ping()),
    });
    await app.listen({ port: config.httpPort, host: o.host ?? "0.0.0.0" });
    if (o.worker ?? true) {
      w.start();
      // Tenants created before plan rows existed get theirs: one pass, the first start that completes it.
      void plane.backfillPlans({ once: true }).then(
        (r) => (r.queued > 0 ? log.info(r, "queued the plan rows of tenants that had none") : undefined),
        (error: unknown) => log.warn({ err: String(error) }, "plan row backfill failed; it runs again at the next start"),
      );
    }
    const port = (app.server.address() as AddressInfo).port;
    let stopped: Promise<void> | undefined;
    return {
      app,
      port,
      url: `http://127.0.0.1:${port}`,
      store,
      plane,
      worker: w,
      identity,
      dataKeys,
      metrics,
      keys,
      invitations,
      bus,
      eventStore,
      stop() {
        stopped ??= (async () => {
          clearInterval(keyRefresh);
          await app.close();
          await w.stop();
          await bus?.close();
          mailer.close();
          await accounts?.close();
          if (eventStore && !o.eventStore) await eventStore.close();
          await store.close();
        })();
        return stopped;
      },
    };
  } catch (error) {
    for (const resource of opened.reverse()) await resource.close().catch(() => undefined);
    if (!o.store) await store.close();
    throw error;
  }
}

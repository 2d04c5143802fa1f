/**
 * The provisioning service's configuration: every option read from the environment in ONE
 * function, {@link loadProvisioningConfig}, validated at start. A bad value stops the service with
 * a {@link ProvisioningConfigError} naming the variable, the value and the fix. The names,
 * defaults, bounds and value shapes are the service's contract (`../contract.ts`), which the
 * Kubernetes construct reads too (it sets only these variables); this table documents them.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `PROVISIONING_HTTP_PORT` | `8080` | the API, `/healthz`, `/readyz`, `/metrics`; `0` = any free port |
 * | `PROVISIONING_LOG_LEVEL` | `info` | lowest pino level: fatal, error, warn, info, debug, trace or silent |
 * | `PROVISIONING_BODY_LIMIT_BYTES` | `16384` | larger request bodies are refused with 413 |
 * | `PROVISIONING_LMDB_PATH` | `./.data/provisioning` | directory of the embedded store (used when no FDB cluster file is set) |
 * | `PROVISIONING_FDB_CLUSTER_FILE` | (none) | path of the FoundationDB cluster file; when set, the store is FoundationDB (needs the `foundationdb` binding and the FDB client library) |
 * | `PROVISIONING_OIDC_ISSUER` | (required) | the realm's issuer (`iss` of every access token), e.g. `https://auth.example.com/realms/enchanted` |
 * | `PROVISIONING_OIDC_AUDIENCE` | `api` (`API_AUDIENCE`) | `aud` every access token must carry |
 * | `PROVISIONING_JWKS_URL` | `<issuer>/protocol/openid-connect/certs` | the realm's JSON Web Key Set |
 * | `PROVISIONING_KEYCLOAK` | `on` | `off`: no Keycloak Admin API calls (local development only; Organization effects are recorded as skipped) |
 * | `PROVISIONING_KEYCLOAK_URL` | (required unless `PROVISIONING_KEYCLOAK=off`) | Keycloak base URL for the token endpoint and the Admin REST API |
 * | `PROVISIONING_KEYCLOAK_REALM` | `enchanted` (`REALM_NAME`) | the realm |
 * | `PROVISIONING_KEYCLOAK_CLIENT_SECRET_FILE` | (required unless off) | path of the mounted secret of the `enchanted-provisioning` client |
 * | `PROVISIONING_KMS_KEY_ID` | (none) | KMS key ARN / alias of the tenant-key CMK; tenant data keys come from `GenerateDataKey` |
 * | `PROVISIONING_AWS_REGION` | (SDK default chain) | region of the KMS key |
 * | `PROVISIONING_LOCAL_KEK_FILE` | (none) | without KMS: 32-byte key-encryption key (raw, hex or base64); unset on the embedded store = generated at `<PROVISIONING_LMDB_PATH>/dev-kek` (development only) |
 * | `PROVISIONING_NATS_SIGNING_KEYS_DIR` | (none) | directory with `<tier>.seed` per plan tier (each tier's user signing key, listed in its tenants' accounts) and, with `PROVISIONING_NATS_URL`, `tenant-account-signing-key.seed` (the operator's signing key of tenant accounts) and `tenant-import-signing-key.seed` (the platform account's activation-token key); unset = minting answers 503 |
 * | `PROVISIONING_NATS_ACCOUNT` | (required with the signing keys) | public key (`A…`) of the platform account `SWARM` (tenant accounts import from it) |
 * | `PROVISIONING_NATS_URL` | (none) | the NATS cluster the tenant accounts are pushed to (`$SYS.REQ.CLAIMS.UPDATE`); unset = tenant accounts are not pushed (bus `skipped`: local development without NATS) |
 * | `PROVISIONING_NATS_SYSTEM_CREDS_FILE` | (required with the URL) | creds of the system account's push user |
 * | `PROVISIONING_NATS_TLS_CA_FILE` | (none) | CA of the servers' certificate (TLS) |
 * | `PROVISIONING_CREDENTIALS_TTL_SECONDS` | `3600` | lifetime of minted bus credentials: short, so that non-renewal ends access quickly |
 * | `PROVISIONING_SHUTDOWN_TIMEOUT_MS` | `15000` | SIGTERM: finish requests in flight and the outbox batch within this, else exit 1 |
 * | `PROVISIONING_HEADERS_TIMEOUT_MS` | `10000` | a connection that has not sent its request's headers within this gets 408 and is closed (100 to 60000) |
 * | `PROVISIONING_REQUEST_TIMEOUT_MS` | `30000` | ... the whole request, headers and body (100 to 300000; not below the headers timeout) |
 * | `PROVISIONING_IDLE_TIMEOUT_MS` | `72000` | a connection without traffic for this long is closed, also an idle keep-alive one (100 to 600000) |
 * | `PROVISIONING_MAX_CONNECTIONS` | `1024` | open connections per process; those beyond are closed at once (1 to 65535) |
 * | `PROVISIONING_TOKEN_ISSUER` | (required) | `iss` of the tenant tokens it signs: the public API's origin, `https://<api domain>` |
 * | `PROVISIONING_TENANT_TOKEN_TTL_SECONDS` | `300` | tenant-token lifetime (60 to 900): a removed member keeps access at most this long |
 * | `PROVISIONING_SIGNING_KEY_ROTATION_DAYS` | `30` | a new tenant-token signing key after this many days (1 to 365) |
 * | `PROVISIONING_BILLING_WEBHOOK_SECRET_FILE` | (none) | the billing provider's webhook signing secret(s), one per line (two during a rotation); unset = the webhook answers 503 |
 * | `PROVISIONING_INVITATION_TTL_SECONDS` | `604800` | an invitation works once, until this long after it was sent (300 to 2592000) |
 * | `PROVISIONING_SMTP_URL` | (none) | `smtp://host:port` or `smtps://host:port` of the mail relay (SES's SMTP interface in production); unset = invitation e-mails are recorded as skipped |
 * | `PROVISIONING_SMTP_CREDENTIALS_FILE` | (none) | `username:password` for SMTP AUTH |
 * | `PROVISIONING_MAIL_FROM` | (required with the SMTP URL) | the From address of invitations |
 * | `PROVISIONING_CONSOLE_URL` | (required with the SMTP URL) | the web console's origin; invitation links point at `<it>/invitations/accept` |
 * | `PROVISIONING_CLICKHOUSE_URL` | (none) | the event store's HTTP(S) URL: each tenant's plan row (`tenant_plans`) is written there and an offboarded tenant's events and usage deleted; unset = those outbox effects fail and are retried (their `lastError` names this variable) until it is set |
 * | `PROVISIONING_CLICKHOUSE_USER` | `swarm_lifecycle` (`CLICKHOUSE_USERS.lifecycle`) | the event store's user |
 * | `PROVISIONING_CLICKHOUSE_PASSWORD_FILE` | (required with the URL) | path of the mounted file holding that user's password (read at start) |
 * | `PROVISIONING_CLICKHOUSE_CA_FILE` | (system roots) | PEM of the CA of an https:// URL (read at start) |
 * | `PROVISIONING_CLICKHOUSE_REPLICATED` | `true` | `true`: the cluster construct's replicated topology (deletions run `ON CLUSTER` on the per-shard tables); `false`: one server migrated without replication |
 * | `PROVISIONING_CLICKHOUSE_TIMEOUT_MS` | `60000` | one ClickHouse request (an insert, a deletion, a count) still running after this fails, and its effect is retried (1000 to 600000) |
 */
import { readFileSync } from "node:fs";
import type { ApiServerLimits } from "../../runtime/api-server.js";
import type { LevelWithSilent } from "pino";
import { envBoolean, envInteger, envText, type Env, type EnvFail } from "../../runtime/env.js";
import {
  httpUrlProblem,
  KEYCLOAK_REALM_PATTERN,
  KMS_KEY_ID_PATTERN,
  NATS_ACCOUNT_PUBLIC_KEY_PATTERN,
  PROVISIONING_DEFAULTS,
  PROVISIONING_ENV as V,
  PROVISIONING_ENV_VARS,
  PROVISIONING_LIMITS as L,
  PROVISIONING_LOG_LEVELS,
  type ProvisioningLogLevel,
} from "../contract.js";

export { PROVISIONING_DEFAULTS, PROVISIONING_ENV_VARS, PROVISIONING_LOG_LEVELS, type ProvisioningLogLevel };
/** The contract's levels are pino's (a type check only). */
PROVISIONING_LOG_LEVELS satisfies readonly LevelWithSilent[];

export type StoreConfig = { readonly kind: "lmdb"; readonly path: string } | { readonly kind: "fdb"; readonly clusterFile: string };
export type KeycloakConfig =
  | { readonly kind: "off" }
  | { readonly kind: "admin"; readonly url: string; readonly realm: string; readonly clientSecretFile: string };
export type DataKeyConfig =
  | { readonly kind: "kms"; readonly keyId: string; readonly region: string | undefined }
  | { readonly kind: "local"; readonly kekFile: string | undefined };

/** The event store (ClickHouse over HTTP) the outbox writes plan rows to and deletes offboarded tenants' rows from. */
export interface EventStoreConfig {
  readonly url: string;
  readonly username: string;
  /** Read from PROVISIONING_CLICKHOUSE_PASSWORD_FILE at start. */
  readonly password: string;
  /** PEM of the CA of an https:// URL (read at start); undefined = system roots. */
  readonly caPem: string | undefined;
  readonly replicated: boolean;
  readonly requestTimeoutMs: number;
}

export interface ProvisioningConfig {
  readonly httpPort: number;
  readonly logLevel: ProvisioningLogLevel;
  readonly bodyLimitBytes: number;
  readonly store: StoreConfig;
  /** Where a generated development KEK lives when neither KMS nor a KEK file is configured. */
  readonly lmdbPath: string;
  readonly oidc: { readonly issuer: string; readonly audience: string; readonly jwksUrl: string };
  readonly keycloak: KeycloakConfig;
  readonly dataKeys: DataKeyConfig;
  readonly nats: {
    readonly signingKeysDir: string | undefined;
    readonly account: string | undefined;
    /** Where tenant accounts are pushed; undefined = not pushed. */
    readonly push: { readonly url: string; readonly systemCredsFile: string; readonly tlsCaFile: string | undefined } | undefined;
    /** What the credentials answer tells agents: the NATS URLs and the PEM of their CA (read at start). */
    readonly public: { readonly servers: readonly string[]; readonly caFile: string | undefined };
    /** The service's platform-account user (jobs API, worker credentials); undefined = both off (503). */
    readonly platformCredsFile: string | undefined;
  };
  readonly credentialsTtlSeconds: number;
  readonly shutdownTimeoutMs: number;
  readonly http: HttpLimits;
  readonly tokens: { readonly issuer: string; readonly tenantTokenTtlSeconds: number; readonly rotationSeconds: number };
  readonly billingWebhookSecretFile: string | undefined;
  readonly invitationTtlSeconds: number;
  /** Where invitation e-mails go; undefined = not sent (recorded as skipped). */
  readonly mail: { readonly url: string; readonly credentialsFile: string | undefined; readonly from: string; readonly consoleUrl: string; readonly requireTls: boolean } | undefined;
  /** Where plan rows go and offboarded tenants' rows are deleted; undefined = nowhere (those effects fail and retry). */
  readonly eventStore: EventStoreConfig | undefined;
}

/** The HTTP server's bounds on slow or numerous clients (see the table above). */
export type HttpLimits = ApiServerLimits;

/** A configuration variable with a value the service cannot run with. */
export class ProvisioningConfigError extends Error {
  override readonly name = "ProvisioningConfigError";
  readonly code = "E_PROVISIONING_CONFIG";
  constructor(
    readonly variable: string,
    readonly value: string | undefined,
    problem: string,
    readonly fix: string,
  ) {
    super(`${variable} = ${value === undefined ? "(missing)" : JSON.stringify(value)} ${problem}. Fix: ${fix}.`);
  }
}

const fail: EnvFail = (variable, value, problem, fix) => {
  throw new ProvisioningConfigError(variable, value, problem, fix);
};
/** A whole-number variable of {@link PROVISIONING_LIMITS} (`PROVISIONING_LIMITS` in the contract). */
const integer = (env: Env, key: keyof typeof L, fallback: number): number => envInteger(env, V[key], fallback, L[key].min, L[key].max, fail);

function httpUrl(name: string, value: string): string {
  const problem = httpUrlProblem(value);
  if (problem !== undefined) {
    const fix = problem === "is not a URL" ? `set ${name} to an http(s) URL` : problem === "is not an http(s) URL" ? `set ${name} to an https:// URL` : `set ${name} without ? or #`;
    throw new ProvisioningConfigError(name, value, problem, fix);
  }
  return value.replace(/\/+$/, "");
}

/**
 * All options, from `env` (default `process.env`). Throws {@link ProvisioningConfigError} on the
 * first bad value. The smallest valid env is `{ PROVISIONING_OIDC_ISSUER, PROVISIONING_KEYCLOAK: "off" }`.
 */
export function loadProvisioningConfig(env: Env = process.env): ProvisioningConfig {
  const logLevel = (envText(env, V.logLevel) ?? PROVISIONING_DEFAULTS.logLevel) as ProvisioningLogLevel;
  if (!PROVISIONING_LOG_LEVELS.includes(logLevel)) {
    throw new ProvisioningConfigError(V.logLevel, logLevel, "is not a pino level", `use one of ${PROVISIONING_LOG_LEVELS.join(", ")}`);
  }
  const lmdbPath = envText(env, V.lmdbPath) ?? PROVISIONING_DEFAULTS.lmdbPath;
  const clusterFile = envText(env, V.fdbClusterFile);
  const store: StoreConfig = clusterFile ? { kind: "fdb", clusterFile } : { kind: "lmdb", path: lmdbPath };

  const issuerRaw = envText(env, V.oidcIssuer);
  if (issuerRaw === undefined) {
    throw new ProvisioningConfigError(V.oidcIssuer, undefined, "is required", "set it to the realm's issuer, e.g. https://auth.example.com/realms/enchanted");
  }
  const issuer = httpUrl(V.oidcIssuer, issuerRaw);
  const audience = envText(env, V.oidcAudience) ?? PROVISIONING_DEFAULTS.audience;
  const jwksRaw = envText(env, V.jwksUrl);
  const jwksUrl = jwksRaw ? httpUrl(V.jwksUrl, jwksRaw) : `${issuer}/protocol/openid-connect/certs`;

  const keycloakSwitch = (envText(env, V.keycloak) ?? "on").toLowerCase();
  if (keycloakSwitch !== "on" && keycloakSwitch !== "off") {
    throw new ProvisioningConfigError(V.keycloak, keycloakSwitch, "is neither on nor off", "unset it (on) or set off for local development without Keycloak");
  }
  let keycloak: KeycloakConfig = { kind: "off" };
  if (keycloakSwitch === "on") {
    const url = envText(env, V.keycloakUrl);
    if (!url) throw new ProvisioningConfigError(V.keycloakUrl, undefined, "is required", `set the Keycloak base URL (e.g. http://keycloak.keycloak:8080), or ${V.keycloak}=off for local development`);
    const secretFile = envText(env, V.keycloakClientSecretFile);
    if (!secretFile) throw new ProvisioningConfigError(V.keycloakClientSecretFile, undefined, "is required with Keycloak on", "mount the enchanted-provisioning client secret and set its path");
    const realm = envText(env, V.keycloakRealm) ?? PROVISIONING_DEFAULTS.realm;
    if (!KEYCLOAK_REALM_PATTERN.test(realm)) throw new ProvisioningConfigError(V.keycloakRealm, realm, "is not a realm name", "use letters, digits, '_' or '-'");
    keycloak = { kind: "admin", url: httpUrl(V.keycloakUrl, url), realm, clientSecretFile: secretFile };
  }

  const kmsKeyId = envText(env, V.kmsKeyId);
  const kekFile = envText(env, V.localKekFile);
  if (kmsKeyId && !KMS_KEY_ID_PATTERN.test(kmsKeyId)) {
    throw new ProvisioningConfigError(V.kmsKeyId, kmsKeyId, "is not a KMS key id, key ARN, alias or alias ARN", "set the tenant-key CMK's ARN or alias/<name>");
  }
  if (!kmsKeyId && !kekFile && store.kind === "fdb") {
    throw new ProvisioningConfigError(V.kmsKeyId, undefined, `is unset and so is ${V.localKekFile}, on a shared FoundationDB store`, `set ${V.kmsKeyId} (production) or ${V.localKekFile}`);
  }
  const dataKeys: DataKeyConfig = kmsKeyId ? { kind: "kms", keyId: kmsKeyId, region: envText(env, V.awsRegion) } : { kind: "local", kekFile };

  const signingKeysDir = envText(env, V.natsSigningKeysDir);
  const account = envText(env, V.natsAccount);
  if (account !== undefined && !NATS_ACCOUNT_PUBLIC_KEY_PATTERN.test(account)) {
    throw new ProvisioningConfigError(V.natsAccount, account, "is not an account public key", "set the platform account's public key (A…, 56 characters)");
  }
  if (signingKeysDir && !account) {
    throw new ProvisioningConfigError(V.natsAccount, undefined, `is required when ${V.natsSigningKeysDir} is set`, "set the platform account's public key (A…)");
  }

  const natsUrl = envText(env, V.natsUrl);
  let push: ProvisioningConfig["nats"]["push"];
  if (natsUrl) {
    if (!/^(nats|tls):\/\/[^\s/]+$/.test(natsUrl)) throw new ProvisioningConfigError(V.natsUrl, natsUrl, "is not a NATS URL", "set e.g. nats://nats.nats.svc.cluster.local:4222");
    const systemCredsFile = envText(env, V.natsSystemCredsFile);
    if (!systemCredsFile) throw new ProvisioningConfigError(V.natsSystemCredsFile, undefined, `is required when ${V.natsUrl} is set`, "mount the system account's push user creds (nats:bootstrap's system-user.creds) and set its path");
    if (!signingKeysDir || !account) throw new ProvisioningConfigError(V.natsSigningKeysDir, signingKeysDir, `is required when ${V.natsUrl} is set`, `mount the tier and account signing keys and set ${V.natsAccount}`);
    push = { url: natsUrl, systemCredsFile, tlsCaFile: envText(env, V.natsTlsCaFile) };
  }

  const headersTimeoutMs = integer(env, "headersTimeoutMs", PROVISIONING_DEFAULTS.headersTimeoutMs);
  const requestTimeoutMs = integer(env, "requestTimeoutMs", PROVISIONING_DEFAULTS.requestTimeoutMs);
  if (requestTimeoutMs < headersTimeoutMs) {
    throw new ProvisioningConfigError(
      V.requestTimeoutMs,
      String(requestTimeoutMs),
      `is below ${V.headersTimeoutMs} (${headersTimeoutMs}): the whole request cannot take less time than its headers`,
      `set ${V.requestTimeoutMs} to at least ${headersTimeoutMs}, or lower ${V.headersTimeoutMs}`,
    );
  }
  const http: HttpLimits = {
    headersTimeoutMs,
    requestTimeoutMs,
    idleTimeoutMs: integer(env, "idleTimeoutMs", PROVISIONING_DEFAULTS.idleTimeoutMs),
    maxConnections: integer(env, "maxConnections", PROVISIONING_DEFAULTS.maxConnections),
  };

  const tokenIssuerRaw = envText(env, V.tokenIssuer);
  if (tokenIssuerRaw === undefined) throw new ProvisioningConfigError(V.tokenIssuer, undefined, "is required", "set it to the public API's origin, e.g. https://api.example.com (the iss of the tenant tokens)");
  const tokenIssuer = httpUrl(V.tokenIssuer, tokenIssuerRaw);

  let mail: ProvisioningConfig["mail"];
  const smtpUrl = envText(env, V.smtpUrl);
  if (smtpUrl) {
    if (!/^smtps?:\/\/[^\s/?#]+\/?$/.test(smtpUrl)) throw new ProvisioningConfigError(V.smtpUrl, smtpUrl, "is not an SMTP URL", "set smtp://host:587 (STARTTLS) or smtps://host:465");
    const from = envText(env, V.mailFrom);
    if (!from || !/^[^\s@<>]+@[^\s@<>]+$/.test(from)) throw new ProvisioningConfigError(V.mailFrom, from, from ? "is not an e-mail address" : `is required when ${V.smtpUrl} is set`, "set the From address of invitations, e.g. no-reply@example.com");
    const consoleRaw = envText(env, V.consoleUrl);
    if (!consoleRaw) throw new ProvisioningConfigError(V.consoleUrl, undefined, `is required when ${V.smtpUrl} is set`, "set the web console's origin, e.g. https://app.example.com (invitation links point there)");
    const host = new URL(smtpUrl).hostname;
    mail = { url: smtpUrl, credentialsFile: envText(env, V.smtpCredentialsFile), from, consoleUrl: httpUrl(V.consoleUrl, consoleRaw), requireTls: host !== "127.0.0.1" && host !== "localhost" && host !== "::1" };
  }

  return {
    httpPort: integer(env, "httpPort", PROVISIONING_DEFAULTS.httpPort),
    logLevel,
    bodyLimitBytes: integer(env, "bodyLimitBytes", PROVISIONING_DEFAULTS.bodyLimitBytes),
    store,
    lmdbPath,
    oidc: { issuer, audience, jwksUrl },
    keycloak,
    dataKeys,
    nats: { signingKeysDir, account, push, public: publicNats(env, natsUrl), platformCredsFile: platformCreds(env, natsUrl) },
    credentialsTtlSeconds: integer(env, "credentialsTtlSeconds", PROVISIONING_DEFAULTS.credentialsTtlSeconds),
    shutdownTimeoutMs: integer(env, "shutdownTimeoutMs", PROVISIONING_DEFAULTS.shutdownTimeoutMs),
    http,
    tokens: {
      issuer: tokenIssuer,
      tenantTokenTtlSeconds: integer(env, "tenantTokenTtlSeconds", PROVISIONING_DEFAULTS.tenantTokenTtlSeconds),
      rotationSeconds: integer(env, "signingKeyRotationDays", PROVISIONING_DEFAULTS.signingKeyRotationDays) * 86_400,
    },
    billingWebhookSecretFile: envText(env, V.billingWebhookSecretFile),
    invitationTtlSeconds: integer(env, "invitationTtlSeconds", PROVISIONING_DEFAULTS.invitationTtlSeconds),
    mail,
    eventStore: eventStore(env),
  };
}

/** A mounted file's content, or the configuration error naming `variable` and what belongs there. */
function readMounted(variable: string, path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new ProvisioningConfigError(variable, path, `cannot be read (${(error as Error).message})`, `mount ${what} there, or point ${variable} at it`);
  }
}

/**
 * The `PROVISIONING_CLICKHOUSE_*` variables: all unset = no event store; the URL set = the
 * password file required; any of the others without the URL = an error (a half-configured
 * event store would silently write nowhere).
 */
function eventStore(env: Env): EventStoreConfig | undefined {
  const raw = envText(env, V.clickhouseUrl);
  if (raw === undefined) {
    for (const other of [V.clickhouseUser, V.clickhousePasswordFile, V.clickhouseCaFile, V.clickhouseReplicated, V.clickhouseTimeoutMs]) {
      const value = envText(env, other);
      if (value !== undefined) throw new ProvisioningConfigError(other, value, `is set without ${V.clickhouseUrl}`, `set ${V.clickhouseUrl} to the event store's URL (e.g. http://clickhouse-enchanted.clickhouse.svc.cluster.local:8123), or unset ${other}`);
    }
    return undefined;
  }
  const url = httpUrl(V.clickhouseUrl, raw);
  const passwordFile = envText(env, V.clickhousePasswordFile);
  if (passwordFile === undefined) {
    throw new ProvisioningConfigError(V.clickhousePasswordFile, undefined, `is required when ${V.clickhouseUrl} is set`, `mount the ${envText(env, V.clickhouseUser) ?? PROVISIONING_DEFAULTS.clickhouseUser} user's password and set its path`);
  }
  const password = readMounted(V.clickhousePasswordFile, passwordFile, "the ClickHouse user's password").trim();
  if (password === "") throw new ProvisioningConfigError(V.clickhousePasswordFile, passwordFile, "holds an empty password", "mount the file the event store's user password is synced to");
  const caFile = envText(env, V.clickhouseCaFile);
  let caPem: string | undefined;
  if (caFile !== undefined) {
    if (!url.startsWith("https://")) throw new ProvisioningConfigError(V.clickhouseCaFile, caFile, `is set, but ${V.clickhouseUrl} (${url}) is not https://`, `use an https:// URL, or unset ${V.clickhouseCaFile}`);
    caPem = readMounted(V.clickhouseCaFile, caFile, "the ClickHouse servers' CA certificate (PEM)");
    if (!caPem.includes("-----BEGIN CERTIFICATE-----")) throw new ProvisioningConfigError(V.clickhouseCaFile, caFile, "holds no PEM certificate", "mount the ClickHouse servers' CA certificate (PEM) there");
  }
  return {
    url,
    username: envText(env, V.clickhouseUser) ?? PROVISIONING_DEFAULTS.clickhouseUser,
    password,
    caPem,
    replicated: envBoolean(env, V.clickhouseReplicated, PROVISIONING_DEFAULTS.clickhouseReplicated === "true", fail),
    requestTimeoutMs: integer(env, "clickhouseTimeoutMs", PROVISIONING_DEFAULTS.clickhouseTimeoutMs),
  };
}

/** `PROVISIONING_NATS_PUBLIC_URLS` (default: the push URL) and `PROVISIONING_NATS_PUBLIC_CA_FILE` (default: the push CA). */
function publicNats(env: Env, natsUrl: string | undefined): ProvisioningConfig["nats"]["public"] {
  const raw = envText(env, V.natsPublicUrls);
  const servers = raw ? raw.split(",").map((u) => u.trim()) : natsUrl ? [natsUrl] : [];
  for (const url of servers) {
    if (!/^(nats|tls):\/\/[^\s/,]+$/.test(url)) throw new ProvisioningConfigError(V.natsPublicUrls, raw, `has ${JSON.stringify(url)}, not a NATS URL`, "set comma-separated URLs such as tls://nats.example.com:4222");
  }
  const caFile = envText(env, V.natsPublicCaFile) ?? envText(env, V.natsTlsCaFile);
  if (caFile) {
    let pem = "";
    try {
      pem = readFileSync(caFile, "utf8");
    } catch (error) {
      throw new ProvisioningConfigError(V.natsPublicCaFile, caFile, `cannot be read (${(error as Error).message})`, "mount the NATS servers' CA certificate (PEM) there");
    }
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new ProvisioningConfigError(V.natsPublicCaFile, caFile, "holds no PEM certificate", "mount the NATS servers' CA certificate (PEM) there");
  }
  return { servers, caFile };
}

/** `PROVISIONING_NATS_PLATFORM_CREDS_FILE`: needs `PROVISIONING_NATS_URL`. */
function platformCreds(env: Env, natsUrl: string | undefined): string | undefined {
  const file = envText(env, V.natsPlatformCredsFile);
  if (file && !natsUrl) throw new ProvisioningConfigError(V.natsPlatformCredsFile, file, `needs ${V.natsUrl}`, `set ${V.natsUrl} to the NATS servers the jobs are published to`);
  return file;
}

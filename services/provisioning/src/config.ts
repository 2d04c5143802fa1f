/**
 * The provisioning service's configuration: every option read from the environment in ONE
 * function, {@link loadProvisioningConfig}, validated at start. A bad value stops the service with
 * a {@link ProvisioningConfigError} naming the variable, the value and the fix. The Kubernetes
 * construct sets exactly these variables (and reads {@link PROVISIONING_DEFAULTS}).
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
 * | `PROVISIONING_NATS_SIGNING_KEYS_DIR` | (none) | directory with `<tier>.seed` per plan tier (the SWARM account's scoped signing key seeds); unset = minting answers 503 |
 * | `PROVISIONING_NATS_ACCOUNT` | (required with the signing keys) | public key (`A…`) of the SWARM account |
 * | `PROVISIONING_CREDENTIALS_TTL_SECONDS` | `3600` | lifetime of minted bus credentials: short, so that non-renewal ends access quickly |
 * | `PROVISIONING_SHUTDOWN_TIMEOUT_MS` | `15000` | SIGTERM: finish requests in flight and the outbox batch within this, else exit 1 |
 */
import type { LevelWithSilent } from "pino";
import { API_AUDIENCE, REALM_NAME } from "../../keycloak-realm/names.js";
import { envInteger, envText, type Env, type EnvFail } from "../../runtime/env.js";

export const PROVISIONING_LOG_LEVELS = ["silent", "fatal", "error", "warn", "info", "debug", "trace"] as const satisfies readonly LevelWithSilent[];
export type ProvisioningLogLevel = (typeof PROVISIONING_LOG_LEVELS)[number];

/** Defaults, for the construct (port, probes) and for {@link loadProvisioningConfig}. */
export const PROVISIONING_DEFAULTS = {
  httpPort: 8080,
  logLevel: "info",
  bodyLimitBytes: 16_384,
  lmdbPath: "./.data/provisioning",
  audience: API_AUDIENCE,
  realm: REALM_NAME,
  credentialsTtlSeconds: 3_600,
  shutdownTimeoutMs: 15_000,
  healthPath: "/healthz",
  readyPath: "/readyz",
  metricsPath: "/metrics",
} as const;

/** Every variable {@link loadProvisioningConfig} reads (the construct sets only these). */
export const PROVISIONING_ENV_VARS = [
  "PROVISIONING_HTTP_PORT",
  "PROVISIONING_LOG_LEVEL",
  "PROVISIONING_BODY_LIMIT_BYTES",
  "PROVISIONING_LMDB_PATH",
  "PROVISIONING_FDB_CLUSTER_FILE",
  "PROVISIONING_OIDC_ISSUER",
  "PROVISIONING_OIDC_AUDIENCE",
  "PROVISIONING_JWKS_URL",
  "PROVISIONING_KEYCLOAK",
  "PROVISIONING_KEYCLOAK_URL",
  "PROVISIONING_KEYCLOAK_REALM",
  "PROVISIONING_KEYCLOAK_CLIENT_SECRET_FILE",
  "PROVISIONING_KMS_KEY_ID",
  "PROVISIONING_AWS_REGION",
  "PROVISIONING_LOCAL_KEK_FILE",
  "PROVISIONING_NATS_SIGNING_KEYS_DIR",
  "PROVISIONING_NATS_ACCOUNT",
  "PROVISIONING_CREDENTIALS_TTL_SECONDS",
  "PROVISIONING_SHUTDOWN_TIMEOUT_MS",
] as const;

export type StoreConfig = { readonly kind: "lmdb"; readonly path: string } | { readonly kind: "fdb"; readonly clusterFile: string };
export type KeycloakConfig =
  | { readonly kind: "off" }
  | { readonly kind: "admin"; readonly url: string; readonly realm: string; readonly clientSecretFile: string };
export type DataKeyConfig =
  | { readonly kind: "kms"; readonly keyId: string; readonly region: string | undefined }
  | { readonly kind: "local"; readonly kekFile: string | undefined };

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
  readonly nats: { readonly signingKeysDir: string | undefined; readonly account: string | undefined };
  readonly credentialsTtlSeconds: number;
  readonly shutdownTimeoutMs: number;
}

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
const integer = (env: Env, name: string, fallback: number, min: number, max: number): number => envInteger(env, name, fallback, min, max, fail);

function httpUrl(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ProvisioningConfigError(name, value, "is not a URL", `set ${name} to an http(s) URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ProvisioningConfigError(name, value, "is not an http(s) URL", `set ${name} to an https:// URL`);
  }
  if (url.search || url.hash) throw new ProvisioningConfigError(name, value, "carries a query or fragment", `set ${name} without ? or #`);
  return value.replace(/\/+$/, "");
}

/**
 * All options, from `env` (default `process.env`). Throws {@link ProvisioningConfigError} on the
 * first bad value. The smallest valid env is `{ PROVISIONING_OIDC_ISSUER, PROVISIONING_KEYCLOAK: "off" }`.
 */
export function loadProvisioningConfig(env: Env = process.env): ProvisioningConfig {
  const logLevel = (envText(env, "PROVISIONING_LOG_LEVEL") ?? PROVISIONING_DEFAULTS.logLevel) as ProvisioningLogLevel;
  if (!PROVISIONING_LOG_LEVELS.includes(logLevel)) {
    throw new ProvisioningConfigError("PROVISIONING_LOG_LEVEL", logLevel, "is not a pino level", `use one of ${PROVISIONING_LOG_LEVELS.join(", ")}`);
  }
  const lmdbPath = envText(env, "PROVISIONING_LMDB_PATH") ?? PROVISIONING_DEFAULTS.lmdbPath;
  const clusterFile = envText(env, "PROVISIONING_FDB_CLUSTER_FILE");
  const store: StoreConfig = clusterFile ? { kind: "fdb", clusterFile } : { kind: "lmdb", path: lmdbPath };

  const issuerRaw = envText(env, "PROVISIONING_OIDC_ISSUER");
  if (issuerRaw === undefined) {
    throw new ProvisioningConfigError("PROVISIONING_OIDC_ISSUER", undefined, "is required", "set it to the realm's issuer, e.g. https://auth.example.com/realms/enchanted");
  }
  const issuer = httpUrl("PROVISIONING_OIDC_ISSUER", issuerRaw);
  const audience = envText(env, "PROVISIONING_OIDC_AUDIENCE") ?? PROVISIONING_DEFAULTS.audience;
  const jwksRaw = envText(env, "PROVISIONING_JWKS_URL");
  const jwksUrl = jwksRaw ? httpUrl("PROVISIONING_JWKS_URL", jwksRaw) : `${issuer}/protocol/openid-connect/certs`;

  const keycloakSwitch = (envText(env, "PROVISIONING_KEYCLOAK") ?? "on").toLowerCase();
  if (keycloakSwitch !== "on" && keycloakSwitch !== "off") {
    throw new ProvisioningConfigError("PROVISIONING_KEYCLOAK", keycloakSwitch, "is neither on nor off", "unset it (on) or set off for local development without Keycloak");
  }
  let keycloak: KeycloakConfig = { kind: "off" };
  if (keycloakSwitch === "on") {
    const url = envText(env, "PROVISIONING_KEYCLOAK_URL");
    if (!url) throw new ProvisioningConfigError("PROVISIONING_KEYCLOAK_URL", undefined, "is required", "set the Keycloak base URL (e.g. http://keycloak.keycloak:8080), or PROVISIONING_KEYCLOAK=off for local development");
    const secretFile = envText(env, "PROVISIONING_KEYCLOAK_CLIENT_SECRET_FILE");
    if (!secretFile) throw new ProvisioningConfigError("PROVISIONING_KEYCLOAK_CLIENT_SECRET_FILE", undefined, "is required with Keycloak on", "mount the enchanted-provisioning client secret and set its path");
    const realm = envText(env, "PROVISIONING_KEYCLOAK_REALM") ?? PROVISIONING_DEFAULTS.realm;
    if (!/^[A-Za-z0-9_-]{1,100}$/.test(realm)) throw new ProvisioningConfigError("PROVISIONING_KEYCLOAK_REALM", realm, "is not a realm name", "use letters, digits, '_' or '-'");
    keycloak = { kind: "admin", url: httpUrl("PROVISIONING_KEYCLOAK_URL", url), realm, clientSecretFile: secretFile };
  }

  const kmsKeyId = envText(env, "PROVISIONING_KMS_KEY_ID");
  const kekFile = envText(env, "PROVISIONING_LOCAL_KEK_FILE");
  if (kmsKeyId && !/^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]+|alias\/[A-Za-z0-9/_-]+|[0-9a-f-]{36})$/.test(kmsKeyId)) {
    throw new ProvisioningConfigError("PROVISIONING_KMS_KEY_ID", kmsKeyId, "is not a KMS key id, key ARN, alias or alias ARN", "set the tenant-key CMK's ARN or alias/<name>");
  }
  if (!kmsKeyId && !kekFile && store.kind === "fdb") {
    throw new ProvisioningConfigError("PROVISIONING_KMS_KEY_ID", undefined, "is unset and so is PROVISIONING_LOCAL_KEK_FILE, on a shared FoundationDB store", "set PROVISIONING_KMS_KEY_ID (production) or PROVISIONING_LOCAL_KEK_FILE");
  }
  const dataKeys: DataKeyConfig = kmsKeyId ? { kind: "kms", keyId: kmsKeyId, region: envText(env, "PROVISIONING_AWS_REGION") } : { kind: "local", kekFile };

  const signingKeysDir = envText(env, "PROVISIONING_NATS_SIGNING_KEYS_DIR");
  const account = envText(env, "PROVISIONING_NATS_ACCOUNT");
  if (account !== undefined && !/^A[A-Z2-7]{55}$/.test(account)) {
    throw new ProvisioningConfigError("PROVISIONING_NATS_ACCOUNT", account, "is not an account public key", "set the SWARM account's public key (A…, 56 characters)");
  }
  if (signingKeysDir && !account) {
    throw new ProvisioningConfigError("PROVISIONING_NATS_ACCOUNT", undefined, "is required when PROVISIONING_NATS_SIGNING_KEYS_DIR is set", "set the SWARM account's public key (A…)");
  }

  return {
    httpPort: integer(env, "PROVISIONING_HTTP_PORT", PROVISIONING_DEFAULTS.httpPort, 0, 65_535),
    logLevel,
    bodyLimitBytes: integer(env, "PROVISIONING_BODY_LIMIT_BYTES", PROVISIONING_DEFAULTS.bodyLimitBytes, 256, 1_048_576),
    store,
    lmdbPath,
    oidc: { issuer, audience, jwksUrl },
    keycloak,
    dataKeys,
    nats: { signingKeysDir, account },
    credentialsTtlSeconds: integer(env, "PROVISIONING_CREDENTIALS_TTL_SECONDS", PROVISIONING_DEFAULTS.credentialsTtlSeconds, 60, 86_400),
    shutdownTimeoutMs: integer(env, "PROVISIONING_SHUTDOWN_TIMEOUT_MS", PROVISIONING_DEFAULTS.shutdownTimeoutMs, 100, 600_000),
  };
}

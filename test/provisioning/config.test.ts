/** The configuration loader: defaults, the exact variable names, errors naming variable, value and fix. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLICKHOUSE_USERS } from "../../services/clickhouse-schema/names.js";
import { API_AUDIENCE, REALM_NAME } from "../../services/keycloak-realm/names.js";
import { loadProvisioningConfig, PROVISIONING_DEFAULTS, PROVISIONING_ENV_VARS, ProvisioningConfigError } from "../../services/provisioning/src/config.js";
import { KmsProvider } from "../../services/provisioning/src/datakeys.js";

const minimal = { PROVISIONING_OIDC_ISSUER: "https://auth.example.com/realms/enchanted", PROVISIONING_TOKEN_ISSUER: "https://api.example.com", PROVISIONING_KEYCLOAK: "off" };

describe("loadProvisioningConfig", () => {
  it("works with a minimal env and applies the documented defaults", () => {
    const c = loadProvisioningConfig(minimal);
    expect(c.httpPort).toBe(8080);
    expect(PROVISIONING_DEFAULTS.httpPort).toBe(8080);
    expect(c.bodyLimitBytes).toBe(16_384);
    expect(c.store).toEqual({ kind: "lmdb", path: "./.data/provisioning" });
    expect(c.oidc).toEqual({ issuer: minimal.PROVISIONING_OIDC_ISSUER, audience: API_AUDIENCE, jwksUrl: `${minimal.PROVISIONING_OIDC_ISSUER}/protocol/openid-connect/certs` });
    expect(c.keycloak).toEqual({ kind: "off" });
    expect(c.dataKeys).toEqual({ kind: "local", kekFile: undefined });
    expect(c.credentialsTtlSeconds).toBe(3_600);
    expect(c.http).toEqual({ headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, idleTimeoutMs: 72_000, maxConnections: 1_024 });
    expect(c.tokens).toEqual({ issuer: "https://api.example.com", tenantTokenTtlSeconds: 300, rotationSeconds: 30 * 86_400 });
    expect(c.invitationTtlSeconds).toBe(7 * 86_400);
    expect(c.mail).toBeUndefined();
    expect(c.billingWebhookSecretFile).toBeUndefined();
    expect(c.eventStore).toBeUndefined();
  });

  it("reads the event store's variables: the lifecycle user, its password and CA from their files, the replicated topology by default", () => {
    const dir = mkdtempSync(join(tmpdir(), "provisioning-config-"));
    try {
      writeFileSync(join(dir, "password"), "s3cret-from-the-secret\n");
      writeFileSync(join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
      const url = "http://clickhouse-enchanted.clickhouse.svc.cluster.local:8123";
      const defaults = loadProvisioningConfig({ ...minimal, PROVISIONING_CLICKHOUSE_URL: url, PROVISIONING_CLICKHOUSE_PASSWORD_FILE: join(dir, "password") });
      expect(defaults.eventStore).toEqual({ url, username: CLICKHOUSE_USERS.lifecycle, password: "s3cret-from-the-secret", caPem: undefined, replicated: true, requestTimeoutMs: 60_000 });
      const all = loadProvisioningConfig({
        ...minimal,
        PROVISIONING_CLICKHOUSE_URL: "https://clickhouse.example.com:8443/",
        PROVISIONING_CLICKHOUSE_USER: "lifecycle_2",
        PROVISIONING_CLICKHOUSE_PASSWORD_FILE: join(dir, "password"),
        PROVISIONING_CLICKHOUSE_CA_FILE: join(dir, "ca.pem"),
        PROVISIONING_CLICKHOUSE_REPLICATED: "false",
        PROVISIONING_CLICKHOUSE_TIMEOUT_MS: "5000",
      });
      expect(all.eventStore).toMatchObject({ url: "https://clickhouse.example.com:8443", username: "lifecycle_2", replicated: false, requestTimeoutMs: 5_000, caPem: expect.stringContaining("BEGIN CERTIFICATE") });

      const bad: [Record<string, string>, string, RegExp][] = [
        [{ PROVISIONING_CLICKHOUSE_URL: url }, "PROVISIONING_CLICKHOUSE_PASSWORD_FILE", /is required/],
        [{ PROVISIONING_CLICKHOUSE_URL: url, PROVISIONING_CLICKHOUSE_PASSWORD_FILE: join(dir, "missing") }, "PROVISIONING_CLICKHOUSE_PASSWORD_FILE", /cannot be read/],
        [{ PROVISIONING_CLICKHOUSE_URL: "clickhouse:8123", PROVISIONING_CLICKHOUSE_PASSWORD_FILE: join(dir, "password") }, "PROVISIONING_CLICKHOUSE_URL", /not a URL|not an http/],
        [{ PROVISIONING_CLICKHOUSE_URL: url, PROVISIONING_CLICKHOUSE_PASSWORD_FILE: join(dir, "password"), PROVISIONING_CLICKHOUSE_CA_FILE: join(dir, "ca.pem") }, "PROVISIONING_CLICKHOUSE_CA_FILE", /not https/],
        [{ PROVISIONING_CLICKHOUSE_URL: "https://ch:8443", PROVISIONING_CLICKHOUSE_PASSWORD_FILE: join(dir, "password"), PROVISIONING_CLICKHOUSE_CA_FILE: join(dir, "password") }, "PROVISIONING_CLICKHOUSE_CA_FILE", /no PEM/],
        [{ PROVISIONING_CLICKHOUSE_URL: url, PROVISIONING_CLICKHOUSE_PASSWORD_FILE: join(dir, "password"), PROVISIONING_CLICKHOUSE_REPLICATED: "yes" }, "PROVISIONING_CLICKHOUSE_REPLICATED", /not a boolean/],
        [{ PROVISIONING_CLICKHOUSE_URL: url, PROVISIONING_CLICKHOUSE_PASSWORD_FILE: join(dir, "password"), PROVISIONING_CLICKHOUSE_TIMEOUT_MS: "100" }, "PROVISIONING_CLICKHOUSE_TIMEOUT_MS", /1000 to 600000/],
        // A half-configured event store would write nowhere: every other variable needs the URL.
        [{ PROVISIONING_CLICKHOUSE_PASSWORD_FILE: join(dir, "password") }, "PROVISIONING_CLICKHOUSE_PASSWORD_FILE", /without PROVISIONING_CLICKHOUSE_URL/],
        [{ PROVISIONING_CLICKHOUSE_USER: "swarm_lifecycle" }, "PROVISIONING_CLICKHOUSE_USER", /without PROVISIONING_CLICKHOUSE_URL/],
      ];
      for (const [env, variable, problem] of bad) {
        let error: unknown;
        try {
          loadProvisioningConfig({ ...minimal, ...env });
        } catch (e) {
          error = e;
        }
        expect(error, variable).toBeInstanceOf(ProvisioningConfigError);
        expect((error as ProvisioningConfigError).variable, JSON.stringify(env)).toBe(variable);
        expect((error as Error).message).toMatch(problem);
        expect((error as Error).message).toMatch(/Fix: /);
        expect((error as Error).message).not.toContain("s3cret");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads every documented variable", () => {
    const c = loadProvisioningConfig({
      PROVISIONING_HTTP_PORT: "9090",
      PROVISIONING_LOG_LEVEL: "debug",
      PROVISIONING_BODY_LIMIT_BYTES: "4096",
      PROVISIONING_FDB_CLUSTER_FILE: "/etc/foundationdb/fdb.cluster",
      PROVISIONING_OIDC_ISSUER: "https://auth.example.com/realms/enchanted",
      PROVISIONING_OIDC_AUDIENCE: "api",
      PROVISIONING_JWKS_URL: "http://keycloak:8080/realms/enchanted/protocol/openid-connect/certs",
      PROVISIONING_KEYCLOAK_URL: "http://keycloak.keycloak:8080",
      PROVISIONING_KEYCLOAK_CLIENT_SECRET_FILE: "/var/run/secrets/provisioning/client-secret",
      PROVISIONING_KMS_KEY_ID: "arn:aws:kms:eu-central-1:123456789012:alias/tenant-keys",
      PROVISIONING_AWS_REGION: "eu-central-1",
      PROVISIONING_NATS_SIGNING_KEYS_DIR: "/var/run/secrets/nats-signing-keys",
      PROVISIONING_NATS_ACCOUNT: `A${"B".repeat(55)}`,
      PROVISIONING_CREDENTIALS_TTL_SECONDS: "900",
      PROVISIONING_SHUTDOWN_TIMEOUT_MS: "20000",
      PROVISIONING_HEADERS_TIMEOUT_MS: "5000",
      PROVISIONING_REQUEST_TIMEOUT_MS: "15000",
      PROVISIONING_IDLE_TIMEOUT_MS: "65000",
      PROVISIONING_MAX_CONNECTIONS: "256",
      PROVISIONING_TOKEN_ISSUER: "https://api.example.com/",
      PROVISIONING_TENANT_TOKEN_TTL_SECONDS: "120",
      PROVISIONING_SIGNING_KEY_ROTATION_DAYS: "7",
      PROVISIONING_BILLING_WEBHOOK_SECRET_FILE: "/var/run/secrets/billing/webhook-secret",
      PROVISIONING_INVITATION_TTL_SECONDS: "86400",
      PROVISIONING_SMTP_URL: "smtp://email-smtp.eu-central-1.amazonaws.com:587",
      PROVISIONING_SMTP_CREDENTIALS_FILE: "/var/run/secrets/smtp/credentials",
      PROVISIONING_MAIL_FROM: "no-reply@example.com",
      PROVISIONING_CONSOLE_URL: "https://app.example.com",
    });
    expect(c.tokens).toEqual({ issuer: "https://api.example.com", tenantTokenTtlSeconds: 120, rotationSeconds: 7 * 86_400 });
    expect(c.mail).toEqual({ url: "smtp://email-smtp.eu-central-1.amazonaws.com:587", credentialsFile: "/var/run/secrets/smtp/credentials", from: "no-reply@example.com", consoleUrl: "https://app.example.com", requireTls: true });
    expect(c).toMatchObject({ billingWebhookSecretFile: "/var/run/secrets/billing/webhook-secret", invitationTtlSeconds: 86_400 });
    expect(c.http).toEqual({ headersTimeoutMs: 5_000, requestTimeoutMs: 15_000, idleTimeoutMs: 65_000, maxConnections: 256 });
    expect(c.store).toEqual({ kind: "fdb", clusterFile: "/etc/foundationdb/fdb.cluster" });
    expect(c.keycloak).toEqual({ kind: "admin", url: "http://keycloak.keycloak:8080", realm: REALM_NAME, clientSecretFile: "/var/run/secrets/provisioning/client-secret" });
    expect(c.dataKeys).toEqual({ kind: "kms", keyId: "arn:aws:kms:eu-central-1:123456789012:alias/tenant-keys", region: "eu-central-1" });
    expect(c).toMatchObject({ httpPort: 9090, logLevel: "debug", bodyLimitBytes: 4096, credentialsTtlSeconds: 900, shutdownTimeoutMs: 20_000 });
    expect(PROVISIONING_ENV_VARS).toContain("PROVISIONING_NATS_SIGNING_KEYS_DIR");
  });

  it("names variable, value and fix on a bad value", () => {
    const bad: [Record<string, string>, string][] = [
      [{}, "PROVISIONING_OIDC_ISSUER"],
      [{ ...minimal, PROVISIONING_HTTP_PORT: "http" }, "PROVISIONING_HTTP_PORT"],
      [{ ...minimal, PROVISIONING_KEYCLOAK: "maybe" }, "PROVISIONING_KEYCLOAK"],
      [{ PROVISIONING_OIDC_ISSUER: minimal.PROVISIONING_OIDC_ISSUER, PROVISIONING_TOKEN_ISSUER: minimal.PROVISIONING_TOKEN_ISSUER }, "PROVISIONING_KEYCLOAK_URL"],
      [{ PROVISIONING_OIDC_ISSUER: minimal.PROVISIONING_OIDC_ISSUER, PROVISIONING_KEYCLOAK: "off" }, "PROVISIONING_TOKEN_ISSUER"],
      [{ ...minimal, PROVISIONING_TENANT_TOKEN_TTL_SECONDS: "3600" }, "PROVISIONING_TENANT_TOKEN_TTL_SECONDS"],
      [{ ...minimal, PROVISIONING_SMTP_URL: "http://mail" }, "PROVISIONING_SMTP_URL"],
      [{ ...minimal, PROVISIONING_SMTP_URL: "smtp://mail:25" }, "PROVISIONING_MAIL_FROM"],
      [{ ...minimal, PROVISIONING_SMTP_URL: "smtp://mail:25", PROVISIONING_MAIL_FROM: "a@b.c" }, "PROVISIONING_CONSOLE_URL"],
      [{ ...minimal, PROVISIONING_INVITATION_TTL_SECONDS: "10" }, "PROVISIONING_INVITATION_TTL_SECONDS"],
      [{ ...minimal, PROVISIONING_KMS_KEY_ID: "my key" }, "PROVISIONING_KMS_KEY_ID"],
      [{ ...minimal, PROVISIONING_NATS_SIGNING_KEYS_DIR: "/keys" }, "PROVISIONING_NATS_ACCOUNT"],
      [{ ...minimal, PROVISIONING_FDB_CLUSTER_FILE: "/fdb.cluster" }, "PROVISIONING_KMS_KEY_ID"],
      [{ ...minimal, PROVISIONING_OIDC_ISSUER: "ftp://x" }, "PROVISIONING_OIDC_ISSUER"],
      [{ ...minimal, PROVISIONING_HEADERS_TIMEOUT_MS: "0" }, "PROVISIONING_HEADERS_TIMEOUT_MS"],
      [{ ...minimal, PROVISIONING_REQUEST_TIMEOUT_MS: "900000" }, "PROVISIONING_REQUEST_TIMEOUT_MS"],
      [{ ...minimal, PROVISIONING_HEADERS_TIMEOUT_MS: "20000", PROVISIONING_REQUEST_TIMEOUT_MS: "10000" }, "PROVISIONING_REQUEST_TIMEOUT_MS"],
      [{ ...minimal, PROVISIONING_IDLE_TIMEOUT_MS: "forever" }, "PROVISIONING_IDLE_TIMEOUT_MS"],
      [{ ...minimal, PROVISIONING_MAX_CONNECTIONS: "0" }, "PROVISIONING_MAX_CONNECTIONS"],
    ];
    for (const [env, variable] of bad) {
      let error: unknown;
      try {
        loadProvisioningConfig(env);
      } catch (e) {
        error = e;
      }
      expect(error, variable).toBeInstanceOf(ProvisioningConfigError);
      expect((error as ProvisioningConfigError).variable).toBe(variable);
      expect((error as Error).message).toMatch(/Fix: /);
    }
  });
});

describe("KMS data keys", () => {
  it("stores only the CiphertextBlob of GenerateDataKey, with the tenant as encryption context, and zeroes the plaintext", async () => {
    const plaintext = new Uint8Array(32).fill(9);
    const seen: unknown[] = [];
    const provider = new KmsProvider(
      { send: async (cmd) => (seen.push(cmd), { CiphertextBlob: new Uint8Array([1, 2, 3]), Plaintext: plaintext, KeyId: "arn:aws:kms:eu-central-1:123456789012:key/abc" }) },
      "alias/tenant-keys",
      { generateDataKey: (input) => input, decrypt: (input) => input },
    );
    const wrapped = await provider.generate("t123");
    expect(seen).toEqual([{ KeyId: "alias/tenant-keys", KeySpec: "AES_256", EncryptionContext: { tenant_id: "t123" } }]);
    expect(wrapped).toMatchObject({ provider: "kms", ciphertext: Buffer.from([1, 2, 3]).toString("base64") });
    expect(JSON.stringify(wrapped)).not.toContain(Buffer.from(new Uint8Array(32).fill(9)).toString("base64"));
    expect([...plaintext].every((b) => b === 0)).toBe(true);
  });

  it("wraps platform secrets (signing and invitation keys) under the CMK with their purpose as encryption context (KMS stubbed: no AWS here)", async () => {
    const seen: Record<string, unknown>[] = [];
    const plaintext = new Uint8Array(32).fill(7);
    const provider = new KmsProvider(
      {
        send: async (cmd) => {
          const c = cmd as Record<string, unknown>;
          seen.push(c);
          return "KeySpec" in c ? { CiphertextBlob: new Uint8Array([4, 5, 6]), Plaintext: plaintext.slice(), KeyId: "arn:aws:kms:eu-central-1:123456789012:key/abc" } : { Plaintext: plaintext.slice() };
        },
      },
      "alias/tenant-keys",
      { generateDataKey: (input) => input, decrypt: (input) => input },
    );
    const made = await provider.generateSecret("tenant-token-signing");
    expect(made.wrapped).toMatchObject({ provider: "kms", keyId: "arn:aws:kms:eu-central-1:123456789012:key/abc", ciphertext: Buffer.from([4, 5, 6]).toString("base64") });
    expect(await provider.unwrapSecret("tenant-token-signing", made.wrapped)).toEqual(Buffer.from(plaintext));
    expect(seen).toEqual([
      { KeyId: "alias/tenant-keys", KeySpec: "AES_256", EncryptionContext: { platform_key: "tenant-token-signing" } },
      { KeyId: "arn:aws:kms:eu-central-1:123456789012:key/abc", CiphertextBlob: Buffer.from([4, 5, 6]), EncryptionContext: { platform_key: "tenant-token-signing" } },
    ]);
  });

  it("spells no variable name of its own: every one comes from the service's contract", () => {
    const source = readFileSync(new URL("../../services/provisioning/src/config.ts", import.meta.url), "utf8");
    expect(source).not.toMatch(/"PROVISIONING_[A-Z_]+"/);
    expect(source).toContain('from "../contract.js"');
  });
});

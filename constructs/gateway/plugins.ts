/**
 * The global KongClusterPlugins every route runs (pure, for tests), so no route can be published
 * without them:
 * - `correlation-id` (bundled): `X-Request-Id`;
 * - `jwt` (bundled): RS256 signature against the Keycloak realm's key (ONE consumer for the realm),
 *   `exp` and `nbf`, a maximum lifetime;
 * - `tenant-gate` (services/kong-plugins/tenant-gate): `alg`, `iss`, `aud`, `typ` again, the tenant
 *   and tier from the VERIFIED claims, client tenant headers stripped, the tier's body limit,
 *   per-tenant second/minute/hour limits from the tier catalog (local or Redis counters);
 * - `request-size-limiting` (bundled): the global body cap.
 * Nothing here is per tenant: the config is O(tiers).
 */
import { Token } from "cdktf";
import type { TierCatalog } from "../../config/tiers.js";
import { TENANT_GATE_PLUGIN, tenantGateConfig } from "../../services/kong-plugins/tenant-gate.js";
import { propFail, type PropScope } from "../core/validation.js";
import { CORRELATION_ID_HEADER, KONG_INGRESS_CLASS, KONG_NAMESPACE, KONG_PLUGIN_NAMES, KONG_SECRETS } from "./names.js";
import type { IKongGateway } from "./gateway.js";

const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 3600;

export interface KongGlobalPluginsProps {
  readonly tiers: TierCatalog;
  /** The gateway's counters (and Redis endpoint) and body cap. */
  readonly gateway: Pick<IKongGateway, "counters" | "redisHost" | "maxRequestBodyKiB">;
  /** The realm's issuer, `https://<auth domain>/realms/<realm>` (Keycloak's `iss`). */
  readonly issuer: string;
  /** The audience the API's access tokens carry (Keycloak audience mapper). */
  readonly audience: string;
  /** Longest token lifetime accepted (`exp` - now), the jwt plugin's `maximum_expiration`. @default 3600 */
  readonly maxTokenLifetimeSeconds?: number;
}

/** A KongClusterPlugin, global (every route), as synthesized. */
export interface KongClusterPluginManifest {
  readonly apiVersion: "configuration.konghq.com/v1";
  readonly kind: "KongClusterPlugin";
  readonly metadata: { readonly name: string; readonly labels: Record<string, string>; readonly annotations: Record<string, string> };
  readonly plugin: string;
  readonly protocols: readonly string[];
  readonly config: Record<string, unknown>;
  readonly configPatches?: readonly unknown[];
}

/**
 * The global plugins every route runs (pure, for tests). `scope` names the caller in errors (a
 * construct, or this builder's name).
 */
export function kongGlobalPlugins(props: KongGlobalPluginsProps, scope: PropScope = "kongGlobalPlugins"): KongClusterPluginManifest[] {
  const fail = propFail(scope);
  const maxLifetime = props.maxTokenLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;
  if (!Number.isInteger(maxLifetime) || maxLifetime < 60 || maxLifetime > 86_400) {
    fail("maxTokenLifetimeSeconds", maxLifetime, "must be 60 to 86400", "match the realm's access token lifespan (default 300) with some slack");
  }
  if (!/^https:\/\/[^/]+\/realms\/[^/]+$/.test(props.issuer) && !Token.isUnresolved(props.issuer)) {
    fail("issuer", props.issuer, "is not a Keycloak realm issuer", 'use "https://<auth domain>/realms/<realm>"');
  }
  const g = props.gateway;
  if (g.counters === "redis" && !g.redisHost) {
    fail("gateway.redisHost", g.redisHost, "is missing: the gateway counts in Redis but has no redisHost", "pass the KongGateway built with redis props");
  }
  const plugin = (name: string, kongPlugin: string, config: Record<string, unknown>, extra: Record<string, unknown> = {}): KongClusterPluginManifest => ({
    apiVersion: "configuration.konghq.com/v1",
    kind: "KongClusterPlugin",
    metadata: { name, labels: { global: "true" }, annotations: { "kubernetes.io/ingress.class": KONG_INGRESS_CLASS } },
    plugin: kongPlugin,
    protocols: ["http", "https"],
    config,
    ...extra,
  });
  return [
    plugin(KONG_PLUGIN_NAMES.correlationId, "correlation-id", { header_name: CORRELATION_ID_HEADER, generator: "uuid#counter", echo_downstream: true }),
    plugin(KONG_PLUGIN_NAMES.jwt, "jwt", {
      // The realm's credential is found by the token's `iss`; its algorithm is RS256 only.
      key_claim_name: "iss",
      claims_to_verify: ["exp", "nbf"],
      maximum_expiration: maxLifetime,
      header_names: ["authorization"],
      // Tokens only in the Authorization header: never in URLs (logs) or cookies (CSRF).
      uri_param_names: [],
      cookie_names: [],
      secret_is_base64: false,
      run_on_preflight: true,
    }),
    plugin(
      KONG_PLUGIN_NAMES.tenantGate,
      TENANT_GATE_PLUGIN,
      tenantGateConfig({
        tiers: props.tiers,
        issuer: props.issuer,
        audience: props.audience,
        counters: g.counters === "redis" && g.redisHost ? { policy: "redis", host: g.redisHost } : { policy: "local" },
      }),
      g.counters === "redis"
        ? { configPatches: [{ path: "/redis/password", valueFrom: { secretKeyRef: { namespace: KONG_NAMESPACE, name: KONG_SECRETS.redisAuth, key: KONG_SECRETS.redisAuthKey } } }] }
        : {},
    ),
    plugin(KONG_PLUGIN_NAMES.sizeCap, "request-size-limiting", { allowed_payload_size: g.maxRequestBodyKiB, size_unit: "kilobytes", require_content_length: false }),
  ];
}

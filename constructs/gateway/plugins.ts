/**
 * The gateway's KongClusterPlugins (pure, for tests):
 * - global, on every route (so no route can be published without them): `correlation-id`
 *   (`X-Request-Id`) and `request-size-limiting` (the global body cap);
 * - one `tenant-gate` instance (services/kong-plugins/tenant-gate) per authenticated route class,
 *   `user`, `operator` and `tenant`, each named by the `konghq.com/plugins` annotation of that
 *   class's Ingress (routes.ts): it verifies the bearer token itself against the issuer's
 *   published key set (by `kid`, so a key rotation needs no change here), checks the claims of
 *   its class, strips client copies of the gateway's headers, and limits per user (user,
 *   operator: `USER_LIMITS`) or per tenant (tenant: the tier catalog), counting locally or in Redis;
 * - `request-transformer` removing the gateway's headers, for the routes without a token (the
 *   billing webhook, whose signature the service checks, and the key set itself).
 * They are cluster plugins with distinct names rather than namespaced KongPlugins: a KongPlugin
 * must sit in its Ingress's namespace and could read its Redis password (configPatches) only from
 * a Secret there, i.e. in the backends' namespace; a KongClusterPlugin reads it from the `kong`
 * namespace, where it is synced. Nothing here is per tenant: the config is O(tiers).
 */
import { Token } from "cdktf";
import type { TierCatalog, UserLimits } from "../../config/tiers.js";
import { STRIPPED_CLIENT_HEADERS, TENANT_GATE_MODES, TENANT_GATE_PLUGIN, tenantGateConfig, type TenantGateMode } from "../../services/kong-plugins/tenant-gate.js";
import { propFail, type PropScope } from "../core/validation.js";
import type { IKongGateway } from "./gateway.js";
import { CORRELATION_ID_HEADER, KONG_INGRESS_CLASS, KONG_NAMESPACE, KONG_PLUGIN_NAMES, KONG_SECRETS } from "./names.js";

/** Who issues the tokens of a route class, and where Kong fetches the issuer's keys. */
export interface TokenIssuer {
  /** The tokens' `iss`. */
  readonly issuer: string;
  /** The issuer's JWK Set as Kong reaches it (in the cluster: the issuing Service's URL). */
  readonly jwksUrl: string;
}

export interface KongPluginsProps {
  readonly tiers: TierCatalog;
  /** A signed-in user's limits (`USER_LIMITS`): the user and operator routes' limits, per user. */
  readonly userLimits: UserLimits;
  /** The gateway's counters (and Redis endpoint) and body cap. */
  readonly gateway: Pick<IKongGateway, "counters" | "redisHost" | "maxRequestBodyKiB">;
  /** Keycloak's realm (user and operator tokens): `https://<auth domain>/realms/<realm>` and its certs endpoint. */
  readonly realm: TokenIssuer;
  /** The provisioning service (tenant tokens): `tenantTokenIssuer(apiDomain)` and its `JWKS_PATH`. */
  readonly tenantTokens: TokenIssuer;
}

/** A KongClusterPlugin, as synthesized: global (label `global: "true"`) or named by Ingresses. */
export interface KongClusterPluginManifest {
  readonly apiVersion: "configuration.konghq.com/v1";
  readonly kind: "KongClusterPlugin";
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string>; readonly annotations: Record<string, string> };
  readonly plugin: string;
  readonly protocols: readonly string[];
  readonly config: Record<string, unknown>;
  readonly configPatches?: readonly unknown[];
}

function clusterPlugin(name: string, kongPlugin: string, config: Record<string, unknown>, options: { global?: boolean; extra?: Record<string, unknown> } = {}): KongClusterPluginManifest {
  return {
    apiVersion: "configuration.konghq.com/v1",
    kind: "KongClusterPlugin",
    metadata: {
      name,
      ...(options.global ? { labels: { global: "true" } } : {}),
      annotations: { "kubernetes.io/ingress.class": KONG_INGRESS_CLASS },
    },
    plugin: kongPlugin,
    protocols: ["http", "https"],
    config,
    ...options.extra,
  };
}

/** The global plugins every route runs (pure, for tests). */
export function kongGlobalPlugins(props: Pick<KongPluginsProps, "gateway">): KongClusterPluginManifest[] {
  return [
    clusterPlugin(KONG_PLUGIN_NAMES.correlationId, "correlation-id", { header_name: CORRELATION_ID_HEADER, generator: "uuid#counter", echo_downstream: true }, { global: true }),
    clusterPlugin(KONG_PLUGIN_NAMES.sizeCap, "request-size-limiting", { allowed_payload_size: props.gateway.maxRequestBodyKiB, size_unit: "kilobytes", require_content_length: false }, { global: true }),
  ];
}

/**
 * The tenant-gate instance of each authenticated route class (pure, for tests). `scope` names the
 * caller in errors (a construct, or this builder's name).
 */
export function kongAuthPlugins(props: KongPluginsProps, scope: PropScope = "kongAuthPlugins"): Record<TenantGateMode, KongClusterPluginManifest> {
  const fail = propFail(scope);
  const known = (v: string) => !Token.isUnresolved(v);
  if (known(props.realm.issuer) && !/^https:\/\/[^/]+\/realms\/[^/]+$/.test(props.realm.issuer)) {
    fail("realm.issuer", props.realm.issuer, "is not a Keycloak realm issuer", 'use "https://<auth domain>/realms/<realm>"');
  }
  if (known(props.tenantTokens.issuer) && !/^https:\/\/[^/]+$/.test(props.tenantTokens.issuer)) {
    fail("tenantTokens.issuer", props.tenantTokens.issuer, "is not an https origin", "use tenantTokenIssuer(apiDomain)");
  }
  for (const [field, url] of [["realm.jwksUrl", props.realm.jwksUrl], ["tenantTokens.jwksUrl", props.tenantTokens.jwksUrl]] as const) {
    if (known(url) && !/^https?:\/\/[^/]+\/\S*$/.test(url)) fail(field, url, "is not an http(s) URL", "use the key set's in-cluster URL, e.g. http://<service>.<namespace>.svc.cluster.local:<port>/<path>");
  }
  const g = props.gateway;
  if (g.counters === "redis" && !g.redisHost) {
    fail("gateway.redisHost", g.redisHost, "is missing: the gateway counts in Redis but has no redisHost", "pass the KongGateway built with redis props");
  }
  const counters = g.counters === "redis" && g.redisHost ? ({ policy: "redis", host: g.redisHost } as const) : ({ policy: "local" } as const);
  // The Redis password never appears in the config: the controller patches it in from the synced Secret.
  const extra =
    g.counters === "redis"
      ? { configPatches: [{ path: "/redis/password", valueFrom: { secretKeyRef: { namespace: KONG_NAMESPACE, name: KONG_SECRETS.redisAuth, key: KONG_SECRETS.redisAuthKey } } }] }
      : {};
  const instance = (mode: TenantGateMode) => {
    const issuer = mode === "tenant" ? props.tenantTokens : props.realm;
    const config = tenantGateConfig({ mode, tiers: props.tiers, userLimits: props.userLimits, issuer: issuer.issuer, jwksUrl: issuer.jwksUrl, counters });
    return clusterPlugin(KONG_PLUGIN_NAMES.auth[mode], TENANT_GATE_PLUGIN, config, { extra });
  };
  return Object.fromEntries(TENANT_GATE_MODES.map((mode) => [mode, instance(mode)])) as Record<TenantGateMode, KongClusterPluginManifest>;
}

/** Removes the gateway's own headers from requests of the routes without a token (pure, for tests). */
export function kongStripHeadersPlugin(): KongClusterPluginManifest {
  return clusterPlugin(KONG_PLUGIN_NAMES.stripHeaders, "request-transformer", { remove: { headers: [...STRIPPED_CLIENT_HEADERS] } });
}

/**
 * The gateway's workloads part (workloads stack, where Kong's CRDs exist): the plugins (plugins.ts),
 * the Redis token synced for them, one Ingress per route class of the API (`GATEWAY_PATHS` of the
 * identity contract), the events API's Ingress (`EVENTS_API_GATEWAY_PATHS`), the Ingress of
 * Keycloak's public paths on the auth host, and the hosts' DNS records (edge.ts).
 */
import type { DataAwsLb } from "@cdktf/provider-aws/lib/data-aws-lb/index.js";
import { IngressV1, type IngressV1SpecRuleHttpPath } from "@cdktf/provider-kubernetes/lib/ingress-v1/index.js";
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import { Construct } from "constructs";
import type { TierCatalog, UserLimits } from "../../config/tiers.js";
import { EVENTS_API_GATEWAY_PATHS, GATEWAY_PATHS, JWKS_PATH, tenantTokenIssuer, type RouteAuth } from "../../services/identity/names.js";
import { propFail } from "../core/validation.js";
import { SyncedSecret } from "../external-secrets.js";
import type { ISecretStore } from "../platform-interfaces.js";
import { addGatewayHostRecords } from "./edge.js";
import type { IKongGateway } from "./gateway.js";
import { KONG_INGRESS_CLASS, KONG_NAMESPACE, KONG_PLUGIN_NAMES, KONG_SECRETS, kongSecretNames } from "./names.js";
import { kongAuthPlugins, kongGlobalPlugins, kongStripHeadersPlugin, type KongClusterPluginManifest, type TokenIssuer } from "./plugins.js";

/** A Service the gateway publishes: `<service>:<port>` in `<namespace>` (an Ingress names a Service of its own namespace). */
export interface KongService {
  readonly namespace: string;
  readonly service: string;
  readonly port: number;
}

/** The route classes of the API, in the order their Ingresses are made. */
export const API_ROUTE_CLASSES = ["user", "operator", "tenant", "webhook", "public", "agent"] as const satisfies readonly RouteAuth[];

/** Which plugin an API route class's Ingress names: its tenant-gate instance, or the header strip (no token). */
export const ROUTE_CLASS_PLUGIN: Record<RouteAuth, string> = {
  user: KONG_PLUGIN_NAMES.auth.user,
  operator: KONG_PLUGIN_NAMES.auth.operator,
  tenant: KONG_PLUGIN_NAMES.auth.tenant,
  webhook: KONG_PLUGIN_NAMES.stripHeaders,
  public: KONG_PLUGIN_NAMES.stripHeaders,
  // The agent's NATS credentials are verified by the service (Ed25519 by the JWT's nkey), which Kong cannot do.
  agent: KONG_PLUGIN_NAMES.stripHeaders,
};

/**
 * Kong's regex priority per class: every specific class above `tenant`, whose `^/v1/` matches
 * every API path and so must be tried last.
 */
export const ROUTE_CLASS_REGEX_PRIORITY: Record<RouteAuth, number> = { user: 100, operator: 100, webhook: 100, public: 100, agent: 100, tenant: 0 };

/**
 * Kong's regex priority of the events API's paths: like every specific class, above the catch-all
 * `tenant` class, whose `^/v1/` also matches them and would send them to the provisioning service.
 */
export const EVENTS_API_REGEX_PRIORITY = 100;

/** A Kong Ingress Controller 3.x regex path (`/~` then the PCRE). */
export function kongRegexPath(pattern: string): string {
  return `/~${pattern}`;
}

export interface KongGatewayRoutesProps {
  readonly tiers: TierCatalog;
  /** A signed-in user's limits (`USER_LIMITS`). */
  readonly userLimits: UserLimits;
  /** The platform part (or the same facts through cross-stack references). */
  readonly gateway: IKongGateway;
  readonly secretStore: ISecretStore;
  /** The public API host name (`config.domains.api`); tenant tokens' issuer is its origin. */
  readonly apiDomain: string;
  /** The public auth host name (`config.domains.auth`), where Keycloak's public paths are published. */
  readonly authDomain: string;
  /** The API (the provisioning service): every route class of `GATEWAY_PATHS`, and the tenant tokens' key set at `JWKS_PATH`. */
  readonly api: KongService;
  /**
   * The events API: the tenant routes of `EVENTS_API_GATEWAY_PATHS`, taken out of the `tenant`
   * class by their higher regex priority, behind the same tenant-gate instance (the tier's limits
   * per tenant).
   * @default - no events API: its paths fall to the `tenant` class (the provisioning service answers 404)
   */
  readonly eventsApi?: KongService;
  /** Keycloak's HTTP Service, published on the auth host under {@link KongGatewayRoutesProps.identityPaths}. */
  readonly identity: KongService;
  /** Path prefixes of Keycloak published on the auth host (`KEYCLOAK_PUBLIC_PATH_PREFIXES`). */
  readonly identityPaths: readonly string[];
  /** Keycloak's realm: the user and operator tokens' issuer and its key set as Kong reaches it. */
  readonly realm: TokenIssuer;
  /**
   * The hosts' DNS records to the NLB (found by the controller's tags with the cluster's name), in
   * the zone when given, else an output. `hosts` names the ones pointed at the NLB (default both):
   * `["auth"]` where something in front of the gateway (the console's CloudFront distribution) owns
   * the API host. @default - none (e.g. a test without the NLB)
   */
  readonly dns?: { readonly clusterName: string; readonly hostedZoneId?: string; readonly hosts?: readonly GatewayHost[] };
}

/** The two hosts the gateway serves. */
export type GatewayHost = "api" | "auth";

/** The in-cluster URL of a Service's path. */
export function serviceUrl(s: KongService, path: string): string {
  return `http://${s.service}.${s.namespace}.svc.cluster.local:${s.port}${path}`;
}

/**
 * The gateway's workloads part: the global plugins, a tenant-gate instance per authenticated
 * route class, the Redis token synced for them, and the Ingresses: one per route class of the API
 * on the API host (each naming its plugin; only the webhook and the key set go without a token),
 * the events API's tenant routes (the tenant class's plugin, above the tenant class), and
 * Keycloak's public paths on the auth host.
 */
export class KongGatewayRoutes extends Construct {
  readonly plugins: readonly KongClusterPluginManifest[];
  /** The API's Ingress per route class. */
  readonly ingresses: Readonly<Record<RouteAuth, IngressV1>>;
  /** The events API's Ingress (tenant tokens), when there is an events API. */
  readonly eventsApiIngress?: IngressV1;
  readonly identityIngress: IngressV1;
  /** The NLB Kong's proxy Service got (found by its tags), when `dns` was given: e.g. a CDN's origin. */
  readonly loadBalancer?: DataAwsLb;

  constructor(scope: Construct, id: string, props: KongGatewayRoutesProps) {
    super(scope, id);
    const fail = propFail(this);
    for (const [field, s] of [["api", props.api], ["eventsApi", props.eventsApi], ["identity", props.identity]] as const) {
      if (s === undefined) continue;
      if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65_535) fail(`${field}.port`, s.port, "is not a TCP port", "use the Service's port (1 to 65535)");
    }
    if (props.identityPaths.length === 0) fail("identityPaths", props.identityPaths, "is empty", "pass KEYCLOAK_PUBLIC_PATH_PREFIXES");
    for (const p of props.identityPaths) {
      if (!p.startsWith("/") || !p.endsWith("/")) fail("identityPaths", p, "is not a path prefix ending in /", 'use prefixes such as "/realms/<realm>/"');
    }

    const auth = kongAuthPlugins({ ...props, tenantTokens: { issuer: tenantTokenIssuer(props.apiDomain), jwksUrl: serviceUrl(props.api, JWKS_PATH) } }, this);
    this.plugins = [...kongGlobalPlugins(props), ...Object.values(auth), kongStripHeadersPlugin()];
    const pluginResources = this.plugins.map((manifest) => new Manifest(this, `plugin-${manifest.metadata.name}`, { manifest: manifest as unknown as Record<string, unknown> }));
    if (props.gateway.counters === "redis") {
      new SyncedSecret(this, "redis-auth", {
        store: props.secretStore,
        namespace: KONG_NAMESPACE,
        secretName: KONG_SECRETS.redisAuth,
        remoteKey: kongSecretNames(props.gateway.secretPrefix).redisAuthToken,
        data: [{ secretKey: KONG_SECRETS.redisAuthKey }],
      });
    }

    const ingress = (name: string, namespace: string, host: string, paths: IngressV1SpecRuleHttpPath[], annotations: Record<string, string>) =>
      new IngressV1(this, name, {
        metadata: { name, namespace, annotations: { "konghq.com/protocols": "https", "konghq.com/strip-path": "false", ...annotations } },
        spec: { ingressClassName: KONG_INGRESS_CLASS, rule: [{ host, http: { path: paths } }] },
        // Published only once every plugin is in place: a route never runs without its authentication.
        dependsOn: pluginResources,
      });

    const api = props.api;
    const apiBackend = { service: { name: api.service, port: { number: api.port } } };
    this.ingresses = Object.fromEntries(
      API_ROUTE_CLASSES.map((routeClass) => [
        routeClass,
        ingress(
          `${api.service}-api-${routeClass}`,
          api.namespace,
          props.apiDomain,
          GATEWAY_PATHS[routeClass].map((pattern) => ({ path: kongRegexPath(pattern), pathType: "ImplementationSpecific", backend: apiBackend })),
          { "konghq.com/plugins": ROUTE_CLASS_PLUGIN[routeClass], "konghq.com/regex-priority": String(ROUTE_CLASS_REGEX_PRIORITY[routeClass]) },
        ),
      ]),
    ) as Record<RouteAuth, IngressV1>;

    // The events API's tenant routes: the tenant class's plugin (token, tier limits per tenant), tried before the tenant class.
    const events = props.eventsApi;
    if (events) {
      this.eventsApiIngress = ingress(
        `${events.service}-tenant`,
        events.namespace,
        props.apiDomain,
        EVENTS_API_GATEWAY_PATHS.map((pattern) => ({ path: kongRegexPath(pattern), pathType: "ImplementationSpecific", backend: { service: { name: events.service, port: { number: events.port } } } })),
        { "konghq.com/plugins": ROUTE_CLASS_PLUGIN.tenant, "konghq.com/regex-priority": String(EVENTS_API_REGEX_PRIORITY) },
      );
    }

    // Keycloak through the front door: what browsers need, nothing of the admin console or API.
    const identity = props.identity;
    this.identityIngress = ingress(
      `${identity.service}-public`,
      identity.namespace,
      props.authDomain,
      props.identityPaths.map((prefix) => ({ path: prefix, pathType: "Prefix", backend: { service: { name: identity.service, port: { number: identity.port } } } })),
      {},
    );

    if (props.dns?.hosts?.length === 0) fail("dns.hosts", props.dns.hosts, "is empty", 'name the hosts that point at the NLB ("api", "auth"), or leave dns out');
    if (props.dns) {
      const names: Record<GatewayHost, string> = { api: props.apiDomain, auth: props.authDomain };
      const hosts = Object.fromEntries((props.dns.hosts ?? ["api", "auth"]).map((role) => [role, names[role]]));
      this.loadBalancer = addGatewayHostRecords(this, { hosts, clusterName: props.dns.clusterName, ...(props.dns.hostedZoneId ? { hostedZoneId: props.dns.hostedZoneId } : {}) });
    }
  }
}


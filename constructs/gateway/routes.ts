/**
 * The gateway's workloads part (workloads stack, where Kong's CRDs exist): the global plugins,
 * ONE consumer for the Keycloak realm with its RS256 key synced from Secrets Manager, the Redis
 * token synced for the plugin, and the Ingress of the routed service.
 */
import { IngressV1 } from "@cdktf/provider-kubernetes/lib/ingress-v1/index.js";
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import { Construct } from "constructs";
import { propFail } from "../core/validation.js";
import { addExternalSecret, SyncedSecret } from "../external-secrets.js";
import type { ISecretStore } from "../platform-interfaces.js";
import type { IKongGateway } from "./gateway.js";
import { KONG_INGRESS_CLASS, KONG_NAMESPACE, KONG_SECRETS, kongSecretNames } from "./names.js";
import { type KongClusterPluginManifest, kongGlobalPlugins, type KongGlobalPluginsProps } from "./plugins.js";

/** The service a route publishes: `https://<apiDomain><pathPrefix>...` to `<service>:<port>` in `<namespace>`. */
export interface KongRoute {
  readonly namespace: string;
  readonly service: string;
  readonly port: number;
  /** E.g. `/v1/`: matched as a prefix, passed on unstripped. */
  readonly pathPrefix: string;
}

export interface KongGatewayRoutesProps extends KongGlobalPluginsProps {
  /** The platform part (or the same facts through cross-stack references). */
  readonly gateway: IKongGateway;
  readonly secretStore: ISecretStore;
  /** The public API host name (`config.domains.api`). */
  readonly apiDomain: string;
  /**
   * The routed service (one of the platform part's backends). Its Ingress, `<service>-api`, is in
   * the service's namespace (an Ingress names a Service of its own namespace).
   */
  readonly route: KongRoute;
}

/**
 * The gateway's workloads part: the global plugins, ONE consumer for the Keycloak realm with its
 * RS256 key synced from Secrets Manager, the Redis token synced for the plugin, and the Ingress of
 * the routed service under its path prefix (the only public route).
 */
export class KongGatewayRoutes extends Construct {
  readonly plugins: readonly KongClusterPluginManifest[];
  readonly ingress: IngressV1;

  constructor(scope: Construct, id: string, props: KongGatewayRoutesProps) {
    super(scope, id);
    const fail = propFail(this);
    const route = props.route;
    if (!route.pathPrefix.startsWith("/")) fail("route.pathPrefix", route.pathPrefix, "does not start with /", 'use a path such as "/v1/"');
    if (!Number.isInteger(route.port) || route.port < 1 || route.port > 65_535) fail("route.port", route.port, "is not a TCP port", "use the Service's port (1 to 65535)");
    const secrets = kongSecretNames(props.gateway.secretPrefix);
    this.plugins = kongGlobalPlugins(props, this);
    const pluginResources = this.plugins.map((manifest) => new Manifest(this, `plugin-${manifest.metadata.name}`, { manifest: manifest as unknown as Record<string, unknown> }));

    // The realm's key as a jwt credential: key = issuer, RS256, PEM from Secrets Manager.
    addExternalSecret(this, "realm-credential", {
      secretName: KONG_SECRETS.realmCredential,
      namespace: KONG_NAMESPACE,
      store: props.secretStore,
      data: [{ secretKey: "rsa_public_key", remoteKey: secrets.realmPublicKey }],
      template: { labels: { "konghq.com/credential": "jwt" }, data: { key: props.issuer, algorithm: "RS256" } },
      refreshInterval: "15m",
    });
    const consumer = new Manifest(this, "realm-consumer", {
      manifest: {
        apiVersion: "configuration.konghq.com/v1",
        kind: "KongConsumer",
        metadata: { name: "keycloak-realm", namespace: KONG_NAMESPACE, annotations: { "kubernetes.io/ingress.class": KONG_INGRESS_CLASS } },
        username: "keycloak-realm",
        credentials: [KONG_SECRETS.realmCredential],
      },
    });
    if (props.gateway.counters === "redis") {
      new SyncedSecret(this, "redis-auth", {
        store: props.secretStore,
        namespace: KONG_NAMESPACE,
        secretName: KONG_SECRETS.redisAuth,
        remoteKey: secrets.redisAuthToken,
        data: [{ secretKey: KONG_SECRETS.redisAuthKey }],
      });
    }

    const ingressName = `${route.service}-api`;
    this.ingress = new IngressV1(this, ingressName, {
      metadata: {
        name: ingressName,
        namespace: route.namespace,
        annotations: { "konghq.com/protocols": "https", "konghq.com/strip-path": "false" },
      },
      spec: {
        ingressClassName: KONG_INGRESS_CLASS,
        rule: [
          {
            host: props.apiDomain,
            http: {
              path: [
                {
                  path: route.pathPrefix,
                  pathType: "Prefix",
                  backend: { service: { name: route.service, port: { number: route.port } } },
                },
              ],
            },
          },
        ],
      },
      // Published only once every global plugin (and the realm's consumer) is in place.
      dependsOn: [...pluginResources, consumer],
    });
  }
}

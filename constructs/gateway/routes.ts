/**
 * The gateway's workloads part (workloads stack, where Kong's CRDs exist): the global plugins,
 * ONE consumer for the Keycloak realm with its RS256 key synced from Secrets Manager, the Redis
 * token synced for the plugin, and the Ingress of the routed service.
 */
import { IngressV1 } from "@cdktf/provider-kubernetes/lib/ingress-v1/index.js";
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import { Construct } from "constructs";
import type { TierCatalog } from "../../config/tiers.js";
import { addExternalSecret, SyncedSecret } from "../external-secrets.js";
import type { ISecretStore } from "../platform-interfaces.js";
import { type IKongGateway, PROVISIONING_API } from "./gateway.js";
import { KONG_INGRESS_CLASS, KONG_NAMESPACE, KONG_SECRETS, kongSecretNames } from "./names.js";
import { type KongClusterPluginManifest, kongGlobalPlugins } from "./plugins.js";

export interface KongGatewayRoutesProps {
  readonly tiers: TierCatalog;
  /** The platform part (or the same facts through cross-stack references). */
  readonly gateway: IKongGateway;
  readonly secretStore: ISecretStore;
  /** The public API host name (`config.domains.api`). */
  readonly apiDomain: string;
  /** The realm's issuer, `https://<auth domain>/realms/<realm>` (Keycloak's `iss`). */
  readonly issuer: string;
  /** The audience the API's access tokens carry (Keycloak audience mapper). */
  readonly audience: string;
  /** Longest token lifetime accepted (`exp` - now), the jwt plugin's `maximum_expiration`. @default 3600 */
  readonly maxTokenLifetimeSeconds?: number;
}

/**
 * The gateway's workloads part: the global plugins, ONE consumer for the Keycloak realm with its
 * RS256 key synced from Secrets Manager, the Redis token synced for the plugin, and the Ingress of
 * the provisioning API under `/v1/` (the only public route).
 */
export class KongGatewayRoutes extends Construct {
  readonly plugins: readonly KongClusterPluginManifest[];
  readonly ingress: IngressV1;

  constructor(scope: Construct, id: string, props: KongGatewayRoutesProps) {
    super(scope, id);
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

    this.ingress = new IngressV1(this, "provisioning-api", {
      metadata: {
        name: "provisioning-api",
        namespace: PROVISIONING_API.namespace,
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
                  path: PROVISIONING_API.pathPrefix,
                  pathType: "Prefix",
                  backend: { service: { name: PROVISIONING_API.service, port: { number: PROVISIONING_API.port } } },
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

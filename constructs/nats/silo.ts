/**
 * A silo tenant's JetStream topology as NACK resources: an `Account` of the silo (NACK connects
 * to the silo account with a silo platform user's creds, `mintSiloPlatformUser`) and, through it,
 * the streams and consumers of `siloTopologyDeclarations` (services/nats-auth/topology.ts). The
 * JetStream names are the platform's (they are per account); the Kubernetes names carry the
 * tenant (`silo-<tenant>-swarm-events`), beside the platform account's resources in the `nats`
 * namespace NACK watches.
 */
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import type { EnvironmentConfig } from "../../config/environment.js";
import { assertTenantId } from "../../config/tenancy.js";
import type { TierCatalog } from "../../config/tiers.js";
import { ACCOUNT_NAMES, SILO_TIER } from "../../services/nats-auth/claims.js";
import { siloIngestorReplicas, type IngestorConsumerOptions } from "../../services/nats-auth/consumers.js";
import { STREAM_NAMES } from "../../services/nats-auth/streams.js";
import { siloTopologyDeclarations } from "../../services/nats-auth/topology.js";
import { NACK_API_VERSION, nackConsumerSpec, nackResourceName, nackStreamSpec } from "./jetstream.js";
import { NATS_CLIENT_URL, NATS_NAMES, NATS_NAMESPACE } from "./names.js";

export interface SiloNackTopologyProps {
  readonly tenantId: string;
  /** The environment's `nats` section (the streams' replicas, ages, duplicate windows). */
  readonly nats: Pick<EnvironmentConfig["nats"], "streams">;
  readonly tiers: TierCatalog;
  /** The Secret in the `nats` namespace holding the silo platform user's creds, and its key. */
  readonly credsSecret: { readonly name: string; readonly key: string };
  /** Keep the JetStream objects when their resources are deleted. @default true */
  readonly preventDelete?: boolean;
  /** The ingestor's consumer (name, replicas, AckWait), as the silo's Ingestor runs it. @default - siloIngestorConsumerConfig's defaults */
  readonly ingestor?: Partial<IngestorConsumerOptions>;
  /** What the `Account` waits for (the NATS release, the creds Secret). @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/** The Kubernetes name of a silo's NACK resource: `silo-<tenant>[-<jetstream name>]`. */
export function siloNackResourceName(tenantId: string, jetStreamName?: string): string {
  const base = `silo-${assertTenantId(tenantId, "siloTenants[]")}`;
  return jetStreamName ? `${base}-${nackResourceName(jetStreamName)}` : base;
}

/** The silo ingestor's durable consumer: its name, its NACK resource, and how many replicas it has room for. */
export interface SiloIngestorConsumerResource {
  readonly name: string;
  readonly resource: Manifest;
  readonly maxReplicas: number;
}

export class SiloNackTopology extends Construct {
  /** The NACK `Account` resource's name (`silo-<tenant>`). */
  readonly accountName: string;
  readonly streamResources: Manifest[] = [];
  readonly consumerResources: Manifest[] = [];
  /** The silo ingestor's durable consumer (its name, its NACK resource and its replicas, for the silo's Ingestor). */
  readonly ingestorConsumer: SiloIngestorConsumerResource;

  constructor(scope: Construct, id: string, props: SiloNackTopologyProps) {
    super(scope, id);
    const t = props.tenantId;
    this.accountName = siloNackResourceName(t);
    const preventDelete = props.preventDelete ?? true;
    const declared = siloTopologyDeclarations(t, { nats: props.nats, tiers: props.tiers, ...(props.ingestor ? { ingestor: props.ingestor } : {}) });
    const manifest = (mid: string, kind: string, name: string, spec: Record<string, unknown>, dependsOn: readonly ITerraformDependable[]) =>
      new Manifest(this, mid, {
        manifest: { apiVersion: NACK_API_VERSION, kind, metadata: { name, namespace: NATS_NAMESPACE, labels: { "enchanted.io/silo-tenant": t } }, spec },
        ...(dependsOn.length ? { dependsOn: [...dependsOn] } : {}),
      });
    const account = manifest(
      "account",
      "Account",
      this.accountName,
      {
        name: ACCOUNT_NAMES.silo(t),
        servers: [NATS_CLIENT_URL],
        creds: { secret: { name: props.credsSecret.name }, file: props.credsSecret.key },
        tls: { secret: { name: NATS_NAMES.tlsSecret }, ca: "ca.crt" },
      },
      props.dependsOn ?? [],
    );
    const options = { account: this.accountName, preventDelete };
    for (const stream of declared.streams) {
      this.streamResources.push(manifest(`stream-${nackResourceName(stream.name)}`, "Stream", siloNackResourceName(t, stream.name), nackStreamSpec(stream, options), [account]));
    }
    let ingestorConsumer: SiloIngestorConsumerResource | undefined;
    for (const consumer of declared.consumers) {
      const resource = manifest(`consumer-${nackResourceName(consumer.durable_name)}`, "Consumer", siloNackResourceName(t, consumer.durable_name), nackConsumerSpec(consumer, options), this.streamResources);
      this.consumerResources.push(resource);
      if (consumer.stream === STREAM_NAMES.events) {
        ingestorConsumer = { name: consumer.durable_name, resource, maxReplicas: siloIngestorReplicas({ name: SILO_TIER, bus: props.tiers[SILO_TIER].bus }, props.ingestor) };
      }
    }
    if (!ingestorConsumer) throw new Error(`silo ${t}: siloTopologyDeclarations declared no ingestor consumer on ${STREAM_NAMES.events}`);
    this.ingestorConsumer = ingestorConsumer;
  }
}

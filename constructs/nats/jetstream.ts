/**
 * NACK resource specs (jetstream.nats.io/v1beta2) from the JetStream declarations of
 * services/nats-auth: the one place a stream's or a consumer's configuration becomes a NACK spec.
 */
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import type { ITerraformDependable } from "cdktf";
import type { Construct } from "constructs";
import type { SwarmConsumerConfig } from "../../services/nats-auth/consumers.js";
import { goDuration, type SwarmStreamConfig } from "../../services/nats-auth/streams.js";
import { NATS_NAMESPACE } from "./names.js";

/** The API version of every NACK resource the constructs create. */
export const NACK_API_VERSION = "jetstream.nats.io/v1beta2";

/** Where a NACK resource connects and what it may do to the JetStream object. */
export interface NackResourceOptions {
  /** The NACK `Account` resource the controller connects through (`Nats.nackAccountName`). */
  readonly account: string;
  /** Keep the JetStream object when the resource is deleted. */
  readonly preventDelete: boolean;
}

/** A NACK `Stream` spec from a stream's configuration. */
export function nackStreamSpec(stream: SwarmStreamConfig, options: NackResourceOptions): Record<string, unknown> {
  return {
    name: stream.name,
    description: stream.description,
    subjects: [...stream.subjects],
    retention: stream.retention,
    storage: stream.storage,
    replicas: stream.num_replicas,
    maxAge: goDuration(stream.max_age),
    maxBytes: stream.max_bytes,
    maxMsgs: stream.max_msgs,
    maxMsgsPerSubject: stream.max_msgs_per_subject,
    maxMsgSize: stream.max_msg_size,
    maxConsumers: stream.max_consumers,
    discard: stream.discard,
    discardPerSubject: stream.discard_new_per_subject ?? false,
    ...(stream.subject_transform ? { subjectTransform: { source: stream.subject_transform.src, dest: stream.subject_transform.dest } } : {}),
    duplicateWindow: goDuration(stream.duplicate_window),
    denyDelete: stream.deny_delete,
    denyPurge: stream.deny_purge,
    allowRollup: stream.allow_rollup_hdrs,
    account: options.account,
    preventDelete: options.preventDelete,
    preventUpdate: false,
  };
}

/**
 * A NACK `Consumer` spec from a consumer's declaration (services/nats-auth/consumers.ts): a
 * durable pull consumer on its stream, every setting of the declaration explicit.
 */
export function nackConsumerSpec(consumer: SwarmConsumerConfig, options: NackResourceOptions): Record<string, unknown> {
  return {
    account: options.account,
    streamName: consumer.stream,
    durableName: consumer.durable_name,
    filterSubject: consumer.filter_subject,
    ackPolicy: consumer.ack_policy,
    deliverPolicy: consumer.deliver_policy,
    ackWait: goDuration(consumer.ack_wait, { minutes: true }),
    maxDeliver: consumer.max_deliver,
    maxAckPending: consumer.max_ack_pending,
    preventDelete: options.preventDelete,
  };
}

/** The Kubernetes name of a stream's or a consumer's NACK resource: `SWARM_EVENTS` → `swarm-events`. */
export function nackResourceName(jetStreamName: string): string {
  return jetStreamName.toLowerCase().replace(/_/g, "-");
}

/** What a NACK resource waits for (the `Account`, the streams a consumer reads). */
export interface NackResourceDependencies {
  /** @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

function nackResource(scope: Construct, id: string, kind: "Stream" | "Consumer", name: string, spec: Record<string, unknown>, deps: NackResourceDependencies): Manifest {
  return new Manifest(scope, id, {
    manifest: { apiVersion: NACK_API_VERSION, kind, metadata: { name: nackResourceName(name), namespace: NATS_NAMESPACE }, spec },
    ...(deps.dependsOn ? { dependsOn: [...deps.dependsOn] } : {}),
  });
}

/** A NACK `Stream` resource in the NATS namespace, from the stream's declaration. */
export function addNackStream(scope: Construct, id: string, stream: SwarmStreamConfig, options: NackResourceOptions & NackResourceDependencies): Manifest {
  return nackResource(scope, id, "Stream", stream.name, nackStreamSpec(stream, options), options);
}

/** A NACK `Consumer` resource in the NATS namespace, from the consumer's declaration. */
export function addNackConsumer(scope: Construct, id: string, consumer: SwarmConsumerConfig, options: NackResourceOptions & NackResourceDependencies): Manifest {
  return nackResource(scope, id, "Consumer", consumer.durable_name, nackConsumerSpec(consumer, options), options);
}

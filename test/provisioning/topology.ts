/**
 * The bus's JetStream topology for the tests of offboarding's deletion: exactly what
 * `createTopology` (services/nats-auth/topology.ts) creates, except that `SWARM_EVENTS` and
 * `SWARM_JOBS` accept purges (`deny_purge: false`). The provisioning service deletes an offboarded
 * tenant's messages with subject-filtered purges through its own user, whose permissions allow
 * the purge API of exactly these two streams (`provisioningBusPermissions`); the declarations in
 * services/nats-auth/streams.ts still deny purges on them, and a stream created that way refuses
 * both the purge ("stream purge not permitted") and a later update to allow it ("can not cancel
 * deny purge"). Once the declarations allow the purge, this is `createTopology` itself.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { STREAM_NAMES } from "../../services/nats-auth/jetstream-names.js";
import { addConsumer, topologyDeclarations, type TopologyOptions } from "../../services/nats-auth/topology.js";

/** The streams offboarding purges a tenant's messages from. */
export const PURGED_STREAMS: readonly string[] = [STREAM_NAMES.events, STREAM_NAMES.jobs];

/** `createTopology(jsm, options)`, with {@link PURGED_STREAMS} accepting purges. */
export async function createPurgeableTopology(jsm: JetStreamManager, options: TopologyOptions): Promise<void> {
  const declared = topologyDeclarations(options);
  for (const stream of declared.streams) await jsm.streams.add(PURGED_STREAMS.includes(stream.name) ? { ...stream, deny_purge: false } : stream);
  for (const consumer of declared.consumers) await addConsumer(jsm, consumer);
}

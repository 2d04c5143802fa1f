/**
 * The event bus's constructs, one concept per file: `names` (what they create and where it is
 * reached), `chart-values` (the NATS chart), `jetstream` (NACK stream and consumer specs),
 * `external` (the optional internet-facing NLB), `nats` (the {@link Nats} construct), `silo` (a silo tenant's streams and consumers) and
 * `nack-controller` (NACK and its CRDs).
 */
export * from "./chart-values.js";
export * from "./external.js";
export * from "./jetstream.js";
export * from "./nack-controller.js";
export * from "./names.js";
export * from "./nats.js";
export * from "./silo.js";

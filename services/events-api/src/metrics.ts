/**
 * The events API's Prometheus metrics on a registry of their own. {@link EVENTS_API_METRICS} and
 * {@link EVENTS_API_METRIC_LABELS} (the service's contract, `../contract.ts`) are the one home of
 * their names and labels.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { EVENTS_API_METRIC_LABELS as LABELS, EVENTS_API_METRICS as M } from "../contract.js";

export interface EventsApiMetrics {
  readonly registry: Registry;
  readonly requests: Counter<"route" | "method" | "status">;
  readonly duration: Histogram<"route" | "method">;
  readonly queryDuration: Histogram<"route" | "tier">;
  readonly queryErrors: Counter<"route" | "tier" | "kind">;
  readonly replays: Counter<"outcome">;
  readonly decryptions: Counter<"outcome">;
}

const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The service's series; `defaults` adds the process and Node.js metrics (not in tests that start several). */
export function createEventsApiMetrics(defaults = false): EventsApiMetrics {
  const registry = new Registry();
  if (defaults) collectDefaultMetrics({ register: registry });
  const help = (k: keyof typeof M) => ({ name: M[k].name, help: M[k].help, labelNames: [...LABELS[k]], registers: [registry] });
  return {
    registry,
    requests: new Counter(help("requests")) as Counter<"route" | "method" | "status">,
    duration: new Histogram({ ...help("duration"), buckets: SECONDS_BUCKETS }) as Histogram<"route" | "method">,
    queryDuration: new Histogram({ ...help("queryDuration"), buckets: SECONDS_BUCKETS }) as Histogram<"route" | "tier">,
    queryErrors: new Counter(help("queryErrors")) as Counter<"route" | "tier" | "kind">,
    replays: new Counter(help("replays")) as Counter<"outcome">,
    decryptions: new Counter(help("decryptions")) as Counter<"outcome">,
  };
}

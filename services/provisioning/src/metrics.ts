/**
 * The provisioning service's Prometheus metrics on a registry of their own. {@link PROVISIONING_METRICS}
 * (from the service's contract, `../contract.ts`) is the one home of their names.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { PROVISIONING_METRICS } from "../contract.js";

export { PROVISIONING_METRICS };

export interface ProvisioningMetrics {
  readonly registry: Registry;
  readonly requests: Counter<"route" | "method" | "status">;
  readonly duration: Histogram<"route" | "method">;
  readonly tenantsCreated: Counter;
  readonly tenantsOffboarded: Counter;
  readonly credentialsMinted: Counter;
  readonly tenantTokens: Counter;
  readonly billingEvents: Counter<"outcome">;
  readonly outboxApplied: Counter<"kind">;
  readonly outboxFailed: Counter<"kind">;
  readonly outboxReady: Gauge;
}

export function createProvisioningMetrics(outboxReady: () => number = () => 0, defaults = false): ProvisioningMetrics {
  const registry = new Registry();
  if (defaults) collectDefaultMetrics({ register: registry });
  const m = PROVISIONING_METRICS;
  return {
    registry,
    requests: new Counter({ ...m.requests, labelNames: ["route", "method", "status"], registers: [registry] }),
    duration: new Histogram({ ...m.duration, labelNames: ["route", "method"], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] }),
    tenantsCreated: new Counter({ ...m.tenantsCreated, registers: [registry] }),
    tenantsOffboarded: new Counter({ ...m.tenantsOffboarded, registers: [registry] }),
    credentialsMinted: new Counter({ ...m.credentialsMinted, registers: [registry] }),
    tenantTokens: new Counter({ ...m.tenantTokens, registers: [registry] }),
    billingEvents: new Counter({ ...m.billingEvents, labelNames: ["outcome"], registers: [registry] }),
    outboxApplied: new Counter({ ...m.outboxApplied, labelNames: ["kind"], registers: [registry] }),
    outboxFailed: new Counter({ ...m.outboxFailed, labelNames: ["kind"], registers: [registry] }),
    outboxReady: new Gauge({
      ...m.outboxReady,
      registers: [registry],
      collect() {
        this.set(outboxReady());
      },
    }),
  };
}

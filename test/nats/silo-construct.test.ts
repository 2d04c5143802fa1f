/** A silo's NACK topology: the Account of the silo and the streams and consumers of siloTopologyDeclarations through it. */
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider/index.js";
import { TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, loadEnvironment, loadTierCatalog } from "../../config/index.js";
import { nackConsumerSpec, nackStreamSpec, NATS_CLIENT_URL, NATS_NAMESPACE } from "../../constructs/nats/index.js";
import { SiloNackTopology, siloNackResourceName } from "../../constructs/nats/silo.js";
import { siloTopologyDeclarations } from "../../services/nats-auth/topology.js";
import { resourcesOf, synthApp, type SynthesizedStack } from "../support/synth.js";

const tiers = loadTierCatalog();
const SILO = "acme-corp";
type M = { kind: string; metadata: { name: string; namespace: string; labels: Record<string, string> }; spec: Record<string, unknown> };

describe.each(ENVIRONMENT_NAMES)("%s: SiloNackTopology", (env) => {
  const nats = loadEnvironment(env).nats;
  const stack = synthApp((app) => {
    const s = new TerraformStack(app, "silo-test");
    new KubernetesProvider(s, "kubernetes", {});
    new SiloNackTopology(s, "silo", { tenantId: SILO, nats, tiers, credsSecret: { name: "nats-silo-acme-corp-creds", key: "silo.creds" } });
  })["silo-test"] as SynthesizedStack;
  const manifests = Object.values(resourcesOf(stack, "kubernetes_manifest")).map((r) => r.manifest as M);
  const declared = siloTopologyDeclarations(SILO, { nats, tiers });
  const account = siloNackResourceName(SILO);

  it("declares the silo's Account with its creds, and every declared stream and consumer through it, named for the tenant", () => {
    const acc = manifests.filter((m) => m.kind === "Account");
    expect(acc).toHaveLength(1);
    expect(acc[0]!.metadata).toMatchObject({ name: account, namespace: NATS_NAMESPACE });
    expect(acc[0]!.spec).toMatchObject({ name: `SILO-${SILO}`, servers: [NATS_CLIENT_URL], creds: { secret: { name: "nats-silo-acme-corp-creds" }, file: "silo.creds" } });
    const options = { account, preventDelete: true };
    const byName = (a: [string, unknown], b: [string, unknown]) => a[0].localeCompare(b[0]);
    const of = (kind: string) => manifests.filter((m) => m.kind === kind).map((m): [string, unknown] => [m.metadata.name, m.spec]).sort(byName);
    expect(of("Stream")).toEqual(declared.streams.map((s): [string, unknown] => [siloNackResourceName(SILO, s.name), nackStreamSpec(s, options)]).sort(byName));
    expect(of("Consumer")).toEqual(declared.consumers.map((c): [string, unknown] => [siloNackResourceName(SILO, c.durable_name), nackConsumerSpec(c, options)]).sort(byName));
    expect(manifests.map((m) => m.metadata.name).sort()).toEqual(
      [account, ...["swarm-events", "swarm-jobs", "swarm-events-dlq", "swarm-jobs-dlq", "swarm-ingestor", "workers-enterprise"].map((n) => `${account}-${n}`)].sort(),
    );
    for (const m of manifests) expect(m.metadata.labels).toEqual({ "enchanted.io/silo-tenant": SILO });
  });
});

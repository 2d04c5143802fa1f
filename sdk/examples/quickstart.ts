// An agent reporting to the platform: save the answer of
//   POST /v1/tenants/{tenantId}/bus-credentials
// as credentials.json, then run
//   node --import tsx sdk/examples/quickstart.ts credentials.json checkout-service
import { trace } from "@opentelemetry/api";
import { AgentClient, decision, loadCredentials, signal, stateChange, stateHashOf } from "@enchanted/platform/sdk";

const [credentialsFile = "credentials.json", projectId = "checkout-service"] = process.argv.slice(2);

// Servers, CA and API come with the credentials; encryption follows the tenant's setting.
const agent = await AgentClient.connect({ credentials: loadCredentials(credentialsFile), projectId });
const tracer = trace.getTracer("quickstart");
const ids: string[] = [];
try {
  await tracer.startActiveSpan("refactor billing", async (span) => {
    // With an OpenTelemetry SDK registered, events carry the active span's trace_id and span_id.
    ids.push(await agent.emit(signal({ agentId: "coder-1", agentRole: "coder", signal: "started" })));
    ids.push(
      await agent.emit(
        decision({
          agentId: "coder-1",
          agentRole: "coder",
          confidence: 0.86,
          action: "extract the invoice ledger",
          rationale: "billing.ts mixes invoicing and payment retries; the ledger can stand alone",
          alternatives: ["leave it", "rewrite billing.ts"],
        }),
      ),
    );
    const content = "export class InvoiceLedger {}\n";
    ids.push(await agent.emit(stateChange({ agentId: "coder-1", agentRole: "coder", resource: "src/billing/ledger.ts", change: "created", stateHash: stateHashOf(content), summary: "extracted the ledger" })));
    span.end();
  });
  // Resolves once JetStream acknowledged every event; throws with the ones it could not deliver.
  await agent.flush();
} finally {
  await agent.close();
}
console.log(JSON.stringify({ tenantId: agent.tenantId, encrypted: agent.encrypting, events: ids }));

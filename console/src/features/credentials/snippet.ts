/**
 * The SDK snippet shown with freshly minted credentials: the README's Agents section
 * (sdk/examples/quickstart.ts), with the downloaded `.creds` file and what the credentials answer
 * carried besides it (servers, CA, API origin, minting member), passed as `loadCredentials`'s
 * second argument (sdk/credentials.ts).
 */
import type { BusCredentials } from "../../api-types.js";

/** The file name of a tenant's downloaded credentials: tenant and the key's first characters. */
export function credsFileName(c: Pick<BusCredentials, "tenantId" | "publicKey">): string {
  return `${c.tenantId}-${c.publicKey.slice(0, 10).toLowerCase()}.creds`;
}

/** The name of the README's credentials file (sdk/examples/quickstart.ts reads it). */
export const CREDENTIALS_JSON_FILE_NAME = "credentials.json";

/**
 * The README's `credentials.json`: the bus-credentials answer exactly as the API sent it, but for
 * the NATS servers, which come from the runtime config's `natsServers` when the answer names none
 * (as the snippet does).
 */
export function credentialsJson(c: BusCredentials, fallbackServers: readonly string[]): string {
  const servers = c.servers.length > 0 ? c.servers : fallbackServers;
  return `${JSON.stringify({ ...c, servers }, null, 2)}\n`;
}

/** `fallbackServers`: the runtime config's `natsServers`, used when the answer names none. */
export function sdkSnippet(c: BusCredentials, fallbackServers: readonly string[]): string {
  const servers = c.servers.length > 0 ? c.servers : fallbackServers;
  const extra = [`  servers: ${JSON.stringify(servers)},`, `  api: ${JSON.stringify(c.api)},`, `  userId: ${JSON.stringify(c.userId)},`];
  if (c.ca) extra.push(`  ca: ${JSON.stringify(c.ca)},`);
  return [
    `// agent.ts: the platform SDK (@enchanted/platform/sdk, sdk/ of the platform repository); run: node --import tsx agent.ts`,
    `import { AgentClient, decision, loadCredentials, signal } from "@enchanted/platform/sdk";`,
    ``,
    `// The file "Download credentials" saved; it holds the agent's secret seed: keep it out of source control.`,
    `const credentials = loadCredentials("./${credsFileName(c)}", {`,
    ...extra,
    `});`,
    ``,
    `// Encryption follows the tenant's setting; events go to the tenant's own subjects (${c.subjects.join(", ")}).`,
    `const agent = await AgentClient.connect({ credentials, projectId: "my-project" });`,
    `try {`,
    `  await agent.emit(signal({ agentId: "agent-1", agentRole: "coder", signal: "started" }));`,
    `  await agent.emit(decision({ agentId: "agent-1", agentRole: "coder", confidence: 0.9, action: "say hello", rationale: "first event from this agent", alternatives: [] }));`,
    `  // Resolves once JetStream acknowledged every event.`,
    `  await agent.flush();`,
    `} finally {`,
    `  await agent.close();`,
    `}`,
    ``,
  ].join("\n");
}

/**
 * An agent's one probe of the bus, shared by the API journey (run.ts) and the browser journey
 * (test/platform/browser-journey.ts): connect with the credentials, publish one heartbeat, wait for
 * its acknowledgement. Answers the error met (a CredentialsRejectedError once the credentials are
 * revoked or the tenant offboarded), or undefined when the event was acknowledged.
 */
import { AgentClient, CredentialsRejectedError, signal, type AgentCredentials } from "../../sdk/index.js";

/** How long the probe waits for an acknowledgement, and for the client to close. */
const PROBE_TIMEOUT_MS = 5_000;

export async function tryPublish(credentials: AgentCredentials, projectId: string, agentId: string): Promise<Error | undefined> {
  let rejected: Error | undefined;
  let client: AgentClient | undefined;
  try {
    client = await AgentClient.connect({ credentials, projectId, encryption: "off", onError: (e) => (rejected ??= e instanceof CredentialsRejectedError ? e : undefined) });
    await client.emit(signal({ agentId, agentRole: "coder", signal: "heartbeat" }));
    const flushed = client.flush();
    flushed.catch(() => undefined);
    await Promise.race([flushed, new Promise((_, reject) => setTimeout(() => reject(new Error(`no acknowledgement within ${PROBE_TIMEOUT_MS / 1000} s`)), PROBE_TIMEOUT_MS))]);
    return rejected;
  } catch (error) {
    return rejected ?? (error instanceof Error ? error : new Error(String(error)));
  } finally {
    // close() flushes first; a connection the bus dropped must not hold the journey.
    if (client) await Promise.race([client.close().catch(() => undefined), new Promise((r) => setTimeout(r, PROBE_TIMEOUT_MS))]);
  }
}

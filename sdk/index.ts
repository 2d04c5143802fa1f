/**
 * `@enchanted/platform/sdk`: what an agent needs to report to the platform. The README's
 * "Agent SDK" section has a complete example.
 *
 * ```ts
 * import { AgentClient, loadCredentials } from "@enchanted/platform/sdk";
 * const client = await AgentClient.connect({ credentials: loadCredentials("agent.json"), projectId: "checkout-service" });
 * await client.decision({ agentId: "architect-1", agentRole: "architect", confidence: 0.9, rationale: "…", action: "split the service" });
 * await client.close();
 * ```
 */
export { AgentClient, type AgentClientOptions, type EncryptionMode } from "./client.js";
export { credentialClaims, credentialsFromAnswer, credentialsFromCredsFile, loadCredentials, type AgentCredentials, type CredentialClaims } from "./credentials.js";
export { AGENT_ROLE_NAMES, CHANGE_KINDS, completeEvent, decision, signal, SIGNAL_KINDS, stateChange, stateHashOf, type AgentRoleName, type ChangeKindName, type DecisionInput, type EventDraft, type SignalInput, type SignalKindName, type StateChangeInput, type SwarmEvent } from "./events.js";
export { openEvent, openField, sealField, sealedKeyId, DATA_KEY_ID_PATTERN, type DataKey, type KeyLookup } from "./cipher.js";
export { agentAuthHeaders, DataKeyClient, type CurrentKey } from "./keys.js";
export { ClosedError, CredentialsRejectedError, EncryptionError, InvalidEventError, InvalidOptionError, KeyServiceError, PayloadTooLargeError, PermissionDeniedError, PublishFailedError, SdkError, type CredentialsProblem, type SdkErrorCode } from "./errors.js";

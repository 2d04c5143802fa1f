/**
 * The SDK's errors: each names what was wrong and how to fix it, and carries a stable `code`
 * so callers can branch without matching messages.
 */

export type SdkErrorCode =
  | "E_INVALID_EVENT"
  | "E_INVALID_OPTION"
  | "E_PERMISSION_DENIED"
  | "E_PAYLOAD_TOO_LARGE"
  | "E_CREDENTIALS_REJECTED"
  | "E_PUBLISH_FAILED"
  | "E_CLOSED"
  | "E_ENCRYPTION"
  | "E_KEY_SERVICE";

export class SdkError extends Error {
  override name = "SdkError";
  constructor(
    readonly code: SdkErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An event or option the platform would refuse: `field` names it, the message says the fix. */
export class InvalidEventError extends SdkError {
  override name = "InvalidEventError";
  constructor(
    readonly field: string,
    problem: string,
    fix: string,
  ) {
    super("E_INVALID_EVENT", `${field} ${problem}. Fix: ${fix}.`);
  }
}

export class InvalidOptionError extends SdkError {
  override name = "InvalidOptionError";
  constructor(
    readonly field: string,
    problem: string,
    fix: string,
    options?: { cause?: unknown },
  ) {
    super("E_INVALID_OPTION", `${field} ${problem}. Fix: ${fix}.`, options);
  }
}

/** The server refused a publish to `subject`: the credentials do not allow it (another tenant's subject, another tier's lane). */
export class PermissionDeniedError extends SdkError {
  override name = "PermissionDeniedError";
  constructor(
    readonly subject: string,
    options?: { cause?: unknown },
  ) {
    super("E_PERMISSION_DENIED", `publishing to ${subject} is not allowed by these credentials. Fix: publish only your own tenant's subjects (swarm.<your tenant>.<project>.events); use credentials minted for the tenant you mean.`, options);
  }
}

/** An event larger than the platform accepts; never sent (a too-large publish would close the connection). */
export class PayloadTooLargeError extends SdkError {
  override name = "PayloadTooLargeError";
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super("E_PAYLOAD_TOO_LARGE", `the event is ${bytes} bytes encoded, more than the ${limit} bytes the platform accepts. Fix: keep rationales and summaries short and put large content (files, diffs, transcripts) in object storage, referenced from the event.`);
  }
}

/** Why the server refused the credentials. */
export type CredentialsProblem = "expired" | "revoked" | "refused";

/** The server refused the credentials (at connect or later): nothing more can be published with them. */
export class CredentialsRejectedError extends SdkError {
  override name = "CredentialsRejectedError";
  constructor(
    readonly problem: CredentialsProblem,
    detail: string,
    options?: { cause?: unknown },
  ) {
    const fix =
      problem === "expired"
        ? "mint new credentials (POST /v1/tenants/{tenantId}/bus-credentials) before expiresAt and reconnect with them"
        : problem === "revoked"
          ? "these credentials were revoked (or the tenant offboarded); ask a member of the tenant for new ones"
          : "check that the creds file is the one the API handed out, unmodified, for an active tenant";
    super("E_CREDENTIALS_REJECTED", `the bus refused the credentials (${problem}: ${detail}). Fix: ${fix}.`, options);
  }
}

/** Events the client accepted but could not get acknowledged: they are handed back, never dropped silently. */
export class PublishFailedError extends SdkError {
  override name = "PublishFailedError";
  constructor(
    message: string,
    /** The encoded events (subject and bytes) that were not acknowledged, in the order they were accepted. */
    readonly unacknowledged: readonly { readonly subject: string; readonly eventId: string; readonly data: Uint8Array }[],
    options?: { cause?: unknown },
  ) {
    super("E_PUBLISH_FAILED", message, options);
  }
}

export class ClosedError extends SdkError {
  override name = "ClosedError";
  constructor() {
    super("E_CLOSED", "the client is closed. Fix: create a new client with AgentClient.connect().");
  }
}

export class EncryptionError extends SdkError {
  override name = "EncryptionError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("E_ENCRYPTION", message, options);
  }
}

/** The provisioning service refused or failed a data-key request. */
export class KeyServiceError extends SdkError {
  override name = "KeyServiceError";
  constructor(
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("E_KEY_SERVICE", message, options);
  }
}

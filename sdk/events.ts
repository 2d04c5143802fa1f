/**
 * Typed builders of the three things an agent reports (events.proto): a decision, a state
 * change, a system signal. A builder returns a draft; the client completes it (event id, time,
 * tenant, project, user, trace context), checks it against the rules the ingestor applies
 * (services/ingestor/src/event.ts: the same patterns, imported), encrypts its free text when the
 * tenant encrypts payloads, and encodes it. An event the ingestor would dead-letter is refused
 * here, with the field and the fix, before it is sent.
 */
import { createHash, randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { isSpanContextValid, trace } from "@opentelemetry/api";
import { ACTOR_ID_PATTERN, EARLIEST_EVENT_SECONDS, EVENT_ID_PATTERN, SPAN_ID_PATTERN, TRACE_ID_PATTERN } from "../services/ingestor/src/event.js";
import { AgentRole, ChangeKind, DecisionSchema, SignalKind, StateChangeSchema, SwarmEventSchema, SystemSignalSchema, type SwarmEvent } from "../services/ingestor/src/gen/enchanted/events/v1/events_pb.js";
import { PROJECT_ID_PATTERN } from "../services/nats-auth/jetstream-names.js";
import { InvalidEventError } from "./errors.js";

export { AgentRole, ChangeKind, SignalKind, type SwarmEvent };

/** The roles an agent may report, as the builders take them. */
export const AGENT_ROLE_NAMES = ["architect", "planner", "coder", "reviewer", "tester", "operator"] as const;
export type AgentRoleName = (typeof AGENT_ROLE_NAMES)[number];
export const CHANGE_KINDS = ["created", "modified", "deleted"] as const;
export type ChangeKindName = (typeof CHANGE_KINDS)[number];
export const SIGNAL_KINDS = ["started", "heartbeat", "stopped", "crashed", "throttled"] as const;
export type SignalKindName = (typeof SIGNAL_KINDS)[number];

const ROLE_NUMBER: Record<AgentRoleName, AgentRole> = {
  architect: AgentRole.ARCHITECT,
  planner: AgentRole.PLANNER,
  coder: AgentRole.CODER,
  reviewer: AgentRole.REVIEWER,
  tester: AgentRole.TESTER,
  operator: AgentRole.OPERATOR,
};
const CHANGE_NUMBER: Record<ChangeKindName, ChangeKind> = { created: ChangeKind.CREATED, modified: ChangeKind.MODIFIED, deleted: ChangeKind.DELETED };
const SIGNAL_NUMBER: Record<SignalKindName, SignalKind> = {
  started: SignalKind.STARTED,
  heartbeat: SignalKind.HEARTBEAT,
  stopped: SignalKind.STOPPED,
  crashed: SignalKind.CRASHED,
  throttled: SignalKind.THROTTLED,
};

/** What every event may set; the client fills what is left out. */
export interface EventCommon {
  /** The agent, unique within the tenant (`architect-1`): 1-128 letters, digits and `_ . : @ -`. */
  readonly agentId: string;
  readonly agentRole?: AgentRoleName;
  /** @default the client's project */
  readonly projectId?: string;
  /** The tenant member whose swarm this is. @default the member who minted the credentials */
  readonly userId?: string;
  /** A canonical lower-case UUID. @default a new random one */
  readonly eventId?: string;
  /** @default now */
  readonly timestamp?: Date;
  /** W3C trace context. @default the active OpenTelemetry span's, if any */
  readonly traceId?: string;
  readonly spanId?: string;
}

export interface DecisionInput extends EventCommon {
  /** 0 to 1. */
  readonly confidence: number;
  /** Why the agent decided (encrypted when the tenant encrypts payloads). */
  readonly rationale: string;
  /** What was chosen, short (encrypted when the tenant encrypts payloads). */
  readonly action: string;
  readonly alternatives?: readonly string[];
}

export interface StateChangeInput extends EventCommon {
  /** The resource, a path or URI within the project (stays clear: queries filter on it). */
  readonly resource: string;
  readonly change: ChangeKindName;
  /** Lower-case hex SHA-256 of the state after the change (empty for `deleted`); {@link stateHashOf} computes one. */
  readonly stateHash?: string;
  /** ... and before it (empty for `created`). */
  readonly previousStateHash?: string;
  /** One line (encrypted when the tenant encrypts payloads). */
  readonly summary: string;
}

export interface SignalInput extends EventCommon {
  readonly signal: SignalKindName;
  /** Detail: the error of a crash, the reason of a throttle (encrypted when the tenant encrypts payloads). */
  readonly message?: string;
}

export type EventDraft =
  | ({ readonly kind: "decision" } & DecisionInput)
  | ({ readonly kind: "state_change" } & StateChangeInput)
  | ({ readonly kind: "system_signal" } & SignalInput);

/** A decision: the agent chose something. */
export function decision(input: DecisionInput): EventDraft {
  return { kind: "decision", ...input };
}
/** A state change: the agent changed a resource. */
export function stateChange(input: StateChangeInput): EventDraft {
  return { kind: "state_change", ...input };
}
/** A lifecycle or health signal of the agent. */
export function signal(input: SignalInput): EventDraft {
  return { kind: "system_signal", ...input };
}

/** The `state_hash` of some content: lower-case hex SHA-256. */
export function stateHashOf(content: string | Uint8Array): string {
  return createHash("sha256").update(content).digest("hex");
}

const STATE_HASH_PATTERN = /^[0-9a-f]{64}$/;
const MAX_TEXT_CHARS = 16_384;

/** What the client knows that a draft does not say. */
export interface EventContext {
  readonly tenantId: string;
  readonly projectId: string;
  readonly userId: string | undefined;
}

/** Encrypts one free-text field of one event (`field` is its name in events.proto). */
export type FieldSealer = (plaintext: string, field: string, event: { readonly tenantId: string; readonly eventId: string }) => string;

function check(ok: boolean, field: string, problem: string, fix: string): void {
  if (!ok) throw new InvalidEventError(field, problem, fix);
}

function text(value: unknown, field: string, required: boolean): string {
  if (value === undefined && !required) return "";
  check(typeof value === "string", field, `= ${JSON.stringify(value)} is not a string`, "pass text");
  check((value as string).length <= MAX_TEXT_CHARS, field, `has ${(value as string).length} characters`, `keep it under ${MAX_TEXT_CHARS} characters; put large content in object storage and reference it`);
  return value as string;
}

/**
 * The complete, checked `SwarmEvent` of a draft. With `seal`, the free text (rationale, action,
 * alternatives, summary, message) is replaced by its ciphertext and `is_encrypted` is set; the
 * fields queries filter on (event type, agent, resource, hashes, confidence, time) stay clear.
 */
export function completeEvent(draft: EventDraft, context: EventContext, seal?: FieldSealer): SwarmEvent {
  check(draft !== null && typeof draft === "object" && ["decision", "state_change", "system_signal"].includes((draft as EventDraft).kind), "event", "is not a draft", "build it with decision(), stateChange() or signal()");
  const agentId = draft.agentId;
  check(typeof agentId === "string" && ACTOR_ID_PATTERN.test(agentId), "agentId", `= ${JSON.stringify(agentId)} is not an agent id`, "use 1-128 letters, digits and _ . : @ -, starting with a letter or digit");
  const projectId = draft.projectId ?? context.projectId;
  check(typeof projectId === "string" && PROJECT_ID_PATTERN.test(projectId), "projectId", `= ${JSON.stringify(projectId)} is not a project id`, "use 1-128 letters, digits, _ or -");
  const userId = draft.userId ?? context.userId;
  check(typeof userId === "string" && ACTOR_ID_PATTERN.test(userId), "userId", `= ${JSON.stringify(userId)} is not a user id`, "pass the tenant member's id (credentials from the API carry it as userId)");
  const eventId = draft.eventId ?? randomUUID();
  check(EVENT_ID_PATTERN.test(eventId), "eventId", `= ${JSON.stringify(eventId)} is not a canonical lower-case UUID`, "leave it out (a new one is made) or use crypto.randomUUID()");
  const when = draft.timestamp ?? new Date();
  const ms = when instanceof Date ? when.getTime() : Number.NaN;
  check(Number.isFinite(ms) && BigInt(Math.floor(ms / 1000)) >= EARLIEST_EVENT_SECONDS, "timestamp", `= ${String(draft.timestamp)} is not a date after 2020`, "leave it out (now) or pass a Date");
  check(draft.agentRole === undefined || draft.agentRole in ROLE_NUMBER, "agentRole", `= ${JSON.stringify(draft.agentRole)} is not a role`, `use one of ${AGENT_ROLE_NAMES.join(", ")}`);

  let traceId = draft.traceId ?? "";
  let spanId = draft.spanId ?? "";
  if (draft.traceId === undefined && draft.spanId === undefined) {
    const span = trace.getActiveSpan()?.spanContext();
    if (span && isSpanContextValid(span)) ({ traceId, spanId } = span);
  }
  check(traceId === "" || TRACE_ID_PATTERN.test(traceId), "traceId", `= ${JSON.stringify(traceId)} is not 32 lower-case hex characters`, "pass the W3C trace id, or leave it to the active OpenTelemetry span");
  check(spanId === "" || SPAN_ID_PATTERN.test(spanId), "spanId", `= ${JSON.stringify(spanId)} is not 16 lower-case hex characters`, "pass the W3C span id, or leave it to the active OpenTelemetry span");

  const ids = { tenantId: context.tenantId, eventId };
  const secret = (value: string, field: string) => (seal && value !== "" ? seal(value, field, ids) : value);
  const seconds = Math.floor(ms / 1000);
  const event = create(SwarmEventSchema, {
    eventId,
    timestamp: create(TimestampSchema, { seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 }),
    traceId,
    spanId,
    agentRole: draft.agentRole ? ROLE_NUMBER[draft.agentRole] : AgentRole.UNSPECIFIED,
    agentId,
    tenantId: context.tenantId,
    userId,
    projectId,
    isEncrypted: seal !== undefined,
  });
  switch (draft.kind) {
    case "decision": {
      check(typeof draft.confidence === "number" && draft.confidence >= 0 && draft.confidence <= 1, "confidence", `= ${String(draft.confidence)} is not in [0, 1]`, "pass the agent's confidence as a number from 0 to 1");
      const alternatives = draft.alternatives ?? [];
      check(Array.isArray(alternatives), "alternatives", "is not a list", "pass a list of short strings");
      event.payload = {
        case: "decision",
        value: create(DecisionSchema, {
          confidenceScore: draft.confidence,
          rationale: secret(text(draft.rationale, "rationale", true), "rationale"),
          action: secret(text(draft.action, "action", true), "action"),
          alternatives: alternatives.map((a, i) => secret(text(a, `alternatives[${i}]`, true), `alternatives.${i}`)),
        }),
      };
      break;
    }
    case "state_change": {
      check(typeof draft.resource === "string" && draft.resource.length > 0 && draft.resource.length <= 1024, "resource", `= ${JSON.stringify(draft.resource)} is not a resource`, "pass a path or URI within the project, 1-1024 characters");
      check(draft.change in CHANGE_NUMBER, "change", `= ${JSON.stringify(draft.change)} is not a change kind`, `use one of ${CHANGE_KINDS.join(", ")}`);
      const stateHash = draft.stateHash ?? "";
      const previous = draft.previousStateHash ?? "";
      check(draft.change === "deleted" ? stateHash === "" || STATE_HASH_PATTERN.test(stateHash) : STATE_HASH_PATTERN.test(stateHash), "stateHash", `= ${JSON.stringify(stateHash)} is not a lower-case hex SHA-256`, "pass stateHashOf(content) of the state after the change (empty only for deleted)");
      check(previous === "" || STATE_HASH_PATTERN.test(previous), "previousStateHash", `= ${JSON.stringify(previous)} is not a lower-case hex SHA-256`, "pass stateHashOf(content) of the state before the change, or leave it out");
      event.payload = {
        case: "stateChange",
        value: create(StateChangeSchema, { targetResource: draft.resource, stateHash, previousStateHash: previous, changeKind: CHANGE_NUMBER[draft.change], summary: secret(text(draft.summary, "summary", true), "summary") }),
      };
      break;
    }
    case "system_signal": {
      check(draft.signal in SIGNAL_NUMBER, "signal", `= ${JSON.stringify(draft.signal)} is not a signal`, `use one of ${SIGNAL_KINDS.join(", ")}`);
      event.payload = { case: "systemSignal", value: create(SystemSignalSchema, { kind: SIGNAL_NUMBER[draft.signal], message: secret(text(draft.message, "message", false), "message") }) };
      break;
    }
  }
  return event;
}

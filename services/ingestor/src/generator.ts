/**
 * Realistic agent events for tests, the local run and the benchmark: what a swarm of agents
 * publishes, with rationales, summaries and hashes of realistic length (300-600 bytes encoded).
 *
 * Deterministic: the same options (including `seed`) give the same bytes, so a failing test or
 * benchmark can be replayed. The generator does not validate its input: pass malformed ids to
 * craft events that the ingestor must refuse.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import type { EventType } from "../../clickhouse-schema/table.js";
import {
  AgentRole,
  ChangeKind,
  DecisionSchema,
  SignalKind,
  StateChangeSchema,
  SwarmEventSchema,
  SystemSignalSchema,
  type SwarmEvent,
} from "./gen/enchanted/events/v1/events_pb.js";

export interface GenerateEventOptions {
  readonly tenantId: string;
  readonly projectId: string;
  readonly agentId: string;
  readonly userId: string;
  /** Which payload the event carries. */
  readonly kind: EventType;
  /** When the agent emits the event; the generator adds a sub-millisecond offset from the seed. */
  readonly now: Date;
  /**
   * Everything else (ids, text, hashes, scores) derives from this: different seeds give
   * different events, the same seed the same bytes.
   * @default 0
   */
  readonly seed?: number;
  /** @default false */
  readonly isEncrypted?: boolean;
}

/**
 * The typical mix of a working swarm, in tenths: 6 decisions, 3 state changes, 1 system signal.
 * `typicalKind(i)` for i = 0, 1, 2, … cycles through it.
 */
export const TYPICAL_MIX: readonly EventType[] = [
  "decision",
  "state_change",
  "decision",
  "decision",
  "state_change",
  "decision",
  "system_signal",
  "decision",
  "state_change",
  "decision",
];

export function typicalKind(index: number): EventType {
  return TYPICAL_MIX[((index % TYPICAL_MIX.length) + TYPICAL_MIX.length) % TYPICAL_MIX.length] ?? "decision";
}

/** mulberry32: a small, fast, well-distributed 32-bit PRNG; enough for test data. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

type Random = () => number;

function pick<T>(random: Random, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new RangeError("pick: items is empty. Fix: pass at least one item.");
  return item;
}

function hex(random: Random, chars: number): string {
  let out = "";
  for (let i = 0; i < chars; i++) out += Math.floor(random() * 16).toString(16);
  return out;
}

/** A version-4 UUID (RFC 9562 layout) from the PRNG. */
function uuid(random: Random): string {
  const variant = (8 + Math.floor(random() * 4)).toString(16);
  return `${hex(random, 8)}-${hex(random, 4)}-4${hex(random, 3)}-${variant}${hex(random, 3)}-${hex(random, 12)}`;
}

const RESOURCES = [
  "src/main.py",
  "src/api/routes.py",
  "src/models/user.py",
  "src/services/billing.ts",
  "src/components/Checkout.tsx",
  "tests/test_routes.py",
  "migrations/0042_add_invoice_index.sql",
  "infra/helm/values.yaml",
  "README.md",
  "package.json",
] as const;

const OBSERVATIONS = [
  "The failing test shows that the handler returns 500 when the cart is empty, because the total is computed before the guard clause runs.",
  "Profiling the request path shows 80% of the latency in the ORM call that loads every invoice line one by one instead of in a single query.",
  "The reviewer flagged that the retry loop has no upper bound, so a permanently failing upstream keeps the worker busy forever.",
  "The stack trace points at a null session object: the login callback stores the token after the redirect has already been sent.",
  "Two modules define the same currency rounding helper with different precision, which explains the one-cent mismatch in the report.",
  "The migration adds a NOT NULL column without a default, so it would lock the table and fail on rows written by the old version.",
  "The dependency upgrade changed the date parser to strict mode, and three fixtures use a day-first format that is now rejected.",
] as const;

const REASONS = [
  "Moving the guard before the computation is the smallest change that fixes the bug without touching the public interface.",
  "Batching the query keeps the behaviour identical while removing the N+1 pattern, and the existing tests cover the result shape.",
  "A bounded exponential backoff matches how the other clients in this repository retry, so operators see consistent behaviour.",
  "Keeping one helper and deleting the duplicate removes the inconsistency at its source instead of patching the report.",
  "Splitting the migration into add-nullable, backfill and set-not-null keeps every step online and reversible.",
] as const;

const RISKS = [
  "Risk: callers that relied on the old error code; none found in the repository.",
  "Risk: the change touches a hot path, so I will run the load test before handing over.",
  "Risk: low, the change is covered by existing integration tests.",
  "Risk: the fixture update may hide a real regression; I asked the tester to review it.",
] as const;

const ACTIONS = [
  "edit src/main.py",
  "refactor billing totals",
  "add regression test",
  "split migration in three steps",
  "bound retry loop",
  "ask reviewer for approval",
] as const;

const SUMMARIES = [
  "Moved the empty-cart guard above the total computation and added a regression test.",
  "Replaced per-line invoice loading with one batched query ordered by position.",
  "Introduced bounded exponential backoff (max 5 attempts) around the upstream call.",
  "Removed the duplicate rounding helper and pointed both callers at the shared one.",
  "Split the migration: add nullable column, backfill in batches, then set NOT NULL.",
] as const;

/**
 * The decisions' and changes' text of the generated events: what an agent observed, why it
 * decided, a risk it saw, and a change's summary. `npm run bench:query` builds its rationale from
 * these too (with more of its own), so both generators write the same kind of text.
 */
export const AGENT_TEXT = { observations: OBSERVATIONS, reasons: REASONS, risks: RISKS, summaries: SUMMARIES } as const;

const SIGNALS: readonly { readonly kind: SignalKind; readonly message: string }[] = [
  { kind: SignalKind.STARTED, message: "Agent started in pod swarm-worker-7f9c6d-2xk4p on node ip-10-0-3-17 with model gpt-large, context window 128k tokens, tools: editor, shell, test-runner." },
  { kind: SignalKind.HEARTBEAT, message: "Heartbeat: 14 tasks done, 2 in progress, queue depth 3, tokens used 48211 of 200000 budget, memory 612 MiB of 1 GiB, last tool call 1.8 s ago." },
  { kind: SignalKind.THROTTLED, message: "Model provider returned 429 Too Many Requests for the completion call; backing off for 4 s (attempt 2 of 5) before retrying the same prompt." },
  { kind: SignalKind.CRASHED, message: "Worker process exited with signal SIGKILL (OOMKilled) while running the test suite; last checkpoint at step 37, open files: src/main.py, tests/test_routes.py." },
  { kind: SignalKind.STOPPED, message: "Agent stopped after completing the task: 5 files changed, 3 tests added, all 212 tests passing, handing over to the reviewer agent for approval." },
];

const ROLE_BY_PREFIX: readonly (readonly [string, AgentRole])[] = [
  ["architect", AgentRole.ARCHITECT],
  ["planner", AgentRole.PLANNER],
  ["coder", AgentRole.CODER],
  ["reviewer", AgentRole.REVIEWER],
  ["tester", AgentRole.TESTER],
  ["operator", AgentRole.OPERATOR],
];

function roleOf(agentId: string, random: Random): AgentRole {
  for (const [prefix, role] of ROLE_BY_PREFIX) if (agentId.startsWith(prefix)) return role;
  return pick(random, ROLE_BY_PREFIX)[1];
}

/** The event as a message (to inspect or alter before encoding). */
export function buildEvent(options: GenerateEventOptions): SwarmEvent {
  const random = prng(options.seed ?? 0);
  const ms = options.now.getTime();
  const subMsMicros = Math.floor(random() * 1000);
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1_000_000 + subMsMicros * 1000;
  const event = create(SwarmEventSchema, {
    eventId: uuid(random),
    timestamp: create(TimestampSchema, { seconds: BigInt(seconds), nanos }),
    traceId: hex(random, 32),
    spanId: hex(random, 16),
    agentRole: roleOf(options.agentId, random),
    agentId: options.agentId,
    tenantId: options.tenantId,
    userId: options.userId,
    projectId: options.projectId,
    isEncrypted: options.isEncrypted ?? false,
  });
  switch (options.kind) {
    case "decision": {
      // Two to three sentences: what the agent saw, why it chose, sometimes the risk it accepts.
      const risk = random() < 0.3 ? ` ${pick(random, RISKS)}` : "";
      const rationale = `${pick(random, OBSERVATIONS)} ${pick(random, REASONS)}${risk}`;
      event.payload = {
        case: "decision",
        value: create(DecisionSchema, {
          confidenceScore: Math.fround(0.35 + random() * 0.64),
          rationale,
          action: pick(random, ACTIONS),
          alternatives: [pick(random, ACTIONS)],
        }),
      };
      break;
    }
    case "state_change": {
      const changeKind = pick(random, [ChangeKind.MODIFIED, ChangeKind.MODIFIED, ChangeKind.MODIFIED, ChangeKind.CREATED, ChangeKind.DELETED]);
      event.payload = {
        case: "stateChange",
        value: create(StateChangeSchema, {
          targetResource: pick(random, RESOURCES),
          stateHash: changeKind === ChangeKind.DELETED ? "" : hex(random, 64),
          previousStateHash: changeKind === ChangeKind.CREATED ? "" : hex(random, 64),
          changeKind,
          summary: pick(random, SUMMARIES),
        }),
      };
      break;
    }
    case "system_signal": {
      const signal = pick(random, SIGNALS);
      event.payload = { case: "systemSignal", value: create(SystemSignalSchema, { kind: signal.kind, message: signal.message }) };
      break;
    }
  }
  return event;
}

/** The event in protobuf binary form, as an agent publishes it. */
export function generateEvent(options: GenerateEventOptions): Uint8Array {
  return toBinary(SwarmEventSchema, buildEvent(options));
}

/**
 * Events of three tenants on three tiers, and the answers the two seed questions must give for
 * each, computed here independently of ClickHouse. The tenants share agent ids and resource
 * names on purpose: a query that forgot its tenant would mix them.
 */
import { PLAN_TIERS, type PlanTierName } from "../../config/tiers.js";
import { formatDateTime64, type EventType, type SwarmEventRow } from "../../services/clickhouse-schema/index.js";

export interface TenantFixture {
  readonly tenantId: string;
  readonly tier: PlanTierName;
  /** Decisions of agent `architect-1` before the crash. */
  readonly decisions: number;
  /** Modifications of `src/main.py` in project `web` during the last hour. */
  readonly mainPyEdits: number;
}

export const TENANTS: readonly TenantFixture[] = [
  { tenantId: "acme", tier: "free", decisions: 12, mainPyEdits: 8 },
  { tenantId: "globex-corp", tier: "pro", decisions: 7, mainPyEdits: 6 },
  { tenantId: "initech", tier: "enterprise", decisions: 3, mainPyEdits: 2 },
];

export const AGENT = "architect-1";
export const CRASH_CONTEXT_LIMIT = 5;
export const LOOP_WINDOW_SECONDS = 3_600;
export const LOOP_MIN_MODIFICATIONS = 5;

const MICROS_PER_SECOND = 1_000_000n;

/** The moment of the crash and the end of the loop window: now, on a whole second. */
export const NOW_MICROS = (BigInt(Date.now()) / 1000n) * MICROS_PER_SECOND;
export const NOW = formatDateTime64(NOW_MICROS);

let sequence = 0;
function eventId(): string {
  sequence += 1;
  return `00000000-0000-4000-8000-${sequence.toString(16).padStart(12, "0")}`;
}

function event(tenantId: string, type: EventType, secondsBeforeNow: number, fields: Partial<SwarmEventRow> = {}): SwarmEventRow {
  const at = NOW_MICROS - BigInt(secondsBeforeNow) * MICROS_PER_SECOND;
  const id = eventId();
  return {
    event_id: id,
    timestamp: formatDateTime64(at),
    trace_id: `trace-${tenantId}`,
    span_id: `span-${id.slice(-6)}`,
    agent_role: "ARCHITECT",
    agent_id: AGENT,
    tenant_id: tenantId,
    user_id: `${tenantId}-user`,
    project_id: "web",
    is_encrypted: false,
    event_type: type,
    confidence_score: 0,
    rationale: "",
    target_resource: "",
    state_hash: "",
    // Not UTF-8 on purpose: the column keeps the protobuf bytes exactly.
    raw_proto_base64: Buffer.from([0x0a, 0xff, 0x00, sequence & 0xff]).toString("base64"),
    ingested_at: formatDateTime64(at + 250_000n).slice(0, 23),
    // What the ingestor writes: the tenant's tier retention when it was ingested.
    retention_days: PLAN_TIERS[TENANTS.find((t) => t.tenantId === tenantId)?.tier ?? "free"].events.retentionDays,
    ...fields,
  };
}

/** Every tenant's events, in one batch as the ingestor would insert it. */
export function allEvents(): SwarmEventRow[] {
  const out: SwarmEventRow[] = [];
  for (const t of TENANTS) {
    for (let i = 0; i < t.decisions; i++) {
      out.push(event(t.tenantId, "decision", 60 * (i + 1), { confidence_score: 0.5 + i / 100, rationale: `${t.tenantId} decision ${i}` }));
    }
    // A decision after the crash, and one of another agent: neither belongs to the crash context.
    out.push(event(t.tenantId, "decision", -30, { rationale: "after the crash" }));
    out.push(event(t.tenantId, "decision", 90, { agent_id: "coder-7", agent_role: "CODER", rationale: "another agent" }));
    for (let i = 0; i < t.mainPyEdits; i++) {
      out.push(event(t.tenantId, "state_change", 300 * (i + 1), { target_resource: "src/main.py", state_hash: `h${i}` }));
    }
    // Below the threshold, outside the window, and the same path in another project.
    for (let i = 0; i < 2; i++) out.push(event(t.tenantId, "state_change", 120 * (i + 1), { target_resource: "README.md", state_hash: `r${i}` }));
    for (let i = 0; i < 9; i++) out.push(event(t.tenantId, "state_change", 7_200 + 60 * i, { target_resource: "src/old.py", state_hash: `o${i}` }));
    for (let i = 0; i < 6; i++) out.push(event(t.tenantId, "state_change", 60 * (i + 1), { project_id: "docs", target_resource: "src/main.py", state_hash: `d${i}` }));
    out.push(event(t.tenantId, "system_signal", 10));
  }
  return out;
}

export interface Expected {
  readonly count: number;
  readonly crashContext: readonly string[];
  readonly loops: readonly { readonly project_id: string; readonly target_resource: string; readonly modifications: number }[];
}

/** What each tenant's queries must return, from the fixture alone. */
export function expectedFor(events: readonly SwarmEventRow[], tenantId: string): Expected {
  const own = events.filter((e) => e.tenant_id === tenantId);
  const crashContext = own
    .filter((e) => e.event_type === "decision" && e.agent_id === AGENT && e.timestamp < NOW)
    .sort((a, b) => (a.timestamp < b.timestamp ? 1 : -1))
    .slice(0, CRASH_CONTEXT_LIMIT)
    .map((e) => e.event_id);
  const windowStart = formatDateTime64(NOW_MICROS - BigInt(LOOP_WINDOW_SECONDS) * MICROS_PER_SECOND);
  const counts = new Map<string, number>();
  for (const e of own) {
    if (e.event_type !== "state_change" || e.timestamp < windowStart || e.timestamp >= NOW) continue;
    const key = `${e.project_id}\u0000${e.target_resource}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const loops = [...counts.entries()]
    .filter(([, n]) => n > LOOP_MIN_MODIFICATIONS)
    .map(([key, n]) => {
      const [project_id = "", target_resource = ""] = key.split("\u0000");
      return { project_id, target_resource, modifications: n };
    })
    .sort((a, b) => b.modifications - a.modifications || a.project_id.localeCompare(b.project_id) || a.target_resource.localeCompare(b.target_resource));
  return { count: own.length, crashContext, loops };
}

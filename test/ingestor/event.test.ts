/**
 * The ingestor's event contract: events.proto ↔ the swarm_events columns, decodeEvent's row and
 * every reason it refuses a message, the generator's sizes, the reproducibility of the generated
 * code, and the decoded rows in a real ClickHouse engine (chdb).
 */
import { execFileSync } from "node:child_process";
import { Readable } from "node:stream";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, describe, expect, it } from "vitest";
import { loadEnvironment, loadTierCatalog } from "../../config/index.js";
import { DEFAULT_PLAN_TIER, PLAN_TIERS } from "../../config/tiers.js";
import {
  AGENT_ROLES,
  EVENT_TYPES,
  formatDateTime64,
  qualified,
  schemaSql,
  SWARM_EVENTS_INSERT_COLUMNS,
  SWARM_EVENTS_INSERT_FORMAT,
  SWARM_EVENTS_INSERT_SETTINGS,
  SWARM_EVENTS_TABLE,
  type SwarmEventRow,
} from "../../services/clickhouse-schema/index.js";
import { eventSubject, storedEventSubject } from "../../services/nats-auth/streams.js";
import { decodeEvent, MAX_EVENT_BYTES, MAX_CLOCK_SKEW_MS, PROJECT_ID_PATTERN, tenantOfSubject, type DecodeResult, type RejectReason } from "../../services/ingestor/src/event.js";
import { AgentRoleSchema, DecisionSchema, type AgentRole, SwarmEventSchema, type SwarmEvent } from "../../services/ingestor/src/gen/enchanted/events/v1/events_pb.js";
import { buildEvent, generateEvent, typicalKind, type GenerateEventOptions } from "../../services/ingestor/src/generator.js";
import { appendEvent, RowBlock } from "../../services/ingestor/src/row-encoder.js";
import { ClickHouseSink, INSERT_SPOOL_DIR } from "../../services/ingestor/src/sink.js";
import { ADMIN, EmbeddedClickHouse, INGESTOR, rows } from "../support/chdb.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const GEN_DIR = join(ROOT, "services/ingestor/src/gen");

const TENANT = "acme-corp";
const PROJECT = "web-shop";
const SUBJECT = eventSubject(TENANT, PROJECT);
/** Stream time: a whole second, so expectations are exact. */
const NOW_MS = Math.floor(Date.now() / 1000) * 1000;
const NOW = new Date(NOW_MS);
/** The retention of the default tier: what the ingestor applies to a tenant without a plan row. */
const RETENTION_DAYS = PLAN_TIERS[DEFAULT_PLAN_TIER].events.retentionDays;
/** JetStream stores the message a little after the agent emitted it. */
const META = { streamTimestampMs: NOW_MS + 250, retentionDays: RETENTION_DAYS };
const DAY_MS = 86_400_000;

function options(overrides: Partial<GenerateEventOptions> = {}): GenerateEventOptions {
  return { tenantId: TENANT, projectId: PROJECT, agentId: "architect-1", userId: "3f9a1c2e-7b4d-4e8a-9c1f-0d2e3b4a5c6d", kind: "decision", now: NOW, seed: 1, ...overrides };
}

/** A generated event, altered, encoded. */
function crafted(alter: (event: SwarmEvent) => void, overrides: Partial<GenerateEventOptions> = {}): Uint8Array {
  const event = buildEvent(options(overrides));
  alter(event);
  return toBinary(SwarmEventSchema, event);
}

function expectRejected(result: DecodeResult, reason: RejectReason, detail: RegExp): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.reason).toBe(reason);
  expect(result.detail).toMatch(detail);
}

function accepted(result: DecodeResult): SwarmEventRow {
  if (!result.ok) throw new Error(`expected the event to be accepted, got ${result.reason}: ${result.detail}`);
  return result.row;
}

/** The row decodeEvent must produce for `event`, computed from the message independently. */
function expectedRow(event: SwarmEvent, bytes: Uint8Array): SwarmEventRow {
  const ts = event.timestamp;
  if (!ts) throw new Error("generated event has no timestamp");
  const p = event.payload;
  return {
    event_id: event.eventId,
    timestamp: formatDateTime64(ts.seconds * 1_000_000n + BigInt(ts.nanos / 1000)),
    trace_id: event.traceId,
    span_id: event.spanId,
    agent_role: AGENT_ROLES[event.agentRole] ?? "UNSPECIFIED",
    agent_id: event.agentId,
    tenant_id: event.tenantId,
    user_id: event.userId,
    project_id: event.projectId,
    is_encrypted: event.isEncrypted,
    event_type: p.case === "stateChange" ? "state_change" : p.case === "systemSignal" ? "system_signal" : "decision",
    confidence_score: p.case === "decision" ? p.value.confidenceScore : 0,
    rationale: p.case === "decision" && !event.isEncrypted ? p.value.rationale : "",
    target_resource: p.case === "stateChange" ? p.value.targetResource : "",
    state_hash: p.case === "stateChange" ? p.value.stateHash : "",
    raw_proto_base64: Buffer.from(bytes).toString("base64"),
    ingested_at: formatDateTime64(BigInt(META.streamTimestampMs) * 1000n).slice(0, 23),
    retention_days: META.retentionDays,
  };
}

/** A test case that alters a generated event: what, how, and the detail the refusal must carry. */
type AlterCase = readonly [string, (event: SwarmEvent) => void, RegExp];

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe("events.proto and the swarm_events table", () => {
  it("numbers AgentRole exactly like AGENT_ROLES (the Enum8 column)", () => {
    expect(AgentRoleSchema.values.map((v) => [v.number, v.name.replace(/^AGENT_ROLE_/, "")])).toEqual(AGENT_ROLES.map((r, i) => [i, r]));
  });

  it("names the payload oneof's fields exactly like EVENT_TYPES (the event_type column)", () => {
    const oneof = SwarmEventSchema.oneofs.find((o) => o.name === "payload");
    expect(oneof?.fields.map((f) => f.name)).toEqual([...EVENT_TYPES]);
    expect(SwarmEventSchema.field.timestamp?.message?.typeName).toBe("google.protobuf.Timestamp");
  });

  it("uses the subject rule of eventSubject() for project ids", () => {
    for (const project of ["web", "web-shop", "a_b", "X9", "a".repeat(128), "", "a.b", "a*", "a b", "a>", "ü", "a".repeat(129)]) {
      let subjectOk = true;
      try {
        eventSubject(TENANT, project);
      } catch {
        subjectOk = false;
      }
      expect(PROJECT_ID_PATTERN.test(project), project).toBe(subjectOk);
    }
  });

  it("`npm run proto:generate` reproduces the committed generated code byte for byte", () => {
    const out = mkdtempSync(join(tmpdir(), "enchanted-proto-"));
    try {
      execFileSync("npm", ["run", "--silent", "proto:generate", "--", "--output", out], { cwd: ROOT, stdio: "pipe" });
      const regenerated = join(out, "src/gen");
      const files = listFiles(GEN_DIR);
      expect(files).toEqual(["enchanted/events/v1/events_pb.ts"]);
      expect(listFiles(regenerated)).toEqual(files);
      for (const f of files) expect(readFileSync(join(regenerated, f)).equals(readFileSync(join(GEN_DIR, f))), f).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe("decodeEvent", () => {
  it.each(EVENT_TYPES)("maps a generated %s event to exactly the insert columns", (kind) => {
    const event = buildEvent(options({ kind }));
    const bytes = toBinary(SwarmEventSchema, event);
    const row = accepted(decodeEvent(SUBJECT, bytes, META));
    expect(Object.keys(row)).toEqual([...SWARM_EVENTS_INSERT_COLUMNS]);
    expect(row).toEqual(expectedRow(event, bytes));
    expect(row.event_type).toBe(kind);
    expect(row.tenant_id).toBe(TENANT);
    expect(row.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
    expect(row.ingested_at).toBe(formatDateTime64(BigInt(META.streamTimestampMs) * 1000n).slice(0, 23));
    expect(Buffer.from(row.raw_proto_base64, "base64").equals(Buffer.from(bytes))).toBe(true);
  });

  it("keeps microseconds of the event time", () => {
    const bytes = crafted((e) => {
      e.timestamp = create(TimestampSchema, { seconds: BigInt(NOW_MS / 1000), nanos: 123_456_789 });
    });
    expect(accepted(decodeEvent(SUBJECT, bytes, META)).timestamp).toBe(formatDateTime64(BigInt(NOW_MS) * 1000n + 123_456n));
  });

  it("keeps an encrypted decision's rationale out of the columns (only raw_proto holds it)", () => {
    const row = accepted(decodeEvent(SUBJECT, generateEvent(options({ isEncrypted: true })), META));
    expect(row.is_encrypted).toBe(true);
    expect(row.rationale).toBe("");
    expect(row.confidence_score).toBeGreaterThan(0);
  });

  it("decodes a Uint8Array that is a view into a larger buffer", () => {
    const bytes = generateEvent(options());
    const big = new Uint8Array(bytes.length + 20);
    big.set(bytes, 10);
    const row = accepted(decodeEvent(SUBJECT, big.subarray(10, 10 + bytes.length), META));
    expect(row.raw_proto_base64).toBe(Buffer.from(bytes).toString("base64"));
  });

  it("refuses an event larger than MAX_EVENT_BYTES before parsing it", () => {
    const big = crafted((e) => {
      if (e.payload.case === "decision") e.payload.value.rationale = "x".repeat(MAX_EVENT_BYTES);
    });
    expectRejected(decodeEvent(SUBJECT, big, META), "oversize", /more than MAX_EVENT_BYTES = 65536/);
    expectRejected(decodeEvent(SUBJECT, new Uint8Array(MAX_EVENT_BYTES + 1).fill(0xff), META), "oversize", /65537 bytes/);
  });

  it("refuses garbage bytes as undecodable", () => {
    expectRejected(decodeEvent(SUBJECT, new Uint8Array(64).fill(0xff), META), "undecodable", /^not a SwarmEvent: /);
    expectRejected(decodeEvent(SUBJECT, Buffer.from("not a protobuf, just text"), META), "undecodable", /^not a SwarmEvent: /);
    // A truncated event, and invalid UTF-8 in a string field.
    const bytes = generateEvent(options());
    expectRejected(decodeEvent(SUBJECT, bytes.subarray(0, bytes.length - 5), META), "undecodable", /^not a SwarmEvent: /);
    expectRejected(decodeEvent(SUBJECT, new Uint8Array([0x0a, 0x02, 0xc3, 0x28]), META), "undecodable", /^not a SwarmEvent: /);
  });

  it.each<AlterCase>([
    ["event_id", (e: SwarmEvent) => void (e.eventId = ""), /^event_id is empty$/],
    ["timestamp", (e: SwarmEvent) => void (e.timestamp = undefined), /^timestamp is not set$/],
    ["tenant_id", (e: SwarmEvent) => void (e.tenantId = ""), /^tenant_id is empty$/],
    ["project_id", (e: SwarmEvent) => void (e.projectId = ""), /^project_id is empty$/],
    ["agent_id", (e: SwarmEvent) => void (e.agentId = ""), /^agent_id is empty$/],
    ["user_id", (e: SwarmEvent) => void (e.userId = ""), /^user_id is empty$/],
    ["payload", (e: SwarmEvent) => void (e.payload = { case: undefined }), /^payload is not set/],
  ])("refuses an event without %s as missing-field", (_field, alter, detail) => {
    expectRejected(decodeEvent(SUBJECT, crafted(alter), META), "missing-field", detail);
  });

  it.each<AlterCase>([
    ["an upper-case event_id", (e: SwarmEvent) => void (e.eventId = e.eventId.toUpperCase()), /^event_id "[0-9A-F-]{36}" is not a canonical/],
    ["an event_id without dashes", (e: SwarmEvent) => void (e.eventId = e.eventId.replaceAll("-", "")), /^event_id /],
    ["a tenant_id with a dot", (e: SwarmEvent) => void (e.tenantId = "acme.corp"), /^tenant_id "acme\.corp" is not a valid tenant id$/],
    ["an upper-case tenant_id", (e: SwarmEvent) => void (e.tenantId = "ACME-CORP"), /^tenant_id "ACME-CORP"/],
    ["a project_id with a wildcard", (e: SwarmEvent) => void (e.projectId = "web*"), /^project_id "web\*"/],
    ["an agent_id with a space", (e: SwarmEvent) => void (e.agentId = "coder 1"), /^agent_id "coder 1" does not match/],
    ["a user_id with a quote", (e: SwarmEvent) => void (e.userId = "bob'; DROP"), /^user_id /],
    ["a trace_id of the wrong length", (e: SwarmEvent) => void (e.traceId = "abc"), /^trace_id "abc"/],
    ["an upper-case span_id", (e: SwarmEvent) => void (e.spanId = "ABCDEF0123456789"), /^span_id /],
  ])("refuses %s as bad-id", (_what, alter, detail) => {
    expectRejected(decodeEvent(SUBJECT, crafted(alter), META), "bad-id", detail);
  });

  it("accepts an untraced event (empty trace and span ids)", () => {
    const row = accepted(
      decodeEvent(
        SUBJECT,
        crafted((e) => {
          e.traceId = "";
          e.spanId = "";
        }),
        META,
      ),
    );
    expect([row.trace_id, row.span_id]).toEqual(["", ""]);
  });

  it.each<AlterCase>([
    ["a timestamp before 2020", (e: SwarmEvent) => void (e.timestamp = create(TimestampSchema, { seconds: 1_000_000_000n })), /^timestamp /],
    ["a timestamp far after the stream timestamp", (e: SwarmEvent) => void (e.timestamp = create(TimestampSchema, { seconds: BigInt((NOW_MS + 2 * MAX_CLOCK_SKEW_MS) / 1000) })), /^timestamp /],
    ["negative nanos", (e: SwarmEvent) => void (e.timestamp = create(TimestampSchema, { seconds: BigInt(NOW_MS / 1000), nanos: -1 })), /^timestamp /],
    ["an unknown agent_role", (e: SwarmEvent) => void (e.agentRole = 42 as AgentRole), /^agent_role 42 is not an AgentRole$/],
    ["a NaN confidence", (e: SwarmEvent) => void (e.payload = { case: "decision", value: create(DecisionSchema, { confidenceScore: Number.NaN, rationale: "r" }) }), /^decision\.confidence_score NaN/],
    ["a confidence above 1", (e: SwarmEvent) => void (e.payload = { case: "decision", value: create(DecisionSchema, { confidenceScore: 1.5, rationale: "r" }) }), /^decision\.confidence_score 1\.5/],
  ])("refuses %s as bad-value", (_what, alter, detail) => {
    expectRejected(decodeEvent(SUBJECT, crafted(alter), META), "bad-value", detail);
  });

  it("refuses an event whose payload tenant is not the subject's tenant", () => {
    const bytes = generateEvent(options({ tenantId: "globex" }));
    expectRejected(decodeEvent(SUBJECT, bytes, META), "tenant-mismatch", /^tenant_id "globex" was published on subject "swarm\.acme-corp\.web-shop\.events" of tenant "acme-corp"$/);
    // The same bytes on the payload tenant's own subject are fine.
    expect(decodeEvent(eventSubject("globex", PROJECT), bytes, META).ok).toBe(true);
  });

  it("refuses an event whose payload project is not the subject's project", () => {
    const bytes = generateEvent(options({ projectId: "admin-portal" }));
    expectRejected(decodeEvent(SUBJECT, bytes, META), "tenant-mismatch", /^project_id "admin-portal" was published on subject .* of project "web-shop"$/);
  });

  it("accepts the subject as SWARM_EVENTS stores it (no project token): the project comes from the payload, the tenant is still checked", () => {
    const bytes = generateEvent(options());
    const published = decodeEvent(SUBJECT, bytes, META);
    const stored = decodeEvent(storedEventSubject("acme-corp"), bytes, META);
    expect(published.ok).toBe(true);
    expect(stored).toEqual(published);
    expectRejected(decodeEvent(storedEventSubject("globex"), bytes, META), "tenant-mismatch", /^tenant_id "acme-corp" was published on subject "swarm.globex.events"/);
  });

  it.each([
    "swarm.acme-corp.web-shop.jobs",
    "swarm.acme-corp.web-shop.events.extra",
    "swarm.acme-corp.web.shop.events",
    "swarm..web-shop.events",
    "swarm.acme-corp..events",
    "events.acme-corp.web-shop.events",
    "swarm.ACME.web-shop.events",
    "swarm.a.web-shop.events",
    "swarm.acme-corp.web*.events",
    "swarm.*.web-shop.events",
    "",
  ])("refuses the malformed subject %j as bad-subject", (subject) => {
    expectRejected(decodeEvent(subject, generateEvent(options()), META), "bad-subject", /^subject /);
  });

  it("refuses an event older than its tenant's retention before its stream time as expired, keeps one at the cutoff, and writes the retention into the row", () => {
    const at = (ms: number) => (e: SwarmEvent) => void (e.timestamp = create(TimestampSchema, { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 }));
    const cutoff = META.streamTimestampMs - RETENTION_DAYS * DAY_MS;
    expectRejected(
      decodeEvent(SUBJECT, crafted(at(cutoff - 1)), META),
      "expired",
      new RegExp(`^timestamp ${formatDateTime64(BigInt(cutoff - 1) * 1000n).slice(0, 23)} is more than retentionDays = ${RETENTION_DAYS} days before its stream time ${formatDateTime64(BigInt(META.streamTimestampMs) * 1000n).slice(0, 23)}: the row would be deleted by the table's TTL$`),
    );
    // Sub-millisecond precision does not move the cutoff: both paths compare whole milliseconds.
    expect(accepted(decodeEvent(SUBJECT, crafted(at(cutoff)), META)).retention_days).toBe(RETENTION_DAYS);
    // Another tier's retention: the row carries it, and it decides.
    const longer = PLAN_TIERS.enterprise.events.retentionDays;
    expect(accepted(decodeEvent(SUBJECT, crafted(at(cutoff - 1)), { ...META, retentionDays: longer })).retention_days).toBe(longer);
    // 0 (no tier known): no expiry check, and the table's default TTL.
    expect(accepted(decodeEvent(SUBJECT, crafted(at(Date.UTC(2020, 0, 2))), { ...META, retentionDays: 0 })).retention_days).toBe(0);
  });

  it("checks the message before the retention: an old event on another tenant's subject is a tenant-mismatch", () => {
    const old = create(TimestampSchema, { seconds: BigInt(Math.floor((META.streamTimestampMs - 2 * RETENTION_DAYS * DAY_MS) / 1000)) });
    const bytes = crafted((e) => void (e.timestamp = old), { tenantId: "globex" });
    expect(decodeEvent(SUBJECT, bytes, META)).toMatchObject({ ok: false, reason: "tenant-mismatch" });
    expect(decodeEvent(eventSubject("globex", PROJECT), bytes, META)).toMatchObject({ ok: false, reason: "expired" });
  });

  it("reads the tenant of both subject forms, and none of a malformed subject", () => {
    expect(tenantOfSubject(SUBJECT)).toBe(TENANT);
    expect(tenantOfSubject(storedEventSubject(TENANT))).toBe(TENANT);
    for (const subject of ["swarm.ACME.web-shop.events", "swarm.a.events", "swarm..events", "swarm.acme-corp.web-shop.jobs", "events.acme-corp.events", "swarm.events", ""]) {
      expect(tenantOfSubject(subject), subject).toBeUndefined();
    }
  });

  it("checks the size before the subject, and the subject before decoding", () => {
    expect(decodeEvent("nonsense", new Uint8Array(MAX_EVENT_BYTES + 1), META)).toMatchObject({ ok: false, reason: "oversize" });
    expect(decodeEvent("nonsense", new Uint8Array([0xff]), META)).toMatchObject({ ok: false, reason: "bad-subject" });
  });

  it("quotes at most 64 characters of a bad value in the detail", () => {
    const result = decodeEvent(SUBJECT, crafted((e) => void (e.agentId = `bad id ${"x".repeat(1000)}`)), META);
    expectRejected(result, "bad-id", /^agent_id "bad id x{57}…" does not match/);
  });

  it("decodes 20,000 generated events of the typical mix", () => {
    const pool = Array.from({ length: 500 }, (_, i) => generateEvent(options({ kind: typicalKind(i), seed: i, agentId: `coder-${i % 9}` })));
    let ok = 0;
    for (let i = 0; i < 20_000; i++) {
      const bytes = pool[i % pool.length];
      if (bytes && decodeEvent(SUBJECT, bytes, META).ok) ok++;
    }
    expect(ok).toBe(20_000);
  });
});

describe("generateEvent", () => {
  it("is deterministic for a seed and varies with it", () => {
    expect(Buffer.from(generateEvent(options({ seed: 7 }))).equals(Buffer.from(generateEvent(options({ seed: 7 }))))).toBe(true);
    expect(Buffer.from(generateEvent(options({ seed: 7 }))).equals(Buffer.from(generateEvent(options({ seed: 8 }))))).toBe(false);
  });

  it("produces 300-600 byte events for the typical mix", () => {
    const sizes = new Map<string, number[]>();
    for (let i = 0; i < 2_000; i++) {
      const kind = typicalKind(i);
      const bytes = generateEvent(options({ kind, seed: i, agentId: `reviewer-${i % 5}` }));
      sizes.set(kind, [...(sizes.get(kind) ?? []), bytes.length]);
    }
    expect([...sizes.keys()].sort()).toEqual([...EVENT_TYPES].sort());
    for (const [kind, list] of sizes) {
      expect(Math.min(...list), kind).toBeGreaterThanOrEqual(300);
      expect(Math.max(...list), kind).toBeLessThanOrEqual(600);
    }
  });
});

describe("decoded rows in a real ClickHouse engine", () => {
  let engine: EmbeddedClickHouse | undefined;
  afterAll(async () => {
    await engine?.destroy();
  });

  it("are accepted by swarm_events as inserted and read back unchanged, raw_proto byte for byte", async () => {
    const catalog = loadTierCatalog();
    const eventTtlDays = loadEnvironment("dev").clickhouse.eventTtlDays;
    const table = qualified(SWARM_EVENTS_TABLE);
    const created = EmbeddedClickHouse.create({ catalog });
    engine = created;
    const sent = Array.from({ length: 12 }, (_, i) => generateEvent(options({ kind: typicalKind(i), seed: 100 + i, isEncrypted: i === 3 })));
    const inserted = sent.map((bytes) => accepted(decodeEvent(SUBJECT, bytes, META)));

    await created.as(ADMIN, async (client) => {
      for (const statement of schemaSql({ eventTtlDays })) await client.command({ query: statement });
    });
    await created.as(INGESTOR, (client) =>
      client.insert({
        table,
        values: inserted,
        format: SWARM_EVENTS_INSERT_FORMAT,
        columns: [...SWARM_EVENTS_INSERT_COLUMNS] as [string, ...string[]],
        clickhouse_settings: { ...SWARM_EVENTS_INSERT_SETTINGS },
      }),
    );
    const stored = await created.as(ADMIN, (client) =>
      rows<Omit<SwarmEventRow, "raw_proto_base64"> & { raw: string }>(client, {
        query: `SELECT * EXCEPT (raw_proto), base64Encode(raw_proto) AS raw FROM ${table} FINAL`,
      }),
    );

    const byId = (a: { event_id: string }, b: { event_id: string }) => (a.event_id < b.event_id ? -1 : 1);
    // Float32 comes back as its shortest decimal: compare as Float32 again.
    const readBack = stored.map(({ raw, ...row }) => ({ ...row, raw_proto_base64: raw, confidence_score: Math.fround(row.confidence_score) }));
    expect(readBack.sort(byId)).toEqual([...inserted].sort(byId));
  });

  it("round-trip every byte value through RowBlock's TabSeparated escaping (backslash, tab and newline only)", async () => {
    const created = engine ?? EmbeddedClickHouse.create({ catalog: loadTierCatalog() });
    engine = created;
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const samples = [all, Buffer.from("\\\t\n\r"), Buffer.from("ends with CR\r"), Buffer.alloc(0), Buffer.from(Array.from({ length: 600 }, (_, i) => [9, 10, 92][i % 3] as number))];
    const block = new RowBlock(16);
    samples.forEach((bytes, i) => {
      block.ascii(String(i));
      block.tab();
      block.escaped(bytes, 0, bytes.length);
      block.endRow();
    });
    const back = await created.as(ADMIN, async (client) => {
      await client.command({ query: "CREATE TABLE IF NOT EXISTS default.escapes (id UInt32, b String) ENGINE = MergeTree ORDER BY id" });
      await client.insert({ table: "default.escapes", columns: ["id", "b"], format: "TabSeparated", values: Readable.from([block.bytes()], { objectMode: false }) });
      return rows<{ id: number; hex: string }>(client, { query: "SELECT id, hex(b) AS hex FROM default.escapes ORDER BY id" });
    });
    expect(back).toEqual(samples.map((bytes, id) => ({ id, hex: bytes.toString("hex").toUpperCase() })));
  });

  it("store the ingestor's TabSeparated block as the same rows: text with tabs, newlines, backslashes and CR, raw_proto byte for byte", async () => {
    const table = qualified(SWARM_EVENTS_TABLE);
    const created = engine ?? EmbeddedClickHouse.create({ catalog: loadTierCatalog() });
    engine = created;
    const sent = Array.from({ length: 12 }, (_, i) => generateEvent(options({ kind: typicalKind(i), seed: 500 + i, isEncrypted: i === 5 })));
    const tricky = fromBinary(SwarmEventSchema, sent[0] as Uint8Array);
    tricky.eventId = "7f000000-0000-4000-8000-00000000beef";
    tricky.payload = { case: "decision", value: create(DecisionSchema, { confidenceScore: 0.25, rationale: "tab\there\nnewline \\ backslash\r\n— ünïcode 🐝\r" }) };
    sent.push(toBinary(SwarmEventSchema, tricky));
    const block = new RowBlock();
    for (const bytes of sent) expect(appendEvent(block, SUBJECT, bytes, META)).toEqual({ ok: true });
    const expected = sent.map((bytes) => accepted(decodeEvent(SUBJECT, bytes, META)));

    await created.as(ADMIN, async (client) => {
      for (const statement of schemaSql({ eventTtlDays: loadEnvironment("dev").clickhouse.eventTtlDays })) await client.command({ query: statement });
      await client.command({ query: `TRUNCATE TABLE ${table}` });
    });
    await created.as(INGESTOR, (client) => new ClickHouseSink(client).insert(block, "block-roundtrip"));
    const stored = await created.as(ADMIN, (client) =>
      rows<Omit<SwarmEventRow, "raw_proto_base64"> & { raw: string }>(client, {
        query: `SELECT * EXCEPT (raw_proto), base64Encode(raw_proto) AS raw FROM ${table} FINAL`,
      }),
    );
    const byId = (a: { event_id: string }, b: { event_id: string }) => (a.event_id < b.event_id ? -1 : 1);
    const readBack = stored.map(({ raw, ...row }) => ({ ...row, raw_proto_base64: raw, confidence_score: Math.fround(row.confidence_score) }));
    expect(readBack).toHaveLength(13);
    expect(readBack.sort(byId)).toEqual([...expected].sort(byId));
    expect(readBack.find((r) => r.event_id === tricky.eventId)?.rationale).toBe("tab\there\nnewline \\ backslash\r\n— ünïcode 🐝\r");
  });
  it("go into the embedded engine from a spool file: one token stores a block once, another token a second copy, a missing table fails with its code, and no file is left", async () => {
    const table = qualified(SWARM_EVENTS_TABLE);
    const created = engine ?? EmbeddedClickHouse.create({ catalog: loadTierCatalog() });
    engine = created;
    const block = new RowBlock();
    for (let i = 0; i < 20; i++) expect(appendEvent(block, SUBJECT, generateEvent(options({ kind: typicalKind(i), seed: 900 + i })), META)).toEqual({ ok: true });
    await created.as(ADMIN, async (client) => {
      for (const statement of schemaSql({ eventTtlDays: loadEnvironment("dev").clickhouse.eventTtlDays })) await client.command({ query: statement });
      await client.command({ query: `TRUNCATE TABLE ${table}` });
    });
    const missing = await created.as(INGESTOR, async (client) => {
      const sink = new ClickHouseSink(client);
      await sink.insert(block, "spool-a");
      await sink.insert(block, "spool-a"); // a redelivered batch: dropped by its token
      await sink.insert(block, "spool-b"); // the same rows under another token: a second copy
      return new ClickHouseSink(client, undefined, `${table}_missing`).insert(block, "spool-c").then(
        () => undefined,
        (e: unknown) => e as { kind: string; clickhouseCode: string },
      );
    });
    expect(missing).toMatchObject({ kind: "permanent", clickhouseCode: "60" });
    const counts = await created.as(ADMIN, (client) =>
      rows<{ copies: number | string; events: number | string }>(client, { query: `SELECT (SELECT count() FROM ${table}) AS copies, (SELECT count() FROM ${table} FINAL) AS events` }),
    );
    expect(counts.map((c) => ({ copies: Number(c.copies), events: Number(c.events) }))).toEqual([{ copies: 40, events: 20 }]);
    expect(readdirSync(join(created.root, "data", INSERT_SPOOL_DIR))).toEqual([]);
  });
});

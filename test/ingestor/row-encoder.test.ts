import { create, toBinary } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeEvent, REJECT_REASONS } from "../../services/ingestor/src/event.js";
import { SwarmEventSchema, type SwarmEvent } from "../../services/ingestor/src/gen/enchanted/events/v1/events_pb.js";
import { buildEvent, typicalKind } from "../../services/ingestor/src/generator.js";
import { appendEvent, appendEventFast, isActorIdBytes, isEventIdBytes, isHexIdBytes, isProjectIdBytes, isTenantIdBytes, RowBlock } from "../../services/ingestor/src/row-encoder.js";
import { TENANT_ID_PATTERN } from "../../config/tenancy.js";
import { ACTOR_ID_PATTERN, EVENT_ID_PATTERN, PROJECT_ID_PATTERN, SPAN_ID_PATTERN, TRACE_ID_PATTERN } from "../../services/ingestor/src/event.js";
import { eventSubject } from "../../services/nats-auth/streams.js";

const NOW = Date.parse("2026-11-25T12:00:00.000Z");
const META = { streamTimestampMs: NOW + 123, retentionDays: 30 };
const DAY_MS = 86_400_000;
const SUBJECT = eventSubject("acme", "checkout");

function event(i: number, overrides: Partial<Pick<SwarmEvent, "isEncrypted">> = {}): SwarmEvent {
  return buildEvent({ tenantId: "acme", projectId: "checkout", agentId: `coder-${i % 13}`, userId: `user-${i % 5}`, kind: typicalKind(i), now: new Date(NOW - (i % 5_000) * 997), seed: i, ...overrides });
}

/** The exact path's row as the block holds it (latin1: one character per byte), or the refusal. */
function exact(subject: string, data: Uint8Array): string | { reason: string } {
  const r = decodeEvent(subject, data, META);
  if (!r.ok) return { reason: r.reason };
  const block = new RowBlock(16);
  block.appendRow(r.row, data);
  return block.bytes().toString("latin1");
}

/** The fast path's row (latin1), or undefined when it hands the message to the exact path. */
function fast(subject: string, data: Uint8Array): string | undefined {
  const block = new RowBlock(16);
  const appended = appendEventFast(block, subject, data, META);
  if (!appended) {
    expect(block.byteLength).toBe(0); // nothing half-written
    return undefined;
  }
  return block.bytes().toString("latin1");
}

/** Both paths through {@link appendEvent}: the row, or the refusal. */
function either(subject: string, data: Uint8Array): { ok: true; row: string } | { ok: false; reason: string } {
  const block = new RowBlock(16);
  const result = appendEvent(block, subject, data, META);
  return result.ok ? { ok: true, row: block.bytes().toString("latin1") } : { ok: false, reason: result.reason };
}

describe("row encoder: the fast path is a shortcut to the exact decoder's row", () => {
  it("writes, byte for byte, the exact path's TabSeparated row of decodeEvent's row for 3,000 generated events of every kind", () => {
    let rows = 0;
    const block = new RowBlock(16); // one block for all: it grows, and rows follow each other
    let expected = "";
    for (let i = 0; i < 3_000; i++) {
      const bytes = toBinary(SwarmEventSchema, event(i, { isEncrypted: i % 11 === 0 }));
      const row = fast(SUBJECT, bytes);
      expect(row).toBeDefined(); // canonical encodings never need the exact path
      expect(row).toBe(exact(SUBJECT, bytes));
      expect(appendEventFast(block, SUBJECT, bytes, META)).toBe(true);
      expected += row;
      rows++;
    }
    expect(rows).toBe(3_000);
    expect(block.length).toBe(3_000);
    expect(block.bytes().toString("latin1")).toBe(expected);
    // One row per line, 18 columns each: no tab or newline of a value escaped its field.
    const lines = expected.split("\n");
    expect(lines.pop()).toBe("");
    expect(lines).toHaveLength(3_000);
    for (const line of lines) expect(line.split("\t")).toHaveLength(18);
    for (const line of lines) expect(line.split("\t")[17]).toBe("30");
  });

  it("writes every tier's retention as the exact path does, and hands an event beyond it to the exact path, which refuses it as expired", () => {
    const e = event(5);
    for (const retentionDays of [1, 9, 10, 30, 99, 180, 365, 1_000, 3_650, 0]) {
      const meta = { ...META, retentionDays };
      const bytes = toBinary(SwarmEventSchema, e);
      const block = new RowBlock(16);
      expect(appendEventFast(block, SUBJECT, bytes, meta)).toBe(true);
      const exactBlock = new RowBlock(16);
      const decoded = decodeEvent(SUBJECT, bytes, meta);
      if (!decoded.ok) throw new Error(decoded.detail);
      exactBlock.appendRow(decoded.row, bytes);
      expect(block.bytes().toString("latin1")).toBe(exactBlock.bytes().toString("latin1"));
      expect(block.bytes().toString("latin1").trimEnd().split("\t")[17]).toBe(String(retentionDays));
    }
    // Around the cutoff (stream time − 30 days), to the millisecond and below it.
    const cutoff = META.streamTimestampMs - 30 * DAY_MS;
    for (const [ms, nanosExtra, expired] of [[cutoff - 1, 999_999, true], [cutoff, 0, false], [cutoff, 999_999, false], [cutoff - 1000, 0, true], [cutoff + 1, 0, false]] as const) {
      const old = event(6);
      old.timestamp = create(TimestampSchema, { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 + nanosExtra });
      const bytes = toBinary(SwarmEventSchema, old);
      const row = fast(SUBJECT, bytes);
      if (expired) {
        expect(row, `${ms}`).toBeUndefined();
        expect(either(SUBJECT, bytes)).toEqual({ ok: false, reason: "expired" });
      } else {
        expect(row, `${ms}`).toBe(exact(SUBJECT, bytes));
      }
    }
  });

  it("takes back the last row (an event over its tenant's allowance), leaving the rows before it byte for byte, and refuses a wrong start", () => {
    const block = new RowBlock(16);
    const first = toBinary(SwarmEventSchema, event(8));
    const second = toBinary(SwarmEventSchema, event(9));
    expect(appendEvent(block, SUBJECT, first, META)).toEqual({ ok: true });
    const before = block.bytes().toString("latin1");
    const start = block.byteLength;
    expect(appendEvent(block, SUBJECT, second, META)).toEqual({ ok: true });
    block.removeLastRow(start);
    expect(block.length).toBe(1);
    expect(block.bytes().toString("latin1")).toBe(before);
    expect(() => block.removeLastRow(block.byteLength)).toThrow(/removeLastRow\(\d+\): the block has 1 rows in \d+ bytes\. Fix: pass the byteLength read just before the last row was appended\./);
    block.clear();
    expect(() => block.removeLastRow(0)).toThrow(RangeError);
  });

  it("escapes backslashes, tabs and newlines in text and keeps every other byte (quotes, CR, non-ASCII) as it is", () => {
    const e = event(0);
    const rationale = 'said "no"\\\n\t— ünïcode 🐝 \u0001\r';
    e.payload = { case: "decision", value: { ...(e.payload.value as object), rationale, confidenceScore: 0.5 } as never };
    const bytes = toBinary(SwarmEventSchema, e);
    const row = fast(SUBJECT, bytes);
    expect(row).toBe(exact(SUBJECT, bytes));
    const columns = (row ?? "").split("\t");
    expect(Buffer.from(columns[12] ?? "", "latin1").toString("utf8")).toBe('said "no"\\\\\\n\\t— ünïcode 🐝 \u0001\r');
    expect(columns[11]).toBe("0.5");
  });

  it("never accepts what the exact decoder refuses, and agrees on every accepted row (random byte edits)", () => {
    const base = Array.from({ length: 40 }, (_, i) => toBinary(SwarmEventSchema, event(i)));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: base.length - 1 }),
        fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }),
        fc.oneof(fc.constant("none"), fc.constant("truncate"), fc.constant("append")),
        fc.uint8Array({ maxLength: 12 }),
        (which, edits, tail, extra) => {
          let bytes = Uint8Array.from(base[which] ?? new Uint8Array());
          for (const { at, byte } of edits) bytes[at % bytes.length] = byte;
          if (tail === "truncate") bytes = bytes.subarray(0, Math.max(0, bytes.length - 1 - (extra.length % 7)));
          if (tail === "append") bytes = Uint8Array.from([...bytes, ...extra]);
          const row = fast(SUBJECT, bytes);
          if (row !== undefined) expect(exact(SUBJECT, bytes)).toBe(row);
          const result = either(SUBJECT, bytes);
          const expected = exact(SUBJECT, bytes);
          if (typeof expected === "string") expect(result).toEqual({ ok: true, row: expected });
          else expect(result).toEqual({ ok: false, reason: expected.reason });
        },
      ),
      { numRuns: 3_000, seed: 20261125 },
    );
  });

  it("writes the longest rows (text of nothing but escaped bytes, 128-character ids, the longest confidence) whole into a block that starts at 16 bytes", () => {
    const e = event(7);
    e.agentId = `a${"b".repeat(127)}`;
    e.userId = `u${".".repeat(127)}`;
    const rationale = "\t\n\\".repeat(6_000);
    e.payload = { case: "decision", value: { ...(e.payload.value as object), rationale, confidenceScore: Math.fround(1e-45) } as never };
    const bytes = toBinary(SwarmEventSchema, e);
    const block = new RowBlock(16);
    for (let i = 0; i < 3; i++) expect(appendEventFast(block, SUBJECT, bytes, META)).toBe(true);
    const row = exact(SUBJECT, bytes);
    expect(typeof row).toBe("string");
    expect(block.bytes().toString("latin1")).toBe(String(row).repeat(3));
    expect(String(row).split("\t")[11]).toBe("1.401298464324817e-45");
  });

  it("hands legal but unusual encodings (a repeated field, an unknown field) to the exact decoder, which decides", () => {
    const bytes = toBinary(SwarmEventSchema, event(1));
    // Field 1 (event_id) once more at the end: protobuf's last-one-wins.
    const id = new TextEncoder().encode("0123abcd-0000-4000-8000-000000000001");
    const repeated = Uint8Array.from([...bytes, 0x0a, id.length, ...id]);
    expect(fast(SUBJECT, repeated)).toBeUndefined();
    expect(either(SUBJECT, repeated)).toEqual({ ok: true, row: exact(SUBJECT, repeated) });
    expect(exact(SUBJECT, repeated).toString().startsWith("0123abcd-0000-4000-8000-000000000001\t")).toBe(true);
    // Unknown field 15 (varint): skipped by protobuf, accepted with the same row.
    const unknown = Uint8Array.from([...bytes, 0x78, 0x01]);
    expect(fast(SUBJECT, unknown)).toBeUndefined();
    // The same columns; raw_proto (the 16th) holds the bytes as received, unknown field included.
    const known = exact(SUBJECT, bytes).toString().split("\t");
    const withUnknown = either(SUBJECT, unknown);
    expect(withUnknown.ok).toBe(true);
    const columns = withUnknown.ok ? withUnknown.row.split("\t") : [];
    expect(columns.filter((_, i) => i !== 15)).toEqual(known.filter((_, i) => i !== 15));
    expect(columns[15]).toBe(`${known[15]}x\x01`);
  });

  it("takes the subject as SWARM_EVENTS stores it (swarm.<tenant>.events) on the fast path, with the same row", () => {
    const bytes = toBinary(SwarmEventSchema, event(4));
    const fast = either("swarm.acme.events", bytes);
    expect(fast).toEqual(either(SUBJECT, bytes));
    const block = new RowBlock(16);
    expect(appendEventFast(block, "swarm.acme.events", bytes, META)).toBe(true);
  });

  it("refuses with the exact decoder's reason: tenant mismatch, bad subject, oversize, garbage", () => {
    const bytes = toBinary(SwarmEventSchema, event(2));
    expect(either(eventSubject("globex", "checkout"), bytes)).toEqual({ ok: false, reason: "tenant-mismatch" });
    expect(either("swarm.acme.check.out.events", bytes)).toEqual({ ok: false, reason: "bad-subject" });
    expect(either("swarm.globex.events", bytes)).toEqual({ ok: false, reason: "tenant-mismatch" });
    expect(either(SUBJECT, new Uint8Array(64 * 1024 + 1))).toEqual({ ok: false, reason: "oversize" });
    expect(either(SUBJECT, new Uint8Array(32).fill(0xff))).toEqual({ ok: false, reason: "undecodable" });
    const noPayload = create(SwarmEventSchema, { ...event(3), payload: { case: undefined } });
    expect(either(SUBJECT, toBinary(SwarmEventSchema, noPayload))).toEqual({ ok: false, reason: "missing-field" });
    // A refused message leaves the block as it was: the batch's other rows are intact.
    const block = new RowBlock(16);
    appendEvent(block, SUBJECT, bytes, META);
    const before = block.bytes().toString("latin1");
    expect(appendEvent(block, eventSubject("globex", "checkout"), bytes, META)).toMatchObject({ ok: false, reason: "tenant-mismatch" });
    expect(block.bytes().toString("latin1")).toBe(before);
    expect(block.length).toBe(1);
    expect(REJECT_REASONS).toContain("tenant-mismatch");
  });
});

describe("row encoder: the byte-level id checks are the id patterns", () => {
  const checks: [string, RegExp, (b: Buffer, start: number, end: number) => boolean][] = [
    ["event_id", EVENT_ID_PATTERN, isEventIdBytes],
    ["tenant_id", TENANT_ID_PATTERN, isTenantIdBytes],
    ["project_id", PROJECT_ID_PATTERN, isProjectIdBytes],
    ["agent_id / user_id", ACTOR_ID_PATTERN, isActorIdBytes],
    ["trace_id", TRACE_ID_PATTERN, (b, s, e) => isHexIdBytes(b, s, e, 32)],
    ["span_id", SPAN_ID_PATTERN, (b, s, e) => isHexIdBytes(b, s, e, 16)],
  ];
  // Every class edge of the patterns, plus bytes no pattern takes (space, controls, DEL, Latin-1).
  const alphabet = [..."0189afgzAFGZ-_.:@/ \t\n\u0000\u007f\u00e9\u00ff`{[^~"];
  const pick = (i: number) => alphabet[i % alphabet.length] as string;
  const uuidLike = fc.array(fc.constantFrom(..."0123456789abcdefA-g"), { minLength: 34, maxLength: 38 }).map((cs) => cs.join(""));

  for (const [name, pattern, check] of checks) {
    it(`${name}: agrees with ${pattern.source} on 20,000 generated strings and at every length 0-130, inside a larger buffer`, () => {
      const agree = (text: string) => {
        const padded = Buffer.from(`x${text}\u00ff`, "latin1"); // the id sits at an offset, as in a message
        expect({ text, ok: check(padded, 1, padded.length - 1) }).toEqual({ text, ok: pattern.test(text) });
      };
      fc.assert(
        fc.property(fc.oneof(fc.array(fc.nat(), { maxLength: 140 }).map((xs) => xs.map(pick).join("")), fc.string({ maxLength: 70 }).filter((t) => [...t].every((c) => c.charCodeAt(0) < 256)), uuidLike), agree),
        { numRuns: 20_000, seed: 20261126 },
      );
      let accepted = 0;
      for (let n = 0; n <= 130; n++) {
        for (const text of ["a".repeat(n), `a${"-".repeat(Math.max(0, n - 2))}${n > 1 ? "a" : ""}`.slice(0, n), "0".repeat(n), "f".repeat(n), `${"0".repeat(8)}-${"0".repeat(4)}-${"0".repeat(4)}-${"0".repeat(4)}-${"0".repeat(12)}`.slice(0, n)]) {
          agree(text);
          if (pattern.test(text)) accepted++;
        }
      }
      expect(accepted).toBeGreaterThan(0); // the boundary set reaches both answers
    });
  }
});

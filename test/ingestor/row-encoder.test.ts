import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeEvent, REJECT_REASONS } from "../../services/ingestor/src/event.js";
import { SwarmEventSchema, type SwarmEvent } from "../../services/ingestor/src/gen/enchanted/events/v1/events_pb.js";
import { buildEvent, typicalKind } from "../../services/ingestor/src/generator.js";
import { encodeEvent, encodeEventLine } from "../../services/ingestor/src/row-encoder.js";
import { eventSubject } from "../../services/nats-auth/streams.js";

const NOW = Date.parse("2026-11-25T12:00:00.000Z");
const META = { streamTimestampMs: NOW + 123 };
const SUBJECT = eventSubject("acme", "checkout");

function event(i: number, overrides: Partial<Pick<SwarmEvent, "isEncrypted">> = {}): SwarmEvent {
  return buildEvent({ tenantId: "acme", projectId: "checkout", agentId: `coder-${i % 13}`, userId: `user-${i % 5}`, kind: typicalKind(i), now: new Date(NOW - (i % 5_000) * 997), seed: i, ...overrides });
}

/** The exact path's line, or the refusal. */
function exact(subject: string, data: Uint8Array): string | { reason: string } {
  const r = decodeEvent(subject, data, META);
  return r.ok ? JSON.stringify(r.row) : { reason: r.reason };
}

describe("row encoder: the fast path is a shortcut to the exact decoder's row", () => {
  it("gives, byte for byte, JSON.stringify of decodeEvent's row for 3,000 generated events of every kind", () => {
    let fast = 0;
    for (let i = 0; i < 3_000; i++) {
      const bytes = toBinary(SwarmEventSchema, event(i, { isEncrypted: i % 11 === 0 }));
      const line = encodeEventLine(SUBJECT, bytes, META);
      expect(line).toBeDefined(); // canonical encodings never need the exact path
      expect(line).toBe(exact(SUBJECT, bytes));
      fast++;
    }
    expect(fast).toBe(3_000);
  });

  it("keeps text that needs JSON escaping exact (quotes, backslashes, newlines, non-ASCII)", () => {
    const e = event(0);
    e.payload = { case: "decision", value: { ...(e.payload.value as object), rationale: 'said "no"\\\n\t— ünïcode 🐝 \u0001', confidenceScore: 0.5 } as never };
    const bytes = toBinary(SwarmEventSchema, e);
    expect(encodeEventLine(SUBJECT, bytes, META)).toBe(exact(SUBJECT, bytes));
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
          const line = encodeEventLine(SUBJECT, bytes, META);
          if (line !== undefined) expect(exact(SUBJECT, bytes)).toBe(line);
          const result = encodeEvent(SUBJECT, bytes, META);
          const expected = exact(SUBJECT, bytes);
          if (typeof expected === "string") expect(result).toEqual({ ok: true, line: expected });
          else expect(result).toMatchObject({ ok: false, reason: expected.reason });
        },
      ),
      { numRuns: 3_000, seed: 20261125 },
    );
  });

  it("hands legal but unusual encodings (a repeated field, an unknown field) to the exact decoder, which decides", () => {
    const bytes = toBinary(SwarmEventSchema, event(1));
    // Field 1 (event_id) once more at the end: protobuf's last-one-wins.
    const id = new TextEncoder().encode("0123abcd-0000-4000-8000-000000000001");
    const repeated = Uint8Array.from([...bytes, 0x0a, id.length, ...id]);
    expect(encodeEventLine(SUBJECT, repeated, META)).toBeUndefined();
    expect(encodeEvent(SUBJECT, repeated, META)).toEqual({ ok: true, line: exact(SUBJECT, repeated) });
    expect(exact(SUBJECT, repeated)).toContain('"event_id":"0123abcd-0000-4000-8000-000000000001"');
    // Unknown field 15 (varint): skipped by protobuf, accepted with the same row.
    const unknown = Uint8Array.from([...bytes, 0x78, 0x01]);
    expect(encodeEventLine(SUBJECT, unknown, META)).toBeUndefined();
    expect(encodeEvent(SUBJECT, unknown, META)).toEqual({ ok: true, line: exact(SUBJECT, bytes).toString().replace(/"raw_proto_base64":"[^"]*"/, `"raw_proto_base64":"${Buffer.from(unknown).toString("base64")}"`) });
  });

  it("refuses with the exact decoder's reason: tenant mismatch, bad subject, oversize, garbage", () => {
    const bytes = toBinary(SwarmEventSchema, event(2));
    expect(encodeEvent(eventSubject("globex", "checkout"), bytes, META)).toMatchObject({ ok: false, reason: "tenant-mismatch" });
    expect(encodeEvent("swarm.acme.events", bytes, META)).toMatchObject({ ok: false, reason: "bad-subject" });
    expect(encodeEvent(SUBJECT, new Uint8Array(64 * 1024 + 1), META)).toMatchObject({ ok: false, reason: "oversize" });
    expect(encodeEvent(SUBJECT, new Uint8Array(32).fill(0xff), META)).toMatchObject({ ok: false, reason: "undecodable" });
    const noPayload = create(SwarmEventSchema, { ...event(3), payload: { case: undefined } });
    expect(encodeEvent(SUBJECT, toBinary(SwarmEventSchema, noPayload), META)).toMatchObject({ ok: false, reason: "missing-field" });
    expect(REJECT_REASONS).toContain("tenant-mismatch");
  });
});

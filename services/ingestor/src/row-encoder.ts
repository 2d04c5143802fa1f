/**
 * The hot path of the ingestor: each message of `SWARM_EVENTS` straight into the insert body of
 * its batch ({@link RowBlock}: TabSeparated, the serialized event as raw bytes), with every check
 * of {@link decodeEvent} and without intermediate objects or per-row strings.
 *
 * {@link appendEventFast} reads the protobuf wire format itself and applies the same checks in
 * the same order (size, subject, decode, required fields, id formats, values, tenant match). It
 * handles the canonical encoding every protobuf library writes: each field at most once, known
 * field numbers, expected wire types, ASCII ids. Anything else (a refusal, or a legal but unusual
 * encoding such as a repeated singular field or an unknown field) appends nothing, and
 * {@link appendEvent} runs the exact {@link decodeEvent}, which accepts (its row is appended by
 * {@link RowBlock.appendRow}) or refuses with the reason. So the fast path can only ever be a
 * shortcut to the bytes the exact path writes; a test checks that, byte for byte, on generated
 * and mutated events.
 *
 * Why: the drain is CPU-bound on the JavaScript thread and the engine together. Against the
 * previous design (a JSONEachRow string per row, joined per batch, `raw_proto` in base64) this
 * drops the per-row strings (most of the garbage collection), the join and the base64 copy, and
 * TabSeparated with raw bytes is the cheapest text format for ClickHouse to parse. Figures: the
 * closing note of the ingestor issue and `npm run bench:ingest`.
 */
import { isUtf8 } from "node:buffer";
import { TENANT_ID_PATTERN } from "../../../config/tenancy.js";
import { AGENT_ROLES, SWARM_EVENTS_INSERT_COLUMNS, type SwarmEventRow } from "../../clickhouse-schema/table.js";
import { PROJECT_ID_PATTERN, SUBJECT_ROOT } from "../../nats-auth/streams.js";
import {
  ACTOR_ID_PATTERN,
  decodeEvent,
  EARLIEST_EVENT_SECONDS,
  EVENT_ID_PATTERN,
  MAX_CLOCK_SKEW_MS,
  MAX_EVENT_BYTES,
  SPAN_ID_PATTERN,
  TRACE_ID_PATTERN,
  type DecodeMeta,
  type Rejected,
} from "./event.js";

const SUBJECT_PREFIX = `${SUBJECT_ROOT}.`;
const SUBJECT_SUFFIX = ".events";
const EARLIEST_SECONDS = Number(EARLIEST_EVENT_SECONDS);
const MAX_NANOS = 999_999_999;
/** Varints longer than this (values ≥ 2^49) never occur in a valid event here. */
const MAX_VARINT_BYTES = 7;
const WIRE_VARINT = 0;
const WIRE_I32 = 5;
const WIRE_LEN = 2;

/**
 * `YYYY-MM-DD hh:mm:ss` of the last second it formatted: the events of one batch share a few
 * seconds. One cache per column (event time, stream time), so the two do not evict each other.
 */
class SecondPrefix {
  private second = NaN;
  private prefix = "";
  of(seconds: number): string {
    if (seconds !== this.second) {
      const iso = new Date(seconds * 1000).toISOString();
      this.prefix = `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
      this.second = seconds;
    }
    return this.prefix;
  }
}
const eventSecond = new SecondPrefix();
const streamSecond = new SecondPrefix();

/** Same text as `formatDateTime64(seconds * 10^6 + floor(nanos / 1000))`. */
function dateTime64Micros(seconds: number, nanos: number): string {
  const micros = Math.floor(nanos / 1000);
  return `${eventSecond.of(seconds)}.${String(micros).padStart(6, "0")}`;
}

/** Same text as `formatDateTime64(ms * 1000).slice(0, 23)` for a non-negative `ms`. */
function dateTime64Millis(ms: number): string {
  const whole = Math.trunc(ms);
  const rest = whole % 1000;
  return `${streamSecond.of((whole - rest) / 1000)}.${String(rest).padStart(3, "0")}`;
}

/** The first index of `byte` in `src[from, end)`, or `end`. */
function nextOf(src: Buffer, byte: number, from: number, end: number): number {
  if (from >= end) return end;
  const i = src.indexOf(byte, from);
  return i < 0 || i > end ? end : i;
}

/** Runs up to this long are copied byte by byte: cheaper than `Buffer.copy`'s checks and call. */
const SHORT_RUN = 256;

const TAB = 0x09;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const LETTER_T = 0x74;
const LETTER_N = 0x6e;

/**
 * Rows in the ingestor's insert format ({@link SWARM_EVENTS_BLOCK_FORMAT}: TabSeparated, columns
 * {@link SWARM_EVENTS_BLOCK_COLUMNS}) in one growing buffer: the body of one insert. Text and the
 * serialized event are copied as bytes, with TabSeparated's escapes for backslash, tab and
 * newline, so no per-row string or base64 copy is made.
 */
export class RowBlock {
  private buf: Buffer;
  private pos = 0;
  private rows = 0;

  /** `capacity`: the expected size in bytes (it grows past it when needed). */
  constructor(capacity = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(1024, capacity));
  }

  /** Rows in the block. */
  get length(): number {
    return this.rows;
  }

  get byteLength(): number {
    return this.pos;
  }

  /** The body: every row, each ending in a newline. A view; do not append while it is in use. */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** Appends the row {@link decodeEvent} made of `raw` (the exact path; the fast path writes the same bytes). */
  appendRow(row: SwarmEventRow, raw: Uint8Array): void {
    let first = true;
    for (const column of SWARM_EVENTS_INSERT_COLUMNS) {
      if (!first) this.ascii("\t");
      first = false;
      if (column === "raw_proto_base64") {
        this.escaped(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), 0, raw.byteLength);
        continue;
      }
      const value: unknown = row[column];
      if (typeof value === "string") {
        const bytes = Buffer.from(value, "utf8");
        this.escaped(bytes, 0, bytes.byteLength);
      } else {
        this.ascii(String(value));
      }
    }
    this.endRow();
  }

  /** ASCII text without tab, newline or backslash (ids, timestamps, numbers, enum names). */
  ascii(text: string): void {
    this.ensure(text.length);
    // Buffer#latin1Write: what `write(text, pos, "latin1")` calls after its argument checks.
    this.pos += (this.buf as Buffer & { latin1Write(text: string, offset: number): number }).latin1Write(text, this.pos);
  }

  /**
   * Bytes `[start, end)` of `src`, escaped for TabSeparated: the runs between backslashes, tabs
   * and newlines are copied natively (serialized events have a few of those bytes each).
   */
  escaped(src: Buffer, start: number, end: number): void {
    this.ensure((end - start) * 2);
    const out = this.buf;
    let o = this.pos;
    let from = start;
    let tab = nextOf(src, TAB, from, end);
    let newline = nextOf(src, NEWLINE, from, end);
    let backslash = nextOf(src, BACKSLASH, from, end);
    for (;;) {
      const next = Math.min(tab, newline, backslash);
      if (next - from > SHORT_RUN) {
        o += src.copy(out, o, from, next);
      } else {
        for (let i = from; i < next; i++) out[o++] = src[i] as number;
      }
      if (next === end) break;
      out[o++] = BACKSLASH;
      if (next === tab) {
        out[o++] = LETTER_T;
        tab = nextOf(src, TAB, next + 1, end);
      } else if (next === newline) {
        out[o++] = LETTER_N;
        newline = nextOf(src, NEWLINE, next + 1, end);
      } else {
        out[o++] = BACKSLASH;
        backslash = nextOf(src, BACKSLASH, next + 1, end);
      }
      from = next + 1;
    }
    this.pos = o;
  }

  tab(): void {
    this.ensure(1);
    this.buf[this.pos++] = TAB;
  }

  endRow(): void {
    this.ensure(1);
    this.buf[this.pos++] = NEWLINE;
    this.rows++;
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}

/**
 * A cursor over one message; `fail` set means "not canonical: use the exact path". Three are
 * reused (the message, its timestamp, its payload): the fast path is not reentrant.
 */
class Reader {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  end = 0;
  fail = false;

  reset(buf: Buffer, start: number, end: number): this {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.fail = false;
    return this;
  }

  varint(): number {
    let result = 0;
    let shift = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.pos >= this.end) break;
      const b = this.buf[this.pos++] as number;
      result += (b & 0x7f) * shift;
      if (b < 0x80) return result;
      shift *= 128;
    }
    this.fail = true;
    return 0;
  }

  /** [start, end) of a length-delimited field, inside this reader's bounds. */
  span(): number {
    const length = this.varint();
    const start = this.pos;
    if (this.fail || length > this.end - start) {
      this.fail = true;
      return start;
    }
    this.pos = start + length;
    return start;
  }
}

/** ASCII text (ids); non-ASCII bytes become characters that no id pattern accepts. */
function ascii(buf: Buffer, start: number, end: number): string {
  return buf.toString("latin1", start, end);
}

const EMPTY = "";

const TOP = new Reader();
const TIME = new Reader();
const PAYLOAD = new Reader();

/**
 * Appends the row of an acceptable event in canonical encoding to `block` and returns true, or
 * returns false (appending nothing) when the exact path must decide.
 */
export function appendEventFast(block: RowBlock, subject: string, data: Uint8Array, meta: DecodeMeta): boolean {
  if (data.byteLength > MAX_EVENT_BYTES) return false;
  const tenantStart = SUBJECT_PREFIX.length;
  const tenantEnd = subject.indexOf(".", tenantStart);
  const projectEnd = subject.length - SUBJECT_SUFFIX.length;
  if (!subject.startsWith(SUBJECT_PREFIX) || !subject.endsWith(SUBJECT_SUFFIX) || tenantEnd < 0 || tenantEnd >= projectEnd) return false;
  // The subject's tenant and project are not cut out and matched here: below, the payload's ids
  // (which pass the same patterns) must equal them character for character, which implies it.

  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const r = TOP.reset(buf, 0, buf.length);
  let seen = 0; // bit per top-level field number 1-10, 16-18
  let eventId = EMPTY;
  let traceId = EMPTY;
  let spanId = EMPTY;
  let agentId = EMPTY;
  let tenantId = EMPTY;
  let userId = EMPTY;
  let projectId = EMPTY;
  let role = 0;
  let encrypted = false;
  let seconds = -1;
  let nanos = 0;
  let payload = 0; // 16 decision, 17 state change, 18 system signal
  let confidence = 0;
  let rationaleStart = 0;
  let rationaleEnd = 0;
  let resourceStart = 0;
  let resourceEnd = 0;
  let hashStart = 0;
  let hashEnd = 0;

  while (r.pos < r.end) {
    const tag = r.varint();
    if (r.fail) return false;
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    const bit = field <= 10 ? 1 << field : field >= 16 && field <= 18 ? 1 << (field - 5) : 0;
    if (bit === 0 || (seen & bit) !== 0) return false;
    seen |= bit;
    if (field === 5 || field === 10) {
      if (wire !== WIRE_VARINT) return false;
      const v = r.varint();
      if (field === 5) role = v;
      else encrypted = v !== 0;
      continue;
    }
    if (wire !== WIRE_LEN) return false;
    const start = r.span();
    if (r.fail) return false;
    const end = r.pos;
    switch (field) {
      case 1:
        eventId = ascii(buf, start, end);
        break;
      case 2: {
        const t = TIME.reset(buf, start, end);
        let tSeen = 0;
        while (t.pos < t.end) {
          const tTag = t.varint();
          const tField = tTag >>> 3;
          if (t.fail || (tTag & 7) !== WIRE_VARINT || (tField !== 1 && tField !== 2) || (tSeen & tField) !== 0) return false;
          tSeen |= tField;
          const v = t.varint();
          if (tField === 1) seconds = v;
          else nanos = v;
        }
        if (t.fail) return false;
        if (seconds < 0) seconds = 0;
        break;
      }
      case 3:
        traceId = ascii(buf, start, end);
        break;
      case 4:
        spanId = ascii(buf, start, end);
        break;
      case 6:
        agentId = ascii(buf, start, end);
        break;
      case 7:
        tenantId = ascii(buf, start, end);
        break;
      case 8:
        userId = ascii(buf, start, end);
        break;
      case 9:
        projectId = ascii(buf, start, end);
        break;
      case 16:
      case 17:
      case 18: {
        if (payload !== 0) return false; // two payloads: the exact path applies oneof rules
        payload = field;
        const p = PAYLOAD.reset(buf, start, end);
        let pSeen = 0;
        while (p.pos < p.end) {
          const pTag = p.varint();
          if (p.fail) return false;
          const pField = Math.floor(pTag / 8);
          const pWire = pTag & 7;
          const repeatable = field === 16 && pField === 4; // Decision.alternatives
          if (pField < 1 || pField > (field === 16 ? 4 : field === 17 ? 5 : 2)) return false;
          if (!repeatable && (pSeen & (1 << pField)) !== 0) return false;
          pSeen |= 1 << pField;
          const isEnum = (field === 17 && pField === 4) || (field === 18 && pField === 1);
          const isFloat = field === 16 && pField === 1;
          if (isEnum) {
            if (pWire !== WIRE_VARINT) return false;
            p.varint();
            if (p.fail) return false;
            continue;
          }
          if (isFloat) {
            if (pWire !== WIRE_I32 || p.pos + 4 > p.end) return false;
            confidence = buf.readFloatLE(p.pos);
            p.pos += 4;
            continue;
          }
          if (pWire !== WIRE_LEN) return false;
          const s = p.span();
          if (p.fail) return false;
          const e = p.pos;
          if (!isUtf8(buf.subarray(s, e))) return false;
          if (field === 16 && pField === 2) {
            rationaleStart = s;
            rationaleEnd = e;
          } else if (field === 17 && pField === 1) {
            resourceStart = s;
            resourceEnd = e;
          } else if (field === 17 && pField === 2) {
            hashStart = s;
            hashEnd = e;
          }
        }
        break;
      }
      default:
        return false;
    }
  }
  if (r.fail) return false;

  // Required fields, formats and values (the exact path words the refusals).
  if ((seen & (1 << 2)) === 0 || payload === 0) return false;
  if (!EVENT_ID_PATTERN.test(eventId) || !TENANT_ID_PATTERN.test(tenantId) || !PROJECT_ID_PATTERN.test(projectId)) return false;
  if (!ACTOR_ID_PATTERN.test(agentId) || !ACTOR_ID_PATTERN.test(userId)) return false;
  if (traceId !== EMPTY && !TRACE_ID_PATTERN.test(traceId)) return false;
  if (spanId !== EMPTY && !SPAN_ID_PATTERN.test(spanId)) return false;
  const latestSeconds = Math.floor((meta.streamTimestampMs + MAX_CLOCK_SKEW_MS) / 1000);
  if (seconds < EARLIEST_SECONDS || seconds > latestSeconds || nanos > MAX_NANOS) return false;
  const agentRole = AGENT_ROLES[role];
  if (agentRole === undefined) return false;
  if (payload === 16 && !(confidence >= 0 && confidence <= 1)) return false;
  if (tenantId.length !== tenantEnd - tenantStart || !subject.startsWith(tenantId, tenantStart)) return false;
  if (projectId.length !== projectEnd - tenantEnd - 1 || !subject.startsWith(projectId, tenantEnd + 1)) return false;

  const eventType = payload === 16 ? "decision" : payload === 17 ? "state_change" : "system_signal";
  const confidenceText = payload === 16 ? String(confidence) : "0";
  // Ids matched ASCII patterns without tab, newline or backslash: they need no escaping.
  block.ascii(`${eventId}\t${dateTime64Micros(seconds, nanos)}\t${traceId}\t${spanId}\t${agentRole}\t${agentId}\t${tenantId}\t${userId}\t${projectId}\t${encrypted}\t${eventType}\t${confidenceText}\t`);
  if (payload === 16 && !encrypted) block.escaped(buf, rationaleStart, rationaleEnd);
  block.tab();
  if (payload === 17) block.escaped(buf, resourceStart, resourceEnd);
  block.tab();
  if (payload === 17) block.escaped(buf, hashStart, hashEnd);
  block.tab();
  block.escaped(buf, 0, buf.length);
  block.tab();
  block.ascii(dateTime64Millis(meta.streamTimestampMs));
  block.endRow();
  return true;
}

/** Appends one message's row to `block`, or says why it is refused: the fast path, then the exact one. */
export function appendEvent(block: RowBlock, subject: string, data: Uint8Array, meta: DecodeMeta): { readonly ok: true } | Rejected {
  if (appendEventFast(block, subject, data, meta)) return ACCEPTED;
  const result = decodeEvent(subject, data, meta);
  if (!result.ok) return result;
  block.appendRow(result.row, data);
  return ACCEPTED;
}

const ACCEPTED = { ok: true } as const;

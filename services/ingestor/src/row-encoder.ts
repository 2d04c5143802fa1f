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
import { ScalarType, type DescField } from "@bufbuild/protobuf";
import { AGENT_ROLES, SWARM_EVENTS_INSERT_COLUMNS, type SwarmEventRow } from "../../clickhouse-schema/table.js";
import { SUBJECT_ROOT } from "../../nats-auth/streams.js";
import { decodeEvent, EARLIEST_EVENT_SECONDS, MAX_CLOCK_SKEW_MS, MAX_EVENT_BYTES, retentionCutoffMs, type DecodeMeta, type Rejected } from "./event.js";
import { DecisionSchema, StateChangeSchema, SwarmEventSchema } from "./gen/enchanted/events/v1/events_pb.js";

const SUBJECT_PREFIX = `${SUBJECT_ROOT}.`;
const SUBJECT_SUFFIX = ".events";
const EARLIEST_SECONDS = Number(EARLIEST_EVENT_SECONDS);
/** `retention_days` is a UInt16; the catalog allows 3650 at most. */
const MAX_RETENTION_DAYS = 65_535;
const MAX_NANOS = 999_999_999;
/** Varints longer than this (values ≥ 2^49) never occur in a valid event here. */
const MAX_VARINT_BYTES = 7;
const WIRE_VARINT = 0;
const WIRE_I32 = 5;
const WIRE_LEN = 2;

// Field numbers, from the generated schema: events.proto is their one home.
const EVENT = SwarmEventSchema.field;
const F_EVENT_ID = EVENT.eventId.number;
const F_TIMESTAMP = EVENT.timestamp.number;
const F_TRACE_ID = EVENT.traceId.number;
const F_SPAN_ID = EVENT.spanId.number;
const F_AGENT_ROLE = EVENT.agentRole.number;
const F_AGENT_ID = EVENT.agentId.number;
const F_TENANT_ID = EVENT.tenantId.number;
const F_USER_ID = EVENT.userId.number;
const F_PROJECT_ID = EVENT.projectId.number;
const F_IS_ENCRYPTED = EVENT.isEncrypted.number;
const F_DECISION = EVENT.decision.number;
const F_STATE_CHANGE = EVENT.stateChange.number;
const F_CONFIDENCE = DecisionSchema.field.confidenceScore.number;
const F_RATIONALE = DecisionSchema.field.rationale.number;
const F_TARGET_RESOURCE = StateChangeSchema.field.targetResource.number;
const F_STATE_HASH = StateChangeSchema.field.stateHash.number;
/** `google.protobuf.Timestamp`'s fields. */
const F_SECONDS = 1;
const F_NANOS = 2;

/** What the fast path reads of a message's fields, by field number ({@link NO_FIELD}: not a field, hand over to the exact path). */
const NO_FIELD = 0;
const TEXT = 1; // string
const TEXT_LIST = 2; // repeated string
const ENUM = 3;
const FLOAT32 = 4;
const OTHER = 5; // every other field (bool, a message): SwarmEvent's are read by their own code below

function kindOf(f: DescField): number {
  if (f.fieldKind === "enum") return ENUM;
  if (f.fieldKind === "list") return f.listKind === "scalar" && f.scalar === ScalarType.STRING ? TEXT_LIST : OTHER;
  if (f.fieldKind !== "scalar") return OTHER;
  return f.scalar === ScalarType.STRING ? TEXT : f.scalar === ScalarType.FLOAT ? FLOAT32 : OTHER;
}

/** `value(field)` at each field's number: a table indexed by field number. */
function byNumber<T>(fields: readonly DescField[], value: (f: DescField) => T): (T | undefined)[] {
  if (fields.some((f) => f.number > 30)) throw new Error("field numbers above 30 do not fit the fast path's bit sets");
  const table: (T | undefined)[] = [];
  for (const f of fields) table[f.number] = value(f);
  return table;
}

const EVENT_FIELDS = byNumber(SwarmEventSchema.fields, kindOf);
/** The fields of SwarmEvent's `payload` oneof. */
const PAYLOAD_ONEOF = EVENT.decision.oneof?.fields ?? [];
/** Each payload message's field kinds, by the payload's field number. */
const PAYLOAD_FIELDS = byNumber(PAYLOAD_ONEOF, (f) => (f.message ? byNumber(f.message.fields, kindOf) : undefined));

/**
 * `YYYY-MM-DD hh:mm:ss` (UTC) of the last second it formatted, as bytes: the events of one batch
 * share a few seconds. One cache per column (event time, stream time), so the two do not evict
 * each other.
 */
class SecondPrefix {
  private second = NaN;
  private readonly bytes = Buffer.alloc(19);
  of(seconds: number): Buffer {
    if (seconds !== this.second) {
      const iso = new Date(seconds * 1000).toISOString(); // YYYY-MM-DDThh:mm:ss.sssZ
      for (let i = 0; i < 19; i++) this.bytes[i] = i === 10 ? 0x20 : iso.charCodeAt(i);
      this.second = seconds;
    }
    return this.bytes;
  }
}
const eventSecond = new SecondPrefix();
const streamSecond = new SecondPrefix();

const TAB = 0x09;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const LETTER_T = 0x74;
const LETTER_N = 0x6e;
const DOT = 0x2e;
const ZERO = 0x30;

/** Longest row {@link appendEventFast} writes for an event of `n` bytes: every byte of the event at most twice as raw_proto, its text at most twice more, its ids once more, plus the fixed columns (times, enum names, the confidence, the retention, separators: under 128 bytes; 256 to be safe). */
const fastRowBound = (n: number) => 5 * n + 256;

// Buffers, like the messages and the block: one array type keeps the copy loops monomorphic.
const latin1Bytes = (text: string) => Buffer.from(text, "latin1");
const ROLE_BYTES = AGENT_ROLES.map(latin1Bytes);
/** `event_type` by the payload's field number: the payload field's name (EVENT_TYPES of table.ts). */
const TYPE_BYTES = byNumber(PAYLOAD_ONEOF, (f) => latin1Bytes(f.name));
const TRUE_BYTES = latin1Bytes("true");
const FALSE_BYTES = latin1Bytes("false");

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

  /** Empties the block, keeping its buffer (for the next batch, once the insert of this one is over). */
  clear(): void {
    this.pos = 0;
    this.rows = 0;
  }

  /**
   * Removes the last row, which began at byte `start` (the block's {@link byteLength} before it
   * was appended): a valid event its tenant's allowance does not let in is checked and written
   * like any other, then taken back, so the allowance counts only events that would be stored.
   */
  removeLastRow(start: number): void {
    if (this.rows === 0 || !Number.isInteger(start) || start < 0 || start >= this.pos) {
      throw new RangeError(`removeLastRow(${start}): the block has ${this.rows} rows in ${this.pos} bytes. Fix: pass the byteLength read just before the last row was appended.`);
    }
    this.pos = start;
    this.rows--;
  }

  /** Appends the row {@link decodeEvent} made of `raw` (the exact path; the fast path writes the same bytes). */
  appendRow(row: SwarmEventRow, raw: Uint8Array): void {
    let first = true;
    for (const column of SWARM_EVENTS_INSERT_COLUMNS) {
      if (!first) this.tab();
      first = false;
      if (column === "raw_proto_base64") {
        this.escaped(raw, 0, raw.byteLength);
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

  /** Bytes `[start, end)` of `src`, escaped for TabSeparated (backslash, tab and newline; every other byte as it is). */
  escaped(src: Uint8Array, start: number, end: number): void {
    this.ensure((end - start) * 2);
    this.pos = copyEscaped(this.buf, this.pos, asBuffer(src), start, end);
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

  /** The row of a checked canonical event ({@link appendEventFast}), written byte by byte. */
  appendParsed(e: ParsedEvent, src: Buffer, streamTimestampMs: number, retentionDays: number): void {
    this.ensure(fastRowBound(src.length));
    const out = this.buf;
    let o = this.pos;
    o = copySpan(out, o, src, e, F_EVENT_ID);
    out[o++] = TAB;
    o = copy(out, o, eventSecond.of(e.seconds), 0, 19);
    out[o++] = DOT;
    o = digits(out, o, Math.floor(e.nanos / 1000), 6);
    out[o++] = TAB;
    o = copySpan(out, o, src, e, F_TRACE_ID);
    out[o++] = TAB;
    o = copySpan(out, o, src, e, F_SPAN_ID);
    out[o++] = TAB;
    const role = ROLE_BYTES[e.role] as Buffer;
    o = copy(out, o, role, 0, role.length);
    out[o++] = TAB;
    o = copySpan(out, o, src, e, F_AGENT_ID);
    out[o++] = TAB;
    o = copySpan(out, o, src, e, F_TENANT_ID);
    out[o++] = TAB;
    o = copySpan(out, o, src, e, F_USER_ID);
    out[o++] = TAB;
    o = copySpan(out, o, src, e, F_PROJECT_ID);
    out[o++] = TAB;
    const encrypted = e.encrypted ? TRUE_BYTES : FALSE_BYTES;
    o = copy(out, o, encrypted, 0, encrypted.length);
    out[o++] = TAB;
    const type = TYPE_BYTES[e.payload] as Buffer;
    o = copy(out, o, type, 0, type.length);
    out[o++] = TAB;
    if (e.payload === F_DECISION) {
      const text = String(e.confidence); // same as the exact path's String(Float32 value)
      for (let i = 0; i < text.length; i++) out[o++] = text.charCodeAt(i);
    } else {
      out[o++] = ZERO;
    }
    out[o++] = TAB;
    if (e.payload === F_DECISION && !e.encrypted) o = copyEscaped(out, o, src, e.rationaleStart, e.rationaleEnd);
    out[o++] = TAB;
    if (e.payload === F_STATE_CHANGE) o = copyEscaped(out, o, src, e.resourceStart, e.resourceEnd);
    out[o++] = TAB;
    if (e.payload === F_STATE_CHANGE) o = copyEscaped(out, o, src, e.hashStart, e.hashEnd);
    out[o++] = TAB;
    o = copyEscaped(out, o, src, 0, src.length);
    out[o++] = TAB;
    const ms = Math.trunc(streamTimestampMs);
    const msRest = ms % 1000;
    o = copy(out, o, streamSecond.of((ms - msRest) / 1000), 0, 19);
    out[o++] = DOT;
    o = digits(out, o, msRest, 3);
    out[o++] = TAB;
    o = decimal(out, o, retentionDays);
    out[o++] = NEWLINE;
    this.pos = o;
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
 * Runs up to this long are copied byte by byte, longer ones by `Buffer#copy` (memcpy): below it
 * the native call costs more than the loop. Measured on generated events: 32 bytes.
 */
const SHORT_RUN = 32;

/** Copies `src[start, end)` to `out` at `o`; returns the new end. */
function copy(out: Buffer, o: number, src: Buffer, start: number, end: number): number {
  if (end - start > SHORT_RUN) return o + src.copy(out, o, start, end);
  for (let i = start; i < end; i++) out[o++] = src[i] as number;
  return o;
}

/** Copies the string field `field` of the parsed event (its bytes in `src`) to `out` at `o`; returns the new end. */
function copySpan(out: Buffer, o: number, src: Buffer, e: ParsedEvent, field: number): number {
  return copy(out, o, src, e.start[field] as number, e.end[field] as number);
}

/** The first index of `byte` in `src[from, end)`, or `end`. */
function nextOf(src: Buffer, byte: number, from: number, end: number): number {
  if (from >= end) return end;
  const i = src.indexOf(byte, from);
  return i < 0 || i > end ? end : i;
}

/**
 * Copies `src[start, end)` to `out` at `o` with TabSeparated's escapes (backslash, tab, newline);
 * returns the new end. The runs between those bytes are found and copied natively (`indexOf`,
 * `copy`): twice as fast as a JavaScript loop over every byte, and a serialized event has only a
 * few of them (protobuf tags and lengths of 9, 10 and 92).
 */
function copyEscaped(out: Buffer, o: number, src: Buffer, start: number, end: number): number {
  let from = start;
  let tab = nextOf(src, TAB, from, end);
  let newline = nextOf(src, NEWLINE, from, end);
  let backslash = nextOf(src, BACKSLASH, from, end);
  for (;;) {
    const next = Math.min(tab, newline, backslash);
    o = copy(out, o, src, from, next);
    if (next === end) return o;
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
}

/** A whole number 0 ≤ `value` < 100,000 (a retention in days) as `String(value)` writes it; returns the new end. */
function decimal(out: Uint8Array, o: number, value: number): number {
  let width = 1;
  for (let v = value; v >= 10; v = Math.floor(v / 10)) width++;
  return digits(out, o, value, width);
}

/** `value` (0 ≤ value < 10^width) as exactly `width` decimal digits, zero-padded; returns the new end. */
function digits(out: Uint8Array, o: number, value: number, width: number): number {
  let v = value;
  for (let i = o + width - 1; i >= o; i--) {
    out[i] = ZERO + (v % 10);
    v = Math.floor(v / 10);
  }
  return o + width;
}

// -------------------------------------------------------------------------------------------
// Byte-level forms of the id patterns (event.ts, config/tenancy.ts, nats-auth/streams.ts): the
// fast path checks ids in the message's bytes without making strings. A test holds each one to
// its pattern on generated and boundary inputs. Non-ASCII bytes are in no class, as in the patterns.
// -------------------------------------------------------------------------------------------
const HEX = 1; // [0-9a-f]
const TENANT_END = 2; // [a-z0-9]
const TENANT_MID = 4; // [a-z0-9-]
const PROJECT = 8; // [A-Za-z0-9_-]
const ACTOR_FIRST = 16; // [A-Za-z0-9]
const ACTOR = 32; // [A-Za-z0-9_.:@-]
const CLASSES = new Uint8Array(256);
for (let b = 0; b < 128; b++) {
  const c = String.fromCharCode(b);
  const classes: [number, RegExp][] = [
    [HEX, /[0-9a-f]/],
    [TENANT_END, /[a-z0-9]/],
    [TENANT_MID, /[a-z0-9-]/],
    [PROJECT, /[A-Za-z0-9_-]/],
    [ACTOR_FIRST, /[A-Za-z0-9]/],
    [ACTOR, /[A-Za-z0-9_.:@-]/],
  ];
  for (const [bit, pattern] of classes) if (pattern.test(c)) CLASSES[b] = (CLASSES[b] as number) | bit;
}

function allOf(src: Uint8Array, start: number, end: number, cls: number): boolean {
  for (let i = start; i < end; i++) if (((CLASSES[src[i] as number] as number) & cls) === 0) return false;
  return true;
}

/** {@link EVENT_ID_PATTERN}: a canonical lower-case UUID. */
export function isEventIdBytes(src: Uint8Array, start: number, end: number): boolean {
  if (end - start !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const b = src[start + i] as number;
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (b !== 0x2d) return false;
    } else if (((CLASSES[b] as number) & HEX) === 0) {
      return false;
    }
  }
  return true;
}

/** {@link TENANT_ID_PATTERN}: 3-63 of [a-z0-9-], first and last not a hyphen. */
export function isTenantIdBytes(src: Uint8Array, start: number, end: number): boolean {
  const n = end - start;
  if (n < 3 || n > 63) return false;
  if (((CLASSES[src[start] as number] as number) & TENANT_END) === 0 || ((CLASSES[src[end - 1] as number] as number) & TENANT_END) === 0) return false;
  return allOf(src, start + 1, end - 1, TENANT_MID);
}

/** {@link PROJECT_ID_PATTERN}: 1-128 of [A-Za-z0-9_-]. */
export function isProjectIdBytes(src: Uint8Array, start: number, end: number): boolean {
  const n = end - start;
  return n >= 1 && n <= 128 && allOf(src, start, end, PROJECT);
}

/** {@link ACTOR_ID_PATTERN}: 1-128 of [A-Za-z0-9_.:@-], starting with a letter or digit. */
export function isActorIdBytes(src: Uint8Array, start: number, end: number): boolean {
  const n = end - start;
  return n >= 1 && n <= 128 && ((CLASSES[src[start] as number] as number) & ACTOR_FIRST) !== 0 && allOf(src, start + 1, end, ACTOR);
}

/** {@link TRACE_ID_PATTERN} (`length` 32) and {@link SPAN_ID_PATTERN} (16): lower-case hex. */
export function isHexIdBytes(src: Uint8Array, start: number, end: number, length: number): boolean {
  return end - start === length && allOf(src, start, end, HEX);
}

/** `bytes` as a Buffer (nats.js hands over Buffers; a plain Uint8Array gets a Buffer view). */
function asBuffer(bytes: Uint8Array): Buffer {
  return bytes instanceof Buffer ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Valid UTF-8: ASCII checked here, anything else by the native check. */
function isUtf8Text(src: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if ((src[i] as number) >= 0x80) return isUtf8(src.subarray(start, end));
  return true;
}

/** `s[start, end)` equals the bytes `src[from, to)` (ASCII ids: one character per byte). */
function sameText(s: string, start: number, end: number, src: Uint8Array, from: number, to: number): boolean {
  if (end - start !== to - from) return false;
  for (let i = 0; i < to - from; i++) if (s.charCodeAt(start + i) !== src[from + i]) return false;
  return true;
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

/** Where a canonical event's fields are in its bytes, and its scalar values: one, reused (the fast path is not reentrant). */
class ParsedEvent {
  /** `[start, end)` of each string field of SwarmEvent in the message, by field number (0 and 0: absent). */
  readonly start = new Int32Array(EVENT_FIELDS.length);
  readonly end = new Int32Array(EVENT_FIELDS.length);
  role = 0;
  encrypted = false;
  seconds = 0;
  nanos = 0;
  /** The payload's field number (decision, state change or system signal). */
  payload = 0;
  confidence = 0;
  rationaleStart = 0;
  rationaleEnd = 0;
  resourceStart = 0;
  resourceEnd = 0;
  hashStart = 0;
  hashEnd = 0;
}

const TOP = new Reader();
const TIME = new Reader();
const PAYLOAD = new Reader();
const PARSED = new ParsedEvent();
/** Float32 from its 4 little-endian bytes, without a DataView per message. */
const FLOAT_BYTES = new Uint8Array(4);
const FLOAT = new Float32Array(FLOAT_BYTES.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function float32(src: Uint8Array, at: number): number {
  for (let i = 0; i < 4; i++) FLOAT_BYTES[LITTLE_ENDIAN ? i : 3 - i] = src[at + i] as number;
  return FLOAT[0] as number;
}

/**
 * Appends the row of an acceptable event in canonical encoding to `block` and returns true, or
 * returns false (appending nothing) when the exact path must decide. Works on the message's
 * bytes: no string, object or buffer view is made for an event of plain ASCII text.
 */
export function appendEventFast(block: RowBlock, subject: string, data: Uint8Array, meta: DecodeMeta): boolean {
  if (data.byteLength > MAX_EVENT_BYTES) return false;
  const tenantStart = SUBJECT_PREFIX.length;
  const projectEnd = subject.length - SUBJECT_SUFFIX.length;
  if (!subject.startsWith(SUBJECT_PREFIX) || !subject.endsWith(SUBJECT_SUFFIX) || projectEnd <= tenantStart) return false;
  // `swarm.<tenant>.events` (as SWARM_EVENTS stores it: no project token) or `swarm.<tenant>.<project>.events`.
  const dot = subject.indexOf(".", tenantStart);
  const tenantEnd = dot < projectEnd ? dot : projectEnd;
  // The subject's tenant and project are not cut out and matched here: below, the payload's ids
  // (which pass the same patterns) must equal them character for character, which implies it.

  const buf = asBuffer(data);
  const r = TOP.reset(buf, 0, buf.length);
  const e = PARSED;
  let seen = 0; // bit per top-level field number
  e.start.fill(0);
  e.end.fill(0);
  e.rationaleStart = e.rationaleEnd = e.resourceStart = e.resourceEnd = e.hashStart = e.hashEnd = 0;
  e.role = 0;
  e.encrypted = false;
  e.confidence = 0;
  let seconds = -1;
  let nanos = 0;
  let payload = 0; // the payload's field number

  while (r.pos < r.end) {
    const tag = r.varint();
    if (r.fail) return false;
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    const kind = EVENT_FIELDS[field] ?? NO_FIELD; // out of range, or a gap in the numbers: not a field
    if (kind === NO_FIELD || (seen & (1 << field)) !== 0) return false;
    seen |= 1 << field;
    if (field === F_AGENT_ROLE || field === F_IS_ENCRYPTED) {
      if (wire !== WIRE_VARINT) return false;
      const v = r.varint();
      if (field === F_AGENT_ROLE) e.role = v;
      else e.encrypted = v !== 0;
      continue;
    }
    if (wire !== WIRE_LEN) return false;
    const start = r.span();
    if (r.fail) return false;
    const end = r.pos;
    if (kind === TEXT) {
      e.start[field] = start;
      e.end[field] = end;
    } else if (field === F_TIMESTAMP) {
      const t = TIME.reset(buf, start, end);
      let tSeen = 0;
      while (t.pos < t.end) {
        const tTag = t.varint();
        const tField = tTag >>> 3;
        if (t.fail || (tTag & 7) !== WIRE_VARINT || (tField !== F_SECONDS && tField !== F_NANOS) || (tSeen & (1 << tField)) !== 0) return false;
        tSeen |= 1 << tField;
        const v = t.varint();
        if (tField === F_SECONDS) seconds = v;
        else nanos = v;
      }
      if (t.fail) return false;
      if (seconds < 0) seconds = 0;
    } else {
      const fields = PAYLOAD_FIELDS[field];
      if (fields === undefined || payload !== 0) return false; // not a payload, or two: the exact path applies oneof rules
      payload = field;
      const p = PAYLOAD.reset(buf, start, end);
      let pSeen = 0;
      while (p.pos < p.end) {
        const pTag = p.varint();
        if (p.fail) return false;
        const pField = Math.floor(pTag / 8);
        const pWire = pTag & 7;
        const pKind = fields[pField] ?? NO_FIELD;
        if (pKind === NO_FIELD || pKind === OTHER) return false;
        if (pKind !== TEXT_LIST && (pSeen & (1 << pField)) !== 0) return false;
        pSeen |= 1 << pField;
        if (pKind === ENUM) {
          if (pWire !== WIRE_VARINT) return false;
          p.varint();
          if (p.fail) return false;
          continue;
        }
        if (pKind === FLOAT32) {
          if (pWire !== WIRE_I32 || p.pos + 4 > p.end) return false;
          if (field === F_DECISION && pField === F_CONFIDENCE) e.confidence = float32(buf, p.pos);
          p.pos += 4;
          continue;
        }
        if (pWire !== WIRE_LEN) return false;
        const s = p.span();
        if (p.fail) return false;
        const pe = p.pos;
        if (!isUtf8Text(buf, s, pe)) return false;
        if (field === F_DECISION && pField === F_RATIONALE) {
          e.rationaleStart = s;
          e.rationaleEnd = pe;
        } else if (field === F_STATE_CHANGE && pField === F_TARGET_RESOURCE) {
          e.resourceStart = s;
          e.resourceEnd = pe;
        } else if (field === F_STATE_CHANGE && pField === F_STATE_HASH) {
          e.hashStart = s;
          e.hashEnd = pe;
        }
      }
    }
  }
  if (r.fail) return false;

  // Required fields, formats and values (the exact path words the refusals).
  if ((seen & (1 << F_TIMESTAMP)) === 0 || payload === 0) return false;
  const { start: at, end: to } = e;
  if (!isEventIdBytes(buf, at[F_EVENT_ID] as number, to[F_EVENT_ID] as number) || !isTenantIdBytes(buf, at[F_TENANT_ID] as number, to[F_TENANT_ID] as number)) return false;
  if (!isProjectIdBytes(buf, at[F_PROJECT_ID] as number, to[F_PROJECT_ID] as number)) return false;
  if (!isActorIdBytes(buf, at[F_AGENT_ID] as number, to[F_AGENT_ID] as number) || !isActorIdBytes(buf, at[F_USER_ID] as number, to[F_USER_ID] as number)) return false;
  if (to[F_TRACE_ID] !== at[F_TRACE_ID] && !isHexIdBytes(buf, at[F_TRACE_ID] as number, to[F_TRACE_ID] as number, 32)) return false;
  if (to[F_SPAN_ID] !== at[F_SPAN_ID] && !isHexIdBytes(buf, at[F_SPAN_ID] as number, to[F_SPAN_ID] as number, 16)) return false;
  const latestSeconds = Math.floor((meta.streamTimestampMs + MAX_CLOCK_SKEW_MS) / 1000);
  if (seconds < EARLIEST_SECONDS || seconds > latestSeconds || nanos > MAX_NANOS) return false;
  // Older than the tenant's retention: the exact path refuses it as expired (same comparison, in whole ms).
  if (meta.retentionDays > 0 && seconds * 1000 + Math.floor(nanos / 1_000_000) < retentionCutoffMs(meta.streamTimestampMs, meta.retentionDays)) return false;
  if (e.role >= AGENT_ROLES.length) return false;
  if (payload === F_DECISION && !(e.confidence >= 0 && e.confidence <= 1)) return false;
  if (!sameText(subject, tenantStart, tenantEnd, buf, at[F_TENANT_ID] as number, to[F_TENANT_ID] as number)) return false;
  if (tenantEnd < projectEnd && !sameText(subject, tenantEnd + 1, projectEnd, buf, at[F_PROJECT_ID] as number, to[F_PROJECT_ID] as number)) return false;

  e.seconds = seconds;
  e.nanos = nanos;
  e.payload = payload;
  // Ids matched ASCII patterns without tab, newline or backslash: they are copied unescaped.
  // A retention the table cannot hold (not a UInt16) is the exact path's to write as it is: never half a row here.
  if (!Number.isInteger(meta.retentionDays) || meta.retentionDays < 0 || meta.retentionDays > MAX_RETENTION_DAYS) return false;
  block.appendParsed(e, buf, meta.streamTimestampMs, meta.retentionDays);
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

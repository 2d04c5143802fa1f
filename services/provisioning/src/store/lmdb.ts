/**
 * The embedded control-plane store: LMDB (the `lmdb` package, prebuilt binaries) with binary keys
 * in FoundationDB tuple order, used by local runs, tests and the benchmark.
 *
 * Transactions are serializable because they are serialized: one in-process lock admits one
 * transaction function at a time (they only touch the store, so each holds it for microseconds).
 * Writes are buffered in the transaction (read-your-writes), and at commit handed to one LMDB write
 * transaction (`db.transaction`), which lmdb-js batches with the other commits of the same event
 * turn into one disk commit. Between handing over and the moment the disk commit is durable, the
 * writes sit in an overlay (`pending`) that every later transaction reads through, so the lock is
 * released before the disk commit and commits are group-committed.
 *
 * Durable answers: `transact` resolves only when (1) its own writes are durable and (2) every
 * pending write it READ is durable. Durable means committed by LMDB and flushed to disk
 * (`flushed`: lmdb-js commits with `overlappingSync` on Linux, so a commit is visible before its
 * fsync). Without (2) a transaction that read an overlay entry (an idempotent replay reading the
 * idempotency record of the original request, still in flight) would answer with state a crash can
 * still undo: issue 14 item 5, ids answered `201` that were gone after SIGKILL. A read-only
 * transaction that read nothing pending resolves at once. If a write it read fails to commit, the
 * reader fails with {@link LmdbDependencyError} instead of answering with it.
 *
 * A transaction function that runs longer than {@link LMDB_TRANSACTION_TIMEOUT_MS} is abandoned
 * (FoundationDB's 5 s limit, kept here so code that passes on LMDB also fits FDB).
 */
import { mkdirSync } from "node:fs";
import type { Database, RootDatabase } from "lmdb";
import { counterBytes, isRetryable, KvRetryableError, readCounter, retryLoop, type KvEntry, type KvStore, type KvTransaction, type RangeOptions, type TransactOptions } from "./kv.js";
import { pack, prefixRange, unpack, type Tuple } from "./tuple.js";

export const LMDB_TRANSACTION_TIMEOUT_MS = 5_000;

interface Write {
  readonly key: Buffer;
  readonly value: Buffer | null;
}

/** A write handed to LMDB but not yet durable, and the promise of its durability. */
interface PendingWrite {
  readonly write: Write;
  readonly durable: Promise<void>;
}

/** A transaction read a write of another transaction whose commit then failed: its answer would rest on nothing. */
export class LmdbDependencyError extends Error {
  override readonly name = "LmdbDependencyError";
  readonly code = "E_LMDB_DEPENDENCY_FAILED";
  constructor(cause: unknown) {
    super("the transaction read a write of another transaction whose commit failed; it was not answered (retry the request)", { cause });
  }
}

/** Waits until every pending write in `reads` is durable; a failed one fails the reader. */
async function awaitReads(reads: ReadonlySet<Promise<void>>): Promise<void> {
  try {
    await Promise.all(reads);
  } catch (cause) {
    throw new LmdbDependencyError(cause);
  }
}

const hex = (b: Buffer) => b.toString("latin1");

class Mutex {
  private tail: Promise<void> = Promise.resolve();
  lock(): Promise<() => void> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    return prev.then(() => release);
  }
}

class LmdbTransaction implements KvTransaction {
  readonly writes = new Map<string, Write>();
  /** Durability of every pending write (of other transactions) this one read. */
  readonly readPending = new Set<Promise<void>>();
  dead = false;
  constructor(
    private readonly db: Database<Buffer, Buffer>,
    private readonly pending: Map<string, PendingWrite>,
  ) {}

  private check(): void {
    if (this.dead) throw new Error("transaction used after it ended (timed out or committed)");
  }

  private readSync(key: Buffer): Buffer | undefined {
    const h = hex(key);
    const own = this.writes.get(h);
    if (own) return own.value ?? undefined;
    const pending = this.pending.get(h);
    if (pending) {
      this.readPending.add(pending.durable);
      return pending.write.value ?? undefined;
    }
    const v = this.db.get(key);
    return v === undefined ? undefined : Buffer.from(v);
  }

  get(key: Tuple): Promise<Buffer | undefined> {
    this.check();
    return Promise.resolve(this.readSync(pack(key)));
  }

  getRange(prefix: Tuple, options: RangeOptions = {}): Promise<KvEntry[]> {
    this.check();
    return Promise.resolve(this.rangeSync(prefix, options).map(([k, v]) => ({ key: unpack(k), value: v })));
  }

  private rangeSync(prefix: Tuple, options: RangeOptions): [Buffer, Buffer][] {
    let { begin, end } = prefixRange(prefix);
    const reverse = options.reverse === true;
    if (options.after) {
      const a = pack(options.after);
      if (reverse) {
        if (Buffer.compare(a, end) < 0) end = a;
      } else {
        const next = Buffer.concat([a, Buffer.from([0])]);
        if (Buffer.compare(next, begin) > 0) begin = next;
      }
    }
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const inRange = (k: Buffer) => Buffer.compare(k, begin) >= 0 && Buffer.compare(k, end) < 0;
    const overlay = new Map<string, Write>();
    for (const [h, p] of this.pending) {
      if (!inRange(p.write.key) || this.writes.has(h)) continue;
      // The range's answer depends on this pending write (also on a pending clear: it hides a row).
      this.readPending.add(p.durable);
      overlay.set(h, p.write);
    }
    for (const [h, w] of this.writes) if (inRange(w.key)) overlay.set(h, w);
    const over = [...overlay.values()].sort((x, y) => (reverse ? -1 : 1) * Buffer.compare(x.key, y.key));
    const out: [Buffer, Buffer][] = [];
    if (limit <= 0 || Buffer.compare(begin, end) >= 0) return out;
    const before = (x: Buffer, y: Buffer) => (reverse ? Buffer.compare(x, y) > 0 : Buffer.compare(x, y) < 0);
    let i = 0;
    const emitOverUntil = (k: Buffer | undefined): boolean => {
      while (i < over.length && out.length < limit) {
        const w = over[i] as Write;
        if (k !== undefined && !before(w.key, k)) break;
        if (w.value) out.push([w.key, w.value]);
        i++;
      }
      return out.length >= limit;
    };
    const iter = reverse ? this.db.getRange({ start: end, end: begin, reverse: true }) : this.db.getRange({ start: begin, end });
    for (const { key, value } of iter) {
      const k = Buffer.from(key);
      if (!inRange(k)) continue;
      if (emitOverUntil(k)) return out;
      const w = over[i];
      if (w && Buffer.compare(w.key, k) === 0) {
        // The overlay's newer value (or deletion) replaces the stored one.
        if (w.value) out.push([w.key, w.value]);
        i++;
      } else if (!overlay.has(hex(k))) {
        out.push([k, Buffer.from(value)]);
      }
      if (out.length >= limit) return out;
    }
    emitOverUntil(undefined);
    return out;
  }

  set(key: Tuple, value: Uint8Array): void {
    this.check();
    const k = pack(key);
    this.writes.set(hex(k), { key: k, value: Buffer.from(value) });
  }

  clear(key: Tuple): void {
    this.check();
    const k = pack(key);
    this.writes.set(hex(k), { key: k, value: null });
  }

  clearRange(prefix: Tuple): void {
    this.check();
    for (const [k] of this.rangeSync(prefix, {})) this.writes.set(hex(k), { key: k, value: null });
  }

  add(key: Tuple, delta: number): void {
    this.check();
    const k = pack(key);
    const next = readCounter(this.readSync(k)) + delta;
    this.writes.set(hex(k), { key: k, value: counterBytes(next) });
  }
}

export class LmdbStore implements KvStore {
  readonly kind = "lmdb";
  private readonly mutex = new Mutex();
  private readonly pending = new Map<string, PendingWrite>();
  private closed = false;

  private constructor(private readonly root: RootDatabase<Buffer, Buffer>) {}

  /**
   * `lmdb` is loaded here, dynamically: it is the embedded default for local runs and tests, and
   * the production image (FoundationDB) leaves it out.
   */
  static async open(path: string): Promise<LmdbStore> {
    const { open } = await import("lmdb");
    mkdirSync(path, { recursive: true });
    const root = open<Buffer, Buffer>({ path, keyEncoding: "binary", encoding: "binary", compression: false });
    return new LmdbStore(root);
  }

  async transact<T>(fn: (tx: KvTransaction) => Promise<T>, options: TransactOptions = {}): Promise<T> {
    return retryLoop(() => this.attempt(fn), options.maxAttempts);
  }

  private async attempt<T>(fn: (tx: KvTransaction) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error("the store is closed");
    const release = await this.mutex.lock();
    const tx = new LmdbTransaction(this.root, this.pending);
    let outcome: { ok: true; value: T; own: Promise<void> | undefined } | { ok: false; error: unknown };
    try {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new KvRetryableError(1031, `transaction ran longer than ${LMDB_TRANSACTION_TIMEOUT_MS} ms`)), LMDB_TRANSACTION_TIMEOUT_MS);
      });
      try {
        const value = await Promise.race([fn(tx), timeout]);
        outcome = { ok: true, value, own: undefined };
      } catch (error) {
        outcome = { ok: false, error };
      } finally {
        clearTimeout(timer);
        tx.dead = true;
      }
      const batch = [...tx.writes.values()];
      if (outcome.ok && batch.length > 0) outcome.own = this.handOver(batch);
    } finally {
      // Released before the disk commit: later transactions read the writes through `pending`.
      release();
    }
    if (!outcome.ok) {
      // An error thrown by the function is an answer too (a 404 after reading a pending
      // offboarding): it waits for what it read, like a result. A retryable error answers nothing.
      if (!isRetryable(outcome.error) && tx.readPending.size > 0) await awaitReads(tx.readPending);
      throw outcome.error;
    }
    if (outcome.own) await outcome.own;
    if (tx.readPending.size > 0) await awaitReads(tx.readPending);
    return outcome.value;
  }

  /** Hands `batch` to one LMDB write transaction; resolves when it is durable (committed and flushed). */
  private handOver(batch: readonly Write[]): Promise<void> {
    const root = this.root;
    const commit = root.transaction(() => {
      for (const w of batch) {
        if (w.value) root.putSync(w.key, w.value);
        else root.removeSync(w.key);
      }
    });
    // Committed, then flushed: with overlappingSync a commit is visible before it is on disk.
    const durable = Promise.resolve(commit)
      .then(() => root.flushed)
      .then(() => undefined);
    const entries: PendingWrite[] = batch.map((write) => ({ write, durable }));
    for (const p of entries) this.pending.set(hex(p.write.key), p);
    return durable.finally(() => {
      for (const p of entries) {
        const h = hex(p.write.key);
        if (this.pending.get(h) === p) this.pending.delete(h);
      }
    });
  }

  async ping(): Promise<boolean> {
    return !this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const release = await this.mutex.lock();
    this.closed = true;
    release();
    await this.root.flushed;
    await this.root.close();
  }
}

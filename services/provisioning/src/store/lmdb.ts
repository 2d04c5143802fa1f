/**
 * The embedded control-plane store: LMDB (the `lmdb` package, prebuilt binaries) with binary keys
 * in FoundationDB tuple order, used by local runs, tests and the benchmark.
 *
 * Transactions are serializable because they are serialized: one in-process lock admits one
 * transaction function at a time (they only touch the store, so each holds it for microseconds).
 * Writes are buffered in the transaction (read-your-writes), and at commit handed to one LMDB write
 * transaction (`db.transaction`), which lmdb-js batches with the other commits of the same event
 * turn into one disk commit. Between handing over and LMDB's commit, the writes sit in an overlay
 * that every later transaction reads through, so the lock is released before the disk commit and
 * commits are group-committed. `transact` resolves only after LMDB has committed the writes.
 *
 * A transaction function that runs longer than {@link LMDB_TRANSACTION_TIMEOUT_MS} is abandoned
 * (FoundationDB's 5 s limit, kept here so code that passes on LMDB also fits FDB).
 */
import { mkdirSync } from "node:fs";
import type { Database, RootDatabase } from "lmdb";
import { counterBytes, KvRetryableError, readCounter, retryLoop, type KvEntry, type KvStore, type KvTransaction, type RangeOptions, type TransactOptions } from "./kv.js";
import { pack, prefixRange, unpack, type Tuple } from "./tuple.js";

export const LMDB_TRANSACTION_TIMEOUT_MS = 5_000;

interface Write {
  readonly key: Buffer;
  readonly value: Buffer | null;
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
  dead = false;
  constructor(
    private readonly db: Database<Buffer, Buffer>,
    private readonly pending: Map<string, Write>,
  ) {}

  private check(): void {
    if (this.dead) throw new Error("transaction used after it ended (timed out or committed)");
  }

  private readSync(key: Buffer): Buffer | undefined {
    const h = hex(key);
    const local = this.writes.get(h) ?? this.pending.get(h);
    if (local) return local.value ?? undefined;
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
    for (const [h, w] of this.pending) if (inRange(w.key)) overlay.set(h, w);
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
  private readonly pending = new Map<string, Write>();
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
    let commit: Promise<unknown> | undefined;
    let batch: Write[] = [];
    let result: T;
    const tx = new LmdbTransaction(this.root, this.pending);
    try {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new KvRetryableError(1031, `transaction ran longer than ${LMDB_TRANSACTION_TIMEOUT_MS} ms`)), LMDB_TRANSACTION_TIMEOUT_MS);
      });
      try {
        result = await Promise.race([fn(tx), timeout]);
      } finally {
        clearTimeout(timer);
        tx.dead = true;
      }
      batch = [...tx.writes.values()];
      if (batch.length > 0) {
        for (const w of batch) this.pending.set(hex(w.key), w);
        const root = this.root;
        commit = root.transaction(() => {
          for (const w of batch) {
            if (w.value) root.putSync(w.key, w.value);
            else root.removeSync(w.key);
          }
        });
      }
    } finally {
      release();
    }
    if (commit) {
      try {
        await commit;
      } finally {
        for (const w of batch) {
          const h = hex(w.key);
          if (this.pending.get(h) === w) this.pending.delete(h);
        }
      }
    }
    return result;
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

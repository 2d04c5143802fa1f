/**
 * The control-plane store: ONE interface over an ordered, transactional key-value store.
 *
 * Semantics every implementation provides (the contract suite, test/provisioning/store-contract.test.ts,
 * checks them): serializable transactions with read-your-writes; keys are tuples ordered as
 * FoundationDB's tuple layer orders them ({@link pack}); range reads over a tuple prefix in key
 * order, forwards or backwards, with a limit and an exclusive start; clearing one key or a whole
 * prefix; atomic 64-bit little-endian counters ({@link KvTransaction.add}, FDB's ADD mutation);
 * nothing of a failed or aborted attempt is visible.
 *
 * Retries: {@link KvStore.transact} re-runs the whole function on a retryable error (FDB's
 * `not_committed` 1020, `transaction_too_old` 1007, `commit_unknown_result` 1021, ...). After
 * `commit_unknown_result` the previous attempt MAY have committed, so every transaction function
 * of this service is idempotent: it reads the state its earlier attempt would have written
 * (an idempotency record, a slug owned by the same request, a credential already recorded, an
 * outbox entry already gone) before writing, and writes nothing twice. Atomic adds are only issued
 * in the same transaction as such a check-then-write record, so a retried commit never counts twice.
 *
 * Limits: every transaction of this service writes far below FoundationDB's 10 MB hard / 1 MB
 * recommended limit and finishes well within its 5 s limit (bulk work such as purging a tenant
 * is done in bounded batches, one transaction each); implementations enforce a timeout.
 */
import { pack, prefixRange, unpack, type Tuple, type TupleItem } from "./tuple.js";

export { pack, prefixRange, unpack, type Tuple, type TupleItem };

export interface RangeOptions {
  /** At most this many entries. @default unlimited */
  readonly limit?: number;
  /** Highest key first. @default false */
  readonly reverse?: boolean;
  /** Resume after this key (exclusive; in the direction of the scan). */
  readonly after?: Tuple;
}

export interface KvEntry {
  readonly key: TupleItem[];
  readonly value: Buffer;
}

/** One attempt of a transaction. Writes are buffered until commit; reads see them. */
export interface KvTransaction {
  get(key: Tuple): Promise<Buffer | undefined>;
  getRange(prefix: Tuple, options?: RangeOptions): Promise<KvEntry[]>;
  set(key: Tuple, value: Uint8Array): void;
  clear(key: Tuple): void;
  clearRange(prefix: Tuple): void;
  /** Atomic add to a little-endian signed 64-bit counter (a missing key counts as 0). */
  add(key: Tuple, delta: number): void;
}

export interface TransactOptions {
  /** Attempts before the last retryable error is thrown. @default 20 */
  readonly maxAttempts?: number;
}

export interface KvStore {
  readonly kind: string;
  /** Runs `fn` in a transaction, retrying it on retryable errors; resolves after the commit is durable. */
  transact<T>(fn: (tx: KvTransaction) => Promise<T>, options?: TransactOptions): Promise<T>;
  /** Whether the store answers (for /readyz). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** FoundationDB error codes this service treats as "retry the transaction". */
export const FDB_ERRORS = {
  transactionTooOld: 1007,
  futureVersion: 1009,
  notCommitted: 1020,
  commitUnknownResult: 1021,
  transactionTimedOut: 1031,
  processBehind: 1037,
} as const;

/** A retryable failure: the transaction may be re-run (after `commit_unknown_result` it may also have committed). */
export class KvRetryableError extends Error {
  override readonly name = "KvRetryableError";
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export function isRetryable(error: unknown): boolean {
  if (error instanceof KvRetryableError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" && (Object.values(FDB_ERRORS) as number[]).includes(code) && code !== FDB_ERRORS.transactionTimedOut;
}

/** The generic retry loop (FoundationDB's own `doTransaction` is used for FDB). */
export async function retryLoop<T>(attempt: () => Promise<T>, maxAttempts = 20): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isRetryable(error) || n >= maxAttempts) throw error;
      // Small exponential backoff with jitter, as FDB's onError does (capped at 100 ms here).
      const delay = Math.min(100, 2 ** n) * Math.random();
      if (delay >= 1) await new Promise((r) => setTimeout(r, delay));
    }
  }
}

const enc = new TextEncoder();

export function jsonValue(value: unknown): Buffer {
  return Buffer.from(enc.encode(JSON.stringify(value)));
}

export function parseJson<T>(value: Buffer | undefined): T | undefined {
  return value === undefined ? undefined : (JSON.parse(value.toString("utf8")) as T);
}

export async function getJson<T>(tx: KvTransaction, key: Tuple): Promise<T | undefined> {
  return parseJson<T>(await tx.get(key));
}

export function setJson(tx: KvTransaction, key: Tuple, value: unknown): void {
  tx.set(key, jsonValue(value));
}

/** An 8-byte little-endian signed counter value. */
export function counterBytes(delta: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(delta));
  return b;
}

export function readCounter(value: Buffer | undefined): number {
  if (value === undefined) return 0;
  if (value.length !== 8) throw new RangeError(`counter value has ${value.length} bytes, not 8`);
  return Number(value.readBigInt64LE());
}

export async function getCounter(tx: KvTransaction, key: Tuple): Promise<number> {
  return readCounter(await tx.get(key));
}

/**
 * The FoundationDB control-plane store, for production (the customer's FDB cluster).
 *
 * The `foundationdb` binding is an optional dependency: it needs the FDB client library
 * (`libfdb_c`) at install time, so it is loaded with a dynamic import only when
 * `PROVISIONING_FDB_CLUSTER_FILE` is set, and a missing binding stops the service with a message
 * naming how to install it.
 *
 * Keys are tuple-layer encoded (tuple.ts, byte-identical to the binding's tuple encoder) under one
 * root prefix; every tenant's records live in the subspace `(root, "t", <tenant id>)` and no read
 * of one tenant ever leaves it (see model.ts). FDB tenants are not used (experimental upstream).
 *
 * Transactions use the binding's `doTransaction`, which re-runs the function on every retryable
 * error through `fdb_transaction_on_error` (conflicts, `transaction_too_old`, and
 * `commit_unknown_result`, after which the earlier attempt may have committed: every function this
 * service passes is idempotent, see kv.ts). Each transaction gets a 5 s timeout and a retry limit,
 * and writes stay far below 1 MB.
 */
import { counterBytes, type KvEntry, type KvStore, type KvTransaction, type RangeOptions, type TransactOptions } from "./kv.js";
import { pack, prefixRange, unpack, type Tuple } from "./tuple.js";

/** The FDB API version this service is written against (FDB 7.1+ clients). */
export const FDB_API_VERSION = 710;
export const FDB_TRANSACTION_TIMEOUT_MS = 5_000;
/** Root prefix of every key of this service in the shared cluster. */
export const FDB_ROOT_PREFIX = "enchanted-provisioning";

/** The part of the binding's transaction this store uses. */
interface FdbTn {
  get(key: Buffer): Promise<Buffer | undefined>;
  getRangeAll(start: Buffer, end: Buffer, opts?: { limit?: number; reverse?: boolean }): Promise<[Buffer, Buffer][]>;
  set(key: Buffer, value: Buffer): void;
  clear(key: Buffer): void;
  clearRange(start: Buffer, end: Buffer): void;
  add(key: Buffer, value: Buffer): void;
}
interface FdbDatabase {
  doTransaction<T>(body: (tn: FdbTn) => Promise<T>, opts?: Record<string, unknown>): Promise<T>;
  close(): void;
}
interface FdbModule {
  setAPIVersion(version: number): void;
  open(clusterFile?: string): FdbDatabase;
  stopNetworkSync?(): void;
}

/** Raised when the binding cannot be loaded. */
export class FdbUnavailableError extends Error {
  override readonly name = "FdbUnavailableError";
  readonly code = "E_FDB_UNAVAILABLE";
}

/** Loads the optional binding, or explains how to get it. */
export async function loadFoundationDb(): Promise<FdbModule> {
  try {
    // A string literal to the bundler (the image's build lists the binding from the bundle's
    // imports and stops when it is missing); `as string` keeps the type checker from resolving
    // the optional package, which is not installed where it cannot be built.
    const mod = (await import("foundationdb" as string)) as FdbModule & { default?: FdbModule };
    return typeof mod.setAPIVersion === "function" ? mod : (mod.default as FdbModule);
  } catch (cause) {
    throw new FdbUnavailableError(
      `PROVISIONING_FDB_CLUSTER_FILE is set but the optional "foundationdb" binding cannot be loaded (${cause instanceof Error ? cause.message : String(cause)}). ` +
        "Fix: install the FoundationDB client library (the foundationdb-clients package of the FDB release matching the cluster, which provides libfdb_c), " +
        "then run `npm install foundationdb` (or build the service image, which installs both); or unset PROVISIONING_FDB_CLUSTER_FILE to use the embedded store.",
      { cause },
    );
  }
}

class FdbTransaction implements KvTransaction {
  constructor(
    private readonly tn: FdbTn,
    private readonly root: Tuple,
  ) {}
  private k(key: Tuple): Buffer {
    return pack([...this.root, ...key]);
  }
  get(key: Tuple): Promise<Buffer | undefined> {
    return this.tn.get(this.k(key));
  }
  async getRange(prefix: Tuple, options: RangeOptions = {}): Promise<KvEntry[]> {
    let { begin, end } = prefixRange([...this.root, ...prefix]);
    if (options.after) {
      const a = this.k(options.after);
      if (options.reverse) {
        if (Buffer.compare(a, end) < 0) end = a;
      } else {
        const next = Buffer.concat([a, Buffer.from([0])]);
        if (Buffer.compare(next, begin) > 0) begin = next;
      }
    }
    if (Buffer.compare(begin, end) >= 0) return [];
    const rows = await this.tn.getRangeAll(begin, end, { ...(options.limit !== undefined ? { limit: options.limit } : {}), reverse: options.reverse === true });
    return rows.map(([k, v]) => ({ key: unpack(k).slice(this.root.length), value: v }));
  }
  set(key: Tuple, value: Uint8Array): void {
    this.tn.set(this.k(key), Buffer.from(value));
  }
  clear(key: Tuple): void {
    this.tn.clear(this.k(key));
  }
  clearRange(prefix: Tuple): void {
    const { begin, end } = prefixRange([...this.root, ...prefix]);
    this.tn.clearRange(begin, end);
  }
  add(key: Tuple, delta: number): void {
    this.tn.add(this.k(key), counterBytes(delta));
  }
}

export class FdbStore implements KvStore {
  readonly kind = "fdb";
  private constructor(
    private readonly fdb: FdbModule,
    private readonly db: FdbDatabase,
    private readonly root: Tuple,
  ) {}

  /** Opens the cluster named by `clusterFile`; `rootPrefix` separates test runs. */
  static async open(clusterFile: string, rootPrefix: string = FDB_ROOT_PREFIX): Promise<FdbStore> {
    const fdb = await loadFoundationDb();
    try {
      fdb.setAPIVersion(FDB_API_VERSION);
    } catch {
      // Already set in this process (a second store): the binding allows it only once.
    }
    return new FdbStore(fdb, fdb.open(clusterFile), [rootPrefix]);
  }

  transact<T>(fn: (tx: KvTransaction) => Promise<T>, options: TransactOptions = {}): Promise<T> {
    return this.db.doTransaction((tn) => fn(new FdbTransaction(tn, this.root)), {
      timeout: FDB_TRANSACTION_TIMEOUT_MS,
      retry_limit: options.maxAttempts ?? 20,
    });
  }

  async ping(): Promise<boolean> {
    try {
      await this.transact((tx) => tx.get(["ping"]), { maxAttempts: 1 });
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.db.close();
  }

  /** Removes every key under this store's root (contract tests only). */
  async destroyAll(): Promise<void> {
    await this.db.doTransaction(async (tn) => {
      const { begin, end } = prefixRange(this.root);
      tn.clearRange(begin, end);
    });
  }

  /** Stops the binding's network thread (once per process, at exit). */
  stopNetwork(): void {
    this.fdb.stopNetworkSync?.();
  }
}

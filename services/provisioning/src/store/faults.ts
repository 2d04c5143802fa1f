/**
 * A fault-injecting store wrapper for tests: makes transactions fail the ways FoundationDB's do,
 * so that the service's retry safety is proven on the embedded store too.
 *
 * Per attempt, with the configured probabilities:
 * - `conflict`: the attempt fails with `not_committed` (1020) after running, nothing written;
 * - `unknownResult`: the attempt COMMITS, then fails with `commit_unknown_result` (1021), so the
 *   retry re-runs a function whose first run is already durable (the dangerous case);
 * - `tooOld`: `transaction_too_old` (1007) before the function runs.
 * Counts of each injected fault are kept in {@link FaultyStore.injected}.
 */
import { FDB_ERRORS, KvRetryableError, retryLoop, type KvStore, type KvTransaction, type TransactOptions } from "./kv.js";

export interface FaultRates {
  readonly conflict?: number;
  readonly unknownResult?: number;
  readonly tooOld?: number;
}

export class FaultyStore implements KvStore {
  readonly kind: string;
  readonly injected = { conflict: 0, unknownResult: 0, tooOld: 0 };
  enabled = true;
  constructor(
    readonly inner: KvStore,
    private readonly rates: FaultRates,
    private readonly random: () => number = Math.random,
  ) {
    this.kind = `faulty-${inner.kind}`;
  }

  transact<T>(fn: (tx: KvTransaction) => Promise<T>, options: TransactOptions = {}): Promise<T> {
    return retryLoop(async () => {
      const roll = () => this.enabled && this.random();
      const r0 = roll();
      if (r0 !== false && r0 < (this.rates.tooOld ?? 0)) {
        this.injected.tooOld++;
        throw new KvRetryableError(FDB_ERRORS.transactionTooOld, "injected transaction_too_old");
      }
      const conflict = roll();
      const result = await this.inner.transact(
        async (tx) => {
          const v = await fn(tx);
          if (conflict !== false && conflict < (this.rates.conflict ?? 0)) {
            this.injected.conflict++;
            throw new KvRetryableError(FDB_ERRORS.notCommitted, "injected not_committed");
          }
          return v;
        },
        { maxAttempts: 1 },
      );
      const unknown = roll();
      if (unknown !== false && unknown < (this.rates.unknownResult ?? 0)) {
        this.injected.unknownResult++;
        throw new KvRetryableError(FDB_ERRORS.commitUnknownResult, "injected commit_unknown_result (the attempt did commit)");
      }
      return result;
    }, options.maxAttempts ?? 50);
  }

  ping(): Promise<boolean> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

import { useCallback, useEffect, useRef, useState } from "react";

export interface AsyncState<T> {
  readonly data: T | undefined;
  readonly error: unknown;
  readonly loading: boolean;
  /** Runs the loader again (keeps the previous data while it runs). */
  readonly reload: () => Promise<void>;
}

/**
 * Loads `load()` now and whenever `deps` change; an answer that arrives after the deps changed
 * (another tenant picked meanwhile) is dropped, never shown under the wrong tenant.
 */
export function useAsync<T>(load: (() => Promise<T>) | null, deps: readonly unknown[]): AsyncState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(load !== null);
  const generation = useRef(0);
  const loader = useRef(load);
  loader.current = load;

  const run = useCallback(async () => {
    const fn = loader.current;
    const mine = ++generation.current;
    if (!fn) {
      setLoading(false);
      return;
    }
    setLoading(true);
    setError(null);
    try {
      const value = await fn();
      if (mine === generation.current) setData(value);
    } catch (e) {
      if (mine === generation.current) setError(e);
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    setData(undefined);
    void run();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);

  return { data, error, loading, reload: run };
}

/**
 * The journey's HTTP client for the platform's API: JSON in and out on one origin (the console's,
 * which serves `/v1/*` like the gateway), with the bearer token of the call. Every failure names
 * the call, the status and what the service answered, so a failed step reads as its own diagnosis.
 */
import { parseJsonOr } from "../../services/runtime/json.js";

export interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly text: string;
}

export interface CallOptions {
  /** The bearer token (a Keycloak user token or a tenant token). */
  readonly token?: string;
  /** A JSON body. */
  readonly body?: unknown;
  /** Per request. @default 30_000 */
  readonly timeoutMs?: number;
}

/** Why a request got no answer: fetch's "fetch failed" with the cause it wraps (ECONNREFUSED, a timeout). */
export function reasonOf(error: unknown): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  const cause = e?.cause?.code ?? e?.cause?.message;
  return `${e?.message ?? String(error)}${cause ? ` (${cause})` : ""}`;
}

/** One API call as a sentence: `POST /v1/tenants → 403 {"error":…}`. */
export function describeAnswer(method: string, path: string, a: Answer): string {
  const text = a.text.length > 400 ? `${a.text.slice(0, 400)}…` : a.text;
  return `${method} ${path} → ${a.status}${text ? ` ${text}` : ""}`;
}

export class ApiClient {
  constructor(readonly origin: string) {}

  async call(method: string, path: string, o: CallOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (o.token) headers["authorization"] = `Bearer ${o.token}`;
    if (o.body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(new URL(path, this.origin), {
        method,
        headers,
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
        signal: AbortSignal.timeout(o.timeoutMs ?? 30_000),
      });
    } catch (error) {
      throw new Error(`${method} ${path}: no answer from ${this.origin}: ${reasonOf(error)}`, { cause: error });
    }
    const text = await res.text();
    return { status: res.status, body: parseJsonOr(text, text), text };
  }

  /** The call's JSON body when it answered `status` (one of them); otherwise throws with the answer. */
  async expect<T>(method: string, path: string, status: number | readonly number[], o: CallOptions = {}): Promise<T> {
    const a = await this.call(method, path, o);
    const wanted = typeof status === "number" ? [status] : status;
    if (!wanted.includes(a.status)) throw new Error(`${describeAnswer(method, path, a)} (expected ${wanted.join(" or ")})`);
    return a.body as T;
  }
}

/**
 * Polls `probe` until it answers a value (not undefined) or `timeoutMs` passed; the timeout's error
 * says what was awaited and what the last probe saw (`last()`), never just "timed out".
 */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, o: { intervalMs?: number; last?: () => string } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${(timeoutMs / 1000).toFixed(0)} s${o.last ? ` (last seen: ${o.last()})` : ""}`);
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 500));
  }
}

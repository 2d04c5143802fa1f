/**
 * The control-plane stores of `npm run bench:scale`: N tenants with their owner memberships,
 * bulk-loaded into the embedded store (LMDB) through the service's own transaction
 * (`ControlPlane.createTenantIn`, many tenants per store transaction), kept in a cache keyed by
 * the code that defines the layout, and reopened for measuring. See scale.ts's header.
 */
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadTierCatalog, loadUserLimits } from "../../../config/index.js";
import { PROVISIONING_DEFAULTS } from "../../../services/provisioning/contract.js";
import { ControlPlane, newTenantIdentity, type CreateTenantInput, type TenantIdentity } from "../../../services/provisioning/src/control-plane.js";
import { LocalKekProvider } from "../../../services/provisioning/src/datakeys.js";
import { PlatformKeys } from "../../../services/provisioning/src/platform-keys.js";
import { pack, type KvStore, type KvTransaction, type Tuple } from "../../../services/provisioning/src/store/kv.js";
import { LmdbStore } from "../../../services/provisioning/src/store/lmdb.js";

/** Bumped whenever the loader changes what it writes (part of the cache key). */
const LOADER_VERSION = "l1";
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
/** The code that defines what a loaded store holds: the control plane's transactions and the store. */
const LAYOUT_SOURCES = [
  "services/provisioning/src/control-plane.ts",
  ...readdirSync(join(root, "services/provisioning/src/store"))
    .filter((f) => f.endsWith(".ts"))
    .sort()
    .map((f) => `services/provisioning/src/store/${f}`),
];
/** A tenant id is `t` + 24 hex digits: 12 bytes in the ids file. */
const ID_BYTES = 12;
/** The token issuer of the bench's platform keys. */
const ISSUER = "https://api.scale.test";

/** The owner of tenant `i` (a Keycloak-style UUID subject, derived: nothing to store). */
export function ownerOf(i: number): string {
  const h = createHash("sha256").update(`bench-scale-owner:${i}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The creation request of tenant `i` as the service would run it (one user, one tenant). */
export function inputOf(i: number): CreateTenantInput {
  return { userId: ownerOf(i), email: `owner-${i}@scale.example`, name: `Scale Tenant ${i}`, slug: `scale-${i}`, requestId: `bench-scale-${i}` };
}

/** Logical bytes (packed key + value) the bench's writes occupy, by subspace (the key's first element; the tenant's own by record kind). */
export type SubspaceBytes = Readonly<Record<string, number>>;

export interface LoadStats {
  readonly tenants: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** Tenants per store transaction. */
  readonly batch: number;
  /** Logical bytes per tenant by subspace, from a sampled transaction. */
  readonly bytesPerTenantBySubspace: SubspaceBytes;
}

export interface DiskUse {
  /** Bytes the store's files occupy on disk (allocated blocks). */
  readonly allocatedBytes: number;
  /** Their apparent size. */
  readonly fileBytes: number;
}

export interface OpenedStore {
  /** The LMDB directory (what PROVISIONING_LMDB_PATH names). */
  readonly dir: string;
  readonly store: KvStore;
  readonly plane: ControlPlane;
  readonly keys: PlatformKeys;
  /** Tenant `i`'s id (its owner is {@link ownerOf}(i)). */
  readonly tenantIds: readonly string[];
  readonly reused: boolean;
  readonly load: LoadStats;
  readonly disk: DiskUse;
  /** Closes the store (the directory stays until {@link release}). */
  close(): Promise<void>;
  /** Removes a temporary store, or unlocks the cached one. */
  release(): void;
}

export interface StoreOptions {
  readonly tenants: number;
  readonly batch: number;
  /** Store transactions in flight at once while loading (each commits while the next one runs). */
  readonly inflight: number;
  /** Keep the store in the cache (and reuse it). */
  readonly cache: boolean;
  readonly progress: (text: string) => void;
}

interface Manifest {
  readonly key: string;
  readonly loader: string;
  readonly tenants: number;
  readonly createdAt: string;
  readonly load: LoadStats;
}

const MANIFEST = "manifest.json";
const IDS = "tenants.bin";
const KEK = "kek";
const STORE = "store";

function lmdbVersion(): string {
  const main = createRequire(import.meta.url).resolve("lmdb");
  for (let dir = dirname(main); dir !== dirname(dir); dir = dirname(dir)) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      const p = JSON.parse(readFileSync(pkg, "utf8")) as { name?: string; version?: string };
      if (p.name === "lmdb") return p.version ?? "unknown";
    }
  }
  return "unknown";
}

/** The cache key: the layout's code, the loader, LMDB's version and the size. */
export function storeCacheKey(tenants: number): string {
  const h = createHash("sha256").update(JSON.stringify({ loader: LOADER_VERSION, lmdb: lmdbVersion(), tenants }));
  for (const f of LAYOUT_SOURCES) h.update(f).update(readFileSync(join(root, f)));
  return h.digest("hex").slice(0, 16);
}

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(env["XDG_CACHE_HOME"] || join(homedir(), ".cache"), "enchanted", "bench-scale");
}

/** Holds `dir` for this process (a second bench on the same cache fails rather than waits). */
function lockDir(dir: string): () => void {
  const path = join(dir, "lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const pid = Number(readFileSync(path, "utf8"));
      let alive = false;
      try {
        process.kill(pid, 0);
        alive = pid !== process.pid;
      } catch {
        alive = false;
      }
      if (alive) throw new Error(`the cached store ${dir} is in use by process ${pid}. Fix: wait for it, or set BENCH_SCALE_CACHE=off.`);
      rmSync(path, { force: true }); // left by a process that is gone
    }
  }
  throw new Error(`cannot lock ${dir}`);
}

function diskUse(dir: string): DiskUse {
  let allocatedBytes = 0;
  let fileBytes = 0;
  for (const f of readdirSync(dir)) {
    const s = statSync(join(dir, f));
    if (!s.isFile()) continue;
    allocatedBytes += s.blocks * 512;
    fileBytes += s.size;
  }
  return { allocatedBytes, fileBytes };
}

/** Reads the store's files once (sequentially) so lookups find its pages in the OS cache: warm. */
export function readThrough(dir: string): number {
  const buf = Buffer.allocUnsafe(4 << 20);
  let total = 0;
  for (const f of readdirSync(dir)) {
    const path = join(dir, f);
    if (!statSync(path).isFile()) continue;
    const fd = openSync(path, "r");
    try {
      for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) total += n;
    } finally {
      closeSync(fd);
    }
  }
  return total;
}

/** A transaction that tallies the logical bytes of what is written through it, by subspace. */
function tallying(tx: KvTransaction, written: Map<string, { sub: string; bytes: number }>): KvTransaction {
  const note = (key: Tuple, valueBytes: number) => {
    const k = pack(key);
    // The tenant subspace by record kind ("t/meta", "t/m", "t/usage", "t/ol"), the rest by their first element.
    const sub = key[0] === "t" ? `t/${String(key[2])}` : String(key[0]);
    written.set(k.toString("latin1"), { sub, bytes: k.length + valueBytes });
  };
  return {
    get: (key) => tx.get(key),
    getRange: (prefix, options) => tx.getRange(prefix, options),
    set(key, value) {
      note(key, value.length);
      tx.set(key, value);
    },
    clear: (key) => tx.clear(key),
    clearRange: (prefix) => tx.clearRange(prefix),
    add(key, delta) {
      note(key, 8);
      tx.add(key, delta);
    },
  };
}

function newPlane(store: KvStore): ControlPlane {
  return new ControlPlane({ store, catalog: loadTierCatalog(), userLimits: loadUserLimits() });
}

function newKeys(store: KvStore, kek: Buffer): PlatformKeys {
  return new PlatformKeys({ store, provider: new LocalKekProvider(kek), issuer: ISSUER, tokenTtlSeconds: PROVISIONING_DEFAULTS.tenantTokenTtlSeconds });
}

/**
 * Creates tenants 0…n-1 in `plane`'s store through `createTenantIn`, `batch` per transaction,
 * `inflight` transactions at once. Returns their ids (in order) and the load's figures.
 */
export async function bulkLoad(plane: ControlPlane, o: Pick<StoreOptions, "tenants" | "batch" | "inflight" | "progress">): Promise<{ ids: string[]; stats: LoadStats }> {
  const ids: string[] = new Array<string>(o.tenants);
  const written = new Map<string, { sub: string; bytes: number }>();
  let sampled = 0;
  const inflight = new Set<Promise<void>>();
  const started = performance.now();
  let lastReport = started;
  let committed = 0;
  for (let i0 = 0; i0 < o.tenants; i0 += o.batch) {
    const i1 = Math.min(o.tenants, i0 + o.batch);
    // Made outside the transaction, as createTenant makes them: a re-run writes the same ids.
    const made: TenantIdentity[] = [];
    for (let i = i0; i < i1; i++) made.push(newTenantIdentity());
    // The second transaction is the sample of bytes per tenant (every transaction writes the same
    // records per tenant; the first is skipped only to sample away from an empty store).
    const tally = i0 === o.batch || (i0 === 0 && o.tenants <= o.batch);
    const commit = plane.store
      .transact(async (raw) => {
        if (tally) written.clear();
        const tx = tally ? tallying(raw, written) : raw;
        for (let i = i0; i < i1; i++) {
          const answer = await plane.createTenantIn(tx, inputOf(i), made[i - i0]!);
          if (answer.statusCode !== 201) throw new Error(`creating tenant ${i} answered ${answer.statusCode}: ${JSON.stringify(answer.body)}`);
        }
      })
      .then(() => {
        for (let i = i0; i < i1; i++) ids[i] = made[i - i0]!.tenantId;
        if (tally) sampled = i1 - i0;
        committed += i1 - i0;
        const now = performance.now();
        if (now - lastReport >= 5_000) {
          lastReport = now;
          const s = (now - started) / 1000;
          o.progress(`loaded ${committed.toLocaleString("en-US")} of ${o.tenants.toLocaleString("en-US")} tenants in ${s.toFixed(0)} s (${Math.round(committed / s).toLocaleString("en-US")}/s, about ${Math.round(((o.tenants - committed) * s) / committed)} s left)`);
        }
      });
    const tracked: Promise<void> = commit.finally(() => inflight.delete(tracked));
    inflight.add(tracked);
    if (inflight.size >= o.inflight) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  plane.wake();
  const seconds = (performance.now() - started) / 1000;
  const bySub: Record<string, number> = {};
  for (const { sub, bytes } of written.values()) bySub[sub] = (bySub[sub] ?? 0) + bytes;
  const bytesPerTenantBySubspace = Object.fromEntries(Object.entries(bySub).map(([k, v]) => [k, Math.round(v / Math.max(1, sampled))]));
  return { ids, stats: { tenants: o.tenants, seconds, perSecond: o.tenants / seconds, batch: o.batch, bytesPerTenantBySubspace } };
}

/** Tenants in the store: its slug index (one row per tenant ever created), read in pages. */
export async function countTenants(store: KvStore, page = 10_000): Promise<number> {
  let n = 0;
  let after: Tuple | undefined;
  for (;;) {
    const rows = await store.transact((tx) => tx.getRange(["slug"], { limit: page, ...(after ? { after } : {}) }));
    n += rows.length;
    if (rows.length < page) return n;
    after = rows[rows.length - 1]!.key;
  }
}

function writeIds(path: string, ids: readonly string[]): void {
  const buf = Buffer.alloc(ids.length * ID_BYTES);
  ids.forEach((id, i) => buf.write(id.slice(1), i * ID_BYTES, ID_BYTES, "hex"));
  writeFileSync(path, buf);
}

function readIds(path: string, n: number): string[] | undefined {
  if (!existsSync(path) || statSync(path).size !== n * ID_BYTES) return undefined;
  const buf = readFileSync(path);
  const ids = new Array<string>(n);
  for (let i = 0; i < n; i++) ids[i] = `t${buf.toString("hex", i * ID_BYTES, (i + 1) * ID_BYTES)}`;
  return ids;
}

/** Tenant i has id ids[i] and slug `scale-i`, for the first, the last and `sample` random tenants. */
async function spotCheck(plane: ControlPlane, ids: readonly string[], sample: number): Promise<string | undefined> {
  const picks = [0, ids.length - 1, ...Array.from({ length: sample }, () => Math.floor(Math.random() * ids.length))];
  for (const i of picks) {
    const t = await plane.tenant(ids[i]!);
    if (!t || t.slug !== inputOf(i).slug || t.createdBy !== ownerOf(i)) return `tenant ${i} (${ids[i]}) is ${t ? `${t.slug} of ${t.createdBy}` : "missing"}`;
  }
  return undefined;
}

/**
 * The store of `o.tenants` tenants: reused from the cache when its manifest (written last)
 * matches, its ids file is whole, the store counts exactly that many tenants and a spot check of
 * ids finds their slugs and owners; else loaded (into the cache, or a temporary directory).
 */
export async function openStore(o: StoreOptions): Promise<OpenedStore> {
  let base: string;
  let release: () => void;
  const key = storeCacheKey(o.tenants);
  if (o.cache) {
    base = join(cacheRoot(), `${o.tenants}-${key}`);
    mkdirSync(base, { recursive: true });
    release = lockDir(base);
  } else {
    base = mkdtempSync(join(tmpdir(), "bench-scale-"));
    release = () => rmSync(base, { recursive: true, force: true });
  }
  const dir = join(base, STORE);
  const manifestPath = join(base, MANIFEST);
  try {
    if (o.cache && existsSync(manifestPath)) {
      const m = JSON.parse(readFileSync(manifestPath, "utf8")) as Manifest;
      const ids = m.key === key && m.loader === LOADER_VERSION && m.tenants === o.tenants ? readIds(join(base, IDS), o.tenants) : undefined;
      if (ids && existsSync(join(base, KEK))) {
        const counting = performance.now();
        const store = await LmdbStore.open(dir);
        try {
          const count = await countTenants(store);
          const plane = newPlane(store);
          const problem = count !== o.tenants ? `the store counts ${count} tenants, the manifest ${o.tenants}` : await spotCheck(plane, ids, 200);
          if (!problem) {
            const keys = newKeys(store, readFileSync(join(base, KEK)));
            await keys.load();
            o.progress(`reusing the store of ${o.tenants.toLocaleString("en-US")} tenants cached in ${base} (loaded ${m.createdAt} at ${Math.round(m.load.perSecond).toLocaleString("en-US")}/s; ${count.toLocaleString("en-US")} tenants counted and 202 spot-checked in ${((performance.now() - counting) / 1000).toFixed(1)} s)`);
            return opened(dir, store, plane, keys, ids, true, m.load, release);
          }
          o.progress(`cache ${base}: ${problem}: loading again`);
        } catch (error) {
          await store.close();
          throw error;
        }
        await store.close();
      } else {
        o.progress(`cache ${base}: the manifest or the ids file does not match: loading again`);
      }
    }
    // From scratch: nothing of an earlier, unfinished or mismatched load is kept.
    for (const f of [MANIFEST, IDS, KEK, STORE]) rmSync(join(base, f), { recursive: true, force: true });
    const kek = randomBytes(32);
    writeFileSync(join(base, KEK), kek, { mode: 0o600 });
    o.progress(`loading ${o.tenants.toLocaleString("en-US")} tenants with their owners into ${dir} (${o.batch} per transaction, ${o.inflight} in flight)`);
    const store = await LmdbStore.open(dir);
    try {
      const plane = newPlane(store);
      // The service loads (makes) its platform keys at start, before any tenant.
      const keys = newKeys(store, kek);
      await keys.load();
      const { ids, stats } = await bulkLoad(plane, o);
      writeIds(join(base, IDS), ids);
      const count = await countTenants(store);
      if (count !== o.tenants) throw new Error(`the load left ${count} tenants in the store, not ${o.tenants}`);
      o.progress(`loaded ${o.tenants.toLocaleString("en-US")} tenants in ${stats.seconds.toFixed(1)} s: ${Math.round(stats.perSecond).toLocaleString("en-US")} tenants/s`);
      if (o.cache) writeFileSync(manifestPath, `${JSON.stringify({ key, loader: LOADER_VERSION, tenants: o.tenants, createdAt: new Date().toISOString(), load: stats } satisfies Manifest, null, 2)}\n`);
      return opened(dir, store, plane, keys, ids, false, stats, release);
    } catch (error) {
      await store.close();
      throw error;
    }
  } catch (error) {
    release();
    throw error;
  }
}

function opened(dir: string, store: KvStore, plane: ControlPlane, keys: PlatformKeys, tenantIds: string[], reused: boolean, load: LoadStats, release: () => void): OpenedStore {
  return { dir, store, plane, keys, tenantIds, reused, load, disk: diskUse(dir), close: () => store.close(), release };
}

/** Opens the configured control-plane store: FoundationDB when a cluster file is set, else LMDB. */
import type { StoreConfig } from "../config.js";
import { FdbStore } from "./fdb.js";
import type { KvStore } from "./kv.js";
import { LmdbStore } from "./lmdb.js";

export async function openStore(config: StoreConfig): Promise<KvStore> {
  return config.kind === "fdb" ? FdbStore.open(config.clusterFile) : LmdbStore.open(config.path);
}

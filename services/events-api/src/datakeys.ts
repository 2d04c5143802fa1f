/**
 * The tenants' data keys, for opening encrypted payloads (`is_encrypted` events: their free text
 * is sealed with the tenant's data key, sdk/cipher.ts).
 *
 * {@link StoreDataKeySource} is the production source: it reads the tenant's wrapped key from
 * the control-plane store (the record the provisioning service writes at `("t", tenant, "key")`,
 * cleared at offboarding) and unwraps it with the same {@link DataKeyProvider} the provisioning
 * service wraps with (KMS Decrypt under the `tenant_id` encryption context, or the local
 * key-encryption key). The plaintext lives in this process's memory only, for at most the cache
 * time; so does the knowledge that a key is gone.
 */
import type { DataKeyProvider } from "../../provisioning/src/datakeys.js";
import { dataKeyProvider, LocalKekProvider, PlaintextKeyCache, readKek } from "../../provisioning/src/datakeys.js";
import { dataKeyId } from "../../provisioning/src/agents.js";
import { keys, type WrappedDataKey } from "../../provisioning/src/control-plane.js";
import { getJson, type KvStore } from "../../provisioning/src/store/kv.js";
import { openStore } from "../../provisioning/src/store/open.js";
import { EVENTS_API_ENV } from "../contract.js";
import { EventsApiConfigError, type DataKeyAccess } from "./config.js";

/** Where the events API finds a tenant's data key by its id. */
export interface DataKeySource {
  /**
   * The 32-byte data key `keyId` of `tenantId`, or undefined when the tenant has no such key
   * (destroyed when the tenant was offboarded, or never the tenant's). Throws when the key cannot
   * be fetched now (store or KMS unreachable).
   */
  key(tenantId: string, keyId: string): Promise<Buffer | undefined>;
}

export interface StoreDataKeySourceOptions {
  readonly store: KvStore;
  readonly provider: DataKeyProvider;
  /** How long an answer (a key, or its absence) is reused. 0 = never. */
  readonly cacheMs: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Data keys read from the control-plane store and unwrapped with the platform's key. */
export class StoreDataKeySource implements DataKeySource {
  private readonly cache: PlaintextKeyCache<Buffer | undefined>;

  constructor(private readonly o: StoreDataKeySourceOptions) {
    this.cache = new PlaintextKeyCache<Buffer | undefined>(o.cacheMs, o.now ?? Date.now);
  }

  key(tenantId: string, keyId: string): Promise<Buffer | undefined> {
    return this.cache.get(tenantId, keyId, () => this.lookup(tenantId, keyId));
  }

  private async lookup(tenantId: string, keyId: string): Promise<Buffer | undefined> {
    const wrapped = await this.o.store.transact((tx) => getJson<WrappedDataKey>(tx, keys.dataKey(tenantId)));
    if (!wrapped || dataKeyId(wrapped) !== keyId) return undefined;
    return this.o.provider.unwrap(tenantId, wrapped);
  }
}

/** A configured source and what closes it. */
export interface OpenDataKeySource {
  readonly source: DataKeySource;
  readonly ping: () => Promise<boolean>;
  close(): Promise<void>;
}

/** The source the configuration names; undefined when data-key access is off. */
export async function openDataKeySource(access: DataKeyAccess, cacheSeconds: number): Promise<OpenDataKeySource | undefined> {
  if (access.kind === "off") return undefined;
  const provider: DataKeyProvider = access.provider.kind === "local" ? localProvider(access.provider.kekFile) : await dataKeyProvider({ kind: "kms", keyId: access.provider.keyId, region: access.provider.region }, "");
  const store = await openStore(access.store);
  return {
    source: new StoreDataKeySource({ store, provider, cacheMs: cacheSeconds * 1000 }),
    ping: () => store.ping(),
    close: () => store.close(),
  };
}

/** The provisioning service's local key-encryption key, read once. */
function localProvider(kekFile: string): DataKeyProvider {
  try {
    return new LocalKekProvider(readKek(kekFile));
  } catch (error) {
    throw new EventsApiConfigError(
      EVENTS_API_ENV.localKekFile,
      kekFile,
      `cannot be used (${error instanceof Error ? error.message.split(". Fix:")[0] : String(error)})`,
      "mount the provisioning service's key-encryption key file (32 bytes: raw, hex or base64) there",
    );
  }
}

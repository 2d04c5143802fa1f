/**
 * The data-plane nats-server as the chart runs it (services/nats-auth/nats-server-process.ts
 * for the process): operator mode, the signed JWTs of a bootstrap, the tiers' limits. The tests
 * and `npm run platform` both start it here.
 */
import type { TierCatalog } from "../config/index.js";
import type { SignedNatsAuth } from "../services/nats-auth/sign.js";
import { NatsServer, requireNatsServer } from "../services/nats-auth/nats-server-process.js";
import { AUTH_INCLUDE_PATH, renderAuthInclude, renderServerConfig } from "../services/nats-auth/server-config.js";

/** Where a data-plane server's files go, relative to its root (the chart's layout). */
export const DATA_PLANE_CONFIG_FILE = "nats-config/nats.conf";
export const DATA_PLANE_AUTH_FILE = `nats-config/${AUTH_INCLUDE_PATH}`;

export interface DataPlaneServerOptions {
  readonly serverName: string;
  readonly signed: SignedNatsAuth;
  readonly tiers: TierCatalog;
  readonly jetStreamStorageGiB: number;
  /**
   * JetStream's store and the full resolver's account JWTs (`<storeDir>/resolver`): kept across
   * restarts when it is outside the server's temporary root (`npm run platform --data-dir`).
   * @default - `data/` under the server's temporary root, removed at stop
   */
  readonly storeDir?: string;
}

/** One nats-server running the data-plane configuration the chart ships: operator mode, `signed`'s JWTs, the tiers' limits. */
export function startDataPlaneServer(o: DataPlaneServerOptions): Promise<NatsServer> {
  requireNatsServer();
  return NatsServer.start({
    configFile: DATA_PLANE_CONFIG_FILE,
    files: (layout) => ({
      [DATA_PLANE_CONFIG_FILE]: renderServerConfig({
        serverName: o.serverName,
        listen: `127.0.0.1:${layout.port}`,
        monitorListen: `127.0.0.1:${layout.monitorPort}`,
        storeDir: o.storeDir ?? `${layout.root}/data`,
        resolverDir: `${o.storeDir ?? `${layout.root}/data`}/resolver`,
        jetStreamStorageGiB: o.jetStreamStorageGiB,
        tiers: o.tiers,
      }),
      [DATA_PLANE_AUTH_FILE]: renderAuthInclude(o.signed),
    }),
  });
}

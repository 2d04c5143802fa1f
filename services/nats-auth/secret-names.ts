/**
 * Secrets Manager names of the bus's keys and signed artifacts: the one home of these names,
 * shared by the bootstrap command (which prints the commands that fill them), the construct
 * (which syncs the cluster artifacts into Kubernetes) and the stack (which creates the secrets).
 *
 * Two sub-prefixes so that IAM can be scoped by prefix:
 * - `<prefix>/seeds/…`: private nkey seeds. Only operators running `nats:bootstrap` and, for the
 *   tier signing keys, the provisioning service read these. External Secrets never needs them.
 * - `<prefix>/cluster/…`: what the cluster consumes (the server's auth include, the platform
 *   user's creds, the provisioning service's and each tier's worker user's creds, each silo
 *   account's NACK, ingestor and worker users' creds), synced by
 *   External Secrets into the namespace of the workload that uses them.
 */
import { assertTenantId } from "../../config/tenancy.js";
import { PLAN_TIER_NAMES, type PlanTierName } from "../../config/tiers.js";

export interface NatsSecretNames {
  readonly seeds: {
    readonly operator: string;
    readonly systemAccount: string;
    readonly swarmAccount: string;
    /** Creds of the system account's user that pushes account JWT updates (operators only). */
    readonly systemUserCreds: string;
    /** The operator's signing key of tenant accounts; the provisioning service signs tenant accounts with it. */
    readonly tenantAccountSigningKey: string;
    /** The platform account's activation-token signing key; the provisioning service signs tenants' imports with it. */
    readonly tenantImportSigningKey: string;
    /** One scoped signing key per plan tier; the provisioning service mints tenant users with these. */
    readonly swarmSigningKeys: Readonly<Record<PlanTierName, string>>;
    /** Per silo tenant: its account's identity key and its scoped signing key. */
    readonly silos: Readonly<Record<string, { readonly account: string; readonly signingKey: string }>>;
  };
  readonly cluster: {
    /** The nats-server include file: operator JWT, system account, resolver preload. */
    readonly authConf: string;
    /** Creds of the `platform` user of the SWARM account (NACK, the ingestor). */
    readonly platformCreds: string;
    /** Creds of the provisioning service's user of the SWARM account (jobs, the workers' credential requests). */
    readonly provisioningBusCreds: string;
    /** Per pooled tier: creds of the tier's worker user of the SWARM account (`workers-<tier>.creds`). */
    readonly workerCreds: Readonly<Record<PlanTierName, string>>;
    /**
     * Per silo tenant: creds of the platform's users of its account: NACK's (`platform`: the silo's
     * streams and consumers), its ingestor's and its worker pool's.
     */
    readonly silos: Readonly<Record<string, SiloCredsNames>>;
  };
}

/** The Secrets Manager names of a silo account's platform users' creds. */
export interface SiloCredsNames {
  readonly platformCreds: string;
  readonly ingestorCreds: string;
  readonly workerCreds: string;
}

/** Every secret name under `seedSecretPrefix` (`config.nats.seedSecretPrefix`). */
export function natsSecretNames(seedSecretPrefix: string, siloTenants: readonly string[]): NatsSecretNames {
  if (!/^[A-Za-z0-9/_+=.@-]{1,400}$/.test(seedSecretPrefix) || seedSecretPrefix.endsWith("/")) {
    throw new RangeError(`seedSecretPrefix = ${JSON.stringify(seedSecretPrefix)} is not a Secrets Manager path. Fix: use e.g. "enchanted/prod/nats" (no trailing "/").`);
  }
  const seed = (name: string) => `${seedSecretPrefix}/seeds/${name}`;
  return {
    seeds: {
      operator: seed("operator"),
      systemAccount: seed("system-account"),
      swarmAccount: seed("swarm-account"),
      systemUserCreds: seed("system-user-creds"),
      tenantAccountSigningKey: seed("tenant-account-signing-key"),
      tenantImportSigningKey: seed("tenant-import-signing-key"),
      swarmSigningKeys: Object.fromEntries(PLAN_TIER_NAMES.map((t) => [t, seed(`swarm-signing-key-${t}`)])) as Record<PlanTierName, string>,
      silos: Object.fromEntries(
        siloTenants.map((t) => {
          assertTenantId(t, "siloTenants[]");
          return [t, { account: seed(`silo-${t}-account`), signingKey: seed(`silo-${t}-signing-key`) }];
        }),
      ),
    },
    cluster: {
      authConf: `${seedSecretPrefix}/cluster/auth-conf`,
      platformCreds: `${seedSecretPrefix}/cluster/platform-creds`,
      provisioningBusCreds: `${seedSecretPrefix}/cluster/provisioning-bus-creds`,
      workerCreds: Object.fromEntries(PLAN_TIER_NAMES.map((t) => [t, `${seedSecretPrefix}/cluster/workers-${t}-creds`])) as Record<PlanTierName, string>,
      silos: Object.fromEntries(
        siloTenants.map((t) => {
          const cluster = (user: string) => `${seedSecretPrefix}/cluster/silo-${t}-${user}-creds`;
          return [t, { platformCreds: cluster("platform"), ingestorCreds: cluster("ingestor"), workerCreds: cluster("workers") }];
        }),
      ),
    },
  };
}

/** Every name as a flat list with what it holds, for the stack that creates the secrets. */
export function natsSecretList(names: NatsSecretNames): { readonly name: string; readonly description: string }[] {
  const s = names.seeds;
  return [
    { name: s.operator, description: "NATS operator nkey seed (signs account JWTs; nats:bootstrap only)" },
    { name: s.systemAccount, description: "NATS system account nkey seed (nats:bootstrap only)" },
    { name: s.swarmAccount, description: "NATS SWARM account nkey seed (signs the platform user; nats:bootstrap only)" },
    { name: s.systemUserCreds, description: "Creds of the NATS system account's push user (operators and the provisioning service push account JWTs)" },
    ...PLAN_TIER_NAMES.map((t) => ({ name: s.swarmSigningKeys[t], description: `NATS user signing key seed of the ${t} tier (listed in ${t} tenant accounts; provisioning mints ${t} tenant users)` })),
    ...Object.entries(s.silos).flatMap(([t, k]) => [
      { name: k.account, description: `NATS silo account nkey seed of tenant ${t} (nats:bootstrap only)` },
      { name: k.signingKey, description: `NATS silo scoped signing key seed of tenant ${t} (provisioning mints its users)` },
    ]),
    { name: names.cluster.authConf, description: "nats-server auth include: operator JWT, system account, resolver_preload of signed account JWTs" },
    { name: names.cluster.platformCreds, description: "Creds of the SWARM account's platform user (NACK, ingestor)" },
    // Added last: the stack names each secret by its position, so earlier ones keep their addresses.
    { name: s.tenantAccountSigningKey, description: "NATS operator signing key seed of tenant accounts (provisioning signs each tenant's account)" },
    { name: s.tenantImportSigningKey, description: "NATS platform account signing key seed of activation tokens (provisioning lets a tenant account import its own subjects)" },
    { name: names.cluster.provisioningBusCreds, description: "Creds of the SWARM account's provisioning user (publishes jobs, answers the workers' credential requests)" },
    ...PLAN_TIER_NAMES.map((t) => ({ name: names.cluster.workerCreds[t], description: `Creds of the SWARM account's ${t} worker user (pulls the ${t} job lane, dead-letters, asks for tenant credentials)` })),
    // Silo tenants' last (a silo added or removed moves no other secret's position).
    ...Object.entries(names.cluster.silos).flatMap(([t, c]) => [
      { name: c.platformCreds, description: `Creds of silo tenant ${t}'s platform user (NACK: the silo account's streams and consumers)` },
      { name: c.ingestorCreds, description: `Creds of silo tenant ${t}'s ingestor user (pulls the silo's events consumer, dead-letters)` },
      { name: c.workerCreds, description: `Creds of silo tenant ${t}'s worker user (pulls the silo's job lane, dead-letters)` },
    ]),
  ];
}

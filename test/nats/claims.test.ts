/** The bus's claims, streams, secret names and server config as pure data: every number from config or the catalog. */
import { decode } from "@nats-io/jwt";
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, loadEnvironment, loadTierCatalog, PLAN_TIER_NAMES, type TierCatalog } from "../../config/index.js";
import {
  natsAuthClaims,
  SILO_TIER,
  siloAccountClaims,
  swarmAccountClaims,
  TENANT_TEMPLATE,
  tenantPermissions,
  tierUserTemplate,
} from "../../services/nats-auth/claims.js";
import { natsSecretList, natsSecretNames } from "../../services/nats-auth/secret-names.js";
import {
  AUTH_INCLUDE_PATH,
  jetStreamMaxFileStoreMiB,
  parseAuthInclude,
  renderAuthInclude,
  renderServerConfig,
  serverMaxPayloadBytes,
} from "../../services/nats-auth/server-config.js";
import { generateNatsSeeds, publicKeysOf, sameClaims, signNatsAuth } from "../../services/nats-auth/sign.js";
import { goDuration, STREAM_NAMES, swarmStreamConfigs } from "../../services/nats-auth/streams.js";

const tiers = loadTierCatalog();
const seeds = generateNatsSeeds(["acme-corp"]);
const keys = publicKeysOf(seeds);
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

type Mutable<T> = { -readonly [K in keyof T]: Mutable<T[K]> };
const cloneTiers = (): Mutable<TierCatalog> => structuredClone(tiers) as Mutable<TierCatalog>;

describe.each(ENVIRONMENT_NAMES)("%s claims", (envName) => {
  const env = loadEnvironment(envName);

  it("gives the SWARM account the connection and JetStream limits of config.nats.account", () => {
    const limits = swarmAccountClaims(env.nats, tiers, keys).nats.limits;
    expect(limits).toMatchObject({
      conn: env.nats.account.maxConnections,
      disk_storage: env.nats.account.jetstreamMaxStorageGiB * GiB,
      mem_storage: 0,
      max_bytes_required: true,
      leaf: 0,
      disallow_bearer: true,
    });
  });

  it("streams carry config.nats.streams: file storage, replicas, age, bytes, duplicate window, retention", () => {
    const s = swarmStreamConfigs(env.nats);
    for (const key of ["events", "jobs"] as const) {
      const c = env.nats.streams[key];
      expect(s[key]).toMatchObject({
        name: STREAM_NAMES[key],
        storage: "file",
        num_replicas: c.replicas,
        max_age: c.maxAgeHours * 3_600 * 1e9,
        max_bytes: c.maxBytesGiB * GiB,
        duplicate_window: c.duplicateWindowSeconds * 1e9,
      });
      expect(goDuration(s[key].max_age)).toBe(`${c.maxAgeHours}h`);
    }
    expect(s.events).toMatchObject({ subjects: ["swarm.*.*.events"], retention: "limits", discard: "old" });
    expect(s.jobs).toMatchObject({ subjects: ["swarm.*.jobs.free", "swarm.*.jobs.pro", "swarm.*.jobs.enterprise"], retention: "workqueue", discard: "new" });
  });
});

describe("per-tier scoped signing keys", () => {
  const swarm = swarmAccountClaims(loadEnvironment("prod").nats, tiers, keys);

  it("has one scoped signing key per tier with the tier's subscription and payload limits", () => {
    const signingKeys = swarm.nats.signing_keys ?? [];
    expect(signingKeys.map((k) => (typeof k === "string" ? k : k.role))).toEqual([...PLAN_TIER_NAMES]);
    for (const t of PLAN_TIER_NAMES) {
      const key = signingKeys.find((k) => typeof k !== "string" && k.role === t);
      expect(key).toMatchObject({ kind: "user_scope", key: keys.swarmSigningKeys[t], template: { subs: tiers[t].bus.subscriptions, payload: tiers[t].bus.maxPayloadBytes } });
    }
  });

  it("follows a changed tier number (the catalog is the only home of the limit)", () => {
    const changed = cloneTiers();
    changed.free.bus.maxPayloadBytes = 12_345;
    changed.pro.bus.subscriptions = 777;
    const free = tierUserTemplate("free", changed.free);
    const pro = tierUserTemplate("pro", changed.pro);
    expect(free.payload).toBe(12_345);
    expect(pro.subs).toBe(777);
    expect(tierUserTemplate("free", tiers.free).payload).toBe(tiers.free.bus.maxPayloadBytes);
    expect(serverMaxPayloadBytes(changed)).toBe(Math.max(...PLAN_TIER_NAMES.map((t) => changed[t].bus.maxPayloadBytes)));
  });

  it("allows a tenant only its own subjects, its inbox and its own consumer, each template filling a whole token", () => {
    const template = tierUserTemplate("free", tiers.free);
    for (const subject of [...(template.pub?.allow ?? []), ...(template.sub?.allow ?? [])]) {
      expect(subject).toContain(TENANT_TEMPLATE);
      // Whole tokens: nats-server 2.9 expanded a template only then (2.14 also inside a token).
      for (const t of subject.split(".")) if (t.includes("{{")) expect(t).toBe(TENANT_TEMPLATE);
      expect(subject.split(".").filter((t) => t === "*" || t === ">").length).toBeLessThanOrEqual(1);
    }
    expect(tenantPermissions("t-1", "free")).toEqual({
      pub: {
        allow: [
          "swarm.t-1.>",
          "$JS.API.CONSUMER.CREATE.SWARM_EVENTS.t-1.swarm.t-1.>",
          "$JS.API.CONSUMER.INFO.SWARM_EVENTS.t-1",
          "$JS.API.CONSUMER.DELETE.SWARM_EVENTS.t-1",
          "$JS.API.CONSUMER.MSG.NEXT.SWARM_EVENTS.t-1",
          "$JS.ACK.SWARM_EVENTS.t-1.>",
        ],
        deny: ["swarm.t-1.jobs.pro", "swarm.t-1.jobs.enterprise"],
      },
      sub: { allow: ["swarm.t-1.>", "_INBOX.t-1.>"], deny: [] },
    });
    expect(template.allowed_connection_types).toEqual(["STANDARD"]);
    expect(template.bearer_token).toBe(false);
  });

  it("gives a silo account the enterprise tier's account limits and the enterprise template", () => {
    const silo = siloAccountClaims("acme-corp", tiers, keys);
    const bus = tiers[SILO_TIER].bus;
    expect(silo.sub).toBe(keys.silos["acme-corp"]?.account);
    expect(silo.nats.limits).toMatchObject({ conn: bus.connections, disk_storage: bus.jetstreamStorageMiB * MiB, max_ack_pending: bus.maxAckPending });
    expect(silo.nats.signing_keys).toEqual([{ kind: "user_scope", key: keys.silos["acme-corp"]?.signingKey, role: "enterprise", template: tierUserTemplate("enterprise", tiers.enterprise) }]);
    expect(() => siloAccountClaims("acme.corp", tiers, keys)).toThrow(/siloTenants/);
  });
});

describe("signing", () => {
  const env = loadEnvironment("staging");
  const nats = { ...env.nats, siloTenants: ["acme-corp"] };

  it("signs the operator with itself and every account with the operator", async () => {
    const claims = natsAuthClaims({ name: env.name, nats }, tiers, keys);
    const signed = await signNatsAuth(claims, seeds.operator);
    expect(decode(signed.operatorJwt)).toMatchObject({ iss: keys.operator, sub: keys.operator, nats: { type: "operator", system_account: keys.systemAccount } });
    expect(Object.keys(signed.accountJwts)).toEqual([keys.systemAccount, keys.swarmAccount, keys.silos["acme-corp"]?.account]);
    for (const [account, jwt] of Object.entries(signed.accountJwts)) expect(decode(jwt)).toMatchObject({ iss: keys.operator, sub: account });
  });

  it("refuses a seed that is not the claims' issuer", async () => {
    const claims = natsAuthClaims({ name: env.name, nats }, tiers, keys);
    await expect(signNatsAuth(claims, generateNatsSeeds([]).operator)).rejects.toThrow(/does not belong to the issuer/);
  });

  it("keeps a previous JWT whose claims did not change, and re-signs the ones that did", async () => {
    const before = await signNatsAuth(natsAuthClaims({ name: env.name, nats }, tiers, keys), seeds.operator);
    const changed = cloneTiers();
    changed.enterprise.bus.connections += 1;
    const claims = natsAuthClaims({ name: env.name, nats }, changed, keys);
    const after = await signNatsAuth(claims, seeds.operator, before);
    expect(after.operatorJwt).toBe(before.operatorJwt);
    expect(after.accountJwts[keys.swarmAccount]).toBe(before.accountJwts[keys.swarmAccount]);
    const silo = keys.silos["acme-corp"]?.account as string;
    expect(after.accountJwts[silo]).not.toBe(before.accountJwts[silo]);
    expect(sameClaims(after.accountJwts[silo] as string, claims.accounts[2] as (typeof claims.accounts)[number])).toBe(true);
  });

  it("round-trips the auth include", async () => {
    const signed = await signNatsAuth(natsAuthClaims({ name: env.name, nats }, tiers, keys), seeds.operator);
    expect(parseAuthInclude(renderAuthInclude(signed))).toEqual(signed);
  });
});

describe("server config", () => {
  it("renders the chart's format: include directive, full resolver, the largest tier payload, 90% of the volume", () => {
    const text = renderServerConfig({
      serverName: "n0",
      listen: "127.0.0.1:4222",
      monitorListen: "127.0.0.1:8222",
      storeDir: "/data",
      resolverDir: "/data/resolver",
      jetStreamStorageGiB: 20,
      tiers,
    });
    expect(AUTH_INCLUDE_PATH).toBe("../nats-auth/auth.conf");
    expect(text).toMatch(/^\{\n {2}include \.\.\/nats-auth\/auth\.conf;\n/);
    expect(text).toContain(`"max_payload": ${Math.max(...PLAN_TIER_NAMES.map((t) => tiers[t].bus.maxPayloadBytes))}`);
    expect(text).toContain(`"max_file_store": ${jetStreamMaxFileStoreMiB(20)}Mi`);
    expect(jetStreamMaxFileStoreMiB(20)).toBe(18_432);
    expect(text).toMatch(/"resolver": \{\n\s+"allow_delete": false,\n\s+"dir": "\/data\/resolver",\n\s+"interval": "2m",\n\s+"timeout": "1.9s",\n\s+"type": "full"/);
  });
});

describe("secret names", () => {
  it("keeps seeds under <prefix>/seeds and what the cluster syncs under <prefix>/cluster", () => {
    const names = natsSecretNames("enchanted/prod/nats", ["acme-corp"]);
    const list = natsSecretList(names).map((s) => s.name);
    expect(list).toHaveLength(3 + 1 + PLAN_TIER_NAMES.length + 2 + 2);
    expect(new Set(list).size).toBe(list.length);
    expect(names.cluster).toEqual({ authConf: "enchanted/prod/nats/cluster/auth-conf", platformCreds: "enchanted/prod/nats/cluster/platform-creds" });
    expect(names.seeds.swarmSigningKeys.free).toBe("enchanted/prod/nats/seeds/swarm-signing-key-free");
    expect(list.filter((n) => !n.startsWith("enchanted/prod/nats/cluster/")).every((n) => n.startsWith("enchanted/prod/nats/seeds/"))).toBe(true);
    expect(() => natsSecretNames("enchanted/prod/nats/", [])).toThrow(/seedSecretPrefix/);
    expect(() => natsSecretNames("p", ["a.b"])).toThrow(/siloTenants/);
  });
});

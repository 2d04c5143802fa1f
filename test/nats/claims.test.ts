/** The bus's claims, streams, secret names and server config as pure data: every number from config or the catalog. */
import { decode } from "@nats-io/jwt";
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, loadEnvironment, loadTierCatalog, PLAN_TIER_NAMES, type TierCatalog } from "../../config/index.js";
import {
  natsAuthClaims,
  operatorClaims,
  PROVISIONING_INBOX_PREFIX,
  provisioningBusPermissions,
  SILO_TIER,
  siloAccountClaims,
  swarmAccountClaims,
  TENANT_IMPORT_ROLE,
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
import { goDuration, STREAM_NAMES, swarmStreamConfigs, tenantBacklogMessages } from "../../services/nats-auth/streams.js";
import { tenantAccountClaims } from "../../services/nats-auth/tenant-accounts.js";

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
    const limits = swarmAccountClaims(env.nats, keys).nats.limits;
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
    // One subject per tenant, a bound per subject, refusal (never eviction) at the bound, no message
    // delete; purges only for offboarding (the provisioning user's permissions are the only way to send one).
    const bound = { max_msgs_per_subject: tenantBacklogMessages(tiers), discard: "new", discard_new_per_subject: true, deny_purge: false, deny_delete: true };
    expect(s.events).toMatchObject({ subjects: ["swarm.*.*.events"], subject_transform: { src: "swarm.*.*.events", dest: "swarm.{{wildcard(1)}}.events" }, retention: "interest", ...bound });
    expect(s.jobs).toMatchObject({ subjects: ["swarm.*.jobs.free", "swarm.*.jobs.pro", "swarm.*.jobs.enterprise"], retention: "workqueue", ...bound });
  });
});

describe("the per-tenant bound in the shared streams", () => {
  it("is the smallest storage allowance over payload of any tier, so every tier stays within its own allowance in bytes", () => {
    const n = tenantBacklogMessages(tiers);
    expect(n).toBe(Math.min(...PLAN_TIER_NAMES.map((t) => Math.floor((tiers[t].bus.jetstreamStorageMiB * MiB) / tiers[t].bus.maxPayloadBytes))));
    expect(n).toBe(4_096);
    for (const t of PLAN_TIER_NAMES) expect(n * tiers[t].bus.maxPayloadBytes).toBeLessThanOrEqual(tiers[t].bus.jetstreamStorageMiB * MiB);
    const changed = cloneTiers();
    changed.free.bus.jetstreamStorageMiB = 512;
    expect(tenantBacklogMessages(changed)).toBe(8_192);
    expect(swarmStreamConfigs(loadEnvironment("dev").nats, changed).events.max_msgs_per_subject).toBe(8_192);
  });
});

describe("the platform account and the tenant accounts", () => {
  const swarm = swarmAccountClaims(loadEnvironment("prod").nats, keys);
  const active = (tier: "free" | "pro" | "enterprise" = "free") =>
    tenantAccountClaims({ tenantId: "t-1", tier, accountPublicKey: keys.silos["acme-corp"]!.account }, tiers, keys, { events: "token-events", jobs: "token-jobs" });

  it("exports tenants' events and job lanes only as private services, and lists one signing key whose users can do nothing", () => {
    expect(swarm.nats.exports).toEqual([
      expect.objectContaining({ subject: "swarm.*.*.events", type: "service", token_req: true, response_type: "Singleton" }),
      expect.objectContaining({ subject: "swarm.*.jobs.*", type: "service", token_req: true, response_type: "Singleton" }),
    ]);
    expect(swarm.nats.signing_keys).toEqual([
      { kind: "user_scope", key: keys.tenantImportSigningKey, role: TENANT_IMPORT_ROLE, template: { pub: { allow: [], deny: [">"] }, sub: { allow: [], deny: [">"] }, bearer_token: false, allowed_connection_types: ["STANDARD"] } },
    ]);
    expect(operatorClaims("prod", keys).nats.signing_keys).toEqual([keys.tenantAccountSigningKey]);
  });

  it("gives a tenant account its tier's limits, no JetStream, and imports of exactly its own events and lane", () => {
    for (const t of PLAN_TIER_NAMES) {
      const c = active(t);
      const bus = tiers[t].bus;
      expect(c.iss).toBe(keys.tenantAccountSigningKey);
      expect(c.nats.limits).toMatchObject({ conn: bus.connections, subs: bus.subscriptions, payload: bus.maxPayloadBytes, imports: 2, exports: 0, leaf: 0, disallow_bearer: true, disk_storage: 0, mem_storage: 0 });
      expect(c.nats.imports).toEqual([
        { name: "tenant-events", type: "service", account: keys.swarmAccount, subject: "swarm.t-1.*.events", token: "token-events" },
        { name: "tenant-jobs", type: "service", account: keys.swarmAccount, subject: `swarm.t-1.jobs.${t}`, token: "token-jobs" },
      ]);
      expect(c.nats.exports).toEqual([]);
      expect(c.nats.signing_keys).toEqual([{ kind: "user_scope", key: keys.swarmSigningKeys[t], role: t, template: tierUserTemplate(t, tiers[t], "t-1") }]);
      expect(c.nats.revocations).toEqual({});
    }
  });

  it("leaves an offboarded tenant account nothing: no import, no signing key, no connection, every user revoked", () => {
    const off = tenantAccountClaims({ tenantId: "t-1", tier: "pro", accountPublicKey: keys.silos["acme-corp"]!.account, offboardedAt: 1_700_000_000 }, tiers, keys, undefined);
    expect(off.nats).toMatchObject({ imports: [], signing_keys: [], revocations: { "*": 1_700_000_000 }, limits: { conn: 0 } });
    expect(() => tenantAccountClaims({ tenantId: "t.1", tier: "pro", accountPublicKey: "A" }, tiers, keys, undefined)).toThrow(/tenant id/);
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

  it("allows a tenant only its own subjects and its inbox (publish too: request and reply), each template filling a whole token", () => {
    const template = tierUserTemplate("free", tiers.free);
    for (const subject of [...(template.pub?.allow ?? []), ...(template.sub?.allow ?? [])]) {
      expect(subject).toContain(TENANT_TEMPLATE);
      // Whole tokens: nats-server 2.9 expanded a template only then (2.14 also inside a token).
      for (const t of subject.split(".")) if (t.includes("{{")) expect(t).toBe(TENANT_TEMPLATE);
      expect(subject.split(".").filter((t) => t === "*" || t === ">").length).toBeLessThanOrEqual(1);
    }
    expect(tenantPermissions("t-1", "free")).toEqual({
      pub: { allow: ["swarm.t-1.>", "_INBOX.t-1.>"], deny: ["swarm.t-1.jobs.pro", "swarm.t-1.jobs.enterprise"] },
      sub: { allow: ["swarm.t-1.>", "_INBOX.t-1.>"], deny: [] },
    });
    expect(template.allowed_connection_types).toEqual(["STANDARD"]);
    expect(template.bearer_token).toBe(false);
  });

  it("lets the provisioning service's user publish jobs, answer credential requests and purge exactly SWARM_EVENTS and SWARM_JOBS", () => {
    expect(provisioningBusPermissions()).toEqual({
      pub: { allow: ["swarm.*.jobs.*", "$JS.API.STREAM.PURGE.SWARM_EVENTS", "$JS.API.STREAM.PURGE.SWARM_JOBS"], deny: [] },
      sub: { allow: ["platform.credentials.*", `${PROVISIONING_INBOX_PREFIX}.>`], deny: [] },
      resp: { max: 1, ttl: expect.any(Number) },
    });
    // The purge API of those two streams only: no other JetStream API, no wildcard over streams.
    const api = (provisioningBusPermissions().pub?.allow ?? []).filter((s) => s.startsWith("$JS."));
    expect(api.every((s) => !s.includes("*") && !s.includes(">"))).toBe(true);
    expect(api.map((s) => s.split(".").pop())).toEqual([STREAM_NAMES.events, STREAM_NAMES.jobs]);
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
    expect(list).toHaveLength(3 + 1 + 2 + PLAN_TIER_NAMES.length + 2 + 2 + 1 + PLAN_TIER_NAMES.length + 3);
    expect(new Set(list).size).toBe(list.length);
    expect(names.cluster).toEqual({
      authConf: "enchanted/prod/nats/cluster/auth-conf",
      platformCreds: "enchanted/prod/nats/cluster/platform-creds",
      provisioningBusCreds: "enchanted/prod/nats/cluster/provisioning-bus-creds",
      workerCreds: { free: "enchanted/prod/nats/cluster/workers-free-creds", pro: "enchanted/prod/nats/cluster/workers-pro-creds", enterprise: "enchanted/prod/nats/cluster/workers-enterprise-creds" },
      silos: {
        "acme-corp": {
          platformCreds: "enchanted/prod/nats/cluster/silo-acme-corp-platform-creds",
          ingestorCreds: "enchanted/prod/nats/cluster/silo-acme-corp-ingestor-creds",
          workerCreds: "enchanted/prod/nats/cluster/silo-acme-corp-workers-creds",
        },
      },
    });
    // The stack names each secret by its position: the users' creds come after every older secret,
    // and the silos' last, so adding or removing a silo moves no other secret.
    const silo = names.cluster.silos["acme-corp"];
    expect(list.slice(-4 - PLAN_TIER_NAMES.length)).toEqual([names.cluster.provisioningBusCreds, ...PLAN_TIER_NAMES.map((t) => names.cluster.workerCreds[t]), silo?.platformCreds, silo?.ingestorCreds, silo?.workerCreds]);
    expect(names.seeds.swarmSigningKeys.free).toBe("enchanted/prod/nats/seeds/swarm-signing-key-free");
    expect(list.filter((n) => !n.startsWith("enchanted/prod/nats/cluster/")).every((n) => n.startsWith("enchanted/prod/nats/seeds/"))).toBe(true);
    expect(() => natsSecretNames("enchanted/prod/nats/", [])).toThrow(/seedSecretPrefix/);
    expect(() => natsSecretNames("p", ["a.b"])).toThrow(/siloTenants/);
  });
});

/** `nats:bootstrap`: creates or reuses keys, signs idempotently, prints put commands and never a seed. */
import { spawnSync } from "node:child_process";
import { decode } from "@nats-io/jwt";
import { mkdtempSync, readFileSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadEnvironment } from "../../config/index.js";
import { bootstrapFiles, runBootstrap } from "../../services/nats-auth/bootstrap.js";
import { natsSecretList, natsSecretNames } from "../../services/nats-auth/secret-names.js";
import { PLAN_TIER_NAMES } from "../../config/tiers.js";
import { PROVISIONING_BUS_USER, provisioningBusPermissions, SILO_INGESTOR_USER, SILO_PLATFORM_USER, SILO_WORKER_USER, siloIngestorUserPermissions, siloWorkerUserPermissions, TENANT_TAG, workerUserName, workerUserPermissions } from "../../services/nats-auth/claims.js";
import { NatsAuthError } from "../../services/nats-auth/sign.js";

const SEED = /S[OAU][A-Z2-7]{56}/;
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "enchanted-nats-bootstrap-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A creds file's user JWT and user nkey seed. */
const jwtOf = (creds: string) => /-----BEGIN NATS USER JWT-----\n(\S+)/.exec(creds)?.[1] ?? "";
const userKey = (creds: string) => /-----BEGIN USER NKEY SEED-----\n(\S+)/.exec(creds)?.[1];
/** Reads the file a bootstrap wrote for a Secrets Manager name. */
const readerOf = (files: Readonly<Record<string, string>>) => (name: string) => readFileSync(files[name] as string, "utf8");

const nats = { ...loadEnvironment("dev").nats, siloTenants: ["acme-corp"] };
const names = natsSecretNames(nats.seedSecretPrefix, nats.siloTenants);
const seedNames = natsSecretList(names)
  .map((s) => s.name)
  .filter((n) => n.includes("/seeds/") && !n.endsWith("-creds"));

describe("nats:bootstrap", () => {
  it("creates every key on the first run and reuses them all on the next, writing the same auth include", async () => {
    const out = tempDir();
    const first = await runBootstrap({ env: "dev", out, nats });
    expect([...first.created].sort()).toEqual([...seedNames].sort());
    expect(first.reused).toEqual([]);
    const authConf = readFileSync(join(out, "cluster", "auth.conf"), "utf8");
    const platformCreds = readFileSync(join(out, "cluster", "platform.creds"), "utf8");
    expect(authConf).not.toMatch(SEED);
    expect(authConf).toContain(`system_account: "${first.publicKeys.systemAccount}"`);

    const second = await runBootstrap({ env: "dev", out, nats });
    expect(second.created).toEqual([]);
    expect([...second.reused].sort()).toEqual([...seedNames].sort());
    expect(second.publicKeys).toEqual(first.publicKeys);
    expect(readFileSync(join(out, "cluster", "auth.conf"), "utf8")).toBe(authConf);
    // The platform user keeps its identity (its JWT is re-issued).
    expect(userKey(readFileSync(join(out, "cluster", "platform.creds"), "utf8"))).toBe(userKey(platformCreds));
  });

  it("mints the provisioning user and one worker user per tier, signed by the SWARM account, keeping their identities across runs", async () => {
    const out = tempDir();
    const first = await runBootstrap({ env: "dev", out, nats });
    const files = bootstrapFiles(out, names);
    const read = readerOf(files);

    expect(files[names.cluster.provisioningBusCreds]).toBe(join(out, "cluster", "provisioning.creds"));
    const provisioning = read(names.cluster.provisioningBusCreds);
    expect(decode(jwtOf(provisioning))).toMatchObject({ iss: first.publicKeys.swarmAccount, name: PROVISIONING_BUS_USER, nats: { type: "user", ...provisioningBusPermissions() } });
    const workers = Object.fromEntries(PLAN_TIER_NAMES.map((t) => [t, read(names.cluster.workerCreds[t])]));
    for (const tier of PLAN_TIER_NAMES) {
      expect(files[names.cluster.workerCreds[tier]]).toBe(join(out, "cluster", `workers-${tier}.creds`));
      expect(decode(jwtOf(workers[tier] as string)), tier).toMatchObject({ iss: first.publicKeys.swarmAccount, name: workerUserName(tier), nats: { type: "user", ...workerUserPermissions(tier), tags: [`tier:${tier}`] } });
    }
    // Each tier has a user of its own.
    expect(new Set(PLAN_TIER_NAMES.map((t) => userKey(workers[t] as string))).size).toBe(PLAN_TIER_NAMES.length);

    await runBootstrap({ env: "dev", out, nats });
    expect(userKey(read(names.cluster.provisioningBusCreds))).toBe(userKey(provisioning));
    for (const tier of PLAN_TIER_NAMES) expect(userKey(read(names.cluster.workerCreds[tier])), tier).toBe(userKey(workers[tier] as string));
    // Stored like the other creds: under the environment's prefix, beside the platform user's.
    expect(first.commands).toContain(`aws secretsmanager put-secret-value --secret-id 'enchanted/dev/nats/cluster/provisioning-bus-creds' --secret-string 'file://${files[names.cluster.provisioningBusCreds]}'`);
    expect(first.commands).toContain(`aws secretsmanager put-secret-value --secret-id 'enchanted/dev/nats/cluster/workers-pro-creds' --secret-string 'file://${files[names.cluster.workerCreds.pro]}'`);
  });

  it("mints each silo account's NACK, ingestor and worker users, signed by the silo account and tagged with its tenant, keeping their identities", async () => {
    const out = tempDir();
    const first = await runBootstrap({ env: "dev", out, nats });
    const files = bootstrapFiles(out, names);
    const silo = names.cluster.silos["acme-corp"];
    expect(silo).toEqual({
      platformCreds: "enchanted/dev/nats/cluster/silo-acme-corp-platform-creds",
      ingestorCreds: "enchanted/dev/nats/cluster/silo-acme-corp-ingestor-creds",
      workerCreds: "enchanted/dev/nats/cluster/silo-acme-corp-workers-creds",
    });
    if (!silo) return;
    const read = readerOf(files);
    const account = first.publicKeys.silos["acme-corp"]?.account;
    const tag = `${TENANT_TAG}:acme-corp`;
    expect(decode(jwtOf(read(silo.platformCreds)))).toMatchObject({ iss: account, name: SILO_PLATFORM_USER, nats: { type: "user", tags: [tag] } });
    expect(decode(jwtOf(read(silo.ingestorCreds)))).toMatchObject({ iss: account, name: SILO_INGESTOR_USER, nats: { type: "user", ...siloIngestorUserPermissions("acme-corp"), tags: [tag] } });
    expect(decode(jwtOf(read(silo.workerCreds)))).toMatchObject({ iss: account, name: SILO_WORKER_USER, nats: { type: "user", ...siloWorkerUserPermissions("acme-corp") } });
    expect(files[silo.ingestorCreds]).toBe(join(out, "cluster", "silo-acme-corp-ingestor.creds"));
    const before = [silo.platformCreds, silo.ingestorCreds, silo.workerCreds].map((n) => userKey(read(n)));
    expect(new Set(before).size).toBe(3);
    await runBootstrap({ env: "dev", out, nats });
    expect([silo.platformCreds, silo.ingestorCreds, silo.workerCreds].map((n) => userKey(read(n)))).toEqual(before);
    expect(first.commands).toContain(`aws secretsmanager put-secret-value --secret-id '${silo.ingestorCreds}' --secret-string 'file://${files[silo.ingestorCreds]}'`);
  });

  it("prints one put-secret-value command per secret, pointing at files and never containing a seed", async () => {
    const result = await runBootstrap({ env: "dev", out: tempDir(), nats });
    const all = natsSecretList(names).map((s) => s.name);
    expect(result.commands).toHaveLength(all.length);
    for (const name of all) {
      expect(result.commands).toContain(`aws secretsmanager put-secret-value --secret-id '${name}' --secret-string 'file://${result.files[name]}'`);
    }
    expect(result.commands.join("\n")).not.toMatch(SEED);
  });

  it("with --reuse-only, refuses to invent a key that is missing and says how to fetch it", async () => {
    const out = tempDir();
    await runBootstrap({ env: "dev", out, nats });
    const missing = names.seeds.swarmSigningKeys.pro;
    unlinkSync(bootstrapFiles(out, names)[missing] as string);
    await expect(runBootstrap({ env: "dev", out, nats, reuseOnly: true })).rejects.toSatisfy(
      (e: unknown) => e instanceof NatsAuthError && e.message.includes("--reuse-only") && e.message.includes(`--secret-id '${missing}'`),
    );
  });

  it("runs as the npm script's command line and rejects an unknown environment by name", () => {
    const run = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "services/nats-auth/bootstrap.ts", ...args], { encoding: "utf8" });
    const bad = run("--env", "qa", "--out", tempDir());
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--env = "qa" is not an environment');
    const ok = run("--env", "dev", "--out", tempDir());
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain("aws secretsmanager put-secret-value --secret-id 'enchanted/dev/nats/cluster/auth-conf'");
    expect(ok.stdout).not.toMatch(SEED);
  });
});

/**
 * `npm run diff` on real synth outputs: real commits in a clone (a README-only change, a tier's
 * rate limit), and edited copies of a real synth (a NetworkPolicy allow, an IAM wildcard, a
 * security-group opening, secrets).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMENT_MARKER, diffDirectories, isEmptyDiff, renderMarkdown, renderText, runDiff, type DiffReport } from "../../stacks/diff/index.js";
import { cloneRepo, editedCopy, REPO_ROOT, synthDev, type Clone } from "./support.js";

let clone: Clone;
let work: string;
let baseline: string;

beforeAll(() => {
  clone = cloneRepo();
  work = mkdtempSync(join(tmpdir(), "enchanted-diff-out-test-"));
  baseline = synthDev(clone.dir, join(work, "baseline"));
});

afterAll(() => {
  clone?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
});

function cli(args: string[], cwd = REPO_ROOT) {
  return spawnSync(process.execPath, ["--import", "tsx", join(REPO_ROOT, "stacks/diff/cli.ts"), ...args], { cwd, encoding: "utf8" });
}

function worktrees(): string[] {
  return clone.git("worktree", "list", "--porcelain").split("\n").filter((l) => l.startsWith("worktree "));
}

function leftoverTempDirs(): string[] {
  return readdirSync(tmpdir()).filter((d) => d.startsWith("enchanted-diff-worktree-"));
}

describe("real commits", () => {
  it("a README-only commit synthesizes to an empty diff", async () => {
    clone.commitFile("README.md", (t) => `${t}\nA line that changes no infrastructure.\n`, "docs only");
    const report = await runDiff({ repo: clone.dir, base: "HEAD~1", environments: "dev" });
    expect(report.stacks.map((s) => s.stack)).toEqual(["dev-foundation", "dev-platform", "dev-workloads"]);
    expect(isEmptyDiff(report)).toBe(true);
    expect(report.impacts).toEqual([]);
    expect(renderText(report)).toContain("No changes");
    expect(renderMarkdown(report)).toContain("**No changes**");
    expect(worktrees()).toHaveLength(1);
  });

  it("a tier's rate limit in config/tiers.ts shows under policy impact with old and new values", async () => {
    let before = 0;
    clone.commitFile(
      "config/tiers.ts",
      (t) =>
        t.replace(/requestsPerSecond: (\d+)/, (_m, n: string) => {
          before = Number(n);
          return `requestsPerSecond: ${before + 1}`;
        }),
      "free tier: one more request per second",
    );
    expect(before).toBeGreaterThan(0);
    // Base: the commit before; head: the working tree (which is that commit).
    const report = await runDiff({ repo: clone.dir, base: "HEAD~1", environments: "dev" });
    const rate = report.impacts.filter((i) => i.category === "rate-limits");
    const second = rate.find((i) => i.property?.path.endsWith("tiers.free.second"));
    expect(second, renderText(report)).toBeDefined();
    expect(second?.property?.old).toBe(before);
    expect(second?.property?.new).toBe(before + 1);
    expect(second?.warnings).toContain("limit raised");
    expect(second?.stack).toBe("dev-workloads");
    // The surface's diff: exactly the limit's line, printed before the policy impact section.
    expect(report.surface).toEqual([{ environment: "dev", removed: [`gateway plugin tenant-gate-tenant tier free second = ${before}`], added: [`gateway plugin tenant-gate-tenant tier free second = ${before + 1}`] }]);
    const text = renderText(report);
    expect(text).toContain(`- gateway plugin tenant-gate-tenant tier free second = ${before}\n    + gateway plugin tenant-gate-tenant tier free second = ${before + 1}`);
    expect(text.indexOf("ISOLATION AND RATE-LIMIT SURFACE")).toBeLessThan(text.indexOf("POLICY IMPACT"));
    expect(text).toMatch(/POLICY IMPACT \(\d+\)/);
    expect(text).toContain(`manifest.config.tiers.free.second: ${before} → ${before + 1}`);
    const markdown = renderMarkdown(report);
    expect(markdown.startsWith(COMMENT_MARKER)).toBe(true);
    expect(markdown).toContain("### Policy impact");
    expect(markdown).toContain("`manifest.config.tiers.free.second`: `" + before + "` → `" + (before + 1) + "`");
    // The same pair by refs on both sides, and through the CLI with the failing flag.
    const byRefs = await runDiff({ repo: clone.dir, base: "HEAD~1", head: "HEAD", environments: "dev" });
    expect(byRefs.impacts.map((i) => i.property?.path)).toEqual(report.impacts.map((i) => i.property?.path));
    const run = cli(["--base", "HEAD~1", "--environments", "dev", "--fail-on-policy-impact"], clone.dir);
    expect(run.status, run.stderr).toBe(1);
    expect(run.stdout).toContain(`tiers.free.second: ${before} → ${before + 1}`);
    expect(worktrees()).toHaveLength(1);
  });

  it("names an unknown ref and the fix, and leaves no worktree behind when the base fails to synth", async () => {
    const unknown = cli(["--base", "origin/no-such-branch"], clone.dir);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown git ref "origin/no-such-branch"');
    expect(unknown.stderr).toContain("Fix: fetch it first");

    const before = leftoverTempDirs().length;
    clone.commitFile("config/tiers.ts", (t) => t.replace(/requestsPerSecond: (\d+)/, "requestsPerSecond: 0"), "an invalid catalog");
    await expect(runDiff({ repo: clone.dir, base: "HEAD", environments: "dev" })).rejects.toThrow(/synth of HEAD \([0-9a-f]{7}\) failed[\s\S]*requestsPerSecond/);
    expect(worktrees()).toHaveLength(1);
    expect(leftoverTempDirs().length).toBeLessThanOrEqual(before);
    clone.git("reset", "--quiet", "--hard", "HEAD~1");
  });
});

describe("edited synth outputs", () => {
  let report: DiffReport;
  let text: string;
  let markdown: string;
  const SEED = `SU${"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".repeat(2).slice(0, 56)}`;
  const JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJYWVoiLCJzdWIiOiJVQUJDIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
  const PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretbody1234567890\nQWERTYUIOPASDFGHJKL\n-----END RSA PRIVATE KEY-----";
  const SECRETS = ["hunter2-old-password", "hunter2-new-password", "s3cr3t-conf-value", "tok-9f8e7d6c5b4a", SEED, JWT, "MIIEowIBAAKCAQEAsecretbody1234567890", "db-pass-in-url"];

  beforeAll(() => {
    const withSecret = (password: string) => (j: Record<string, any>) => {
      j.resource.kubernetes_secret_v1 = {
        app_creds: { metadata: { name: "app-creds", namespace: "platform" }, data: { password, "tls.key": password === SECRETS[0] ? "unchanged" : PEM } },
      };
    };
    const base = editedCopy(baseline, join(work, "secret-base"), { "dev-workloads": withSecret(SECRETS[0] as string) });
    const head = editedCopy(base, join(work, "edited"), {
      "dev-workloads": (j) => {
        withSecret(SECRETS[1] as string)(j);
        // A new allow in an existing NetworkPolicy, and a new NetworkPolicy manifest.
        const policies = j.resource.kubernetes_network_policy_v1 as Record<string, any>;
        const [name, policy] = Object.entries(policies).find(([, p]) => Array.isArray(p.spec?.ingress)) as [string, any];
        expect(name).toBeTruthy();
        policy.spec.ingress.push({ from: [{ ip_block: { cidr: "10.99.0.0/16" } }], ports: [{ port: "8080", protocol: "TCP" }] });
        j.resource.kubernetes_manifest["tenant_allow-all_0000ABCD"] = {
          manifest: { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "allow-all", namespace: "workers-free" }, spec: { podSelector: {}, ingress: [{}], policyTypes: ["Ingress"] } },
        };
        const cm = Object.values(j.resource.kubernetes_config_map_v1 as Record<string, any>)[0];
        cm.data["extra.conf"] = `listen: 4222\npassword: ${SECRETS[2]}\nseed: ${SEED}\njwt: ${JWT}\nurl: postgres://app:${SECRETS[7]}@db:5432/app\n`;
      },
      "dev-platform": (j) => {
        const [, role] = Object.entries(j.resource.aws_iam_role_policy as Record<string, any>)[0] as [string, any];
        const doc = JSON.parse(role.policy);
        doc.Statement[0].Action = "*";
        role.policy = JSON.stringify(doc);
        const [, sg] = Object.entries(j.resource.aws_security_group as Record<string, any>).find(([, g]) => Array.isArray(g.ingress)) as [string, any];
        sg.ingress.push({ cidr_blocks: ["0.0.0.0/0"], description: "SSH", from_port: 22, to_port: 22, protocol: "tcp", ipv6_cidr_blocks: null, prefix_list_ids: null, security_groups: null, self: null });
        const [, helm] = Object.entries(j.resource.helm_release as Record<string, any>)[0] as [string, any];
        const values = JSON.parse(helm.values[0]);
        values.auth = { token: SECRETS[3], jwt: JWT };
        helm.values[0] = JSON.stringify(values);
      },
    });
    report = diffDirectories(base, head, { base: "base", head: "head" });
    text = renderText(report);
    markdown = renderMarkdown(report);
  });

  it("lists a new NetworkPolicy allow (a rule and a whole policy) under tenant isolation", () => {
    const np = report.impacts.filter((i) => i.category === "tenant-isolation" && i.subject === "NetworkPolicy");
    const rule = np.find((i) => i.property?.kind === "added" && /^spec\.ingress\[\d+\]$/.test(i.property.path));
    expect(rule?.property?.new).toEqual({ from: [{ ip_block: { cidr: "10.99.0.0/16" } }], ports: [{ port: "8080", protocol: "TCP" }] });
    expect(rule?.warnings).toContain("new allow rule");
    const whole = np.find((i) => i.item.address === "kubernetes_manifest.tenant_allow-all_0000ABCD");
    expect(whole?.change).toBe("added");
    expect(whole?.details?.join("\n")).toContain("manifest.spec.ingress[0]");
  });

  it("prints the surface's changed lines first: the new rules, the wildcard, the opening", () => {
    const dev = report.surface.find((c) => c.environment === "dev");
    expect(dev?.added).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^netpol \S+ \[[^\]]*\] ingress from 10\.99\.0\.0\/16 : 8080\/TCP$/),
        "netpol workers-free/allow-all [all pods] ingress from anywhere : any port",
        expect.stringMatching(/^sg \S+ ingress tcp\/22 from 0\.0\.0\.0\/0$/),
        expect.stringMatching(/^iam role .* Action=\* /),
      ]),
    );
    expect(text.indexOf("ISOLATION AND RATE-LIMIT SURFACE")).toBeGreaterThan(0);
    expect(text.indexOf("ISOLATION AND RATE-LIMIT SURFACE")).toBeLessThan(text.indexOf("POLICY IMPACT"));
    expect(text).toContain("    + netpol workers-free/allow-all [all pods] ingress from anywhere : any port");
    expect(markdown.indexOf("### Isolation and rate-limit surface")).toBeLessThan(markdown.indexOf("### Policy impact"));
  });

  it("lists an IAM wildcard under tenant isolation", () => {
    const iam = report.impacts.find((i) => i.subject === "IAM" && i.property?.path === "policy<json>.Statement[0].Action");
    expect(iam?.category).toBe("tenant-isolation");
    expect(iam?.property?.new).toBe("*");
    expect(iam?.warnings).toContain("IAM wildcard in Action");
    expect(text).toContain('policy<json>.Statement[0].Action: ');
  });

  it("lists a security-group opening under tenant isolation and public exposure", () => {
    const sg = report.impacts.filter((i) => i.item.type === "aws_security_group" && i.property?.kind === "added");
    expect(sg.map((i) => i.category).sort()).toEqual(["public-exposure", "tenant-isolation"]);
    expect(sg[0]?.warnings).toContain("opens to any address (0.0.0.0/0 or ::/0)");
    expect(markdown).toContain("⚠️ **opens to any address");
  });

  it("never prints a secret, in text or in Markdown, while saying that secrets changed", () => {
    for (const secret of SECRETS) {
      expect(text).not.toContain(secret);
      expect(markdown).not.toContain(secret);
      expect(JSON.stringify(report)).not.toContain(secret);
    }
    expect(text).toContain("data.password: «masked» → «masked» (secret value changed)");
    expect(text).toContain("«masked»");
    expect(JSON.stringify(report)).toContain("«masked nkey seed»");
    expect(JSON.stringify(report)).toContain("«masked JWT»");
  });

  it("lists NATS permissions and limits, ClickHouse quotas and row policies, key rotation and a public EKS endpoint", () => {
    const head = editedCopy(baseline, join(work, "data-plane"), {
      "dev-workloads": (j) => {
        const schema = Object.values(j.resource.kubernetes_config_map_v1 as Record<string, any>).find((c) => c.data?.["migration.sql"]);
        schema.data["migration.sql"] = schema.data["migration.sql"].replace(/(CREATE ROW POLICY OR REPLACE tenant_bound_by_query ON enchanted\.swarm_events AS .*?) TO /, "$1 OR 1 = 1 TO ");
        // The tiers' readers' quotas are the installation's configuration.
        const chi = Object.values(j.resource.kubernetes_manifest as Record<string, any>).find((m) => m.manifest.kind === "ClickHouseInstallation");
        const quotas = chi.manifest.spec.configuration.quotas as Record<string, string>;
        quotas["reader_free_quota/interval/queries"] = String(Number(quotas["reader_free_quota/interval/queries"]) * 2);
        const claims = Object.values(j.resource.kubernetes_manifest as Record<string, any>).find((m) => m.manifest.kind === "ConfigMap" && m.manifest.metadata.name === "nats-account-claims");
        const file = Object.keys(claims.manifest.data).find((k) => k.startsWith("account-SWARM")) as string;
        const account = JSON.parse(claims.manifest.data[file]);
        account.nats.signing_keys[0].template.pub.allow.push("swarm.>");
        account.nats.signing_keys[0].template.subs += 1;
        claims.manifest.data[file] = JSON.stringify(account, null, 2);
      },
      "dev-foundation": (j) => {
        (Object.values(j.resource.aws_eks_cluster)[0] as any).vpc_config.endpoint_public_access = true;
        (Object.values(j.resource.aws_kms_key)[0] as any).enable_key_rotation = false;
      },
    });
    const r = diffDirectories(baseline, head);
    const by = (category: string, subject: RegExp) => r.impacts.filter((i) => i.category === category && subject.test(i.subject));
    expect(by("tenant-isolation", /NATS permissions/)[0]?.property?.new).toBe("swarm.>");
    expect(by("tenant-isolation", /NATS permissions/)[0]?.warnings).toContain("NATS allow without a tenant template");
    expect(by("rate-limits", /NATS limits/)[0]?.property?.path).toMatch(/template\.subs$/);
    const quota = by("rate-limits", /ClickHouse profiles and quotas/)[0]?.property;
    expect(quota?.path).toMatch(/reader_free_quota\/interval\/queries/);
    expect(Number(quota?.new)).toBe(2 * Number(quota?.old));
    expect(by("tenant-isolation", /ClickHouse users, roles, row policies/)[0]?.property?.lines?.added[0]).toContain("OR 1 = 1");
    expect(by("encryption", /KMS key/)[0]?.warnings).toContain("encryption or rotation turned off");
    expect(by("public-exposure", /.*/).find((i) => i.property?.path === "vpc_config.endpoint_public_access")?.warnings).toContain("EKS API endpoint public");
  });

  it("the CLI compares two directories, writes Markdown to a file and fails on policy impact only with the flag", () => {
    const out = join(work, "diff.md");
    const flagged = cli(["--base-dir", join(work, "secret-base"), "--head-dir", join(work, "edited"), "--format", "markdown", "--out", out, "--fail-on-policy-impact"]);
    expect(flagged.status, flagged.stderr).toBe(1);
    expect(existsSync(out)).toBe(true);
    const written = readFileSync(out, "utf8");
    expect(written.startsWith(COMMENT_MARKER)).toBe(true);
    for (const secret of SECRETS) expect(written).not.toContain(secret);
    const plain = cli(["--base-dir", join(work, "secret-base"), "--head-dir", join(work, "edited")]);
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stdout).toContain("POLICY IMPACT");
    const same = cli(["--base-dir", baseline, "--head-dir", baseline, "--fail-on-policy-impact"]);
    expect(same.status).toBe(0);
    expect(same.stdout).toContain("No changes");
    const bad = cli(["--base-dir", join(work, "nope"), "--head-dir", baseline]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/does not exist\nFix: /);
  });
});

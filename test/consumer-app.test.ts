/**
 * Reuse as a library: a separate cdktf app, in its own directory with its own package.json,
 * depends on this repository as `@enchanted/platform` (node_modules symlink, as a git or file
 * dependency would install it) and imports only the documented entry points of package.json
 * "exports". It composes a Network and an EKS cluster in its own stack, adds this platform's dev
 * environment with addEnvironment, synthesizes, and the test reads the JSON it wrote.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { name: string; exports?: Record<string, string> };

/** The consumer's app, TypeScript run by tsx; it imports `@enchanted/platform/<entry>` only. */
const APP = `
import { App, TerraformStack } from "cdktf";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { EksCluster, KmsKey, Network, applyPolicyPack } from "@enchanted/platform/constructs";
import { loadEnvironment } from "@enchanted/platform/config";
import { addEnvironment, stackName } from "@enchanted/platform/stacks";

const deep: Array<{ specifier: string; resolved: boolean; code?: string }> = [];
for (const specifier of ["@enchanted/platform/constructs/network.ts", "@enchanted/platform/constructs/network.js", "@enchanted/platform/config/tiers.ts", "@enchanted/platform"]) {
  try {
    await import(specifier);
    deep.push({ specifier, resolved: true });
  } catch (error) {
    deep.push({ specifier, resolved: false, code: (error as { code?: string }).code });
  }
}

const app = new App({ outdir: process.argv[2] });
const stack = new TerraformStack(app, "team-x");
new AwsProvider(stack, "aws", { region: "eu-west-1", allowedAccountIds: ["123456789012"] });
const key = (name: string) => new KmsKey(stack, name + "-key", { alias: "team-x-" + name, description: "team-x " + name, accountId: "123456789012" });
const logsKey = key("logs");
const network = new Network(stack, "network", {
  name: "team-x", region: "eu-west-1", accountId: "123456789012",
  vpcCidr: "10.50.0.0/16", azCount: 2, natGateways: "single", logsKey, clusterName: "team-x",
  subnets: { public: ["10.50.0.0/24", "10.50.1.0/24"], private: ["10.50.32.0/19", "10.50.64.0/19"], data: ["10.50.8.0/24", "10.50.9.0/24"] },
});
const dev = loadEnvironment("dev");
new EksCluster(stack, "cluster", {
  clusterName: "team-x", version: dev.eks.version, accountId: "123456789012",
  privateSubnetIds: network.privateSubnetIds, secretsKey: key("eks-secrets"), logsKey, ebsKey: key("ebs"),
  adminRoleArns: ["arn:aws:iam::123456789012:role/team-x-admin"],
  nodeGroups: [{ name: "general", instanceTypes: ["m7i.large"], minSize: 1, desiredSize: 2, maxSize: 3 }],
  addons: dev.eks.addons,
});
applyPolicyPack(stack);
addEnvironment(app, dev);
app.synth();
console.log(JSON.stringify({ deep, platformStack: stackName("dev", "platform") }));
`;

describe("a consumer cdktf app", () => {
  let dir: string;
  let out: string;
  let run: ReturnType<typeof spawnSync>;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "enchanted-consumer-"));
    out = join(dir, "cdktf.out");
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "team-x-infra", private: true, type: "module", dependencies: { [pkg.name]: "file:../platform" } }, null, 2));
    writeFileSync(join(dir, "main.ts"), APP);
    // What `npm install` of the dependency would leave: the package, and the packages it shares with the app.
    mkdirSync(join(dir, "node_modules", "@enchanted"), { recursive: true });
    mkdirSync(join(dir, "node_modules", "@cdktf"), { recursive: true });
    symlinkSync(ROOT, join(dir, "node_modules", ...pkg.name.split("/")), "dir");
    for (const shared of ["cdktf", "constructs", "@cdktf/provider-aws"]) symlinkSync(join(ROOT, "node_modules", shared), join(dir, "node_modules", shared), "dir");
    // A TypeScript-aware runner, as the README says (the entry points are TypeScript sources).
    const tsx = pathToFileURL(createRequire(join(ROOT, "package.json")).resolve("tsx")).href;
    run = spawnSync(process.execPath, ["--import", tsx, "main.ts", out], { cwd: dir, encoding: "utf8" });
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("package.json documents the entry points, all TypeScript sources in the repo", () => {
    expect(Object.keys(pkg.exports ?? {})).toEqual(expect.arrayContaining(["./constructs", "./config", "./stacks"]));
    for (const target of Object.values(pkg.exports ?? {})) expect(target.startsWith("./")).toBe(true);
  });

  it("synthesizes its own stack from the public constructs, and this platform's dev stacks beside it", () => {
    expect(run.status, `${run.stderr}`).toBe(0);
    const teamX = JSON.parse(readFileSync(join(out, "stacks", "team-x", "cdk.tf.json"), "utf8"));
    expect(Object.values(teamX.resource.aws_vpc)).toEqual([expect.objectContaining({ cidr_block: "10.50.0.0/16" })]);
    const cluster = Object.values(teamX.resource.aws_eks_cluster)[0] as Record<string, any>;
    expect(cluster.name).toBe("team-x");
    expect(cluster.vpc_config.endpoint_public_access).toBe(false);
    expect(Object.keys(teamX.resource.aws_kms_key)).toHaveLength(3);
    for (const name of ["dev-foundation", "dev-platform", "dev-workloads"]) {
      const json = JSON.parse(readFileSync(join(out, "stacks", name, "cdk.tf.json"), "utf8"));
      expect(json.terraform.backend.s3.key).toContain(name);
    }
  });

  it("resolves nothing but the entry points: deep imports and the package root are refused", () => {
    const result = JSON.parse(String(run.stdout).trim().split("\n").pop() as string) as { deep: Array<{ specifier: string; resolved: boolean; code?: string }>; platformStack: string };
    expect(result.platformStack).toBe("dev-platform");
    for (const d of result.deep) {
      expect(d.resolved, d.specifier).toBe(false);
      expect(d.code, d.specifier).toBe("ERR_PACKAGE_PATH_NOT_EXPORTED");
    }
  });
});

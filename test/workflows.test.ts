/**
 * The CI workflows are valid YAML whose steps call this repository's own scripts, and every
 * command the README documents exists in package.json.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadEnvironment } from "../config/index.js";
import { COMMENT_MARKER } from "../stacks/diff/render.js";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const WORKFLOWS = join(ROOT, ".github", "workflows");
const scripts = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
  if?: string;
}
interface Job {
  "runs-on"?: string;
  uses?: string;
  needs?: string | string[];
  environment?: string | { name: string };
  steps?: Step[];
  with?: Record<string, unknown>;
  env?: Record<string, string>;
  concurrency?: unknown;
}
interface Workflow {
  name: string;
  on: Record<string, unknown>;
  jobs: Record<string, Job>;
  concurrency?: { group: string; "cancel-in-progress": boolean };
}

const files = existsSync(WORKFLOWS) ? readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f)) : [];
const workflows = new Map(files.map((f) => [f, parse(readFileSync(join(WORKFLOWS, f), "utf8"), { strict: true, uniqueKeys: true }) as Workflow]));
const steps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps ?? []);
const runs = (w: Workflow) => steps(w).flatMap((s) => (s.run ? [s.run] : []));
const wf = (name: string) => workflows.get(name) as Workflow;

/** `npm run <script>`, `npm test`, `bash .ci/<file>` in a shell snippet. */
function repoCommands(shell: string): { npmRun: string[]; ci: string[] } {
  const npmRun = [...shell.matchAll(/\bnpm run(?:\s+--?[\w-]+)*\s+([\w:.-]+)/g)].map((m) => m[1] as string);
  if (/\bnpm (test|t)\b/.test(shell)) npmRun.push("test");
  const ci = [...shell.matchAll(/\bbash\s+(\.ci\/[\w./-]+)/g)].map((m) => m[1] as string);
  return { npmRun, ci };
}

describe("workflow files", () => {
  it("exist: pull request, main and the per-environment deploy", () => {
    expect(files).toEqual(expect.arrayContaining(["deploy.yml", "main.yml", "pull-request.yml"]));
  });

  it.each(files)("%s is a valid workflow: triggers, jobs with a runner or a called workflow, steps that run or use something", (file) => {
    const w = wf(file);
    expect(typeof w.name).toBe("string");
    expect(Object.keys(w.on).length).toBeGreaterThan(0);
    for (const [id, job] of Object.entries(w.jobs)) {
      expect(Boolean(job["runs-on"]) !== Boolean(job.uses), `${file} job ${id}: runs-on xor uses`).toBe(true);
      if (job.uses) expect(existsSync(join(ROOT, job.uses)), `${file} job ${id} calls ${job.uses}`).toBe(true);
      for (const need of [job.needs ?? []].flat()) expect(Object.keys(w.jobs), `${file} job ${id} needs ${need}`).toContain(need);
      for (const step of job.steps ?? []) expect(Boolean(step.run) !== Boolean(step.uses), `${file} job ${id} step ${step.name}`).toBe(true);
    }
  });

  it.each(files)("%s pins every action by a full commit SHA", (file) => {
    for (const step of steps(wf(file))) {
      if (step.uses) expect(step.uses, `${file}: ${step.uses}`).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
    }
  });

  it.each(files)("%s sets up Go before .ci/install-system-deps (it builds the pinned nats-server)", (file) => {
    for (const [id, job] of Object.entries(wf(file).jobs)) {
      const list = job.steps ?? [];
      const install = list.findIndex((s) => s.run?.includes(".ci/install-system-deps"));
      if (install < 0) continue;
      const setupGo = list.findIndex((s) => s.uses?.startsWith("actions/setup-go@"));
      expect(setupGo, `${file} job ${id}: actions/setup-go before install-system-deps`).toBeGreaterThanOrEqual(0);
      expect(setupGo, `${file} job ${id}: actions/setup-go before install-system-deps`).toBeLessThan(install);
    }
  });

  it.each(files)("%s runs only the repository's own scripts (npm run <script> in package.json, bash .ci/<file> that exists)", (file) => {
    const all = runs(wf(file)).map(repoCommands);
    for (const { npmRun, ci } of all) {
      for (const script of npmRun) expect(Object.keys(scripts), `${file}: npm run ${script}`).toContain(script);
      for (const path of ci) expect(existsSync(join(ROOT, path)), `${file}: bash ${path}`).toBe(true);
    }
  });

  it("pull requests, main and .ci/run scan the synthesized stacks with checkov after synth", () => {
    for (const file of ["pull-request.yml", "main.yml"]) {
      const check = (wf(file).jobs.check?.steps ?? []).map((s) => s.run ?? "");
      const synthAt = check.findIndex((r) => r.includes("npm run synth"));
      expect(synthAt, file).toBeGreaterThanOrEqual(0);
      expect(check.findIndex((r) => r.includes("npm run scan")), file).toBeGreaterThan(synthAt);
      expect(check.findIndex((r) => r.includes("bash .ci/install-system-deps")), file).toBeLessThan(synthAt);
    }
    const ciRun = readFileSync(join(ROOT, ".ci", "run"), "utf8");
    expect(ciRun.indexOf("npm run scan")).toBeGreaterThan(ciRun.indexOf("npm run synth"));
  });

  it("every workflow limits concurrency; a deploy is never cancelled half-way", () => {
    expect(wf("pull-request.yml").concurrency?.group).toContain("github.event.pull_request.number");
    expect(wf("main.yml").concurrency?.["cancel-in-progress"]).toBe(false);
    expect(wf("deploy.yml").jobs.deploy?.concurrency).toEqual({ group: "deploy-${{ inputs.environment }}", "cancel-in-progress": false });
  });

  it("pull requests: install with the repo's scripts, typecheck, test, synth, then the diff as ONE comment found by its marker", () => {
    const w = wf("pull-request.yml");
    const check = (w.jobs.check?.steps ?? []).map((s) => s.run ?? "").join("\n");
    for (const command of ["bash .ci/install-system-deps", "npm ci", "npm run typecheck", "npm test", "npm run synth", "npm run scan"]) expect(check).toContain(command);
    const diffJob = w.jobs["synth-diff"] as Job;
    const checkout = diffJob.steps?.find((s) => s.uses?.startsWith("actions/checkout@"));
    expect(checkout?.with?.["fetch-depth"]).toBe(0);
    expect(diffJob.steps?.map((s) => s.run ?? "").join("\n")).toContain('npm run diff -- --base "origin/${BASE_REF}" --format markdown --out diff.md');
    const comment = diffJob.steps?.find((s) => s.uses?.startsWith("actions/github-script@"));
    const script = String(comment?.with?.script);
    expect(script).toContain(COMMENT_MARKER);
    expect(script).toContain("updateComment");
    expect(script).toContain("createComment");
  });

  it("pull requests: cdktf diff only for environments with an OIDC role variable, stack by stack", () => {
    const w = wf("pull-request.yml");
    const roles = JSON.stringify(w.jobs.roles);
    for (const v of ["vars.AWS_ROLE_DEV", "vars.AWS_ROLE_STAGING", "vars.AWS_ROLE_PROD"]) expect(roles).toContain(v);
    const job = w.jobs["cdktf-diff"] as Job;
    expect(JSON.stringify(job)).toContain("id-token");
    expect(job.steps?.some((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"))).toBe(true);
    expect(runs(w).join("\n")).toMatch(/for kind in foundation platform workloads;[\s\S]*npx cdktf diff/);
  });

  it("main: images pushed by commit SHA, dev then staging then prod, each behind its environment, stacks in dependency order", () => {
    const main = wf("main.yml");
    expect(main.on).toHaveProperty("push");
    const build = runs(main).join("\n");
    expect(build).toContain('--file "services/${service}/Dockerfile"');
    // Every repository the registry creates gets its image built, saved and pushed (each from services/<name>/Dockerfile).
    const repositories = loadEnvironment("prod").ecr.repositories;
    expect(build).toContain(`for service in ${repositories.join(" ")}; do`);
    for (const r of repositories) {
      expect(existsSync(join(ROOT, "services", r, "Dockerfile")), `services/${r}/Dockerfile`).toBe(true);
      expect(build).toContain(`"enchanted/${r}:\${TAG}"`);
    }
    expect(runs(wf("deploy.yml")).join("\n")).toContain(`for service in ${repositories.join(" ")}; do`);
    expect(main.jobs.dev?.needs).toEqual(["check", "images"]);
    expect(main.jobs.staging?.needs).toBe("dev");
    expect(main.jobs.prod?.needs).toBe("staging");
    for (const env of ["dev", "staging", "prod"]) {
      const job = main.jobs[env] as Job;
      expect(job.uses).toBe("./.github/workflows/deploy.yml");
      expect(job.with).toMatchObject({ environment: env, "image-tag": "${{ github.sha }}", "aws-role": `\${{ vars.AWS_ROLE_${env.toUpperCase()} }}` });
    }
    const deploy = wf("deploy.yml").jobs.deploy as Job;
    expect(deploy.environment).toBe("${{ inputs.environment }}");
    expect(deploy.env?.ENCHANTED_IMAGE_TAG).toBe("${{ inputs.image-tag }}");
    const order = (deploy.steps ?? []).map((s) => s.run ?? "").map((r) => /cdktf deploy "\$\{ENV_NAME\}-(\w+)"/.exec(r)?.[1]).filter(Boolean);
    expect(order).toEqual(["foundation", "platform", "workloads"]);
    const pushAt = (deploy.steps ?? []).findIndex((s) => (s.run ?? "").includes("docker push"));
    const foundationAt = (deploy.steps ?? []).findIndex((s) => (s.run ?? "").includes("-foundation"));
    const platformAt = (deploy.steps ?? []).findIndex((s) => (s.run ?? "").includes("-platform"));
    expect(pushAt).toBeGreaterThan(foundationAt); // the ECR repositories come with the foundation stack
    expect(pushAt).toBeLessThan(platformAt);
  });
});

describe("README", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");

  it("documents only npm scripts that exist", () => {
    const documented = [...new Set(repoCommands(readme).npmRun)];
    expect(documented.length).toBeGreaterThan(3);
    for (const script of documented) expect(Object.keys(scripts), `README: npm run ${script}`).toContain(script);
  });

  it("documents the PR diff and the deploy order", () => {
    expect(readme).toContain("npm run diff -- --base main");
    expect(readme).toContain("npx cdktf deploy dev-foundation");
  });
});

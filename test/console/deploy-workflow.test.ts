/**
 * The console's assets reach an environment through the workflows, not Terraform: main.yml builds
 * them once per commit, deploy.yml publishes that build after the workloads stack (which made the
 * bucket and the distribution and wrote /config.json), to the bucket its output names, and
 * invalidates the distribution.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CONSOLE_DIST_DIR, CONSOLE_RUNTIME_CONFIG_PATH } from "../../console/contract.js";
import { CONSOLE_ASSETS_OUTPUT } from "../../constructs/console/index.js";

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Workflow {
  jobs: Record<string, { steps?: Step[] }>;
}

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const workflow = (file: string) => parse(readFileSync(join(ROOT, ".github", "workflows", file), "utf8")) as Workflow;

describe("the console's build and publication", () => {
  const check = workflow("main.yml").jobs.check?.steps ?? [];
  const deploy = workflow("deploy.yml").jobs.deploy?.steps ?? [];
  const publishAt = deploy.findIndex((s) => (s.run ?? "").includes("aws s3 sync"));
  const publish = deploy[publishAt]?.run ?? "";

  it("main.yml builds the console once per commit and keeps the build as the commit's artifact", () => {
    const buildAt = check.findIndex((s) => s.run === "npm run console:build");
    expect(buildAt).toBeGreaterThan(check.findIndex((s) => (s.run ?? "").includes("npm ci")));
    const upload = check.slice(buildAt).find((s) => s.uses?.startsWith("actions/upload-artifact@"));
    expect(upload?.with).toMatchObject({ name: "console-${{ github.sha }}", path: CONSOLE_DIST_DIR, "if-no-files-found": "error" });
  });

  it("deploy.yml publishes that build after the workloads stack, to the bucket and distribution of its output", () => {
    const workloadsAt = deploy.findIndex((s) => /cdktf deploy "\$\{ENV_NAME\}-workloads"/.test(s.run ?? ""));
    const downloadAt = deploy.findIndex((s) => s.uses?.startsWith("actions/download-artifact@") && s.with?.["name"] === "console-${{ inputs.image-tag }}");
    expect(workloadsAt).toBeGreaterThan(0);
    expect(downloadAt).toBeGreaterThan(workloadsAt);
    expect(deploy[downloadAt]?.with?.["path"]).toBe(CONSOLE_DIST_DIR);
    expect(publishAt).toBeGreaterThan(downloadAt);
    expect(publish).toContain(`terraform -chdir="cdktf.out/stacks/\${ENV_NAME}-workloads" output -json ${CONSOLE_ASSETS_OUTPUT}`);
  });

  it("never overwrites or deletes the environment's /config.json, and never deletes an earlier release's assets", () => {
    const config = CONSOLE_RUNTIME_CONFIG_PATH.slice(1);
    const syncs = publish.split("\n").filter((line) => line.includes("aws s3 sync") && !line.includes(`${CONSOLE_DIST_DIR}/assets `));
    for (const sync of syncs) expect(sync).toContain(`--exclude ${config}`);
    expect(publish).not.toContain("--delete");
    expect(publish).not.toMatch(new RegExp(`cp [^\\n]*${config.replace(".", "\\.")}`));
  });

  it("uploads hashed assets as immutable, index.html last and revalidated, then invalidates the distribution", () => {
    const lines = publish.split("\n");
    const assets = lines.findIndex((l) => l.includes(`aws s3 sync ${CONSOLE_DIST_DIR}/assets`));
    const index = lines.findIndex((l) => l.includes(`aws s3 cp ${CONSOLE_DIST_DIR}/index.html`));
    const invalidate = lines.findIndex((l) => l.includes("aws cloudfront create-invalidation"));
    expect(lines[assets]).toContain('--cache-control "public, max-age=31536000, immutable"');
    expect(lines[index]).toContain('--cache-control "no-cache"');
    expect(assets).toBeGreaterThanOrEqual(0);
    expect(index).toBeGreaterThan(assets);
    expect(invalidate).toBeGreaterThan(index);
    expect(lines[invalidate]).toContain('--distribution-id "$distribution"');
  });
});

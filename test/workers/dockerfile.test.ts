import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { WORKER_HTTP_PORT } from "../../services/worker/contract.js";
import { instructionsOf, nodeEvalScript, readDockerfile } from "../support/dockerfile.js";

const dockerfile = readDockerfile(new URL("../../services/worker/Dockerfile", import.meta.url));
const finalStage = dockerfile.stages.at(-1);
const final = (keyword: string) => instructionsOf(finalStage, keyword);
const buildStages = dockerfile.stages.slice(0, -1);
const buildRuns = () => buildStages.flatMap((s) => instructionsOf(s, "RUN")).map((i) => i.args);
const root = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { dependencies: Record<string, string>; scripts: Record<string, string> };

/** Runs the build stage's package-list script over a metafile with these external imports. */
function runtimePackages(imports: readonly string[]): Record<string, string> {
  const script = nodeEvalScript(buildRuns().join("\n"));
  if (script === undefined) throw new Error("no node -e script in the build stage");
  const meta = { outputs: { "dist/main.js": { imports: imports.map((path) => ({ path, external: true })) } } };
  const files = new Map<string, string>([
    ["package.json", JSON.stringify(root)],
    ["dist/meta.json", JSON.stringify(meta)],
  ]);
  const fs = { readFileSync: (p: string) => files.get(p) ?? "", writeFileSync: (p: string, data: string) => files.set(p, data) };
  const requireStub = (id: string) => (id === "node:fs" ? fs : { builtinModules: ["fs", "http"] });
  new Function("require", script)(requireStub);
  const runtime = JSON.parse(files.get("dist/package.json") ?? "{}") as { type: string; dependencies: Record<string, string> };
  expect(runtime.type).toBe("module");
  return runtime.dependencies;
}

describe("worker Dockerfile", () => {
  it("builds in at least two stages", () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
  });

  it("pins every base image to an exact version tag (no latest, no bare major or minor), the ingestor's", () => {
    const earlierStages = new Set(dockerfile.stages.map((s) => s.name).filter((n) => n !== undefined));
    for (const stage of dockerfile.stages) {
      if (earlierStages.has(stage.from)) continue;
      expect(stage.from, stage.from).toMatch(/^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9.-]+)?$/);
    }
    const ingestor = readDockerfile(new URL("../../services/ingestor/Dockerfile", import.meta.url));
    expect(dockerfile.args.NODE_IMAGE).toBe(ingestor.args.NODE_IMAGE);
  });

  it("runs the final stage as a numeric non-root user", () => {
    const user = final("USER").at(-1)?.args.trim() ?? "";
    const [uid] = user.split(":");
    expect(uid, user).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
  });

  it("installs production dependencies only in the final stage, from a lockfile, without install scripts", () => {
    const installs = final("RUN").filter((r) => /\bnpm\s+(ci|install|i)\b/.test(r.args));
    expect(installs.length).toBeGreaterThan(0);
    for (const run of installs) {
      expect(run.args).toMatch(/\bnpm ci\b/);
      expect(run.args).toContain("--omit=dev");
      expect(run.args).toContain("--ignore-scripts");
    }
    // The final stage copies only the generated manifest, lockfile and bundle from the build.
    for (const copy of final("COPY")) expect(copy.args).toMatch(/^--from=build \/build\/dist\//);
    for (const i of [...final("RUN"), ...final("COPY"), ...final("ADD")]) expect(i.args).not.toMatch(/chdb|lmdb/i);
  });

  it("bundles services/worker/src/main.ts (what `npm run worker` runs) with esbuild and runs the bundle with node", () => {
    expect(root.scripts.worker).toContain("services/worker/src/main.ts");
    expect(buildRuns().join("\n")).toMatch(/esbuild services\/worker\/src\/main\.ts --bundle --platform=node --format=esm .*--packages=external .*--outfile=dist\/main\.js/);
    expect(final("ENTRYPOINT").at(-1)?.args).toBe('["node", "dist/main.js"]');
    expect(final("EXPOSE").map((e) => e.args)).toContain(String(WORKER_HTTP_PORT));
  });

  it("writes a runtime package list of what the bundle imports, without the embedded engines, and refuses an undeclared package", () => {
    expect(runtimePackages(["node:fs", "fs", "@nats-io/transport-node", "@nats-io/jetstream/internal", "prom-client", "chdb", "lmdb"])).toEqual({
      "@nats-io/jetstream": root.dependencies["@nats-io/jetstream"],
      "@nats-io/transport-node": root.dependencies["@nats-io/transport-node"],
      "prom-client": root.dependencies["prom-client"],
    });
    expect(() => runtimePackages(["left-pad"])).toThrow(/the worker imports left-pad, which is not in package.json dependencies/);
    expect(buildRuns().join("\n")).toContain(`grep -Eq '"node_modules/(chdb|lmdb)"' package-lock.json`);
  });
});

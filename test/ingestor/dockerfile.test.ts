import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseDockerfile } from "../support/dockerfile.js";

const dockerfile = parseDockerfile(readFileSync(new URL("../../services/ingestor/Dockerfile", import.meta.url), "utf8"));
const finalStage = dockerfile.stages.at(-1);
const final = (keyword: string) => (finalStage?.instructions ?? []).filter((i) => i.keyword === keyword);

describe("ingestor Dockerfile", () => {
  it("builds in at least two stages", () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
  });

  it("pins every base image to an exact version tag (no latest, no bare major or minor)", () => {
    const earlierStages = new Set(dockerfile.stages.map((s) => s.name).filter((n) => n !== undefined));
    for (const stage of dockerfile.stages) {
      if (earlierStages.has(stage.from)) continue;
      expect(stage.from, stage.from).toMatch(/^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9.-]+)?$/);
      expect(stage.from).not.toMatch(/:latest$/);
    }
  });

  it("runs the final stage as a numeric non-root user", () => {
    const users = final("USER");
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)?.args.trim() ?? "";
    const [uid] = user.split(":");
    expect(uid, user).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
  });

  it("installs production dependencies only in the final stage, from a lockfile", () => {
    const installs = final("RUN").filter((r) => /\bnpm\s+(ci|install|i)\b/.test(r.args));
    expect(installs.length).toBeGreaterThan(0);
    for (const run of installs) {
      expect(run.args).toMatch(/\bnpm ci\b/);
      expect(run.args).toContain("--omit=dev");
      expect(run.args).toContain("--ignore-scripts");
    }
  });

  it("keeps the embedded chdb engine out of the final stage", () => {
    for (const i of [...final("RUN"), ...final("COPY"), ...final("ADD")]) expect(i.args).not.toMatch(/chdb/i);
    // The runtime package list is generated in the build stage: chdb is filtered out there, and
    // the lockfile the final stage installs from is checked not to list it.
    const build = dockerfile.stages.slice(0, -1).flatMap((s) => s.instructions).map((i) => i.args).join("\n");
    expect(build).toMatch(/devOnly = new Set\(\["chdb"\]\)/);
    expect(build).toContain(`grep -q '"node_modules/chdb"' package-lock.json`);
    // The final stage copies only the generated manifest, lockfile and bundle from the build.
    for (const copy of final("COPY")) expect(copy.args).toMatch(/^--from=build \/build\/dist\//);
  });

  it("bundles the ingestor with esbuild and runs the bundle with node", () => {
    const build = dockerfile.stages.slice(0, -1).flatMap((s) => s.instructions).filter((i) => i.keyword === "RUN").map((i) => i.args).join("\n");
    expect(build).toMatch(/esbuild services\/ingestor\/src\/main\.ts --bundle --platform=node --format=esm .*--outfile=dist\/main\.js/);
    expect(final("ENTRYPOINT").at(-1)?.args).toBe('["node", "dist/main.js"]');
    expect(final("EXPOSE").map((e) => e.args)).toContain("8080");
  });

  it("generates a runtime package list without chdb from the root package.json", () => {
    const root = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { dependencies: Record<string, string> };
    const script = /node -e '([\s\S]*?)'/.exec(dockerfile.stages[0]?.instructions.map((i) => i.args).join("\n") ?? "")?.[1];
    expect(script).toBeDefined();
    // The script's filter over a metafile that imports chdb dynamically, as sink.ts does.
    const meta = {
      outputs: {
        "dist/main.js": {
          imports: [
            { path: "node:fs", external: true },
            { path: "@clickhouse/client", external: true },
            { path: "@nats-io/jetstream", external: true },
            { path: "chdb", external: true },
            { path: "chdb/connection", external: true },
          ],
        },
      },
    };
    const files = new Map<string, string>([
      ["package.json", JSON.stringify(root)],
      ["dist/meta.json", JSON.stringify(meta)],
    ]);
    const fs = {
      readFileSync: (p: string) => files.get(p) ?? "",
      writeFileSync: (p: string, data: string) => files.set(p, data),
    };
    const requireStub = (id: string) => (id === "node:fs" ? fs : { builtinModules: ["fs", "http"] });
    new Function("require", script ?? "")(requireStub);
    const runtime = JSON.parse(files.get("dist/package.json") ?? "{}") as { type: string; dependencies: Record<string, string> };
    expect(runtime.type).toBe("module");
    expect(runtime.dependencies).toEqual({ "@clickhouse/client": root.dependencies["@clickhouse/client"], "@nats-io/jetstream": root.dependencies["@nats-io/jetstream"] });
  });
});

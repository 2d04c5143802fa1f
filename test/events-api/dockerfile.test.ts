/**
 * The events API's image: the Dockerfile's stages, pins, user and entry point, and its runtime
 * package list computed by the build stage's own script over the REAL bundle of the service
 * (esbuild run here as the image runs it): exactly the npm packages the service imports, no dev
 * tools, no embedded engine, the FoundationDB binding apart.
 */
import { readFileSync } from "node:fs";
import { build } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
import { EVENTS_API_DOCKERFILE, EVENTS_API_HTTP_PORT } from "../../services/events-api/contract.js";
import { instructionsOf, nodeEvalScript, readDockerfile, type DockerfileStage } from "../support/dockerfile.js";

const repoRoot = new URL("../../", import.meta.url);
const dockerfile = readDockerfile(new URL(EVENTS_API_DOCKERFILE, repoRoot));
const stageNamed = (name: string): DockerfileStage | undefined => dockerfile.stages.find((s) => s.name === name);
const finalStage = dockerfile.stages.at(-1);
const final = (keyword: string) => instructionsOf(finalStage, keyword);
const runs = (stage: DockerfileStage | undefined) => instructionsOf(stage, "RUN").map((i) => i.args.replace(/\s+/g, " "));
const root = JSON.parse(readFileSync(new URL("package.json", repoRoot), "utf8")) as { dependencies: Record<string, string>; optionalDependencies?: Record<string, string> };

interface Meta {
  inputs: Record<string, unknown>;
  outputs: Record<string, { imports: { path: string; kind: string; external?: boolean }[] }>;
}
let meta: Meta;
let bundle: string;

beforeAll(async () => {
  // The build stage's esbuild command, through esbuild's API.
  const out = await build({
    entryPoints: [new URL("services/events-api/src/main.ts", repoRoot).pathname],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    metafile: true,
    write: false,
    outfile: "dist/main.js",
    absWorkingDir: new URL(".", repoRoot).pathname,
    logLevel: "silent",
  });
  meta = out.metafile as unknown as Meta;
  bundle = out.outputFiles.find((f) => f.path.endsWith("main.js"))?.text ?? "";
});

/** Runs the build stage's package-list script over a metafile and bundle. */
function runtimePackages(m: Meta, text: string) {
  const script = nodeEvalScript(runs(stageNamed("build")).join("\n"));
  if (script === undefined) throw new Error("no node -e script in the build stage");
  const files = new Map<string, string>([
    ["package.json", JSON.stringify(root)],
    ["dist/meta.json", JSON.stringify(m)],
    ["dist/main.js", text],
  ]);
  const fs = { readFileSync: (p: string) => files.get(p) ?? "", writeFileSync: (p: string, data: string) => files.set(p, data) };
  const requireStub = (id: string) => (id === "node:fs" ? fs : { builtinModules: ["fs", "http"] });
  new Function("require", script)(requireStub);
  return { packageJson: JSON.parse(files.get("dist/package.json") ?? "{}") as { type: string; dependencies: Record<string, string> }, bindingVersion: files.get("dist/foundationdb.version") };
}

/** The metafile with one more external import. */
const withImport = (m: Meta, path: string, kind: string): Meta => {
  const [name, out] = Object.entries(m.outputs)[0]!;
  return { ...m, outputs: { [name]: { ...out, imports: [...out.imports, { path, kind, external: true }] } } };
};

describe("events API Dockerfile", () => {
  it("builds in stages from the pinned Node 20 image, with the FoundationDB client of a pinned 7.3 release, checked", () => {
    expect(dockerfile.stages.map((s) => s.name)).toEqual(["fdb-client", "build", "deps", "runtime"]);
    expect(dockerfile.args.NODE_IMAGE).toMatch(/^node:20\.\d+\.\d+-bookworm-slim$/);
    expect(finalStage?.from).toBe(dockerfile.args.NODE_IMAGE);
    expect(dockerfile.args.FDB_VERSION).toMatch(/^7\.3\.\d+$/);
    expect(dockerfile.args.FDB_CLIENTS_SHA256).toMatch(/^[0-9a-f]{64}$/);
    // The same client release as the provisioning image (one FoundationDB cluster).
    const provisioning = readDockerfile(new URL("services/provisioning/Dockerfile", repoRoot));
    expect(dockerfile.args.FDB_VERSION).toBe(provisioning.args.FDB_VERSION);
    expect(dockerfile.args.FDB_CLIENTS_SHA256).toBe(provisioning.args.FDB_CLIENTS_SHA256);
    expect(instructionsOf(stageNamed("fdb-client"), "RUN").map((i) => i.args)).toEqual(['echo "${FDB_CLIENTS_SHA256}  /fdb/foundationdb-clients.deb" | sha256sum -c -']);
  });

  it("runs the bundle as a numeric non-root user on the contract's port, nothing running after USER", () => {
    const user = final("USER").at(-1)?.args.trim() ?? "";
    expect(user).toMatch(/^[1-9]\d*:\d+$/);
    const keywords = (finalStage?.instructions ?? []).map((i) => i.keyword);
    expect(keywords.lastIndexOf("RUN")).toBeLessThan(keywords.lastIndexOf("USER"));
    expect(final("ENTRYPOINT").at(-1)?.args).toBe('["node", "dist/main.js"]');
    expect(final("EXPOSE").map((e) => e.args)).toEqual([String(EVENTS_API_HTTP_PORT)]);
    expect(finalStage?.instructions.find((i) => i.keyword === "ENV")?.args).toBe("NODE_ENV=production");
    for (const run of runs(finalStage)) expect(run).not.toMatch(/\bnpm\b|apt-get|g\+\+|python3/);
  });

  it("bundles main.ts as the image does, and copies every repository directory the bundle is built from", () => {
    expect(runs(stageNamed("build")).join("\n")).toMatch(/esbuild services\/events-api\/src\/main\.ts --bundle --platform=node --format=esm --target=node20 --packages=external --metafile=dist\/meta\.json --outfile=dist\/main\.js/);
    const copied = new Set(instructionsOf(stageNamed("build"), "COPY").map((c) => c.args.split(/\s+/)[0]));
    const sources = new Set(Object.keys(meta.inputs).map((p) => p.split("/")[0]));
    for (const dir of sources) expect(copied, `the bundle reads ${dir}/`).toContain(dir);
  });

  it("lists exactly the packages the real bundle imports, at package.json's versions, the binding apart", () => {
    const { packageJson, bindingVersion } = runtimePackages(meta, bundle);
    expect(packageJson.type).toBe("module");
    const expected = ["@aws-sdk/client-kms", "@bufbuild/protobuf", "@clickhouse/client", "@nats-io/nkeys", "fastify", "jose", "pino", "prom-client"];
    expect(Object.keys(packageJson.dependencies)).toEqual(expected);
    for (const name of expected) expect(packageJson.dependencies[name]).toBe(root.dependencies[name]);
    expect(bindingVersion?.trim()).toBe(root.optionalDependencies?.foundationdb);
    // Never the embedded engines, never a dev tool.
    for (const name of ["chdb", "lmdb", "vitest", "esbuild", "tsx", "typescript"]) expect(packageJson.dependencies).not.toHaveProperty(name);
  });

  it("refuses a bundle that imports an embedded engine statically, lacks the FoundationDB store or imports an undeclared package", () => {
    expect(() => runtimePackages(withImport(meta, "chdb", "import-statement"), bundle)).toThrow(/imports chdb statically/);
    expect(() => runtimePackages(withImport(meta, "lmdb", "import-statement"), bundle)).toThrow(/imports lmdb statically/);
    expect(() => runtimePackages(meta, bundle.replaceAll("E_FDB_UNAVAILABLE", "E_GONE"))).toThrow(/no FoundationDB store/);
    expect(() => runtimePackages(withImport(meta, "left-pad", "import-statement"), bundle)).toThrow(/imports left-pad, which is not in package.json dependencies/);
  });

  it("installs production dependencies only, then the binding, and keeps chdb and lmdb out of the runtime", () => {
    const deps = runs(stageNamed("deps")).join("\n");
    expect(deps).toMatch(/npm ci --omit=dev --omit=optional --ignore-scripts /);
    expect(deps).toMatch(/npm install --no-save --omit=dev --omit=optional .*"foundationdb@\$\(cat foundationdb\.version\)"/);
    expect(deps).toContain("[ -e node_modules/chdb ] || [ -e node_modules/lmdb ]");
    expect(runs(stageNamed("build")).join("\n")).toContain(`grep -qE '"node_modules/(chdb|lmdb)"' package-lock.json`);
    expect(final("COPY").map((c) => c.args)).toEqual(["--from=deps /app/package.json ./package.json", "--from=deps /app/node_modules ./node_modules", "--from=build /build/dist/main.js ./dist/main.js"]);
    expect(runs(finalStage)).toContain(`node --input-type=module -e 'await import("foundationdb")'`);
  });
});

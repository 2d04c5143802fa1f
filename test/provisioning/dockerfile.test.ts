import { readFileSync } from "node:fs";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { REALM_APPLY_COMMAND } from "../../constructs/keycloak/index.js";
import { instructionsOf, nodeEvalScript, readDockerfile, type DockerfileStage } from "../support/dockerfile.js";

const dockerfile = readDockerfile(new URL("../../services/provisioning/Dockerfile", import.meta.url));
const stageNamed = (name: string): DockerfileStage | undefined => dockerfile.stages.find((s) => s.name === name);
const finalStage = dockerfile.stages.at(-1);
const final = (keyword: string) => instructionsOf(finalStage, keyword);
/** A stage's RUN commands, continuation indents collapsed to one space. */
const runs = (stage: DockerfileStage | undefined) => instructionsOf(stage, "RUN").map((i) => i.args.replace(/\s+/g, " "));
const root = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  dependencies: Record<string, string>;
  optionalDependencies?: Record<string, string>;
};

/** Runs the build stage's package-list script over a metafile with the given external imports. */
function runtimePackages(imports: readonly { path: string; kind: string }[]) {
  const script = nodeEvalScript(runs(stageNamed("build")).join("\n"));
  if (script === undefined) throw new Error("no node -e script in the build stage");
  const meta = { outputs: { "dist/main.js": { imports: imports.map((i) => ({ ...i, external: true })) } } };
  const files = new Map<string, string>([
    ["package.json", JSON.stringify(root)],
    ["dist/meta.json", JSON.stringify(meta)],
  ]);
  const fs = { readFileSync: (p: string) => files.get(p) ?? "", writeFileSync: (p: string, data: string) => files.set(p, data) };
  const requireStub = (id: string) => (id === "node:fs" ? fs : { builtinModules: ["fs", "http"] });
  new Function("require", script)(requireStub);
  return {
    packageJson: JSON.parse(files.get("dist/package.json") ?? "{}") as { type: string; dependencies: Record<string, string> },
    bindingVersion: files.get("dist/foundationdb.version"),
  };
}

const SERVICE_IMPORTS = [
  { path: "node:fs", kind: "import-statement" },
  { path: "fastify", kind: "import-statement" },
  { path: "jose", kind: "import-statement" },
  { path: "@aws-sdk/client-kms", kind: "import-statement" },
  { path: "@nats-io/jwt", kind: "import-statement" },
  { path: "foundationdb", kind: "dynamic-import" },
  { path: "lmdb", kind: "dynamic-import" },
];

describe("provisioning Dockerfile", () => {
  it("builds in stages, the final one from the pinned Node image", () => {
    expect(dockerfile.stages.map((s) => s.name)).toEqual(["fdb-client", "build", "deps", "runtime"]);
    expect(finalStage?.from).toBe(dockerfile.args.NODE_IMAGE);
  });

  it("pins every base image to an exact version tag of Node 20 on bookworm-slim (no latest, no bare major or minor)", () => {
    expect(dockerfile.args.NODE_IMAGE).toMatch(/^node:20\.\d+\.\d+-bookworm-slim$/);
    const names = new Set(dockerfile.stages.map((s) => s.name).filter((n) => n !== undefined));
    for (const stage of dockerfile.stages) {
      if (names.has(stage.from)) continue;
      expect(stage.from, stage.from).toMatch(/^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9.-]+)?$/);
    }
  });

  it("runs the final stage as a numeric non-root user and runs the bundle with node", () => {
    const user = final("USER").at(-1)?.args.trim() ?? "";
    const [uid] = user.split(":");
    expect(uid, user).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    // USER comes after every RUN of the final stage (nothing runs as root after it, nothing is left needing root).
    const keywords = (finalStage?.instructions ?? []).map((i) => i.keyword);
    expect(keywords.lastIndexOf("RUN")).toBeLessThan(keywords.lastIndexOf("USER"));
    expect(final("ENTRYPOINT").at(-1)?.args).toBe('["node", "dist/main.js"]');
    expect(final("EXPOSE").map((e) => e.args)).toEqual(["8080"]);
    expect(final("HEALTHCHECK")).toEqual([]);
  });

  it("bundles the service with esbuild, npm packages external, as the ingestor's image does", () => {
    expect(runs(stageNamed("build")).join("\n")).toMatch(
      /esbuild services\/provisioning\/src\/main\.ts --bundle --platform=node --format=esm --target=node20 --packages=external --metafile=dist\/meta\.json --outfile=dist\/main\.js/,
    );
  });

  it("downloads the FoundationDB client package of a pinned 7.3 release and checks its SHA-256", () => {
    expect(dockerfile.args.FDB_VERSION).toMatch(/^7\.3\.\d+$/);
    expect(dockerfile.args.FDB_CLIENTS_SHA256).toMatch(/^[0-9a-f]{64}$/);
    const fdb = stageNamed("fdb-client");
    const add = instructionsOf(fdb, "ADD");
    expect(add).toHaveLength(1);
    expect(add[0]?.args).toBe(
      "https://github.com/apple/foundationdb/releases/download/${FDB_VERSION}/foundationdb-clients_${FDB_VERSION}-1_amd64.deb /fdb/foundationdb-clients.deb",
    );
    // sha256sum's check format: two spaces between the digest and the path.
    expect(instructionsOf(fdb, "RUN").map((i) => i.args)).toEqual(['echo "${FDB_CLIENTS_SHA256}  /fdb/foundationdb-clients.deb" | sha256sum -c -']);
  });

  it("installs the FoundationDB client library in the binding's build stage and in the runtime stage", () => {
    const install = /--mount=type=bind,from=fdb-client,source=\/fdb,target=\/fdb dpkg -i \/fdb\/foundationdb-clients\.deb && test -f \/usr\/lib\/libfdb_c\.so/;
    expect(runs(stageNamed("deps")).some((r) => install.test(r))).toBe(true);
    expect(runs(finalStage).some((r) => install.test(r))).toBe(true);
    // ...and checks in both that the binding loads against it.
    const load = `node --input-type=module -e 'await import("foundationdb")'`;
    expect(runs(stageNamed("deps")).join("\n")).toContain(load);
    expect(runs(finalStage)).toContain(load);
  });

  it("installs production dependencies only, from the pruned lockfile, then the foundationdb binding at package.json's version", () => {
    const deps = runs(stageNamed("deps")).join("\n");
    expect(deps).toMatch(/npm ci --omit=dev --omit=optional --ignore-scripts /);
    expect(deps).toMatch(/npm install --no-save --omit=dev --omit=optional .*"foundationdb@\$\(cat foundationdb\.version\)"/);
    expect(instructionsOf(stageNamed("deps"), "COPY").map((c) => c.args)).toEqual([
      "--from=build /build/dist/package.json /build/dist/package-lock.json /build/dist/foundationdb.version ./",
    ]);
    // The runtime stage installs nothing with npm and has no compiler: it copies node_modules from "deps".
    for (const run of runs(finalStage)) expect(run).not.toMatch(/\bnpm\b|apt-get|g\+\+|python3/);
    expect(final("COPY").map((c) => c.args)).toEqual([
      "--from=deps /app/package.json ./package.json",
      "--from=deps /app/node_modules ./node_modules",
      "--from=build /build/dist/main.js ./dist/main.js",
      "--from=build /build/dist/realm-apply.js ./dist/realm-apply.js",
    ]);
    expect(finalStage?.instructions.find((i) => i.keyword === "ENV")?.args).toBe("NODE_ENV=production");
  });

  it("carries the realm program Keycloak's realm Job runs, bundled whole, at the path the construct runs", () => {
    expect(runs(stageNamed("build")).join("\n")).toMatch(/esbuild services\/keycloak-realm\/apply-main\.ts --bundle --platform=node --format=esm --target=node20 --outfile=dist\/realm-apply\.js/);
    const workdir = final("WORKDIR").at(-1)?.args.trim();
    expect(REALM_APPLY_COMMAND).toEqual(["node", `${workdir}/dist/realm-apply.js`]);
  });

  it("generates the runtime package list from the bundle's imports: no dev tools, no chdb, no lmdb, the binding apart", () => {
    const { packageJson, bindingVersion } = runtimePackages(SERVICE_IMPORTS);
    expect(packageJson.type).toBe("module");
    expect(packageJson.dependencies).toEqual({
      "@aws-sdk/client-kms": root.dependencies["@aws-sdk/client-kms"],
      "@nats-io/jwt": root.dependencies["@nats-io/jwt"],
      fastify: root.dependencies.fastify,
      jose: root.dependencies.jose,
    });
    expect(bindingVersion?.trim()).toBe(root.optionalDependencies?.foundationdb);
    expect(bindingVersion?.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("accepts the service's real bundle: the binding among its dynamic imports, every package it imports declared", async () => {
    // The build stage's esbuild command, through esbuild's API, on the real entry point.
    const out = await build({
      entryPoints: [new URL("../../services/provisioning/src/main.ts", import.meta.url).pathname],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      metafile: true,
      write: false,
      outfile: "dist/main.js",
      absWorkingDir: new URL("../..", import.meta.url).pathname,
      logLevel: "silent",
    });
    const imports = Object.values(out.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => ({ path: i.path, kind: i.kind })));
    expect(imports).toContainEqual({ path: "foundationdb", kind: "dynamic-import" });
    const { packageJson, bindingVersion } = runtimePackages(imports);
    expect(bindingVersion?.trim()).toBe(root.optionalDependencies?.foundationdb);
    for (const [name, version] of Object.entries(packageJson.dependencies)) expect(version, name).toBe(root.dependencies[name]);
    for (const name of ["chdb", "lmdb", "foundationdb", "vitest", "esbuild", "tsx"]) expect(packageJson.dependencies).not.toHaveProperty(name);
  });

  it("refuses a bundle that imports an embedded engine statically, lacks the binding or imports an undeclared package", () => {
    expect(() => runtimePackages([...SERVICE_IMPORTS, { path: "chdb", kind: "import-statement" }])).toThrow(/imports chdb statically/);
    expect(() => runtimePackages(SERVICE_IMPORTS.map((i) => (i.path === "lmdb" ? { ...i, kind: "import-statement" } : i)))).toThrow(/imports lmdb statically/);
    expect(() => runtimePackages(SERVICE_IMPORTS.filter((i) => i.path !== "foundationdb"))).toThrow(/never imports foundationdb/);
    expect(() => runtimePackages([...SERVICE_IMPORTS, { path: "left-pad", kind: "import-statement" }])).toThrow(/imports left-pad, which is not in package.json dependencies/);
  });

  it("keeps chdb and lmdb out of the runtime lockfile and node_modules, and out of the final stage", () => {
    const build = runs(stageNamed("build")).join("\n");
    expect(build).toContain(`devOnly = new Set(["chdb", "lmdb"])`);
    expect(build).toContain(`grep -qE '"node_modules/(chdb|lmdb)"' package-lock.json`);
    expect(runs(stageNamed("deps")).join("\n")).toContain("[ -e node_modules/chdb ] || [ -e node_modules/lmdb ]");
    for (const i of [...final("RUN"), ...final("COPY"), ...final("ADD")]) expect(i.args).not.toMatch(/chdb|lmdb/i);
  });
});

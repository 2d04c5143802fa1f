// Entry point of `npm run synth` and of cdktf.json's "app" (so `npx cdktf synth` runs it too).
//
// It compiles the TypeScript app (stacks/main.ts and every repo file it imports) into one
// CommonJS file with esbuild, npm packages left external, and runs it. A TypeScript loader
// would add ~110 ms and ESM-to-CJS interop more on every synth; no type checking happens here
// (that is `npm run typecheck`). The build is skipped when no input changed since the last one:
// esbuild's metafile lists every input, and any change to the import graph edits one of them.
// It is CommonJS on purpose: an ES module entry costs another ~70 ms of loader start-up.
"use strict";
const { existsSync, readFileSync, statSync, writeFileSync } = require("node:fs");
const { join } = require("node:path");

const here = __filename;
const root = join(__dirname, "..");
const outfile = join(root, ".gen", "synth.cjs");
const metafile = join(root, ".gen", "synth.meta.json");

function upToDate() {
  if (!existsSync(outfile) || !existsSync(metafile)) return false;
  const built = statSync(outfile).mtimeMs;
  const inputs = [here, ...JSON.parse(readFileSync(metafile, "utf8")).inputs];
  return inputs.every((file) => existsSync(join(root, file)) && statSync(join(root, file)).mtimeMs <= built);
}

if (!upToDate()) {
  const result = require("esbuild").buildSync({
    absWorkingDir: root,
    entryPoints: ["stacks/main.ts"],
    outfile,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    packages: "external",
    metafile: true,
    logLevel: "warning",
  });
  writeFileSync(metafile, JSON.stringify({ inputs: Object.keys(result.metafile.inputs) }));
}
require(outfile);

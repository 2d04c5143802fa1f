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
const { pathToFileURL } = require("node:url");

const here = __filename;
const root = join(__dirname, "..");
const outfile = join(root, ".gen", "synth.cjs");
const metafile = join(root, ".gen", "synth.meta.json");

function upToDate() {
  if (!existsSync(outfile) || !existsSync(metafile)) return false;
  const built = statSync(outfile).mtimeMs;
  const meta = JSON.parse(readFileSync(metafile, "utf8"));
  // The bundle embeds absolute file URLs (below): a moved checkout needs a new build.
  if (meta.root !== root) return false;
  if (statSync(here).mtimeMs > built) return false;
  return meta.inputs.every((file) => existsSync(join(root, file)) && statSync(join(root, file)).mtimeMs <= built);
}

/**
 * `import.meta.url` has no value in a CommonJS bundle; give each module its own source file's URL,
 * so code that reads files next to itself (e.g. the Kong plugin's Lua) works bundled and unbundled.
 */
const importMetaUrl = {
  name: "import-meta-url",
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      if (!source.includes("import.meta.url")) return undefined;
      return { contents: source.replaceAll("import.meta.url", JSON.stringify(pathToFileURL(args.path).href)), loader: "ts" };
    });
  },
};

async function build() {
  const result = await require("esbuild").build({
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
    plugins: [importMetaUrl],
  });
  writeFileSync(metafile, JSON.stringify({ root, inputs: Object.keys(result.metafile.inputs) }));
}

/**
 * cdktf's index loads `archiver`, a zip library, at start-up: about half of cdktf's own load time
 * here (~50 of ~110 ms). It is only called by cdktf's `private/fs.js` run as a program of its own
 * (cdktf zips an asset by running that file in a child process, where the real module loads as
 * usual), never in this process; this app declares no asset at all. So this process gets a
 * stand-in that loads the real module the first time anything calls or reads it.
 */
function deferArchiver() {
  const Module = require("node:module");
  let file;
  try {
    file = require.resolve("archiver", { paths: [require.resolve("cdktf")] });
  } catch {
    return; // cdktf no longer depends on it: nothing to defer.
  }
  if (require.cache[file]) return;
  let real;
  const load = () => {
    if (real === undefined) {
      // The real module takes the stand-in's place in the cache; holders of the stand-in forward to it.
      if (require.cache[file] === standIn) delete require.cache[file];
      real = require(file);
    }
    return real;
  };
  const standIn = new Module(file, module);
  standIn.filename = file;
  standIn.loaded = true;
  standIn.exports = new Proxy(function archiver() {}, {
    apply: (_, self, args) => Reflect.apply(load(), self, args),
    get: (_, key) => Reflect.get(load(), key),
    has: (_, key) => Reflect.has(load(), key),
  });
  require.cache[file] = standIn;
}

function main() {
  deferArchiver();
  if (upToDate()) {
    require(outfile);
  } else {
    build().then(
      () => require(outfile),
      (error) => {
        process.stderr.write(`synth: could not compile the app: ${error.message}\n`);
        process.exit(1);
      },
    );
  }
}

if (require.main === module) main();
module.exports = { deferArchiver };

// Entry point of `npm run synth` and of cdktf.json's "app" (so `npx cdktf synth` runs it too).
//
// It compiles the TypeScript app (stacks/main.ts and every repo file it imports) into one
// CommonJS file with esbuild, and runs it. A TypeScript loader would add ~110 ms and ESM-to-CJS
// interop more on every synth; no type checking happens here (that is `npm run typecheck`).
// The npm packages the app loads (cdktf, constructs, the providers' generated classes) go into
// the same file (see `packagesBundled`). The build is skipped when no input changed since the
// last one: esbuild's metafile lists every input, and any change to the import graph edits one of them.
// It is CommonJS on purpose: an ES module entry costs another ~70 ms of loader start-up.
"use strict";
const { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } = require("node:fs");
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

/**
 * Bundles the npm packages too. Loaded one file at a time they were ~270 modules: Node resolving
 * each path, reading ~12 MB (two thirds of it the inline source maps of the providers' and
 * cdktf's files) and compiling it cost ~70 ms of every synth. Bundled, esbuild drops the source
 * maps and the path lookups are gone.
 *
 * A package file that names its own location (`__filename`, `__dirname`) stays outside the bundle,
 * loaded from node_modules as before: in the bundle that would name .gen/synth.cjs instead. cdktf
 * has one, `lib/private/fs.js`, which zips an asset by running itself in a child process (and is
 * the only module that loads `archiver`, see {@link deferArchiver}).
 *
 * `json-stable-stringify`, which cdktf writes every stack and the manifest with, is
 * {@link stableStringify} of this file.
 */
const packagesBundled = {
  name: "packages-bundled",
  setup(build) {
    const checked = new Map();
    const namesItsLocation = (file) => {
      if (!checked.has(file)) checked.set(file, /\b__(?:file|dir)name\b/.test(readFileSync(file, "utf8")));
      return checked.get(file);
    };
    build.onResolve({ filter: /^json-stable-stringify$/ }, () => ({ path: "json-stable-stringify", namespace: "stable-stringify" }));
    build.onLoad({ filter: /.*/, namespace: "stable-stringify" }, () => ({ contents: `module.exports = require(${JSON.stringify(here)}).stableStringify;`, loader: "js" }));
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.path === here) return { path: here, external: true };
      if (args.pluginData === packagesBundled || args.path.startsWith("node:")) return undefined;
      const { kind, importer, namespace, resolveDir } = args;
      const resolved = await build.resolve(args.path, { kind, importer, namespace, resolveDir, pluginData: packagesBundled });
      if (resolved.errors.length > 0 || resolved.external || resolved.namespace !== "file") return resolved;
      const external = /[\\/]node_modules[\\/]/.test(resolved.path) && /\.c?js$/.test(resolved.path) && namesItsLocation(resolved.path);
      return { ...resolved, external };
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
    // Whitespace only (a third of the bytes to parse); every class and function keeps its name, as
    // messages and checks read them (constructs' "already a Construct with name … in <class>").
    minifyWhitespace: true,
    keepNames: true,
    metafile: true,
    logLevel: "warning",
    plugins: [importMetaUrl, packagesBundled],
  });
  // Files only: the module standing in for json-stable-stringify is listed by its namespace ("stable-stringify:…").
  const inputs = Object.keys(result.metafile.inputs).filter((input) => !input.startsWith("stable-stringify:"));
  writeFileSync(metafile, JSON.stringify({ root, inputs }));
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

/**
 * json-stable-stringify 1.x (what cdktf writes `cdk.tf.json` and `manifest.json` with), the same
 * algorithm without its per-value overhead (a new closure, an indent string built and every
 * array method called through a bound wrapper at each value, and the module's start-up of
 * `get-intrinsic`): a third of the time, ~20 ms of a synth with its load. Byte for byte the
 * same text (tested against the module on the synthesized stacks and on every kind of value it
 * treats apart): keys in the default sort order, `toJSON` honoured, `undefined` and functions
 * left out of objects and written `null` in arrays, an empty array or object written with its
 * closing bracket on a line of its own, a cycle through an object refused. Options other than
 * `space` (a replacer, a comparator, `cycles`, `collapseEmpty`) go to the module itself.
 */
function stableStringify(value, opts) {
  if (arguments.length > 2 || !(opts === undefined || (opts !== null && typeof opts === "object" && Object.getPrototypeOf(opts) === Object.prototype && Object.keys(opts).every((k) => k === "space") && (opts.space === undefined || typeof opts.space === "number" || typeof opts.space === "string")))) {
    return Reflect.apply(require(require.resolve("json-stable-stringify", { paths: [require.resolve("cdktf")] })), this, arguments);
  }
  const repeat = (n, text) => {
    let s = "";
    for (let i = 0; i < n; i += 1) s += text;
    return s;
  };
  const space = (opts && opts.space) || "";
  const unit = typeof space === "number" ? repeat(space, " ") : space;
  const colon = unit ? ": " : ":";
  const indents = [];
  const path = []; // the objects (not arrays) being written, outermost first
  const write = (node, level) => {
    if (node && node.toJSON && typeof node.toJSON === "function") node = node.toJSON();
    if (node === undefined) return undefined;
    if (typeof node !== "object" || node === null) return JSON.stringify(node);
    const indent = unit ? (indents[level] ??= `\n${repeat(level, unit)}`) : "";
    const before = indent + unit;
    let out = "";
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) out += `${i === 0 ? "" : ","}${before}${write(node[i], level + 1) || "null"}`;
      return `[${out}${indent}]`;
    }
    if (path.indexOf(node) !== -1) throw new TypeError("Converting circular structure to JSON");
    path.push(node);
    const keys = Object.keys(node).sort();
    let first = true;
    for (const key of keys) {
      const text = write(node[key], level + 1);
      if (!text) continue;
      out += `${first ? "" : ","}${before}${JSON.stringify(key)}${colon}${text}`;
      first = false;
    }
    path.splice(path.indexOf(node), 1);
    return `{${out}${indent}}`;
  };
  return write(value, 0);
}

/**
 * Runs the compiled app as `require` would, with V8's code cache of it: the bytecode of every
 * function the last synth ran (taken when it ended), so this one neither parses the 2.7 MB file
 * nor compiles those functions again (~80 ms). The cache's name carries the compiled file's size
 * and modification time (V8 itself only checks the source's length), so a new build, which
 * writes the file, never meets an old cache; V8 refuses one from another Node or V8 flags, and
 * the next successful synth writes it anew.
 */
function runCompiled() {
  const vm = require("node:vm");
  const Module = require("node:module");
  const { dirname } = require("node:path");
  const stat = statSync(outfile);
  const cacheFile = `${outfile}.${stat.size}-${Math.trunc(stat.mtimeMs)}.v8cache`;
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(readFileSync(outfile, "utf8")), { filename: outfile, cachedData });
  if (cachedData === undefined || script.cachedDataRejected) {
    process.once("exit", (code) => {
      if (code !== 0) return;
      try {
        for (const old of readdirSync(dirname(outfile))) if (old.endsWith(".v8cache")) rmSync(join(dirname(outfile), old), { force: true });
        const partial = `${cacheFile}.${process.pid}`;
        writeFileSync(partial, script.createCachedData());
        renameSync(partial, cacheFile);
      } catch {
        // A cache is an optimization: the next synth compiles as this one did.
      }
    });
  }
  const app = new Module(outfile, module);
  app.filename = outfile;
  app.paths = Module._nodeModulePaths(dirname(outfile));
  require.cache[outfile] = app;
  script.runInThisContext().call(app.exports, app.exports, Module.createRequire(outfile), app, outfile, dirname(outfile));
  app.loaded = true;
}

function main() {
  deferArchiver();
  if (upToDate()) {
    runCompiled();
  } else {
    build().then(
      () => runCompiled(),
      (error) => {
        process.stderr.write(`synth: could not compile the app: ${error.message}\n`);
        process.exit(1);
      },
    );
  }
}

// Before main(): the compiled app reads stableStringify from these exports as it loads.
module.exports = { deferArchiver, stableStringify };
if (require.main === module) main();

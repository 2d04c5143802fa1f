/**
 * The modules a source file loads at run time, followed through its relative imports: what a
 * "dependency-free" module (a service's contract, a name module) must keep free of npm packages.
 */
import { readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** `import … from "x"` and `export … from "x"`, but not `import type` / `export type`. */
const IMPORT = /^\s*(?:import|export)\s+(?!type\b)[^;]*?\bfrom\s+"([^"]+)"|^\s*import\s+"([^"]+)"/gm;

/** Every repository file `file` (relative to the root) loads, itself included, and every package it loads. */
export function runtimeImports(file: string): { readonly files: readonly string[]; readonly packages: readonly string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (path: string) => {
    if (files.has(path)) return;
    files.add(path);
    const source = readFileSync(resolve(ROOT, path), "utf8");
    for (const m of source.matchAll(IMPORT)) {
      const specifier = (m[1] ?? m[2]) as string;
      if (specifier.startsWith(".")) visit(relative(ROOT, resolve(ROOT, dirname(path), specifier.replace(/\.js$/, ".ts"))));
      else packages.add(specifier);
    }
  };
  visit(file);
  return { files: [...files].sort(), packages: [...packages].sort() };
}

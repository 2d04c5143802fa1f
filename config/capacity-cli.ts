/**
 * `npm run capacity`: prints the capacity model (config/capacity.ts) as markdown.
 * `-- --check` fails when docs/capacity.md's generated section differs from it;
 * `-- --write` regenerates that section (the only way it changes).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SERVICE_SIZING_DEFAULTS } from "../constructs/service-workload.js";
import { CAPACITY_ASSUMPTIONS, capacityModel, compareWithProd, generatedSection, MEASURED_INPUTS, prodFigures, renderCapacity, replaceGeneratedSection } from "./capacity.js";
import { loadEnvironment, loadTierCatalog } from "./index.js";

export const CAPACITY_DOC = join(dirname(fileURLToPath(import.meta.url)), "..", "docs", "capacity.md");

/** The generated section as the model prints it now. */
export function currentCapacityMarkdown(): string {
  const model = capacityModel(MEASURED_INPUTS, CAPACITY_ASSUMPTIONS, loadTierCatalog());
  const figures = prodFigures(model, loadEnvironment("prod"), { ingestorMaxReplicas: SERVICE_SIZING_DEFAULTS.maxReplicas });
  return renderCapacity(model, MEASURED_INPUTS, CAPACITY_ASSUMPTIONS, compareWithProd(figures));
}

function main(argv: readonly string[]): number {
  const markdown = currentCapacityMarkdown();
  if (argv.includes("--write")) {
    writeFileSync(CAPACITY_DOC, replaceGeneratedSection(readFileSync(CAPACITY_DOC, "utf8"), markdown));
    process.stdout.write(`wrote the generated section of ${CAPACITY_DOC}\n`);
    return 0;
  }
  if (argv.includes("--check")) {
    const inDoc = generatedSection(readFileSync(CAPACITY_DOC, "utf8"));
    if (inDoc === markdown.trim()) {
      process.stdout.write("docs/capacity.md's generated section matches the model\n");
      return 0;
    }
    process.stderr.write(
      inDoc === undefined
        ? "docs/capacity.md has no generated section. Fix: add the BEGIN/END GENERATED markers and run `npm run capacity -- --write`\n"
        : "docs/capacity.md's generated section differs from the model. Fix: run `npm run capacity -- --write` (never edit the section by hand)\n",
    );
    return 1;
  }
  process.stdout.write(`${markdown}\n`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));

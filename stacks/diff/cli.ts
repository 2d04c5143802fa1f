/**
 * npm run diff -- --base <git ref> [--head <git ref>] [--format text|markdown] [--out <file>]
 *                 [--fail-on-policy-impact] [--environments dev,staging]
 * npm run diff -- --base-dir <cdktf.out> --head-dir <cdktf.out> [...]
 *
 * Exit codes: 0 done; 1 policy impact found and --fail-on-policy-impact given; 2 a usage or synth error.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { DiffError, renderMarkdown, renderText, runDiff, type RunDiffOptions } from "./index.js";

const USAGE = `Usage: npm run diff -- --base <git ref> [options]
       npm run diff -- --base-dir <cdktf.out> --head-dir <cdktf.out> [options]

Synthesizes the base ref in a temporary git worktree and the working tree (or --head <ref>),
then prints per stack the resources added, removed and changed, and a POLICY IMPACT section.
No terraform and no cloud credentials are needed.

Options:
  --base <ref>              git ref of the base, e.g. origin/main, HEAD~1, a tag or a commit
  --base-dir <dir>          an existing synth output (cdktf.out) as the base instead
  --head <ref>              git ref of the head (default: the working tree, uncommitted changes included)
  --head-dir <dir>          an existing synth output as the head instead
  --environments <list>     synthesize only these environments, e.g. dev or dev,staging (ENCHANTED_ENVIRONMENTS)
  --format text|markdown    output format (default: text)
  --out <file>              write the output to a file instead of stdout
  --fail-on-policy-impact   exit with code 1 when the policy impact section is not empty
  -h, --help                this text

Exit codes: 0 done, 1 policy impact with --fail-on-policy-impact, 2 error.`;

function fail(problem: string, fix: string): never {
  process.stderr.write(`diff: ${problem}\nFix: ${fix}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        base: { type: "string" },
        "base-dir": { type: "string" },
        head: { type: "string" },
        "head-dir": { type: "string" },
        environments: { type: "string" },
        format: { type: "string", default: "text" },
        out: { type: "string" },
        "fail-on-policy-impact": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      allowPositionals: false,
    }));
  } catch (error) {
    fail((error as Error).message, `see the options:\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const format = values.format;
  if (format !== "text" && format !== "markdown") fail(`--format ${format} is not a format`, "use --format text or --format markdown");
  const options: RunDiffOptions = {
    ...(values.base !== undefined ? { base: values.base } : {}),
    ...(values["base-dir"] !== undefined ? { baseDir: values["base-dir"] } : {}),
    ...(values.head !== undefined ? { head: values.head } : {}),
    ...(values["head-dir"] !== undefined ? { headDir: values["head-dir"] } : {}),
    ...(values.environments !== undefined ? { environments: values.environments } : {}),
  };
  if (options.base === undefined && options.baseDir === undefined) fail("no base given", "pass --base <git ref> (e.g. --base origin/main) or --base-dir <cdktf.out directory>");

  const report = await runDiff(options);
  const text = format === "markdown" ? renderMarkdown(report) : renderText(report);
  if (values.out) {
    writeFileSync(values.out, text.endsWith("\n") ? text : `${text}\n`);
    process.stderr.write(`diff: wrote ${values.out} (${report.impacts.length} policy impact(s))\n`);
  } else {
    process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  }
  if (values["fail-on-policy-impact"] && report.impacts.length > 0) {
    process.stderr.write(`diff: ${report.impacts.length} change(s) with policy impact (--fail-on-policy-impact)\n`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  if (error instanceof DiffError) fail(error.problem, error.fix);
  fail(error instanceof Error ? (error.stack ?? error.message) : String(error), "this is a bug in the diff tool: report it with the command you ran");
});

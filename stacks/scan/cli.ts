/**
 * npm run scan [-- --dir <cdktf.out>] [--baseline <file>] [--offline] [--json <file>]
 *
 * Exit codes: 0 every failed check is in the baseline and every baseline entry still matches;
 * 1 a new finding or a stale baseline entry; 2 a usage error, checkov missing or failing.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { renderComparison, runScan, ScanError, sortFindings } from "./index.js";

const USAGE = `Usage: npm run scan [-- options]

Runs checkov (pinned in .ci/checkov-version; installed by \`bash .ci/install-system-deps\`) over
every stack that \`npm run synth\` wrote (cdktf.out/stacks/<stack>/cdk.tf.json) and compares its
failed checks with stacks/scan/checkov-baseline.json. Fails on a finding not in the baseline and
on a baseline entry that matches no finding any more (stale).

Options:
  --dir <dir>        the synth output (default: cdktf.out)
  --baseline <file>  the baseline (default: stacks/scan/checkov-baseline.json)
  --offline          do not let checkov download its guideline URLs (checkov's --skip-download)
  --json <file>      also write every failed check (accepted or not) as JSON
  -h, --help         this text

Exit codes: 0 clean, 1 new finding or stale baseline entry, 2 error (e.g. checkov missing).`;

function main(): void {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        dir: { type: "string" },
        baseline: { type: "string" },
        offline: { type: "boolean", default: false },
        json: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`scan: ${(error as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const started = Date.now();
  try {
    const result = runScan({
      ...(values.dir !== undefined ? { dir: values.dir } : {}),
      ...(values.baseline !== undefined ? { baseline: values.baseline } : {}),
      offline: values.offline,
    });
    if (values.json) writeFileSync(values.json, `${JSON.stringify(sortFindings(result.findings), null, 2)}\n`);
    process.stdout.write(`${renderComparison(result.comparison, result.stacks)} (checkov ${result.checkovVersion}, ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    const failed = result.comparison.unaccepted.length > 0 || result.comparison.stale.length > 0;
    process.exit(failed ? 1 : 0);
  } catch (error) {
    if (error instanceof ScanError) {
      process.stderr.write(`scan: ${error.message}\nFix: ${error.fix}\n`);
      process.exit(2);
    }
    throw error;
  }
}

main();

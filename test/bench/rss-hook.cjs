// Preloaded with `node --require` by the benchmarks: on exit, writes this process's peak
// resident set size (KiB, from getrusage) to the file named by BENCH_RSS_FILE.
"use strict";
const { writeFileSync } = require("node:fs");
process.on("exit", () => {
  if (process.env.BENCH_RSS_FILE) writeFileSync(process.env.BENCH_RSS_FILE, String(process.resourceUsage().maxRSS));
});

/**
 * The console's client-side routes: a CloudFront Function (viewer request, default behaviour only)
 * that serves `/index.html` for a path whose last segment has no extension (`/tenants/acme/events`),
 * and leaves every other path alone (`/assets/index-1a2b.js`, `/config.json`). Not a 403/404 →
 * index.html custom error response: that would apply to the API's own 403s and 404s too and turn
 * them into an HTML page with status 200.
 *
 * The API's paths never reach it (their ordered behaviours have no function), and it refuses to
 * rewrite them anyway, so a behaviour added in the wrong order cannot turn an API call into the app.
 */

import { propFail } from "../core/validation.js";

/** The function's runtime (CloudFront Functions JavaScript 2.0). */
export const SPA_FUNCTION_RUNTIME = "cloudfront-js-2.0";

/** The path prefixes of `/v1/*`-style patterns: `/v1/`. */
export function pathPrefixesOf(patterns: readonly string[]): string[] {
  const fail = propFail("pathPrefixesOf");
  return patterns.map((p, i) => {
    if (!/^\/[^*]+\/\*$/.test(p)) fail(`patterns[${i}]`, p, 'is not a "/<prefix>/*" path pattern', "pass CONSOLE_API_PATH_PATTERNS");
    return p.slice(0, -1);
  });
}

/**
 * The function's code. `apiPrefixes` (`/v1/`, `/.well-known/`) are never rewritten, nor is the
 * prefix without its slash (`/v1`). Plain ES5 (what every CloudFront Functions runtime accepts).
 */
export function spaRewriteFunctionCode(apiPrefixes: readonly string[]): string {
  return `// The web console's client-side routes (constructs/console/spa-function.ts).
var API_PREFIXES = ${JSON.stringify(apiPrefixes)};
var APP_ENTRY = "/index.html";

function handler(event) {
  var request = event.request;
  var uri = request.uri;
  for (var i = 0; i < API_PREFIXES.length; i++) {
    var prefix = API_PREFIXES[i];
    if (uri.indexOf(prefix) === 0 || uri === prefix.slice(0, -1)) return request;
  }
  var last = uri.slice(uri.lastIndexOf("/") + 1);
  if (last.indexOf(".") === -1) request.uri = APP_ENTRY;
  return request;
}
`;
}

/**
 * The console distribution's fixed facts: which paths of the API host go to the gateway, the
 * CloudFront managed policies it uses, its TLS minimums and where its certificate lives. One home,
 * read by the construct and its tests.
 */
import { EVENTS_API_GATEWAY_PATHS, GATEWAY_PATHS } from "../../services/identity/names.js";

/**
 * Path patterns of the API host that CloudFront passes to the gateway, uncached: everything the
 * gateway publishes there (every class of `GATEWAY_PATHS` and `EVENTS_API_GATEWAY_PATHS` lies
 * under one of them; test/console asserts it). Every other path is the console's.
 */
export const CONSOLE_API_PATH_PATTERNS = ["/v1/*", "/.well-known/*"] as const;

/** The gateway's path regexes on the API host (Kong's PCRE), for the coverage check above. */
export const GATEWAY_API_HOST_PATH_REGEXES: readonly string[] = [...Object.values(GATEWAY_PATHS).flat(), ...EVENTS_API_GATEWAY_PATHS];

/**
 * CloudFront's managed policies (ids from the CloudFront Developer Guide, "Use managed cache
 * policies" and "Use managed origin request policies"; they never change).
 * - `cachingOptimized`: the assets; gzip and brotli, no cookies or query strings in the key.
 * - `cachingDisabled`: the API; TTLs 0, nothing in the key.
 * - `allViewer`: every viewer header (Host and Authorization included), cookie and query string to
 *   the origin. An origin request policy may carry Authorization only when caching is disabled:
 *   CloudFront refuses a policy that names it (it would be left out of the cache key), and admits
 *   this managed one on a behaviour whose cache policy is `cachingDisabled`.
 */
export const CLOUDFRONT_MANAGED_POLICIES = {
  cachingOptimized: "658327ea-f89d-4fab-a63d-7e88639e58f6",
  cachingDisabled: "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
  allViewer: "216adef6-5c7f-47e4-b989-5492eafa07d3",
} as const;

/** CloudFront's oldest accepted viewer TLS: TLS 1.2 with forward-secret ciphers only. */
export const CONSOLE_VIEWER_MINIMUM_PROTOCOL = "TLSv1.2_2021";
/** What CloudFront may speak to the gateway's load balancer (whose listener policy is TLS 1.2 and 1.3). */
export const CONSOLE_ORIGIN_SSL_PROTOCOLS = ["TLSv1.2"] as const;
/** CloudFront takes viewer certificates from ACM in us-east-1 only. */
export const CLOUDFRONT_CERTIFICATE_REGION = "us-east-1";
/** HSTS max-age: two years, what the preload list asks for. */
export const HSTS_MAX_AGE_SECONDS = 63_072_000;
/**
 * How long CloudFront waits for the gateway's answer: the most it allows without a quota increase,
 * and Kong's own upstream read timeout (60 s), so a long events-API query fails at the gateway first.
 */
export const API_ORIGIN_READ_TIMEOUT_SECONDS = 60;

/** The workloads stack's output naming the assets bucket and the distribution (read by .github/workflows/deploy.yml). */
export const CONSOLE_ASSETS_OUTPUT = "console_assets";

/** The runtime configuration's object key (`CONSOLE_RUNTIME_CONFIG_PATH` without its slash). */
export function objectKeyOf(path: string): string {
  return path.replace(/^\/+/, "");
}

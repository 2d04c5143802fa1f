/**
 * The console's local server (node:http): what the console's construct and the gateway do
 * together in an environment, on one loopback origin.
 *
 * - the built assets of {@link CONSOLE_DIST_DIR} with their content types, and `index.html` for an
 *   unknown path without a file extension (the single-page app's own routes, e.g.
 *   `/invitations/accept`); every asset answer carries the console's content security policy and
 *   {@link CONSOLE_SECURITY_HEADERS} (console/contract.ts);
 * - {@link CONSOLE_RUNTIME_CONFIG_PATH}: the {@link ConsoleRuntimeConfig} of this platform;
 * - the API, routed as the gateway routes it: the paths of {@link EVENTS_API_GATEWAY_PATHS} to the
 *   events API, every other path under `/v1/` and the key set ({@link JWKS_PATH}) to the
 *   provisioning service. Requests and answers are streamed through unchanged but for hop-by-hop
 *   headers and `X-Forwarded-*`; the services verify tokens themselves (there is no gateway
 *   plugin locally). An upstream that does not answer is a 502 naming it.
 *
 * When the assets are not built yet, asset paths answer 503 with how to build them; the runtime
 * configuration and the API work regardless.
 */
import { createReadStream, statSync, type Stats } from "node:fs";
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, resolve, sep } from "node:path";
import { pipeline } from "node:stream";
import { fileURLToPath } from "node:url";
import { CONSOLE_DIST_DIR, CONSOLE_RUNTIME_CONFIG_PATH, CONSOLE_SECURITY_HEADERS, consoleContentSecurityPolicy, parseConsoleRuntimeConfig, type ConsoleRuntimeConfig } from "../console/contract.js";
import { EVENTS_API_GATEWAY_PATHS, JWKS_PATH } from "../services/identity/names.js";

/** Content types of the files a Vite build writes (anything else: application/octet-stream). */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".webmanifest": "application/manifest+json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".avif": "image/avif",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".otf": "font/otf",
  ".wasm": "application/wasm",
};

/** Vite writes content-hashed file names under this folder: they may be cached forever. */
const HASHED_ASSETS_PREFIX = "/assets/";

/** The command that builds the assets (package.json's script), for the 503 page and the platform's log. */
export const CONSOLE_BUILD_COMMAND = "npm run console:build";

/** Headers of a connection, not of a message (RFC 9110 7.6.1): never forwarded by a proxy. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

const EVENTS_API_PATHS = EVENTS_API_GATEWAY_PATHS.map((p) => new RegExp(p));

/** The services behind the console's origin, as the gateway routes to them. */
export interface ConsoleUpstreams {
  /** Base URL of the provisioning service (`http://127.0.0.1:<port>`). */
  readonly provisioning: string;
  /** Base URL of the events API. */
  readonly eventsApi: string;
}

export interface ConsoleServerOptions {
  /** The built assets. @default CONSOLE_DIST_DIR under the repository root */
  readonly distDir?: string;
  /** What {@link CONSOLE_RUNTIME_CONFIG_PATH} answers (checked with `parseConsoleRuntimeConfig` at start). */
  readonly runtimeConfig: ConsoleRuntimeConfig;
  readonly upstreams: ConsoleUpstreams;
  /** @default "127.0.0.1" */
  readonly host?: string;
  /** @default 0 (any free port) */
  readonly port?: number;
}

export interface RunningConsoleServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  stop(): Promise<void>;
}

/** Which upstream serves `path`, or undefined when it is not an API path. */
export function upstreamOf(path: string): keyof ConsoleUpstreams | undefined {
  if (path === JWKS_PATH) return "provisioning";
  if (!path.startsWith("/v1/")) return undefined;
  return EVENTS_API_PATHS.some((p) => p.test(path)) ? "eventsApi" : "provisioning";
}

const UPSTREAM_NAMES: Readonly<Record<keyof ConsoleUpstreams, string>> = { provisioning: "the provisioning service", eventsApi: "the events API" };

/** The repository's default assets folder. */
export function defaultDistDir(): string {
  return fileURLToPath(new URL(`../${CONSOLE_DIST_DIR}`, import.meta.url));
}

export async function startConsoleServer(o: ConsoleServerOptions): Promise<RunningConsoleServer> {
  const runtimeConfig = parseConsoleRuntimeConfig(o.runtimeConfig);
  for (const [name, url] of Object.entries(o.upstreams)) {
    if (!/^http:\/\/[^/]+$/.test(url)) throw new Error(`startConsoleServer: upstreams.${name} = ${JSON.stringify(url)} is not an http://host:port base URL. Fix: pass the service's base URL without a path`);
  }
  const distDir = resolve(o.distDir ?? defaultDistDir());
  const assetHeaders = { "Content-Security-Policy": consoleContentSecurityPolicy(runtimeConfig.issuer), ...CONSOLE_SECURITY_HEADERS };
  const configBody = JSON.stringify(runtimeConfig);

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://console.invalid");
    const upstream = upstreamOf(url.pathname);
    if (upstream) return proxy(req, res, upstream, o.upstreams[upstream], url);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { ...assetHeaders, allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }).end("method not allowed: the console's assets are read with GET\n");
      return;
    }
    if (url.pathname === CONSOLE_RUNTIME_CONFIG_PATH) {
      res.writeHead(200, { ...assetHeaders, "content-type": CONTENT_TYPES[".json"], "cache-control": "no-store", "content-length": Buffer.byteLength(configBody) });
      res.end(req.method === "HEAD" ? undefined : configBody);
      return;
    }
    serveAsset(req, res, distDir, url.pathname, assetHeaders);
  });
  // Requests stream: no whole-request timeout beyond Node's defaults for headers.
  server.requestTimeout = 0;
  await new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, o.host ?? "127.0.0.1", () => resolveListen());
  });
  const port = (server.address() as AddressInfo).port;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    stop() {
      stopped ??= new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}

/** A file of `distDir` for `pathname`, `index.html` for an extension-less unknown path, else 404; 503 when nothing is built. */
function serveAsset(req: IncomingMessage, res: ServerResponse, distDir: string, pathname: string, headers: Readonly<Record<string, string>>): void {
  const index = join(distDir, "index.html");
  if (!isFile(index)) {
    const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>console not built</title></head><body><h1>console not built: run ${CONSOLE_BUILD_COMMAND}</h1><p>No ${CONSOLE_DIST_DIR}/index.html yet. Build the console's assets (<code>${CONSOLE_BUILD_COMMAND}</code>) and reload this page; the API under /v1/ works meanwhile.</p></body></html>\n`;
    res.writeHead(503, { ...headers, "content-type": CONTENT_TYPES[".html"], "cache-control": "no-store", "retry-after": "10" });
    res.end(req.method === "HEAD" ? undefined : page);
    return;
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    res.writeHead(400, { ...headers, "content-type": "text/plain; charset=utf-8" }).end("bad request: the path is not valid percent-encoding\n");
    return;
  }
  // Inside distDir only: `..` segments resolve above it and are refused as not found.
  const candidate = resolve(distDir, `.${decoded}`);
  const inside = candidate === distDir || candidate.startsWith(distDir + sep);
  let file: string | undefined;
  let stats: Stats | undefined;
  if (inside && !decoded.includes("\0")) {
    const direct = statOf(candidate);
    if (direct?.isFile()) [file, stats] = [candidate, direct];
    else if (direct?.isDirectory() && isFile(join(candidate, "index.html"))) [file, stats] = [join(candidate, "index.html"), statOf(join(candidate, "index.html"))];
  }
  if (!file && inside && extname(decoded) === "") [file, stats] = [index, statOf(index)];
  if (!file || !stats) {
    res.writeHead(404, { ...headers, "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }).end(`not found: ${pathname}\n`);
    return;
  }
  const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
  const cache = pathname.startsWith(HASHED_ASSETS_PREFIX) && file !== index ? "public, max-age=31536000, immutable" : "no-cache";
  res.writeHead(200, { ...headers, "content-type": type, "content-length": stats.size, "cache-control": cache, "last-modified": stats.mtime.toUTCString() });
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  pipeline(createReadStream(file), res, () => undefined);
}

function statOf(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function isFile(path: string): boolean {
  return statOf(path)?.isFile() ?? false;
}

/** The request's headers for the upstream: hop-by-hop ones dropped (and those `Connection` names), `X-Forwarded-*` added. */
function forwardHeaders(req: IncomingMessage): IncomingHttpHeaders {
  const named = new Set(String(req.headers.connection ?? "").split(",").map((h) => h.trim().toLowerCase()).filter(Boolean));
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (!HOP_BY_HOP.has(name) && !named.has(name) && name !== "host") out[name] = value;
  }
  const client = req.socket.remoteAddress ?? "";
  out["x-forwarded-for"] = req.headers["x-forwarded-for"] ? `${String(req.headers["x-forwarded-for"])}, ${client}` : client;
  out["x-forwarded-proto"] = "http";
  out["x-forwarded-host"] = req.headers.host ?? "";
  return out;
}

/** Streams `req` to `base` and the answer back; 502 naming the upstream when it cannot be reached. */
function proxy(req: IncomingMessage, res: ServerResponse, name: keyof ConsoleUpstreams, base: string, url: URL): void {
  const target = new URL(`${url.pathname}${url.search}`, base);
  const upstream = httpRequest(target, { method: req.method, headers: forwardHeaders(req) }, (answer) => {
    const headers: Record<string, string | string[]> = {};
    for (const [header, value] of Object.entries(answer.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(header)) headers[header] = value;
    }
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, headers);
    pipeline(answer, res, () => undefined);
  });
  upstream.on("error", (error) => {
    if (res.headersSent || res.destroyed) {
      res.destroy(error);
      return;
    }
    const body = JSON.stringify({ error: { code: "bad_gateway", message: `${UPSTREAM_NAMES[name]} (${base}) did not answer: ${error.message}. Fix: check that it is running (npm run platform starts it)`, upstream: name } });
    res.writeHead(502, { "content-type": CONTENT_TYPES[".json"], "cache-control": "no-store", "content-length": Buffer.byteLength(body) }).end(body);
  });
  // The client going away ends the upstream request too.
  res.on("close", () => {
    if (!res.writableFinished) upstream.destroy();
  });
  pipeline(req, upstream, () => undefined);
}

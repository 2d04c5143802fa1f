/**
 * The web console's contract with what serves it (dependency-free: the console, the local
 * platform's static server and the console's construct all import it; nothing here imports them).
 *
 * The console is static assets (`vite build` into {@link CONSOLE_DIST_DIR}) served on the API's
 * own origin: the same host answers the assets, the APIs under `/v1/` and the key set, so the
 * browser never makes a cross-origin API call (no CORS on the services) and the content security
 * policy admits exactly two origins, its own and the identity provider's.
 *
 * What differs per environment is not built into the assets: the browser reads
 * {@link CONSOLE_RUNTIME_CONFIG_PATH} at start ({@link ConsoleRuntimeConfig}), which the local
 * platform answers from its own ports and the construct writes beside the assets.
 */

/** Where `vite build` writes the assets, relative to the repository root. */
export const CONSOLE_DIST_DIR = "console/dist";

/** The runtime configuration the console fetches at start (same origin, no credentials). */
export const CONSOLE_RUNTIME_CONFIG_PATH = "/config.json";

/** What {@link CONSOLE_RUNTIME_CONFIG_PATH} holds. */
export interface ConsoleRuntimeConfig {
  /** The realm's issuer URL (OIDC discovery at `<issuer>/.well-known/openid-configuration`). */
  readonly issuer: string;
  /** The realm's public PKCE client of the web app (services/keycloak-realm `WEB_CLIENT_ID`). */
  readonly clientId: string;
  /** The environment's name, shown in the header (dev, staging, prod, local). */
  readonly environment: string;
  /**
   * Where an agent connects: the NATS servers put in the downloaded SDK snippet when the
   * credentials answer names none.
   */
  readonly natsServers: readonly string[];
}

/** Checks a parsed runtime configuration; throws naming the field and the fix. */
export function parseConsoleRuntimeConfig(value: unknown): ConsoleRuntimeConfig {
  const where = CONSOLE_RUNTIME_CONFIG_PATH;
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error(`${where}: is not a JSON object. Fix: serve {"issuer","clientId","environment","natsServers"}`);
  const v = value as Record<string, unknown>;
  const url = (field: string): string => {
    const raw = v[field];
    if (typeof raw !== "string") throw new Error(`${where}: ${field} is missing. Fix: set it to the realm's issuer URL`);
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new Error(`${where}: ${field} = ${JSON.stringify(raw)} is not a URL. Fix: set it to the realm's issuer URL, e.g. https://auth.example.com/realms/enchanted`);
    }
    if (parsed.protocol !== "https:" && !(parsed.protocol === "http:" && isLoopbackHost(parsed.hostname))) {
      throw new Error(`${where}: ${field} = ${JSON.stringify(raw)} is not https. Fix: use https (plain http only on a loopback address, for the local platform)`);
    }
    return raw.replace(/\/+$/, "");
  };
  const text = (field: string): string => {
    const raw = v[field];
    if (typeof raw !== "string" || raw.length === 0 || raw.length > 128) throw new Error(`${where}: ${field} is missing or not a string of 1-128 characters. Fix: set it`);
    return raw;
  };
  const servers = v["natsServers"];
  if (!Array.isArray(servers) || servers.some((s) => typeof s !== "string" || !/^(nats|tls|wss?):\/\/[^\s]+$/.test(s))) {
    throw new Error(`${where}: natsServers is not a list of nats://, tls:// or wss:// URLs. Fix: list the agents' NATS endpoints`);
  }
  return { issuer: url("issuer"), clientId: text("clientId"), environment: text("environment"), natsServers: servers as string[] };
}

/** 127.0.0.0/8, ::1 and localhost: where plain http is acceptable (the local platform). */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || hostname === "::1" || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/**
 * The console's content security policy: scripts, styles, images and fonts only from its own
 * origin (no inline script, no eval), API calls to its own origin and the identity provider's
 * (token exchange, discovery, JWKS), no frames of it anywhere, forms only to the identity provider.
 * `style-src 'unsafe-inline'`: the component library sets style attributes at run time (CSS
 * variables on elements); no script is admitted inline.
 */
export function consoleContentSecurityPolicy(identityOrigin: string): string {
  const idp = new URL(identityOrigin).origin;
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self' ${idp}`,
    `form-action 'self' ${idp}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
    "manifest-src 'self'",
  ].join("; ");
}

/** The other headers every console answer carries. */
export const CONSOLE_SECURITY_HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
} as const;

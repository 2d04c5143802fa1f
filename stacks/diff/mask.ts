/**
 * Secret masking. The diff shows old and new values of every changed property, so anything that
 * may be secret material is replaced before it enters the report:
 * - by name: a property whose key (or an ancestor's key) names a password, secret, token, seed,
 *   private key, credentials, API key or TLS key, unless the key only refers to one
 *   (`secretName`, `kms_key_id`, `token_types`, `secretKeyRef` under a non-secret key, ...);
 * - by shape, anywhere in any string: NATS nkey seeds, PEM private keys, JWTs, passwords in URLs,
 *   `password: x` / `token = x` assignments in config text, SQL `IDENTIFIED BY '...'`.
 */

export const MASK = "«masked»";

const SECRET_WORDS = new Set([
  "password", "passwd", "passphrase", "pwd", "pass", "secret", "secrets", "token", "tokens", "seed", "seeds",
  "creds", "credential", "credentials", "privatekey", "apikey", "nkey", "nkeys", "bearer",
]);
const SECRET_PAIRS: readonly (readonly [string, string])[] = [
  ["private", "key"], ["api", "key"], ["auth", "token"], ["access", "key"], ["client", "key"], ["tls", "key"], ["signing", "seed"],
];
/** Last words that make a key a reference to a secret, or metadata about it, rather than the secret. */
const REFERENCE_WORDS = new Set([
  "name", "names", "ref", "refs", "arn", "arns", "id", "ids", "type", "types", "prefix", "path", "paths", "claim",
  "header", "kind", "description", "enabled", "count", "length", "version", "ttl", "rotation", "days", "store",
  "manager", "mount", "file", "dir", "key" /* handled by pairs */, "selector", "template", "policy", "provider",
  "lifetime", "expiry", "expiration", "url", "endpoint", "format", "algorithm", "algorithms", "mode", "source", "sources",
]);

/** Splits a key into lower-case words: `tlsPrivateKey` → tls, private, key; `auth_token` → auth, token. */
export function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}

/** True when a property of this name holds secret material (not just refers to it). */
export function isSecretKey(key: string): boolean {
  const words = keyWords(key);
  if (words.length === 0) return false;
  // File names of key material: tls.key, ca.key, key.pem, id_rsa.
  if (/(^|[./_-])(tls|ca|client|server|private|priv)\.key$/i.test(key) || /^key\.pem$/i.test(key) || /^id_(rsa|ed25519|ecdsa)$/i.test(key)) return true;
  let secret = words.some((w) => SECRET_WORDS.has(w));
  for (let i = 0; i + 1 < words.length && !secret; i++) {
    if (SECRET_PAIRS.some(([a, b]) => words[i] === a && words[i + 1] === b)) secret = true;
  }
  if (!secret) return false;
  const last = words[words.length - 1] as string;
  if (last === "key") return true; // a pair ending in key: private_key, api_key, tls key
  return !REFERENCE_WORDS.has(last);
}

const VALUE_PATTERNS: readonly (readonly [RegExp, string | ((...m: string[]) => string)])[] = [
  [/-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY-----|$)/g, "«masked private key»"],
  // NATS nkey seeds: "S" + key type + base32 (not a run inside a longer public key).
  [/(?<![A-Z2-7])S[A-Z][A-Z2-7]{50,}/g, "«masked nkey seed»"],
  [/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, "«masked JWT»"],
  [/([a-z][a-z0-9+.-]*:\/\/[^\s:@/]+:)([^\s@/]+)@/gi, (_m, user: string) => `${user}${MASK}@`],
  [/\b(IDENTIFIED\s+(?:WITH\s+\w+\s+)?BY|PASSWORD)\s+('[^']*'|"[^"]*")/gi, (_m, kw: string) => `${kw} '${MASK}'`],
];

/** `password: x`, `"client_secret": "x"`, `token = x` inside config text (YAML, JSON, HOCON, nats.conf, env files). */
const ASSIGNMENT = /(["']?)([A-Za-z0-9_.-]*[A-Za-z0-9])\1(\s*[:=]\s*)("(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s,;}\]\n]+)/g;

/** Masks secret-shaped substrings of a string. */
export function maskText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of VALUE_PATTERNS) {
    out = out.replace(pattern, replacement as (substring: string, ...args: string[]) => string);
  }
  out = out.replace(ASSIGNMENT, (whole, quote: string, key: string, sep: string, value: string) => {
    if (!isSecretKey(key) || value.startsWith("«") || value.startsWith('"«') || /^(\{|\[|true|false|null)$/.test(value)) return whole;
    return `${quote}${key}${quote}${sep}${value.startsWith('"') ? `"${MASK}"` : MASK}`;
  });
  return out;
}

/**
 * A deep copy of `value` with secret material masked: properties with secret names become the
 * mask, strings are masked by shape, and strings holding a JSON object are masked inside.
 */
export function maskValue(value: unknown, key?: string): unknown {
  if (key !== undefined && isSecretKey(key)) return MASK;
  if (typeof value === "string") {
    const parsed = parseJsonObject(value);
    if (parsed !== undefined) return JSON.stringify(maskValue(parsed));
    return maskText(value);
  }
  if (Array.isArray(value)) return value.map((v) => maskValue(v));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = maskValue(v, k);
    return out;
  }
  return value;
}

/** The object or array a string holds as JSON, or undefined. */
export function parseJsonObject(text: string): object | undefined {
  const t = text.trimStart();
  if (!(t.startsWith("{") || t.startsWith("["))) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed && typeof parsed === "object" ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The realm Job's program: applies the realm file to Keycloak with {@link applyRealm}, the same
 * code the tests run against a real Keycloak. Production runs it as `node dist/realm-apply.js` in
 * the provisioning image (constructs/keycloak/realm-import.ts); locally:
 * `KEYCLOAK_URL=… KEYCLOAK_CLIENTID=… KEYCLOAK_CLIENTSECRET=… REALM_FILE=realm.json node --import tsx services/keycloak-realm/apply-main.ts`.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `KEYCLOAK_URL` | (required) | Keycloak's base URL |
 * | `KEYCLOAK_LOGINREALM` | `master` | the realm the admin client signs in to |
 * | `KEYCLOAK_CLIENTID`, `KEYCLOAK_CLIENTSECRET` | (required) | a client-credentials admin client |
 * | `REALM_FILE` | (required) | the realm JSON (`realmDocument`) |
 * | `KEYCLOAK_AVAILABILITY_TIMEOUT_SECONDS` | `300` | how long to wait for Keycloak to answer |
 * | the realm's `$(env:NAME)` variables | (required when referenced) | substituted into the realm |
 *
 * Exit codes: 0 applied, 1 a refusal or an error (the message names it), 2 a bad variable.
 */
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { envInteger, envText, type Env, type EnvFail } from "../runtime/env.js";
import { applyRealm } from "./apply.js";
import { REALM_APPLY_ENV as E } from "./names.js";
import type { RealmRepresentation } from "./realm.js";

const DEFAULT_AVAILABILITY_TIMEOUT_SECONDS = 300;
const POLL_MS = 2_000;

/** A variable the program cannot run with. */
export class RealmApplyConfigError extends Error {
  override readonly name = "RealmApplyConfigError";
  constructor(variable: string, problem: string, fix: string) {
    super(`${variable} ${problem}. Fix: ${fix}.`);
  }
}

function required(env: Env, name: string, fix: string): string {
  const v = envText(env, name);
  if (v === undefined) throw new RealmApplyConfigError(name, "is not set", fix);
  return v;
}

const fail: EnvFail = (variable, value, problem, fix) => {
  throw new RealmApplyConfigError(variable, `= ${JSON.stringify(value)} ${problem}`, fix);
};

/** Waits until the login realm's discovery document answers, at most `timeoutMs`. */
async function waitForKeycloak(url: string, loginRealm: string, timeoutMs: number, log: (line: string) => void): Promise<void> {
  const discovery = `${url}/realms/${encodeURIComponent(loginRealm)}/.well-known/openid-configuration`;
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const res = await fetch(discovery, { signal: AbortSignal.timeout(POLL_MS * 2) });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new Error(`Keycloak at ${url} did not answer ${discovery} within ${timeoutMs / 1000} s (last: ${last}). Fix: check that Keycloak runs and that this pod may reach it.`);
    log(`waiting for Keycloak (${last})`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Reads the environment, waits for Keycloak, applies the realm; returns the exit code. */
export async function runRealmApply(env: Env = process.env, log: (line: string) => void = (l) => console.log(l)): Promise<number> {
  let url: string;
  let file: string;
  let clientId: string;
  let clientSecret: string;
  let timeoutSeconds: number;
  try {
    url = required(env, E.url, "set Keycloak's base URL, e.g. http://keycloak-http.platform.svc.cluster.local").replace(/\/+$/, "");
    if (!/^https?:\/\/[^\s]+$/.test(url)) throw new RealmApplyConfigError(E.url, `= ${JSON.stringify(url)} is not an http(s) URL`, "use http(s)://host[:port]");
    clientId = required(env, E.clientId, "name the admin client (client credentials) in the login realm");
    clientSecret = required(env, E.clientSecret, "give the admin client's secret");
    file = required(env, E.file, "point it at the realm JSON");
    timeoutSeconds = envInteger(env, E.availabilityTimeoutSeconds, DEFAULT_AVAILABILITY_TIMEOUT_SECONDS, 0, 3_600, fail);
  } catch (error) {
    log(`realm apply: ${(error as Error).message}`);
    return 2;
  }
  const loginRealm = envText(env, E.loginRealm) ?? "master";
  try {
    const realm = JSON.parse(readFileSync(file, "utf8")) as RealmRepresentation;
    await waitForKeycloak(url, loginRealm, timeoutSeconds * 1000, log);
    const report = await applyRealm(realm, { url, loginRealm, clientId, clientSecret, variables: env, log });
    log(`realm apply: done (${report.realmCreated ? "created" : "updated"}, ${report.writes} writes)`);
    return 0;
  } catch (error) {
    log(`realm apply: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runRealmApply().then((code) => {
    process.exitCode = code;
  });
}

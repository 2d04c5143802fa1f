/**
 * Durable answers (issue 14 item 5): an idempotent replay answers only with what is committed and
 * on disk. The service runs as a child process on the real LMDB store; it is SIGKILLed 20 times,
 * each time as soon as a replay of a key of the running round has been answered (the other
 * creates and replays of the round are in flight: written, being committed, or not yet read), and
 * restarted on the same store. Afterwards every tenant id ever answered with 2xx exists, and no
 * Idempotency-Key ever mapped to two ids. Counts only; no timing is asserted.
 *
 * The same experiment with figures: `npm run bench:provision-crash`.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { USER_LIMITS } from "../../config/tiers.js";
import { killDuringReplays } from "../support/provisioning-process.js";
import { createRegisteredUser, issuerOf, KEYCLOAK_WAIT_MS, keycloakServer, AdminClient, UserSession, type KeycloakTestServer } from "../support/keycloak.js";

const ROUNDS = 20;
const KEYS_PER_ROUND = 16;
let keycloak: KeycloakTestServer;
let dir: string;

beforeAll(async () => {
  keycloak = await keycloakServer();
  dir = mkdtempSync(join(tmpdir(), "provisioning-durable-"));
  writeFileSync(join(dir, "kek"), randomBytes(32).toString("base64"), { mode: 0o600 });
}, KEYCLOAK_WAIT_MS);
afterAll(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("durable answers across SIGKILL", () => {
  it(`answers no idempotent replay with a write a crash can undo (${ROUNDS} SIGKILLs during replays)`, async () => {
    const admin = AdminClient.bootstrap(keycloak);
    // Enough users that none reaches the per-user tenant cap (USER_LIMITS) over every round.
    const users = await Promise.all(Array.from({ length: Math.ceil((ROUNDS * KEYS_PER_ROUND) / (USER_LIMITS.activeTenants - 1)) }, async () => UserSession.signIn(keycloak, await createRegisteredUser(admin))));
    const stats = await killDuringReplays({
      env: {
        PROVISIONING_LMDB_PATH: join(dir, "store"),
        PROVISIONING_OIDC_ISSUER: issuerOf(keycloak),
        PROVISIONING_TOKEN_ISSUER: "https://api.enchanted.test",
        PROVISIONING_KEYCLOAK: "off",
        PROVISIONING_LOCAL_KEK_FILE: join(dir, "kek"),
      },
      users,
      rounds: ROUNDS,
      keysPerRound: KEYS_PER_ROUND,
      copies: 4,
    });
    // The experiment did what it says: 20 kills, replays answered, requests cut off in flight.
    expect(stats.rounds).toBe(ROUNDS);
    expect(stats.replayedAnswers).toBeGreaterThan(0);
    expect(stats.interrupted, "no request was in flight at any kill: the kills did not land during replays").toBeGreaterThan(0);
    expect(stats.otherStatuses).toEqual({});
    // What it proves.
    expect(stats.answeredIds).toBeGreaterThan(0);
    expect({ lostIds: stats.lostIds, keysWithTwoIds: stats.keysWithTwoIds }).toEqual({ lostIds: 0, keysWithTwoIds: 0 });
  }, 300_000);
});

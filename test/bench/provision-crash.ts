/**
 * `npm run bench:provision-crash`: the crash experiment of issue 14 item 5 with figures. The
 * provisioning service (child process, LMDB store) is SIGKILLed ROUNDS times (default 40), each
 * time as soon as a replay of a key of the running round has been answered, with KEYS new
 * Idempotency-Keys per round (default 16) sent COPIES times each at once (default 4); then one
 * restart checks every id ever answered with 2xx. Prints one line per round; the last line is one
 * JSON object: {"rounds", "answered", "replayed", "interrupted", "answered_ids", "lost_ids",
 * "keys_with_two_ids"}. The users are a real Keycloak's (started here, realm applied as production
 * applies it), signed in through the login form; the service verifies their tokens against the
 * realm's JWKS.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { USER_LIMITS } from "../../config/tiers.js";
import { killDuringReplays } from "../support/provisioning-process.js";
import { AdminClient, createRegisteredUser, issuerOf, UserSession } from "../support/keycloak-client.js";
import { launchKeycloak } from "../support/keycloak-process.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);
const KEYS = Number(process.env.BENCH_KEYS ?? 16);
const COPIES = Number(process.env.BENCH_COPIES ?? 4);

async function main(): Promise<void> {
  const kc = await launchKeycloak();
  const dir = mkdtempSync(join(tmpdir(), "bench-provision-crash-"));
  writeFileSync(join(dir, "kek"), randomBytes(32).toString("base64"), { mode: 0o600 });
  try {
    const { startMs, applyMs } = await kc.ready;
    console.log(`keycloak ${kc.server.version} ready after ${(startMs / 1000).toFixed(1)} s, realm applied in ${(applyMs / 1000).toFixed(1)} s`);
    const admin = AdminClient.bootstrap(kc.server);
    // Enough users that none reaches the per-user tenant cap (USER_LIMITS) over every round.
    const users = await Promise.all(Array.from({ length: Math.ceil((ROUNDS * KEYS) / (USER_LIMITS.activeTenants - 1)) }, async () => UserSession.signIn(kc.server, await createRegisteredUser(admin))));
    const stats = await killDuringReplays({
      env: { PROVISIONING_LMDB_PATH: join(dir, "store"), PROVISIONING_OIDC_ISSUER: issuerOf(kc.server), PROVISIONING_TOKEN_ISSUER: "https://api.enchanted.test", PROVISIONING_KEYCLOAK: "off", PROVISIONING_LOCAL_KEK_FILE: join(dir, "kek") },
      users,
      rounds: ROUNDS,
      keysPerRound: KEYS,
      copies: COPIES,
      onRound: (round, s) => console.log(`round ${round}: answered ${s.answered} (replayed ${s.replayedAnswers}), interrupted ${s.interrupted}`),
    });
    console.log(`after ${stats.rounds} SIGKILLs: ${stats.answeredIds} ids answered with 2xx, ${stats.lostIds} gone after restart, ${stats.keysWithTwoIds} keys answered with two ids; other statuses ${JSON.stringify(stats.otherStatuses)}`);
    console.log(
      JSON.stringify({
        rounds: stats.rounds,
        answered: stats.answered,
        replayed: stats.replayedAnswers,
        interrupted: stats.interrupted,
        answered_ids: stats.answeredIds,
        lost_ids: stats.lostIds,
        keys_with_two_ids: stats.keysWithTwoIds,
      }),
    );
  } finally {
    await kc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

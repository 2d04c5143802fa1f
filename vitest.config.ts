import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup.ts"],
    // One real Keycloak per run (started in the background; its test files wait for it).
    globalSetup: ["test/support/keycloak-global-setup.ts"],
    // Synthesizing whole environments is CPU-bound; the default per-test 5 s is too tight on shared 2-core machines.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Stopping Keycloak (globalSetup's teardown) takes a few seconds.
    teardownTimeout: 30_000,
  },
});

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Synthesizing whole environments is CPU-bound; the default per-test 5 s is too tight on shared 2-core machines.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Stopping Keycloak (globalSetup's teardown) takes a few seconds.
    teardownTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: "platform",
          include: ["test/**/*.test.ts"],
          setupFiles: ["test/setup.ts"],
          // One real Keycloak per run (started in the background; its test files wait for it).
          globalSetup: ["test/support/keycloak-global-setup.ts"],
        },
      },
      {
        // The web console's unit tests: components in a DOM (jsdom), requests to a real local HTTP server.
        extends: true,
        // The root's node_modules also holds React 17 (the CDKTF CLI's ink): the console's packages
        // hoisted there are run through Vite (inlined) so that they get the console's React 19.
        // Its own root: `dedupe` resolves React from console/, not from the repository's root.
        root: "console",
        resolve: { dedupe: ["react", "react-dom"] },
        test: {
          name: "console",
          server: { deps: { inline: [/@tabler\/icons-react/, /react-remove-scroll/, /react-style-singleton/, /use-callback-ref/, /use-sidecar/, /use-sync-external-store/, /@mantine\//, /@floating-ui\//, /recharts/] } },
          include: ["src/**/*.test.{ts,tsx}"],
          environment: "jsdom",
          setupFiles: ["src/test/setup.ts"],
        },
      },
    ],
  },
});

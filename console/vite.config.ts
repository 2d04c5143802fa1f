/**
 * The console's build: static assets into console/dist (contract.ts CONSOLE_DIST_DIR) that hold
 * under the console's CSP: no inline script and no eval. Vite's module-preload polyfill is an
 * inline script, so it is off (every supported browser preloads modules natively).
 *
 * `npm run dev -w console` serves the sources; set CONSOLE_DEV_API to an origin (the local
 * platform's, e.g. http://127.0.0.1:8080) to pass /v1/*, /.well-known/* and /config.json to it, so
 * the browser still sees one origin as in production.
 */
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));
const devApi = process.env["CONSOLE_DEV_API"];

export default defineConfig({
  root: here,
  base: "/",
  plugins: [react()],
  resolve: {
    // The repository root also holds React 17 (the CDKTF CLI's ink); packages hoisted there
    // (@tabler/icons-react, react-remove-scroll, use-sync-external-store) must get the console's React 19.
    dedupe: ["react", "react-dom"],
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // No inline <script>: the CSP's script-src is 'self' only.
    modulePreload: { polyfill: false },
    // Assets are always files (a data: URL script or font would need its own CSP source).
    assetsInlineLimit: 0,
    sourcemap: false,
    target: "es2022",
  },
  server: devApi ? { proxy: { "/v1": devApi, "/.well-known": devApi, "/config.json": devApi } } : {},
});

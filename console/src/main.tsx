/**
 * Start: read the runtime config (`/config.json`, contract.ts), set up sign-in, render. A config
 * that does not parse is shown with its field and fix instead of a blank page.
 */
import "@mantine/core/styles.css";
import "@mantine/charts/styles.css";
import { Alert, Container, MantineProvider } from "@mantine/core";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { CONSOLE_RUNTIME_CONFIG_PATH, parseConsoleRuntimeConfig } from "../contract.js";
import { App } from "./App.js";
import { createAuth } from "./auth.js";
import { theme } from "./theme.js";

async function start(): Promise<void> {
  const root = createRoot(document.getElementById("root") as HTMLElement);
  try {
    const res = await fetch(CONSOLE_RUNTIME_CONFIG_PATH, { credentials: "omit", cache: "no-store" });
    if (!res.ok) throw new Error(`${CONSOLE_RUNTIME_CONFIG_PATH} answered ${res.status}. Fix: serve the console's runtime configuration beside its assets`);
    const config = parseConsoleRuntimeConfig(await res.json());
    const auth = createAuth(config, window.location.origin);
    root.render(
      <StrictMode>
        <MantineProvider theme={theme} defaultColorScheme="auto">
          <App config={config} auth={auth} />
        </MantineProvider>
      </StrictMode>,
    );
  } catch (error) {
    root.render(
      <MantineProvider theme={theme}>
        <Container size="sm" mt="xl">
          <Alert color="red" title="The console cannot start" role="alert">
            {(error as Error).message}
          </Alert>
        </Container>
      </MantineProvider>,
    );
  }
}

void start();

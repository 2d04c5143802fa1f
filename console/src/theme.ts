import { createTheme } from "@mantine/core";

/** Mantine's defaults, with a focus ring on every keyboard-focused control (never hidden). */
export const theme = createTheme({
  primaryColor: "indigo",
  focusRing: "auto",
  defaultRadius: "sm",
});

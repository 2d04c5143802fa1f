/** An API error as the service explained it: the message, the field at fault and the fix. Never swallowed. */
import { Alert, Code, Text } from "@mantine/core";
import { IconAlertTriangle } from "./icons.js";
import { ApiError } from "../api.js";

export function ErrorAlert({ error, title = "The request failed" }: { error: unknown; title?: string }) {
  if (error === null || error === undefined) return null;
  const api = error instanceof ApiError ? error : null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <Alert color="red" variant="light" icon={<IconAlertTriangle aria-hidden />} title={title} role="alert">
      <Text size="sm">{message}</Text>
      {api?.field && (
        <Text size="sm" mt={4}>
          Field: <Code>{api.field}</Code>
        </Text>
      )}
      {api?.fix && api.fix !== message && (
        <Text size="sm" mt={4}>
          Fix: {api.fix}
        </Text>
      )}
      {api && api.status > 0 && (
        <Text size="xs" c="dimmed" mt={4}>
          HTTP {api.status} · {api.code}
        </Text>
      )}
    </Alert>
  );
}

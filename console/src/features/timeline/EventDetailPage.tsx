/** One event (`GET /v1/events/{eventId}`): its columns and its payload, opened by the API when it can. */
import type { ReactNode } from "react";
import { Alert, Anchor, Badge, Card, Code, Group, SimpleGrid, Skeleton, Stack, Text, Title } from "@mantine/core";
import type { EventDetail } from "../../api-types.js";
import { Link } from "../../router.js";
import { useTenant } from "../../session.js";
import { ErrorAlert } from "../../ui/ErrorAlert.js";
import { when } from "../../ui/format.js";
import { useAsync } from "../../ui/useAsync.js";

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text size="sm" style={{ wordBreak: "break-all" }}>
        {children}
      </Text>
    </div>
  );
}

const REASON_TITLE: Record<NonNullable<EventDetail["reason"]>, string> = {
  key_destroyed: "Payload unreadable: the data key was destroyed",
  key_unavailable: "Payload not available right now",
  undecryptable: "Payload does not open",
  not_stored: "Payload not stored",
};

export function EventDetailPage({ eventId }: { eventId: string }) {
  const { session, tenant } = useTenant();
  const ev = useAsync(() => session.api.event(tenant.id, eventId).then((a) => a.event), [session.api, tenant.id, eventId]);
  const e = ev.data;
  return (
    <Stack>
      <Anchor component={Link} href={`/t/${encodeURIComponent(tenant.id)}/timeline`} size="sm">
        ← Timeline
      </Anchor>
      <Title order={2}>Event {eventId}</Title>
      <ErrorAlert error={ev.error} title="The event could not be loaded" />
      {ev.loading && !e ? (
        <Skeleton height={200} />
      ) : (
        e && (
          <>
            <Card withBorder>
              <Group mb="sm">
                <Badge variant="light">{e.eventType}</Badge>
                {e.encrypted && <Badge color="grape">encrypted</Badge>}
                {e.decrypted === true && <Badge color="teal">decrypted by the API</Badge>}
              </Group>
              <SimpleGrid cols={{ base: 1, sm: 2, md: 3 }}>
                <Field label="Time">{when(e.timestamp)}</Field>
                <Field label="Ingested">{when(e.ingestedAt)}</Field>
                <Field label="Agent">
                  {e.agentId}
                  {e.agentRole ? ` (${e.agentRole})` : ""}
                </Field>
                <Field label="Project">{e.projectId}</Field>
                <Field label="User">{e.userId}</Field>
                {e.targetResource !== null && <Field label="Resource">{e.targetResource}</Field>}
                {e.stateHash !== null && <Field label="State hash">{e.stateHash || "(deleted)"}</Field>}
                {e.confidenceScore !== null && <Field label="Confidence">{e.confidenceScore}</Field>}
                {e.traceId && <Field label="Trace">{e.traceId}</Field>}
                {e.spanId && <Field label="Span">{e.spanId}</Field>}
              </SimpleGrid>
            </Card>
            {e.reason && (
              <Alert color={e.reason === "key_destroyed" ? "red" : "yellow"} title={REASON_TITLE[e.reason]}>
                <Text size="sm">{e.detail}</Text>
                <Text size="xs" c="dimmed" mt={4}>
                  reason: <Code>{e.reason}</Code>
                </Text>
              </Alert>
            )}
            {e.payload && (
              <Card withBorder>
                <Title order={3} size="h5" mb="xs">
                  Payload
                </Title>
                <Code block aria-label="Payload">
                  {JSON.stringify(e.payload, null, 2)}
                </Code>
              </Card>
            )}
          </>
        )
      )}
    </Stack>
  );
}

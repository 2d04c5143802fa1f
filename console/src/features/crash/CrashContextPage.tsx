/** An agent's last decisions before a moment (`GET /v1/agents/{agentId}/crash-context`): why did it do that? */
import { Button, Card, Group, NumberInput, Skeleton, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useState, type FormEvent } from "react";
import type { CrashContext } from "../../api-types.js";
import { Link } from "../../router.js";
import { useTenant } from "../../session.js";
import { ErrorAlert } from "../../ui/ErrorAlert.js";
import { localInputToRfc3339, when } from "../../ui/format.js";
import { ResultsTable } from "../../ui/ResultsTable.js";

export function CrashContextPage() {
  const { session, tenant } = useTenant();
  const [agentId, setAgentId] = useState("");
  const [before, setBefore] = useState("");
  const [limit, setLimit] = useState<number | string>(10);
  const [answer, setAnswer] = useState<CrashContext | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const b = localInputToRfc3339(before);
      setAnswer(await session.api.crashContext(tenant.id, agentId.trim(), { ...(b ? { before: b } : {}), ...(typeof limit === "number" ? { limit } : {}) }));
    } catch (err) {
      setAnswer(null);
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Stack>
      <Title order={2}>Crash context</Title>
      <Card withBorder maw={760}>
        <form onSubmit={submit} aria-label="Crash context">
          <Group align="flex-end">
            <TextInput label="Agent ID" required value={agentId} onChange={(e) => setAgentId(e.currentTarget.value)} style={{ flex: 1, minWidth: 180 }} />
            <TextInput label="Before" type="datetime-local" description="empty: now" value={before} onChange={(e) => setBefore(e.currentTarget.value)} />
            <NumberInput label="Decisions" min={1} max={1000} value={limit} onChange={setLimit} w={110} />
            <Button type="submit" loading={busy} disabled={!agentId.trim()}>
              Show crash context
            </Button>
          </Group>
        </form>
      </Card>
      <ErrorAlert error={error} title="The crash context could not be loaded" />
      {busy && !answer && <Skeleton height={120} />}
      {answer &&
        (answer.decisions.length === 0 ? (
          <Text c="dimmed">
            No decisions of {answer.agentId} before {when(answer.before)}.
          </Text>
        ) : (
          <ResultsTable label="Decisions before the crash" minWidth={640} head={["Time", "Role", "Confidence", "Rationale", "Event"]} striped>
            {answer.decisions.map((d) => (
              <Table.Tr key={d.eventId}>
                <Table.Td>{when(d.timestamp)}</Table.Td>
                <Table.Td>{d.agentRole ?? ""}</Table.Td>
                <Table.Td>{d.confidenceScore.toFixed(2)}</Table.Td>
                <Table.Td>{d.rationale || <Text span c="dimmed" size="sm">(encrypted: open the event)</Text>}</Table.Td>
                <Table.Td>
                  <Link href={`/t/${encodeURIComponent(tenant.id)}/events/${d.eventId}`} style={{ fontFamily: "monospace", fontSize: 12 }}>
                    {d.eventId}
                  </Link>
                </Table.Td>
              </Table.Tr>
            ))}
          </ResultsTable>
        ))}
    </Stack>
  );
}

/** Resources modified again and again in a window (`GET /v1/loops`): agents going round in circles. */
import { Button, Card, Group, NumberInput, Skeleton, Stack, Table, Text, Title } from "@mantine/core";
import { useState, type FormEvent } from "react";
import { useTenant } from "../../session.js";
import { ErrorAlert } from "../../ui/ErrorAlert.js";
import { when } from "../../ui/format.js";
import { useAsync } from "../../ui/useAsync.js";
import { ResultsTable } from "../../ui/ResultsTable.js";

export function LoopsPage() {
  const { session, tenant } = useTenant();
  const [windowMinutes, setWindowMinutes] = useState<number | string>(60);
  const [minModifications, setMinModifications] = useState<number | string>(5);
  const [query, setQuery] = useState({ windowSeconds: 3600, minModifications: 5 });
  const loops = useAsync(() => session.api.loops(tenant.id, query), [session.api, tenant.id, query]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setQuery({ windowSeconds: Math.max(1, Math.round(Number(windowMinutes) * 60)), minModifications: Math.max(0, Math.round(Number(minModifications))) });
  };

  return (
    <Stack>
      <Title order={2}>Loops</Title>
      <Card withBorder maw={640}>
        <form onSubmit={submit} aria-label="Loop filters">
          <Group align="flex-end">
            <NumberInput label="Window (minutes)" min={1} max={525600} value={windowMinutes} onChange={setWindowMinutes} w={160} />
            <NumberInput label="Minimum modifications" min={0} value={minModifications} onChange={setMinModifications} w={190} />
            <Button type="submit">Find loops</Button>
            <Button variant="default" onClick={() => void loops.reload()}>
              Refresh
            </Button>
          </Group>
        </form>
      </Card>
      <ErrorAlert error={loops.error} title="The loops could not be loaded" />
      {loops.loading && !loops.data ? (
        <Skeleton height={120} />
      ) : (
        loops.data &&
        (loops.data.loops.length === 0 ? (
          <Text c="dimmed">
            No resource was modified {loops.data.minModifications} times or more in the {Math.round(loops.data.windowSeconds / 60)} minutes up to {when(loops.data.until)}.
          </Text>
        ) : (
          <ResultsTable label="Loops" minWidth={640} head={["Project", "Resource", "Modifications", "Agents", "First", "Last"]} striped>
            {loops.data.loops.map((l) => (
              <Table.Tr key={`${l.projectId}\u0000${l.resource}`}>
                <Table.Td>{l.projectId}</Table.Td>
                <Table.Td style={{ wordBreak: "break-all" }}>{l.resource}</Table.Td>
                <Table.Td>{l.modifications}</Table.Td>
                <Table.Td>{l.agents.join(", ")}</Table.Td>
                <Table.Td>{when(l.firstModified)}</Table.Td>
                <Table.Td>{when(l.lastModified)}</Table.Td>
              </Table.Tr>
            ))}
          </ResultsTable>
        ))
      )}
    </Stack>
  );
}

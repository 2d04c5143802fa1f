/**
 * A resource's state history (`GET /v1/projects/{p}/state-history`) with "Replay to this state"
 * per state (`POST /v1/projects/{p}/replays` with the resource and the state's hash, member and
 * up). The answer shows the state the API found and the job it filed; the job's own events (the
 * worker's revert, agent {@link REVERT_AGENT_ID}) are one click away on the timeline.
 */
import { Alert, Anchor, Button, Card, Code, Group, Skeleton, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useState, type FormEvent } from "react";
import { ApiError } from "../../api.js";
import type { Replay, StateEntry } from "../../api-types.js";
import { Link } from "../../router.js";
import { can, useTenant } from "../../session.js";
import { ErrorAlert } from "../../ui/ErrorAlert.js";
import { when } from "../../ui/format.js";
import { ResultsTable } from "../../ui/ResultsTable.js";

/** The agent id the worker's `state.revert` handler reports as (services/worker/src/handlers.ts default). */
export const REVERT_AGENT_ID = "state-revert";

/** The timeline filtered to a replay's job: its project, the revert agent, from the job's submission on. */
export function replayTimelineHref(tenantId: string, r: Replay): string {
  const q = new URLSearchParams({ projectId: r.projectId, agentId: REVERT_AGENT_ID, from: r.job.submittedAt });
  return `/t/${encodeURIComponent(tenantId)}/timeline?${q.toString()}`;
}

export function StateHistoryPage() {
  const { session, tenant } = useTenant();
  const { api } = session;
  const mayReplay = can(tenant.role, "jobs.submit");
  const [projectId, setProjectId] = useState("");
  const [resource, setResource] = useState("");
  const [shown, setShown] = useState<{ projectId: string; resource: string } | null>(null);
  const [states, setStates] = useState<StateEntry[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [replay, setReplay] = useState<Replay | null>(null);
  const [replayError, setReplayError] = useState<unknown>(null);

  const load = async (e: FormEvent) => {
    e.preventDefault();
    const q = { projectId: projectId.trim(), resource };
    setBusy("load");
    setError(null);
    setReplay(null);
    setReplayError(null);
    try {
      const h = await api.stateHistory(tenant.id, q.projectId, q.resource);
      setShown(q);
      setStates([...h.states]);
      setCursor(h.nextCursor);
    } catch (err) {
      setStates(null);
      setError(err);
    } finally {
      setBusy(null);
    }
  };

  const older = async () => {
    if (!shown || !cursor) return;
    setBusy("older");
    setError(null);
    try {
      const h = await api.stateHistory(tenant.id, shown.projectId, shown.resource, cursor);
      setStates((s) => [...(s ?? []), ...h.states]);
      setCursor(h.nextCursor);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };

  const replayTo = async (s: StateEntry) => {
    if (!shown) return;
    setBusy(s.eventId);
    setReplay(null);
    setReplayError(null);
    try {
      setReplay((await api.replay(tenant.id, shown.projectId, { resource: shown.resource, stateHash: s.stateHash })).replay);
    } catch (err) {
      setReplayError(err);
    } finally {
      setBusy(null);
    }
  };

  const known = replayError instanceof ApiError && Array.isArray(replayError.details["knownHashes"]) ? (replayError.details["knownHashes"] as { stateHash: string; lastSeen: string }[]) : [];

  return (
    <Stack>
      <Title order={2}>State history</Title>
      <Card withBorder maw={760}>
        <form onSubmit={load} aria-label="State history">
          <Group align="flex-end">
            <TextInput label="Project ID" required value={projectId} onChange={(e) => setProjectId(e.currentTarget.value)} w={200} />
            <TextInput label="Resource" required description="the state changes' target resource" value={resource} onChange={(e) => setResource(e.currentTarget.value)} style={{ flex: 1, minWidth: 200 }} />
            <Button type="submit" loading={busy === "load"} disabled={!projectId.trim() || !resource}>
              Show history
            </Button>
          </Group>
        </form>
      </Card>
      <ErrorAlert error={error} title="The state history could not be loaded" />
      {replay && (
        <Alert color="teal" title={replay.duplicate ? "This replay was already filed" : "Replay filed"} role="status">
          <Text size="sm">
            State <Code>{replay.state.stateHash}</Code> of {when(replay.state.timestamp)} (event {replay.state.eventId}, by {replay.state.agentId}).
          </Text>
          <Text size="sm">
            Job <Code>{replay.job.jobId}</Code> ({replay.job.type}) on lane {replay.lane}, sequence {replay.sequence}.
          </Text>
          <Anchor component={Link} href={replayTimelineHref(tenant.id, replay)} size="sm">
            Show the job's events in the timeline
          </Anchor>
        </Alert>
      )}
      {replayError !== null && (
        <>
          <ErrorAlert error={replayError} title="The replay was refused" />
          {known.length > 0 && (
            <Text size="sm">
              Known states: {known.map((k) => `${k.stateHash.slice(0, 12)}… (${when(k.lastSeen)})`).join(", ")}
            </Text>
          )}
        </>
      )}
      {busy === "load" && !states && <Skeleton height={120} />}
      {states &&
        (states.length === 0 ? (
          <Text c="dimmed">No state changes of this resource.</Text>
        ) : (
          <ResultsTable label="States" minWidth={720} head={["Time", "State hash", "Agent", "User", "Replay"]} striped>
            {states.map((s) => (
              <Table.Tr key={s.eventId}>
                <Table.Td>{when(s.timestamp)}</Table.Td>
                <Table.Td>
                  <Code title={s.stateHash}>{s.deleted ? "(deleted)" : s.stateHash}</Code>
                </Table.Td>
                <Table.Td>{s.agentId}</Table.Td>
                <Table.Td>{s.userId}</Table.Td>
                <Table.Td>
                  {mayReplay && !s.deleted && (
                    <Button size="xs" variant="light" loading={busy === s.eventId} disabled={busy !== null && busy !== s.eventId} onClick={() => void replayTo(s)}>
                      Replay to this state
                    </Button>
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
          </ResultsTable>
        ))}
      {cursor && (
        <Group>
          <Button variant="default" loading={busy === "older"} onClick={() => void older()}>
            Load older states
          </Button>
        </Group>
      )}
    </Stack>
  );
}

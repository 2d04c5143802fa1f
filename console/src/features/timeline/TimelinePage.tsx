/**
 * The tenant's event timeline (`GET /v1/events`, newest first): filters by project, agent, event
 * type and time range; "Load older" passes the previous page's `nextCursor`; "Live" polls the
 * newest page every {@link LIVE_INTERVAL_MS} and adds the events it has not shown yet on top.
 * Filters can come from the address (`?projectId=…&agentId=…&from=…`): a replay links here.
 */
import { Badge, Button, Card, Group, Select, SimpleGrid, Skeleton, Stack, Switch, Table, Text, TextInput, Title } from "@mantine/core";
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { EVENT_TYPES, type EventSummary, type EventType, type TimelineFilters } from "../../api-types.js";
import { Link, useLocation } from "../../router.js";
import { useTenant } from "../../session.js";
import { ErrorAlert } from "../../ui/ErrorAlert.js";
import { localInputToRfc3339, when } from "../../ui/format.js";
import { ResultsTable } from "../../ui/ResultsTable.js";

export const LIVE_INTERVAL_MS = 5_000;

/** An RFC 3339 time as a `datetime-local` value in the viewer's zone. */
function toLocalInput(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

interface FilterForm {
  projectId: string;
  agentId: string;
  eventType: string;
  from: string;
  to: string;
}

function formFromSearch(search: string): FilterForm {
  const q = new URLSearchParams(search);
  const type = q.get("eventType") ?? "";
  return { projectId: q.get("projectId") ?? "", agentId: q.get("agentId") ?? "", eventType: (EVENT_TYPES as readonly string[]).includes(type) ? type : "", from: toLocalInput(q.get("from")), to: toLocalInput(q.get("to")) };
}

function filtersOf(f: FilterForm): TimelineFilters {
  const from = localInputToRfc3339(f.from);
  const to = localInputToRfc3339(f.to);
  return {
    ...(f.projectId.trim() ? { projectId: f.projectId.trim() } : {}),
    ...(f.agentId.trim() ? { agentId: f.agentId.trim() } : {}),
    ...(f.eventType ? { eventType: f.eventType as EventType } : {}),
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
  };
}

const TYPE_COLOR: Record<EventType, string> = { decision: "violet", state_change: "blue", system_signal: "orange" };

export function TimelinePage() {
  const { session, tenant } = useTenant();
  const { api } = session;
  const { search } = useLocation();
  const [form, setForm] = useState<FilterForm>(() => formFromSearch(search));
  const [filters, setFilters] = useState<TimelineFilters>(() => filtersOf(formFromSearch(search)));
  const [events, setEvents] = useState<EventSummary[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [older, setOlder] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [live, setLive] = useState(false);
  // Answers for an earlier tenant or filter set are dropped.
  const generation = useRef(0);

  const loadFirst = useCallback(async () => {
    const mine = ++generation.current;
    setLoading(true);
    setError(null);
    try {
      const page = await api.events(tenant.id, filters);
      if (mine !== generation.current) return;
      setEvents([...page.events]);
      setCursor(page.nextCursor);
    } catch (e) {
      if (mine === generation.current) setError(e);
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, [api, tenant.id, filters]);

  useEffect(() => {
    setEvents(null);
    void loadFirst();
  }, [loadFirst]);

  // Live: the newest page again; events not shown yet go on top (older pages already loaded stay).
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(() => {
      const mine = generation.current;
      api
        .events(tenant.id, filters)
        .then((page) => {
          if (mine !== generation.current) return;
          setError(null);
          setEvents((shown) => {
            const seen = new Set((shown ?? []).map((e) => e.eventId));
            const added = page.events.filter((e) => !seen.has(e.eventId));
            return added.length === 0 ? shown : [...added, ...(shown ?? [])];
          });
        })
        .catch((e: unknown) => {
          if (mine === generation.current) setError(e);
        });
    }, LIVE_INTERVAL_MS);
    return () => clearInterval(timer);
  }, [live, api, tenant.id, filters]);

  const loadOlder = async () => {
    if (!cursor) return;
    const mine = generation.current;
    setOlder(true);
    setError(null);
    try {
      const page = await api.events(tenant.id, filters, { cursor });
      if (mine !== generation.current) return;
      setEvents((shown) => {
        const seen = new Set((shown ?? []).map((e) => e.eventId));
        return [...(shown ?? []), ...page.events.filter((e) => !seen.has(e.eventId))];
      });
      setCursor(page.nextCursor);
    } catch (e) {
      if (mine === generation.current) setError(e);
    } finally {
      setOlder(false);
    }
  };

  const apply = (e: FormEvent) => {
    e.preventDefault();
    setFilters(filtersOf(form));
  };
  const clear = () => {
    const empty = { projectId: "", agentId: "", eventType: "", from: "", to: "" };
    setForm(empty);
    setFilters({});
  };
  const set = (field: keyof FilterForm) => (value: string) => setForm((f) => ({ ...f, [field]: value }));

  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Title order={2}>Timeline</Title>
        <Switch label="Live" checked={live} onChange={(e) => setLive(e.currentTarget.checked)} description={`refresh every ${LIVE_INTERVAL_MS / 1000} s`} />
      </Group>
      <Card withBorder padding="sm">
        <form onSubmit={apply} aria-label="Timeline filters">
          <SimpleGrid cols={{ base: 1, xs: 2, md: 5 }} spacing="sm">
            <TextInput label="Project" value={form.projectId} onChange={(e) => set("projectId")(e.currentTarget.value)} />
            <TextInput label="Agent" value={form.agentId} onChange={(e) => set("agentId")(e.currentTarget.value)} />
            <Select label="Event type" data={[{ value: "", label: "All types" }, ...EVENT_TYPES.map((t) => ({ value: t, label: t }))]} value={form.eventType} onChange={(v) => set("eventType")(v ?? "")} allowDeselect={false} />
            <TextInput label="From" type="datetime-local" value={form.from} onChange={(e) => set("from")(e.currentTarget.value)} />
            <TextInput label="To" type="datetime-local" value={form.to} onChange={(e) => set("to")(e.currentTarget.value)} />
          </SimpleGrid>
          <Group mt="sm">
            <Button type="submit">Apply filters</Button>
            <Button variant="default" onClick={clear}>
              Clear filters
            </Button>
          </Group>
        </form>
      </Card>
      <ErrorAlert error={error} title="The timeline could not be loaded" />
      {loading && events === null ? (
        <Stack gap="xs" aria-busy="true" aria-label="Loading events">
          <Skeleton height={28} />
          <Skeleton height={28} />
          <Skeleton height={28} />
        </Stack>
      ) : events && events.length === 0 ? (
        <Text c="dimmed">No events match these filters.</Text>
      ) : (
        events && (
          <ResultsTable label="Events" minWidth={720} head={["Time", "Type", "Agent", "Project", "Summary", "Event"]} striped highlightOnHover>
            {events.map((e) => (
              <Table.Tr key={e.eventId}>
                <Table.Td title={e.timestamp}>{when(e.timestamp)}</Table.Td>
                <Table.Td>
                  <Badge variant="light" color={TYPE_COLOR[e.eventType]}>
                    {e.eventType}
                  </Badge>
                </Table.Td>
                <Table.Td>
                  {e.agentId}
                  {e.agentRole && (
                    <Text span size="xs" c="dimmed">
                      {" "}
                      ({e.agentRole})
                    </Text>
                  )}
                </Table.Td>
                <Table.Td>{e.projectId}</Table.Td>
                <Table.Td>
                  <Text size="sm" lineClamp={2}>
                    {summaryOf(e)}
                  </Text>
                </Table.Td>
                <Table.Td>
                  <Link href={`/t/${encodeURIComponent(tenant.id)}/events/${e.eventId}`} style={{ fontFamily: "monospace", fontSize: 12 }}>
                    {e.eventId}
                  </Link>
                </Table.Td>
              </Table.Tr>
            ))}
          </ResultsTable>
        )
      )}
      {cursor && (
        <Group>
          <Button variant="default" loading={older} onClick={() => void loadOlder()}>
            Load older
          </Button>
        </Group>
      )}
    </Stack>
  );
}

/** One line about an event from its clear columns (an encrypted payload stays for the detail view). */
export function summaryOf(e: EventSummary): string {
  if (e.eventType === "decision") return e.encrypted ? `decision (confidence ${e.confidenceScore ?? "?"}, encrypted)` : `${e.rationale ?? ""} (confidence ${e.confidenceScore ?? "?"})`;
  if (e.eventType === "state_change") return `${e.targetResource ?? ""} → ${e.stateHash ? e.stateHash.slice(0, 12) : "deleted"}`;
  return e.encrypted ? "signal (encrypted)" : "signal";
}

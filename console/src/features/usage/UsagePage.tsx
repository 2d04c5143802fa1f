/**
 * Usage against the allowance: the events API's counts (events today and this month against the
 * tier's `events.perDay`, events refused over quota or expired) as a chart and as numbers, and the
 * provisioning service's counters (members, pending invitations, credentials minted today).
 */
import { BarChart } from "@mantine/charts";
import { Alert, Box, Card, Group, Progress, SimpleGrid, Skeleton, Stack, Table, Text, Title } from "@mantine/core";
import type { EventUsage, TenantUsage } from "../../api-types.js";
import { useTenant } from "../../session.js";
import { ErrorAlert } from "../../ui/ErrorAlert.js";
import { number } from "../../ui/format.js";
import { useAsync } from "../../ui/useAsync.js";

/** Days in the answer's month (`YYYY-MM`), for the month's allowance. */
export function daysInMonth(month: string): number {
  const [y, m] = month.split("-").map(Number) as [number, number];
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

export function usageChartData(u: EventUsage) {
  const monthAllowance = u.events.allowancePerDay * daysInMonth(u.month);
  return [
    { period: `Today (${u.day})`, Events: u.events.today, Allowance: u.events.allowancePerDay, Refused: u.rejected.quota.today + u.rejected.expired.today },
    { period: `This month (${u.month})`, Events: u.events.thisMonth, Allowance: monthAllowance, Refused: u.rejected.quota.thisMonth + u.rejected.expired.thisMonth },
  ];
}

function Meter({ label, used, of }: { label: string; used: number; of: number }) {
  const pct = of > 0 ? Math.min(100, (used / of) * 100) : 0;
  return (
    <Card withBorder padding="sm">
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text fw={600}>
        {number(used)} of {number(of)}
      </Text>
      <Progress value={pct} color={pct >= 100 ? "red" : pct >= 80 ? "yellow" : "blue"} mt={6} aria-label={`${label}: ${number(used)} of ${number(of)}`} />
    </Card>
  );
}

export function EventUsagePanel({ usage }: { usage: EventUsage }) {
  const data = usageChartData(usage);
  return (
    <Stack>
      {usage.overQuota && (
        <Alert color="red" title="Over today's allowance">
          Events beyond {number(usage.events.allowancePerDay)} a day are refused until the UTC day ends.
        </Alert>
      )}
      <SimpleGrid cols={{ base: 1, sm: 3 }}>
        <Meter label="Events today" used={usage.events.today} of={usage.events.allowancePerDay} />
        <Card withBorder padding="sm">
          <Text size="xs" c="dimmed">
            Events this month
          </Text>
          <Text fw={600}>{number(usage.events.thisMonth)}</Text>
          <Text size="xs" c="dimmed">
            {number(usage.events.remainingToday)} left today
          </Text>
        </Card>
        <Card withBorder padding="sm">
          <Text size="xs" c="dimmed">
            Refused (over quota / expired)
          </Text>
          <Text fw={600}>
            today {number(usage.rejected.quota.today)} / {number(usage.rejected.expired.today)}
          </Text>
          <Text size="xs" c="dimmed">
            this month {number(usage.rejected.quota.thisMonth)} / {number(usage.rejected.expired.thisMonth)}
          </Text>
        </Card>
      </SimpleGrid>
      <Box component="figure" aria-label="Events against the allowance" m={0}>
        <BarChart
          h={260}
          data={data}
          dataKey="period"
          withLegend
          series={[
            { name: "Events", color: "blue.6" },
            { name: "Allowance", color: "gray.4" },
            { name: "Refused", color: "red.6" },
          ]}
        />
        <Table mt="sm" aria-label="Usage numbers">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Period</Table.Th>
              <Table.Th>Events</Table.Th>
              <Table.Th>Allowance</Table.Th>
              <Table.Th>Refused</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {data.map((d) => (
              <Table.Tr key={d.period}>
                <Table.Td>{d.period}</Table.Td>
                <Table.Td>{number(d.Events)}</Table.Td>
                <Table.Td>{number(d.Allowance)}</Table.Td>
                <Table.Td>{number(d.Refused)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Box>
    </Stack>
  );
}

function CountersPanel({ usage }: { usage: TenantUsage }) {
  const today = new Date().toISOString().slice(0, 10);
  const c = (name: string) => usage.usage[name] ?? 0;
  return (
    <SimpleGrid cols={{ base: 1, sm: 3 }}>
      <Meter label="Members" used={c("members")} of={usage.allowances.members} />
      <Meter label="Pending invitations" used={c("pending_invitations")} of={usage.allowances.pendingInvitations} />
      <Meter label="Credentials minted today" used={c(`bus_credentials:${today}`)} of={usage.allowances.busCredentialsPerDay} />
    </SimpleGrid>
  );
}

export function UsagePage() {
  const { session, tenant } = useTenant();
  const events = useAsync(() => session.api.eventUsage(tenant.id), [session.api, tenant.id]);
  const counters = useAsync(() => session.api.tenantUsage(tenant.id), [session.api, tenant.id]);
  return (
    <Stack gap="lg">
      <Group justify="space-between">
        <Title order={2}>Usage</Title>
        {events.data && <Text c="dimmed">Plan {events.data.planTier}</Text>}
      </Group>
      <ErrorAlert error={events.error} title="Event usage could not be loaded" />
      {events.loading && !events.data ? <Skeleton height={300} /> : events.data && <EventUsagePanel usage={events.data} />}
      <Title order={3}>People and credentials</Title>
      <ErrorAlert error={counters.error} title="The tenant's counters could not be loaded" />
      {counters.loading && !counters.data ? <Skeleton height={80} /> : counters.data && <CountersPanel usage={counters.data} />}
    </Stack>
  );
}

/** The tenant's plan tier and its limits, read-only (`GET /v1/tenants/{id}/limits`); the tier changes through billing. */
import { Badge, Card, Group, SimpleGrid, Skeleton, Stack, Table, Text, Title } from "@mantine/core";
import { useTenant } from "../../session.js";
import { ErrorAlert } from "../../ui/ErrorAlert.js";
import { useAsync } from "../../ui/useAsync.js";

/** `camelCaseName` as "camel case name", keeping the unit words the catalog puts in names. */
export function labelOf(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/^./, (c) => c.toUpperCase());
}

/** A section of the catalog as rows: nested objects flatten to "Quota · Queries". */
export function rowsOf(value: unknown, prefix = ""): [string, string][] {
  if (value === null || typeof value !== "object") return [[prefix, String(value)]];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => rowsOf(v, prefix ? `${prefix} · ${labelOf(k)}` : labelOf(k)));
}

export function PlanPage() {
  const { session, tenant } = useTenant();
  const limits = useAsync(() => session.api.limits(tenant.id), [session.api, tenant.id]);
  const sections = limits.data ? Object.entries(limits.data.limits).filter(([, v]) => v !== null && typeof v === "object") : [];
  return (
    <Stack>
      <Group>
        <Title order={2}>Plan</Title>
        {limits.data && <Badge size="lg">{String(limits.data.limits.displayName ?? limits.data.planTier)}</Badge>}
      </Group>
      <Text size="sm" c="dimmed">
        Read-only: the plan changes through billing. Every limit below is enforced by the platform.
      </Text>
      <ErrorAlert error={limits.error} title="The plan could not be loaded" />
      {limits.loading && !limits.data ? (
        <Skeleton height={240} />
      ) : (
        <SimpleGrid cols={{ base: 1, md: 2 }}>
          {sections.map(([name, value]) => (
            <Card key={name} withBorder padding="sm">
              <Title order={3} size="h5" mb="xs">
                {labelOf(name)}
              </Title>
              <Table aria-label={`${labelOf(name)} limits`}>
                <Table.Tbody>
                  {rowsOf(value).map(([k, v]) => (
                    <Table.Tr key={k}>
                      <Table.Td>{k}</Table.Td>
                      <Table.Td ta="right">{v}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Card>
          ))}
        </SimpleGrid>
      )}
    </Stack>
  );
}

/** The signed-in start page: my tenants, invitations waiting for me, and creating a tenant. */
import { Anchor, Badge, Card, Group, SimpleGrid, Skeleton, Stack, Text, Title } from "@mantine/core";
import { Link, navigate } from "../../router.js";
import { useSession } from "../../session.js";
import { ErrorAlert } from "../../ui/ErrorAlert.js";
import { MyInvitations } from "../invitations/MyInvitations.js";
import { CreateTenantForm } from "./CreateTenantForm.js";

export function HomePage() {
  const { tenants, tenantsError, tenantsLoading } = useSession();
  return (
    <Stack gap="xl">
      <section aria-labelledby="tenants-heading">
        <Title order={2} id="tenants-heading" mb="sm">
          Your tenants
        </Title>
        <ErrorAlert error={tenantsError} title="Your tenants could not be loaded" />
        {tenantsLoading && !tenants ? (
          <Skeleton height={80} />
        ) : tenants && tenants.length > 0 ? (
          <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }}>
            {tenants.map((t) => (
              <Card key={t.id} withBorder padding="md">
                <Group justify="space-between" wrap="nowrap">
                  <Anchor component={Link} href={`/t/${encodeURIComponent(t.id)}/timeline`} fw={600}>
                    {t.name}
                  </Anchor>
                  <Badge variant="light">{t.role}</Badge>
                </Group>
                <Text size="sm" c="dimmed">
                  {t.slug} · {t.planTier}
                </Text>
              </Card>
            ))}
          </SimpleGrid>
        ) : (
          tenants && <Text c="dimmed">You are not a member of any tenant yet: create one, or accept an invitation.</Text>
        )}
      </section>
      <MyInvitations />
      <section aria-labelledby="create-heading">
        <Title order={2} id="create-heading" mb="sm">
          Create a tenant
        </Title>
        <Card withBorder maw={520}>
          <CreateTenantForm onCreated={(t) => navigate(`/t/${encodeURIComponent(t.id)}/credentials`)} />
        </Card>
      </section>
    </Stack>
  );
}

/** Invitations waiting for the signed-in user (GET /v1/invitations), each accepted by its id. */
import { Button, Card, Group, Skeleton, Stack, Text, Title } from "@mantine/core";
import { useState } from "react";
import { navigate } from "../../router.js";
import { useSession } from "../../session.js";
import { ErrorAlert } from "../../ui/ErrorAlert.js";
import { when } from "../../ui/format.js";
import { useAsync } from "../../ui/useAsync.js";

export function MyInvitations() {
  const { api, reloadTenants } = useSession();
  const list = useAsync(() => api.myInvitations().then((a) => a.invitations), [api]);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const accept = async (invitationId: string) => {
    setBusy(invitationId);
    setError(null);
    try {
      const accepted = await api.acceptInvitation({ invitationId });
      await reloadTenants();
      navigate(`/t/${encodeURIComponent(accepted.tenantId)}/timeline`);
    } catch (e) {
      setError(e);
      await list.reload();
    } finally {
      setBusy(null);
    }
  };

  return (
    <section aria-labelledby="my-invitations-heading">
      <Title order={2} id="my-invitations-heading" mb="sm">
        Invitations for you
      </Title>
      <ErrorAlert error={list.error} title="Your invitations could not be loaded" />
      <ErrorAlert error={error} title="The invitation was not accepted" />
      {list.loading && !list.data ? (
        <Skeleton height={60} />
      ) : list.data && list.data.length > 0 ? (
        <Stack gap="xs" component="ul" style={{ listStyle: "none", padding: 0 }} aria-label="Invitations for you">
          {list.data.map((inv) => (
            <Card key={inv.id} component="li" withBorder padding="sm">
              <Group justify="space-between">
                <Text>
                  <strong>{inv.tenantName}</strong> as {inv.role} · expires {when(inv.expiresAt)}
                </Text>
                <Button size="xs" loading={busy === inv.id} onClick={() => void accept(inv.id)} aria-label={`Accept invitation to ${inv.tenantName}`}>
                  Accept
                </Button>
              </Group>
            </Card>
          ))}
        </Stack>
      ) : (
        list.data && <Text c="dimmed">No pending invitations for your verified e-mail address.</Text>
      )}
    </section>
  );
}

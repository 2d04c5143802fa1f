/** Invite by e-mail with a role, and the tenant's invitations with cancel for pending ones (admin and up). */
import { Badge, Button, Card, Group, Select, Skeleton, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useState, type FormEvent } from "react";
import { ApiError } from "../../api.js";
import type { TenantRole } from "../../api-types.js";
import { useTenant } from "../../session.js";
import { ErrorAlert } from "../../ui/ErrorAlert.js";
import { when } from "../../ui/format.js";
import { useAsync } from "../../ui/useAsync.js";
import { grantableRoles } from "./roles.js";
import { ResultsTable } from "../../ui/ResultsTable.js";

export function InvitationsPanel() {
  const { session, tenant } = useTenant();
  const { api } = session;
  const list = useAsync(() => api.invitations(tenant.id).then((a) => a.invitations), [api, tenant.id]);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<TenantRole>("member");
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [sent, setSent] = useState<string | null>(null);

  const invite = async (e: FormEvent) => {
    e.preventDefault();
    setBusy("invite");
    setError(null);
    setSent(null);
    try {
      const { invitation } = await api.invite(tenant.id, email.trim(), role);
      setSent(invitation.email);
      setEmail("");
      await list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };

  const cancel = async (id: string) => {
    setBusy(id);
    setError(null);
    try {
      await api.cancelInvitation(tenant.id, id);
      await list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };

  const fieldError = (field: string) => (error instanceof ApiError && error.field === field ? error.message : undefined);

  return (
    <section aria-labelledby="invitations-heading">
      <Title order={2} id="invitations-heading" mb="sm">
        Invitations
      </Title>
      <Stack>
        <Card withBorder maw={640}>
          <form onSubmit={invite} aria-label="Invite a member">
            <Stack gap="sm">
              <Group align="flex-end" grow preventGrowOverflow={false}>
                <TextInput label="Invitee e-mail" type="email" required autoComplete="off" value={email} onChange={(e) => setEmail(e.currentTarget.value)} error={fieldError("body.email")} />
                <Select label="Invitation role" data={grantableRoles(tenant.role)} value={role} allowDeselect={false} onChange={(r) => r && setRole(r as TenantRole)} maw={160} />
              </Group>
              <ErrorAlert error={error} title="The invitation failed" />
              {sent && (
                <Text size="sm" c="teal" role="status">
                  Invitation sent to {sent}.
                </Text>
              )}
              <Group>
                <Button type="submit" loading={busy === "invite"} disabled={!email.trim()}>
                  Send invitation
                </Button>
              </Group>
            </Stack>
          </form>
        </Card>
        <ErrorAlert error={list.error} title="The invitations could not be loaded" />
        {list.loading && !list.data ? (
          <Skeleton height={80} />
        ) : list.data && list.data.length > 0 ? (
          <ResultsTable label="Invitations" minWidth={600} head={["E-mail", "Role", "Status", "Expires", "Actions"]} striped>
            {list.data.map((inv) => (
              <Table.Tr key={inv.id}>
                <Table.Td>{inv.email}</Table.Td>
                <Table.Td>{inv.role}</Table.Td>
                <Table.Td>
                  <Badge variant="light" color={inv.status === "pending" ? "blue" : "gray"}>
                    {inv.status}
                  </Badge>{" "}
                  <Text span size="xs" c="dimmed">
                    mail {inv.delivery}
                  </Text>
                </Table.Td>
                <Table.Td>{when(inv.expiresAt)}</Table.Td>
                <Table.Td>
                  {inv.status === "pending" && (inv.role !== "owner" || tenant.role === "owner") && (
                    <Button size="xs" variant="light" color="red" loading={busy === inv.id} onClick={() => void cancel(inv.id)} aria-label={`Cancel invitation for ${inv.email}`}>
                      Cancel
                    </Button>
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
          </ResultsTable>
        ) : (
          list.data && <Text c="dimmed">No invitations yet.</Text>
        )}
      </Stack>
    </section>
  );
}

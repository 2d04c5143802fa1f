/**
 * Members and invitations of the current tenant. Everyone sees the members; owners and admins
 * change roles, remove members, invite and cancel invitations; only an owner deals in the owner
 * role (services/identity/names.ts TENANT_ACTIONS; the provisioning service enforces it).
 */
import { Badge, Button, Card, Select, Skeleton, Stack, Table, Text, Title } from "@mantine/core";
import { useState } from "react";
import type { Member, TenantRole } from "../../api-types.js";
import { navigate } from "../../router.js";
import { can, useTenant } from "../../session.js";
import { ErrorAlert } from "../../ui/ErrorAlert.js";
import { when } from "../../ui/format.js";
import { useAsync } from "../../ui/useAsync.js";
import { InvitationsPanel } from "./InvitationsPanel.js";
import { grantableRoles } from "./roles.js";
import { ResultsTable } from "../../ui/ResultsTable.js";

export function MembersPage() {
  const { session, tenant } = useTenant();
  const { api, user, reloadTenants } = session;
  const members = useAsync(() => api.members(tenant.id).then((a) => a.members), [api, tenant.id]);
  const manage = can(tenant.role, "members.manage");
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const act = async (key: string, fn: () => Promise<unknown>, after?: () => Promise<void> | void) => {
    setBusy(key);
    setError(null);
    try {
      await fn();
      await (after ? after() : members.reload());
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };

  const label = (m: Member) => m.email ?? m.userId;
  const mayTouch = (m: Member) => manage && (m.role !== "owner" || tenant.role === "owner");

  return (
    <Stack gap="xl">
      <section aria-labelledby="members-heading">
        <Title order={2} id="members-heading" mb="sm">
          Members
        </Title>
        <ErrorAlert error={members.error} title="The members could not be loaded" />
        <ErrorAlert error={error} title="The change was refused" />
        {members.loading && !members.data ? (
          <Skeleton height={120} />
        ) : (
          members.data && (
            <ResultsTable label="Members" minWidth={560} head={["Member", "Role", "Added", "Actions"]} striped>
              {members.data.map((m) => {
                const self = m.userId === user.sub;
                return (
                  <Table.Tr key={m.userId}>
                    <Table.Td>
                      <Text size="sm">{label(m)}</Text>
                      {self && <Badge size="xs" variant="outline">you</Badge>}
                    </Table.Td>
                    <Table.Td>
                      {mayTouch(m) && !self ? (
                        <Select
                          size="xs"
                          aria-label={`Role of ${label(m)}`}
                          data={grantableRoles(tenant.role)}
                          value={m.role}
                          allowDeselect={false}
                          disabled={busy !== null}
                          onChange={(role) => role && role !== m.role && void act(`role:${m.userId}`, () => api.setRole(tenant.id, m.userId, role as TenantRole))}
                        />
                      ) : (
                        <Badge variant="light">{m.role}</Badge>
                      )}
                    </Table.Td>
                    <Table.Td>{when(m.addedAt)}</Table.Td>
                    <Table.Td>
                      {self ? (
                        <Button
                          size="xs"
                          variant="default"
                          loading={busy === `rm:${m.userId}`}
                          onClick={() =>
                            void act(`rm:${m.userId}`, () => api.removeMember(tenant.id, m.userId), async () => {
                              api.clearTenantTokens();
                              await reloadTenants();
                              navigate("/");
                            })
                          }
                        >
                          Leave tenant
                        </Button>
                      ) : (
                        mayTouch(m) && (
                          <Button size="xs" color="red" variant="light" loading={busy === `rm:${m.userId}`} onClick={() => void act(`rm:${m.userId}`, () => api.removeMember(tenant.id, m.userId))} aria-label={`Remove ${label(m)}`}>
                            Remove
                          </Button>
                        )
                      )}
                    </Table.Td>
                  </Table.Tr>
                );
              })}
            </ResultsTable>
          )
        )}
      </section>
      {can(tenant.role, "invitations.manage") ? (
        <InvitationsPanel />
      ) : (
        <Card withBorder>
          <Text size="sm" c="dimmed">
            Owners and admins invite people and change roles; your role here is {tenant.role}.
          </Text>
        </Card>
      )}
    </Stack>
  );
}

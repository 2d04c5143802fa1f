/**
 * Tenant settings: payload encryption (admin and up; `PATCH /v1/tenants/{id}`), and offboarding
 * (owner only; `DELETE /v1/tenants/{id}`), which asks for the tenant's slug typed out first:
 * credentials are refused at once, the history is deleted and the data key shredded.
 */
import { Alert, Button, Card, Group, Skeleton, Stack, Switch, Text, TextInput, Title } from "@mantine/core";
import { useState, type FormEvent } from "react";
import type { Tenant } from "../../api-types.js";
import { navigate } from "../../router.js";
import { can, useTenant } from "../../session.js";
import { ErrorAlert } from "../../ui/ErrorAlert.js";
import { when } from "../../ui/format.js";
import { useAsync } from "../../ui/useAsync.js";

export function SettingsPage() {
  const { session, tenant } = useTenant();
  const { api } = session;
  const current = useAsync(() => api.tenant(tenant.id).then((a) => a.tenant), [api, tenant.id]);
  const mayChange = can(tenant.role, "tenant.settings");
  const mayOffboard = can(tenant.role, "tenant.offboard");
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [confirm, setConfirm] = useState("");
  const [offboarded, setOffboarded] = useState<Tenant | null>(null);

  const toggle = async (on: boolean) => {
    setBusy("encryption");
    setError(null);
    try {
      await api.setPayloadEncryption(tenant.id, on);
      await current.reload();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };

  const offboard = async (e: FormEvent) => {
    e.preventDefault();
    if (confirm !== tenant.slug) return;
    setBusy("offboard");
    setError(null);
    try {
      setOffboarded((await api.offboard(tenant.id)).tenant);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };

  if (offboarded) {
    return (
      <Stack>
        <Title order={2}>Settings</Title>
        <Alert color="orange" title={`${offboarded.name} is offboarded`} role="status">
          Its credentials are refused from now on; its history is {offboarded.history === "deleted" ? `deleted (${when(offboarded.historyDeletedAt ?? "")})` : "being deleted"} and its data key is shredded.
        </Alert>
        <Group>
          <Button
            onClick={() => {
              session.api.clearTenantTokens();
              void session.reloadTenants().then(() => navigate("/"));
            }}
          >
            Back to your tenants
          </Button>
        </Group>
      </Stack>
    );
  }

  const t = current.data;
  return (
    <Stack gap="lg">
      <Title order={2}>Settings</Title>
      <ErrorAlert error={current.error} title="The tenant could not be loaded" />
      <ErrorAlert error={error} title="The change was refused" />
      <Card withBorder maw={640}>
        <Title order={3} size="h4" mb="xs">
          Payload encryption
        </Title>
        {current.loading && !t ? (
          <Skeleton height={40} />
        ) : (
          t && (
            <Stack gap="xs">
              <Switch
                label="Encrypt event payloads"
                description="Agents seal rationales, actions and messages with the tenant's data key; the API opens them for members."
                checked={t.payloadEncryption}
                disabled={!mayChange || busy === "encryption"}
                onChange={(e) => void toggle(e.currentTarget.checked)}
              />
              {!mayChange && (
                <Text size="xs" c="dimmed">
                  Admins and owners change this; your role is {tenant.role}.
                </Text>
              )}
            </Stack>
          )
        )}
      </Card>
      {mayOffboard && (
        <Card withBorder maw={640} style={{ borderColor: "var(--mantine-color-red-6)" }}>
          <Title order={3} size="h4" mb="xs" c="red">
            Offboard this tenant
          </Title>
          <Text size="sm" mb="sm">
            Every credential stops working at once, the event history is deleted and the data key is destroyed: encrypted payloads can never be read again. This cannot be undone.
          </Text>
          <form onSubmit={offboard} aria-label="Offboard tenant">
            <Stack gap="sm">
              <TextInput label="Confirm tenant slug" description={`Type ${tenant.slug} to confirm`} autoComplete="off" value={confirm} onChange={(e) => setConfirm(e.currentTarget.value)} />
              <Group>
                <Button type="submit" color="red" disabled={confirm !== tenant.slug} loading={busy === "offboard"}>
                  Offboard tenant
                </Button>
              </Group>
            </Stack>
          </form>
        </Card>
      )}
    </Stack>
  );
}

/**
 * Agent credentials: mint (member and up), show once with "Download credentials" (the NATS
 * `.creds` text of the answer) and a copyable SDK snippet, list the ones minted in this tab (no
 * list route exists: see minted.ts), revoke by public key (members their own, admins any).
 */
import { Alert, Badge, Box, Button, Card, Code, CopyButton, Group, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { IconDownload } from "../../ui/icons.js";
import { useEffect, useState, type FormEvent } from "react";
import type { BusCredentials } from "../../api-types.js";
import { can, useTenant } from "../../session.js";
import { downloadText } from "../../ui/download.js";
import { ErrorAlert } from "../../ui/ErrorAlert.js";
import { when } from "../../ui/format.js";
import { readMinted, writeMinted, type MintedCredential } from "./minted.js";
import { CREDENTIALS_JSON_FILE_NAME, credentialsJson, credsFileName, sdkSnippet } from "./snippet.js";
import { ResultsTable } from "../../ui/ResultsTable.js";

const PUBLIC_KEY = /^U[A-Z2-7]{55}$/;

export function CredentialsPage() {
  const { session, tenant } = useTenant();
  const { api, config } = session;
  const mayMint = can(tenant.role, "credentials.mint");
  const [fresh, setFresh] = useState<BusCredentials | null>(null);
  const [minted, setMinted] = useState<MintedCredential[]>(() => readMinted(tenant.id));
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [typed, setTyped] = useState("");

  // Another tenant: its own list, and the shown-once secret of the previous one is dropped.
  useEffect(() => {
    setMinted(readMinted(tenant.id));
    setFresh(null);
    setError(null);
  }, [tenant.id]);

  const remember = (list: MintedCredential[]) => {
    writeMinted(tenant.id, list);
    setMinted(list);
  };

  const mint = async () => {
    setBusy("mint");
    setError(null);
    try {
      const c = await api.mintCredentials(tenant.id);
      setFresh(c);
      remember([{ publicKey: c.publicKey, expiresAt: c.expiresAt, mintedAt: new Date().toISOString() }, ...readMinted(tenant.id)]);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };

  const revoke = async (publicKey: string) => {
    setBusy(publicKey);
    setError(null);
    try {
      const r = await api.revokeCredentials(tenant.id, publicKey);
      remember(readMinted(tenant.id).map((c) => (c.publicKey === publicKey ? { ...c, revokedAt: r.revokedAt } : c)));
      if (fresh?.publicKey === publicKey) setFresh(null);
      setTyped("");
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };

  const revokeTyped = (e: FormEvent) => {
    e.preventDefault();
    void revoke(typed.trim());
  };

  if (!mayMint) {
    return (
      <Stack>
        <Title order={2}>Agent credentials</Title>
        <Alert color="gray" title="Members and above mint credentials">
          Your role in this tenant is {tenant.role}: ask an admin to raise it to member to connect agents.
        </Alert>
      </Stack>
    );
  }

  const snippet = fresh ? sdkSnippet(fresh, config.natsServers) : "";

  return (
    <Stack gap="lg">
      <Title order={2}>Agent credentials</Title>
      <Text size="sm" c="dimmed">
        An agent connects to the tenant's bus with credentials: a NATS user of the tenant's account, valid until it expires or is revoked.
      </Text>
      <Group>
        <Button onClick={() => void mint()} loading={busy === "mint"}>
          Create credentials
        </Button>
      </Group>
      <ErrorAlert error={error} title="The credentials request failed" />
      {fresh && (
        <Card withBorder padding="md" aria-labelledby="fresh-heading">
          <Stack gap="sm">
            <Title order={3} id="fresh-heading">
              New credentials
            </Title>
            <Alert color="yellow" title="Shown once">
              The seed in this file is a secret and is not kept anywhere: download it now. Anyone holding it can publish as this tenant until it expires or is revoked.
            </Alert>
            <Text size="sm">
              Public key <Code>{fresh.publicKey}</Code> · expires {when(new Date(fresh.expiresAt * 1000).toISOString())}
            </Text>
            <Group>
              <Button leftSection={<IconDownload size={16} aria-hidden />} onClick={() => downloadText(credsFileName(fresh), fresh.creds)}>
                Download credentials
              </Button>
              <Button variant="default" leftSection={<IconDownload size={16} aria-hidden />} onClick={() => downloadText(CREDENTIALS_JSON_FILE_NAME, credentialsJson(fresh, config.natsServers), "application/json")}>
                Download credentials.json
              </Button>
            </Group>
            <Group justify="space-between">
              <Text fw={600} size="sm">
                SDK snippet
              </Text>
              <CopyButton value={snippet}>
                {({ copied, copy }) => (
                  <Button size="xs" variant="default" onClick={copy}>
                    {copied ? "Copied" : "Copy snippet"}
                  </Button>
                )}
              </CopyButton>
            </Group>
            <Box component="figure" aria-label="SDK snippet" m={0}>
              <Code block style={{ whiteSpace: "pre", overflowX: "auto" }}>
                {snippet}
              </Code>
            </Box>
          </Stack>
        </Card>
      )}
      <section aria-labelledby="minted-heading">
        <Title order={3} id="minted-heading" mb="xs">
          Minted in this session
        </Title>
        <Text size="sm" c="dimmed" mb="sm">
          The API does not list credentials; this tab remembers the public keys it minted (never the secrets) until it is closed.
        </Text>
        {minted.length === 0 ? (
          <Text size="sm">None yet.</Text>
        ) : (
          <ResultsTable label="Minted credentials" minWidth={560} head={["Public key", "Expires", "Status"]}>
            {minted.map((c) => (
              <Table.Tr key={c.publicKey}>
                <Table.Td>
                  <Code>{c.publicKey}</Code>
                </Table.Td>
                <Table.Td>{when(new Date(c.expiresAt * 1000).toISOString())}</Table.Td>
                <Table.Td>
                  {c.revokedAt ? (
                    <Badge color="gray">revoked</Badge>
                  ) : (
                    <Button size="xs" color="red" variant="light" loading={busy === c.publicKey} onClick={() => void revoke(c.publicKey)} aria-label={`Revoke ${c.publicKey}`}>
                      Revoke
                    </Button>
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
          </ResultsTable>
        )}
      </section>
      <Card withBorder maw={640}>
        <form onSubmit={revokeTyped} aria-label="Revoke by public key">
          <Group align="flex-end">
            <TextInput
              label="Public key to revoke"
              description={can(tenant.role, "credentials.revoke-any") ? "Any credential of this tenant" : "Credentials you minted"}
              value={typed}
              onChange={(e) => setTyped(e.currentTarget.value)}
              error={typed.trim() && !PUBLIC_KEY.test(typed.trim()) ? "U followed by 55 base32 characters" : undefined}
              style={{ flex: 1 }}
            />
            <Button type="submit" color="red" variant="light" disabled={!PUBLIC_KEY.test(typed.trim())} loading={busy === typed.trim()}>
              Revoke credentials
            </Button>
          </Group>
        </form>
      </Card>
    </Stack>
  );
}

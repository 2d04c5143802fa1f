/**
 * `/invitations/accept#token=<secret>`: the link of the invitation e-mail
 * (services/provisioning/src/mail.ts). The secret is in the fragment, so it never reaches a server
 * log; it is read here, taken out of the address bar, and sent once in the body of
 * `POST /v1/invitations/accept` with the user's own token. Signed out, the page offers sign-in and
 * registration and comes back here with the token afterwards.
 */
import { Alert, Button, Card, Group, Stack, Text, Title } from "@mantine/core";
import { useEffect, useState } from "react";
import type { ApiClient } from "../../api.js";
import type { AcceptedInvitation } from "../../api-types.js";
import type { Auth } from "../../auth.js";
import { navigate } from "../../router.js";
import { ErrorAlert } from "../../ui/ErrorAlert.js";

/** The secret of an invitation link: 43 base64url characters (32 bytes). */
const SECRET = /^[A-Za-z0-9_-]{43}$/;

/** The invitation secret in a location fragment (`#token=…`), or null. */
export function invitationTokenOf(hash: string): string | null {
  const token = new URLSearchParams(hash.replace(/^#/, "")).get("token");
  return token && SECRET.test(token) ? token : null;
}

export const ACCEPT_PATH = "/invitations/accept";

export function AcceptInvitationPage(props: { auth: Auth; api: ApiClient | null; onAccepted?: (a: AcceptedInvitation) => Promise<void> | void }) {
  const { auth, api } = props;
  // Read once: the fragment is cleared from the address bar right after.
  const [token] = useState(() => invitationTokenOf(window.location.hash));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (window.location.hash) window.history.replaceState(null, "", ACCEPT_PATH);
  }, []);

  const back = token ? `${ACCEPT_PATH}#token=${token}` : ACCEPT_PATH;

  const accept = async () => {
    if (!api || !token) return;
    setBusy(true);
    setError(null);
    try {
      const accepted = await api.acceptInvitation({ token });
      await props.onAccepted?.(accepted);
      navigate(`/t/${encodeURIComponent(accepted.tenantId)}/timeline`, { replace: true });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card withBorder maw={560} mx="auto" mt="xl" padding="lg">
      <Stack>
        <Title order={2}>Accept invitation</Title>
        {!token ? (
          <Alert color="yellow" title="No invitation token in this link" role="alert">
            Open the link from the invitation e-mail exactly as it was sent (it ends with #token=…), or accept from the list of invitations for you after signing in.
          </Alert>
        ) : !api ? (
          <>
            <Text>Sign in (or create an account with the e-mail address the invitation was sent to) to join the tenant.</Text>
            <Group>
              <Button onClick={() => void auth.signIn(back)}>Sign in to accept</Button>
              <Button variant="default" onClick={() => void auth.register(back)}>
                Create account to accept
              </Button>
            </Group>
          </>
        ) : (
          <>
            <Text>You were invited to a tenant. Accepting adds you as a member with the role the invitation names; it works only for the verified e-mail address it was sent to.</Text>
            <ErrorAlert error={error} title="The invitation was not accepted" />
            <Group>
              <Button loading={busy} onClick={() => void accept()}>
                Accept invitation
              </Button>
            </Group>
          </>
        )}
      </Stack>
    </Card>
  );
}

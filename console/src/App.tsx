/**
 * The console's shell: signed out, the landing page (sign in, create account) and the invitation
 * link; signed in, the AppShell (header with the tenant picker and sign-out, a navbar that
 * collapses behind a burger on small screens) around the screen the address names.
 */
import { Alert, Anchor, AppShell, Badge, Burger, Button, Center, Group, Loader, NavLink, ScrollArea, Stack, Text, Title } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import {
  IconActivity,
  IconAlertOctagon,
  IconBuilding,
  IconChartBar,
  IconHistory,
  IconKey,
  IconMail,
  IconReceipt,
  IconRepeat,
  IconSettings,
  IconUsers,
} from "./ui/icons.js";
import { lazy, Suspense, useEffect, useMemo, useState, type ComponentType } from "react";
import type { User } from "oidc-client-ts";
import { WEB_APP_PATHS } from "../../services/keycloak-realm/names.js";
import type { ConsoleRuntimeConfig } from "../contract.js";
import { ApiClient } from "./api.js";
import type { Auth } from "./auth.js";
import { CrashContextPage } from "./features/crash/CrashContextPage.js";
import { CredentialsPage } from "./features/credentials/CredentialsPage.js";
import { ACCEPT_PATH, AcceptInvitationPage } from "./features/invitations/AcceptInvitationPage.js";
import { MyInvitations } from "./features/invitations/MyInvitations.js";
import { LoopsPage } from "./features/loops/LoopsPage.js";
import { MembersPage } from "./features/members/MembersPage.js";
import { PlanPage } from "./features/plan/PlanPage.js";
import { SettingsPage } from "./features/settings/SettingsPage.js";
import { StateHistoryPage } from "./features/state/StateHistoryPage.js";
import { HomePage } from "./features/tenants/HomePage.js";
import { TenantPicker } from "./features/tenants/TenantPicker.js";
import { EventDetailPage } from "./features/timeline/EventDetailPage.js";
import { TimelinePage } from "./features/timeline/TimelinePage.js";
import { Link, matchPath, navigate, useLocation } from "./router.js";
import { SessionProvider, useSession, type SessionUser } from "./session.js";
import { ErrorAlert } from "./ui/ErrorAlert.js";

// The usage chart (recharts) is the largest dependency: loaded when that screen is opened.
const UsagePage = lazy(() => import("./features/usage/UsagePage.js").then((m) => ({ default: m.UsagePage })));

/** The tenant screens, in navbar order: `/t/{tenantId}/<path>`. */
export const TENANT_SECTIONS: readonly { path: string; label: string; icon: ComponentType<{ size?: number }>; page: ComponentType }[] = [
  { path: "timeline", label: "Timeline", icon: IconActivity, page: TimelinePage },
  { path: "crash-context", label: "Crash context", icon: IconAlertOctagon, page: CrashContextPage },
  { path: "loops", label: "Loops", icon: IconRepeat, page: LoopsPage },
  { path: "state-history", label: "State history", icon: IconHistory, page: StateHistoryPage },
  { path: "credentials", label: "Credentials", icon: IconKey, page: CredentialsPage },
  { path: "members", label: "Members", icon: IconUsers, page: MembersPage },
  { path: "usage", label: "Usage", icon: IconChartBar, page: UsagePage },
  { path: "plan", label: "Plan", icon: IconReceipt, page: PlanPage },
  { path: "settings", label: "Settings", icon: IconSettings, page: SettingsPage },
];

export function sessionUserOf(user: User): SessionUser {
  const p = user.profile;
  return { sub: p.sub, email: typeof p.email === "string" ? p.email : undefined, name: typeof p.name === "string" ? p.name : undefined };
}

/** The whole console for one runtime config and sign-in. */
export function App({ config, auth }: { config: ConsoleRuntimeConfig; auth: Auth }) {
  const location = useLocation();
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const [signInError, setSignInError] = useState<unknown>(null);

  useEffect(() => {
    let gone = false;
    const unsubscribe = auth.onChange((u) => !gone && setUser(u));
    (async () => {
      if (window.location.pathname === WEB_APP_PATHS.redirect) {
        try {
          const returnTo = await auth.completeSignIn();
          navigate(returnTo, { replace: true });
        } catch (e) {
          if (!gone) setSignInError(e);
          navigate("/", { replace: true });
        }
      }
      const u = await auth.user();
      if (!gone) setUser(u);
    })().catch((e: unknown) => {
      if (!gone) {
        setSignInError(e);
        setUser(null);
      }
    });
    return () => {
      gone = true;
      unsubscribe();
    };
  }, [auth]);

  const sub = user?.profile.sub;
  // One client per signed-in person: tenant tokens are never shared across users.
  const api = useMemo(() => (sub ? new ApiClient({ origin: window.location.origin, userToken: () => auth.accessToken() }) : null), [sub, auth]);

  if (user === undefined) {
    return (
      <Center h="100vh">
        <Loader aria-label="Loading" />
      </Center>
    );
  }
  if (!user || !api) return <SignedOut config={config} auth={auth} pathname={location.pathname} error={signInError} />;
  const tenantMatch = /^\/t\/([^/]+)/.exec(location.pathname);
  const tenantId = tenantMatch ? decodeURIComponent(tenantMatch[1] as string) : undefined;
  return (
    <SessionProvider config={config} auth={auth} api={api} user={sessionUserOf(user)} tenantId={tenantId}>
      <Shell />
    </SessionProvider>
  );
}

function SignedOut({ config, auth, pathname, error }: { config: ConsoleRuntimeConfig; auth: Auth; pathname: string; error: unknown }) {
  return (
    <AppShell header={{ height: 56 }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group gap="xs">
            <Title order={1} size="h4">
              Enchanted console
            </Title>
            <Badge variant="outline">{config.environment}</Badge>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Main>
        <ErrorAlert error={error} title="Sign-in did not complete" />
        {pathname === ACCEPT_PATH ? (
          <AcceptInvitationPage auth={auth} api={null} />
        ) : (
          <Center mih="60vh">
            <Stack align="center" gap="md" maw={460}>
              <Title order={2}>Watch, debug and steer your agents</Title>
              <Text ta="center" c="dimmed">
                Sign in with your platform account, or create one: you then create a tenant or accept an invitation.
              </Text>
              <Group>
                <Button onClick={() => void auth.signIn(pathname === "/" ? "/" : `${pathname}${window.location.search}`)}>Sign in</Button>
                <Button variant="default" onClick={() => void auth.register("/")}>
                  Create account
                </Button>
              </Group>
            </Stack>
          </Center>
        )}
      </AppShell.Main>
    </AppShell>
  );
}

function Shell() {
  const session = useSession();
  const { pathname } = useLocation();
  const [opened, { toggle, close }] = useDisclosure(false);
  const { tenantId } = session;

  // The navbar closes after a choice on small screens.
  useEffect(() => close(), [pathname, close]);

  return (
    <AppShell header={{ height: 64 }} navbar={{ width: 240, breakpoint: "sm", collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="xs" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label={opened ? "Close navigation" : "Open navigation"} />
            <Anchor component={Link} href="/" underline="never" c="inherit">
              <Title order={1} size="h4" visibleFrom="xs">
                Enchanted console
              </Title>
            </Anchor>
            <Badge variant="outline" visibleFrom="md">
              {session.config.environment}
            </Badge>
          </Group>
          <Group gap="sm" wrap="nowrap">
            <TenantPicker />
            <Text size="sm" visibleFrom="md" c="dimmed">
              {session.user.email ?? session.user.name ?? session.user.sub}
            </Text>
            <Button
              size="xs"
              variant="default"
              onClick={() => {
                session.api.clearTenantTokens();
                void session.auth.signOut();
              }}
            >
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Main navigation">
        <ScrollArea>
          <NavLink component={Link} href="/" label="Tenants" leftSection={<IconBuilding size={18} />} active={pathname === "/"} />
          <NavLink component={Link} href="/invitations" label="Invitations" leftSection={<IconMail size={18} />} active={pathname === "/invitations"} />
          {tenantId && session.tenant && (
            <>
              <Text size="xs" c="dimmed" mt="md" mb={4} px="sm" tt="uppercase">
                {session.tenant.name}
              </Text>
              {TENANT_SECTIONS.map((s) => {
                const href = `/t/${encodeURIComponent(tenantId)}/${s.path}`;
                const Icon = s.icon;
                return <NavLink key={s.path} component={Link} href={href} label={s.label} leftSection={<Icon size={18} />} active={pathname === href || (s.path === "timeline" && pathname.startsWith(`/t/${encodeURIComponent(tenantId)}/events/`))} />;
              })}
            </>
          )}
        </ScrollArea>
      </AppShell.Navbar>
      <AppShell.Main>
        <Suspense fallback={<Loader aria-label="Loading" />}>
          <Screen pathname={pathname} />
        </Suspense>
      </AppShell.Main>
    </AppShell>
  );
}

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}

function Screen({ pathname }: { pathname: string }) {
  const session = useSession();
  if (pathname === "/") return <HomePage />;
  if (pathname === "/invitations") return <MyInvitations />;
  if (pathname === ACCEPT_PATH) return <AcceptInvitationPage auth={session.auth} api={session.api} onAccepted={() => session.reloadTenants()} />;
  if (matchPath("/t/:tenantId", pathname)) return <Redirect to={`${pathname.replace(/\/$/, "")}/timeline`} />;
  const detail = matchPath("/t/:tenantId/events/:eventId", pathname);
  const section = matchPath("/t/:tenantId/:section", pathname);
  if (detail || section) {
    if (!session.tenant) {
      if (session.tenantsLoading || (!session.tenants && !session.tenantsError)) return <Loader aria-label="Loading" />;
      return (
        <Stack>
          <ErrorAlert error={session.tenantsError} title="Your tenants could not be loaded" />
          {!session.tenantsError && (
            <Alert color="yellow" title="No such tenant">
              You are not a member of tenant {session.tenantId} (or it was offboarded). Pick one of yours in the tenant picker.
            </Alert>
          )}
        </Stack>
      );
    }
    // Keyed by tenant: another tenant's screen starts empty, never showing the previous one's answers.
    if (detail) return <EventDetailPage key={session.tenant.id} eventId={detail["eventId"] as string} />;
    const Page = TENANT_SECTIONS.find((s) => s.path === section?.["section"])?.page;
    if (Page) return <Page key={session.tenant.id} />;
  }
  return (
    <Alert color="yellow" title="Page not found">
      Nothing lives at {pathname}.{" "}
      <Anchor component={Link} href="/">
        Go to your tenants
      </Anchor>
    </Alert>
  );
}

/**
 * The tenant picker: choosing another tenant opens the same screen for it (its own tenant token is
 * fetched on first use; the API client keeps one per tenant).
 */
import { Select } from "@mantine/core";
import { navigate, useLocation } from "../../router.js";
import { useSession } from "../../session.js";

/** The screen part of `/t/{tenantId}/<section>` (timeline when none). */
export function sectionOf(pathname: string): string {
  const m = /^\/t\/[^/]+\/([^/]+)/.exec(pathname);
  const section = m?.[1] ?? "timeline";
  // An event's detail belongs to one tenant: another tenant starts at its timeline.
  return section === "events" ? "timeline" : section;
}

export function TenantPicker() {
  const { tenants, tenantId } = useSession();
  const { pathname } = useLocation();
  if (!tenants || tenants.length === 0) return null;
  return (
    <Select
      aria-label="Tenant"
      placeholder="Pick a tenant"
      size="xs"
      w={{ base: 140, sm: 220 }}
      data={tenants.map((t) => ({ value: t.id, label: `${t.name} (${t.role})` }))}
      value={tenantId ?? null}
      allowDeselect={false}
      searchable={tenants.length > 8}
      onChange={(id) => {
        if (id) navigate(`/t/${encodeURIComponent(id)}/${sectionOf(pathname)}`);
      }}
      comboboxProps={{ withinPortal: true }}
    />
  );
}

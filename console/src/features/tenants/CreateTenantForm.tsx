/** Create a tenant: a name and a slug (the provisioning service's rules: services/provisioning/src/http.ts). */
import { Button, Group, Stack, TextInput } from "@mantine/core";
import { useState, type FormEvent } from "react";
import type { Membership } from "../../api-types.js";
import { ErrorAlert } from "../../ui/ErrorAlert.js";
import { ApiError } from "../../api.js";
import { useSession } from "../../session.js";

const SLUG = /^[a-z0-9-]{3,63}$/;

/** A slug from a name: lower case, runs of anything else as one hyphen, at most 63 characters. */
export function slugOf(name: string): string {
  return name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
}

export function CreateTenantForm({ onCreated }: { onCreated: (tenant: Membership) => void }) {
  const { api, reloadTenants } = useSession();
  const [name, setName] = useState("");
  const [slug, setSlug] = useState("");
  const [slugEdited, setSlugEdited] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  // One key per submission of these values: a retry after a lost answer is answered with the same tenant.
  const [attempt, setAttempt] = useState(() => ({ key: crypto.randomUUID(), of: "" }));

  const effectiveSlug = slugEdited ? slug : slugOf(name);
  const slugError = effectiveSlug && !SLUG.test(effectiveSlug) ? "3-63 lower-case letters, digits and hyphens" : undefined;
  const fieldError = (field: string) => (error instanceof ApiError && error.field === field ? error.message : undefined);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body = { name: name.trim(), slug: effectiveSlug };
    const of = JSON.stringify(body);
    const key = attempt.of === of ? attempt.key : crypto.randomUUID();
    setAttempt({ key, of });
    setBusy(true);
    setError(null);
    try {
      const { tenant } = await api.createTenant(body, key);
      await reloadTenants();
      onCreated(tenant);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} aria-label="Create tenant">
      <Stack gap="sm">
        <TextInput label="Tenant name" required maxLength={100} value={name} onChange={(e) => setName(e.currentTarget.value)} error={fieldError("body.name")} />
        <TextInput
          label="Slug"
          description="3-63 lower-case letters, digits and hyphens; unique on the platform"
          required
          value={effectiveSlug}
          onChange={(e) => {
            setSlugEdited(true);
            setSlug(e.currentTarget.value);
          }}
          error={slugError ?? fieldError("body.slug")}
        />
        <ErrorAlert error={error} title="The tenant was not created" />
        <Group>
          <Button type="submit" loading={busy} disabled={!name.trim() || !!slugError || !effectiveSlug}>
            Create tenant
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

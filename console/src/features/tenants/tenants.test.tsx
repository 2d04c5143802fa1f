import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { useLocation } from "../../router.js";
import { startTestApi, tenantTokens, type TestApi } from "../../test/api-server.js";
import { membership, renderSignedIn, screen, waitFor } from "../../test/render.js";
import { HomePage } from "./HomePage.js";
import { slugOf } from "./CreateTenantForm.js";
import { TenantPicker } from "./TenantPicker.js";

let api: TestApi;
let tenants: ReturnType<typeof membership>[];
beforeEach(async () => {
  api = await startTestApi();
  tenants = [membership("acme", "owner", "Acme")];
  tenantTokens(api, { acme: "owner", globex: "viewer" });
  api.route("GET", "/v1/tenants", () => ({ body: { tenants } }));
  api.route("GET", "/v1/invitations", () => ({ body: { invitations: [] } }));
});
afterEach(() => api.close());

function Where() {
  const { pathname } = useLocation();
  return <output aria-label="location">{pathname}</output>;
}

describe("creating a tenant", () => {
  it("posts the name and the derived slug with the user's token and an idempotency key, then opens the new tenant", async () => {
    api.route("POST", "/v1/tenants", (req) => {
      const body = req.body as { name: string; slug: string };
      const t = membership("globex-x1", "owner", body.name);
      tenants = [...tenants, t];
      return { status: 201, body: { tenant: t } };
    });
    await renderSignedIn(
      api,
      <>
        <HomePage />
        <Where />
      </>,
    );
    await screen.findByRole("link", { name: "Acme" });
    const user = userEvent.setup();
    await user.type(screen.getByRole("textbox", { name: /Tenant name/ }), "Globex Corp");
    expect(screen.getByRole("textbox", { name: /Slug/ })).toHaveProperty("value", "globex-corp");
    await user.click(screen.getByRole("button", { name: "Create tenant" }));
    await waitFor(() => expect(screen.getByLabelText("location").textContent).toBe("/t/globex-x1/credentials"));
    const post = api.requests.find((r) => r.method === "POST" && r.path === "/v1/tenants");
    expect(post?.body).toEqual({ name: "Globex Corp", slug: "globex-corp" });
    expect(post?.headers.authorization).toBe("Bearer user-token-alice");
    expect(post?.headers["idempotency-key"]).toMatch(/^[0-9a-f-]{36}$/);
    // The list was reloaded after creation.
    expect(api.requests.filter((r) => r.method === "GET" && r.path === "/v1/tenants").length).toBeGreaterThanOrEqual(2);
  });

  it("shows the service's refusal with its field and fix, and retries with the same idempotency key", async () => {
    api.route("POST", "/v1/tenants", () => ({ status: 409, body: { error: { code: "conflict", field: "body.slug", message: "body.slug acme-corp is taken: pick another slug" } } }));
    await renderSignedIn(api, <HomePage />);
    const user = userEvent.setup();
    await user.type(screen.getByRole("textbox", { name: /Tenant name/ }), "Acme Corp");
    await user.click(screen.getByRole("button", { name: "Create tenant" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("body.slug acme-corp is taken");
    expect(alert.textContent).toContain("Fix: pick another slug");
    await user.click(screen.getByRole("button", { name: "Create tenant" }));
    await waitFor(() => expect(api.requests.filter((r) => r.method === "POST").length).toBe(2));
    const keys = api.requests.filter((r) => r.method === "POST").map((r) => r.headers["idempotency-key"]);
    expect(keys[0]).toBe(keys[1]);
  });

  it("derives slugs the service accepts", () => {
    expect(slugOf("  Ächme & Co. ")).toBe("achme-co");
    expect(slugOf("x".repeat(80))).toHaveLength(63);
  });
});

describe("the tenant picker", () => {
  it("lists my tenants with my role and switches to the same screen of the picked one", async () => {
    tenants = [membership("acme", "owner", "Acme"), membership("globex", "viewer", "Globex")];
    await renderSignedIn(
      api,
      <>
        <TenantPicker />
        <Where />
      </>,
      "/t/acme/members",
    );
    const user = userEvent.setup();
    const picker = await screen.findByRole("combobox", { name: "Tenant" });
    expect(picker).toHaveProperty("value", "Acme (owner)");
    await user.click(picker);
    await user.click(await screen.findByRole("option", { name: "Globex (viewer)" }));
    expect(screen.getByLabelText("location").textContent).toBe("/t/globex/members");
  });
});

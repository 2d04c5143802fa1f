/**
 * Multi-user tenants on the real stack: the run's Keycloak (users sign in through its login form),
 * the provisioning service over real HTTP on its LMDB store, invitations delivered over real SMTP
 * to a server on loopback (`smtp-server`), tenant tokens verified against the service's published
 * key set.
 *
 * - A person signs up through the realm's registration form (the verification e-mail Keycloak sends
 *   is read from the SMTP server, its link opened), creates two tenants, is invited into a third,
 *   switches between them: every answer is the selected tenant's, and a token of one tenant reaches
 *   nothing of another.
 * - Invitations: single use, stored hashed, expiring, cancellable, only for the invited verified
 *   e-mail, only an owner invites an owner.
 * - Roles: change, remove, leave; the last owner stays; a removal takes effect at once here; the
 *   realm role `tenant-admin` follows owner/admin memberships.
 * - Caps from the catalog: active tenants and tenants per day per user, members and pending
 *   invitations per tenant, bus credentials per tenant and day.
 */
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PLAN_TIERS, USER_LIMITS } from "../../config/tiers.js";
import { TENANT_TOKEN } from "../../services/identity/names.js";
import { REALM_NAME, REALM_ROLES } from "../../services/keycloak-realm/names.js";
import { keys, type InvitationRecord } from "../../services/provisioning/src/control-plane.js";
import { getJson, setJson } from "../../services/provisioning/src/store/kv.js";
import { claimsOf, KEYCLOAK_WAIT_MS, type RealmUser } from "../support/keycloak.js";
import { pointRealmMailAt, registerThroughForm } from "../support/keycloak-registration.js";
import { invitationTokenOf, SmtpCatcher } from "../support/smtp-catcher.js";
import { eventually, signingKeysEnv, startHarness, TEST_TOKEN_ISSUER, type Harness } from "./harness.js";

let h: Harness;
let smtp: SmtpCatcher;
let signing: ReturnType<typeof signingKeysEnv>;

beforeAll(async () => {
  smtp = await SmtpCatcher.start();
  signing = signingKeysEnv();
  h = await startHarness({
    env: { ...signing.env, PROVISIONING_SMTP_URL: smtp.url, PROVISIONING_MAIL_FROM: "no-reply@enchanted.test", PROVISIONING_CONSOLE_URL: "https://app.enchanted.test" },
  });
  // The run's realm sends its mail (e-mail verification) to this file's SMTP server: the only test
  // file that signs people up through the form.
  await pointRealmMailAt(h.admin, smtp);
}, KEYCLOAK_WAIT_MS);

/** A person who signed up through the realm's registration form and verified the e-mail from the mail Keycloak sent. */
async function signUp(): Promise<RealmUser> {
  const person = await registerThroughForm(h.keycloak, smtp);
  return { id: String(claimsOf(person.tokens.access_token).sub), email: person.email, password: person.password };
}

afterAll(async () => {
  await h?.stop();
  await smtp?.stop();
  signing?.cleanup();
});

type Res = Awaited<ReturnType<Harness["request"]>>;
const body = <T>(r: Res) => r.body as T;
const R = `/${REALM_NAME}`;
const realmRoles = async (id: string) => (await h.admin.get<{ name: string }[]>(`${R}/users/${id}/role-mappings/realm`)).map((r) => r.name);
const drained = () => eventually(async () => (await h.svc.store.transact((tx) => tx.getRange(["o"]))).length === 0, 20_000, "the outbox to drain");

/** Invites `email` into `tenantId` as `role` with `inviter`'s tenant token; returns the secret from the e-mail. */
async function invite(inviterToken: string, tenantId: string, email: string, role: string): Promise<{ id: string; secret: string }> {
  const res = await h.request("POST", `/v1/tenants/${tenantId}/invitations`, { token: inviterToken, body: { email, role } });
  expect(res.status, res.text).toBe(201);
  const id = body<{ invitation: { id: string } }>(res).invitation.id;
  const mail = await smtp.waitFor(email);
  smtp.messages.splice(smtp.messages.indexOf(mail), 1);
  return { id, secret: invitationTokenOf(mail) };
}

describe("a user in several tenants", () => {
  it("signs up, creates two tenants, is invited into a third, switches between them, and sees only the selected one", async () => {
    const ada = await signUp();
    const bob = await h.addUser();
    const adaToken = await h.token(ada);
    const first = await h.createTenant(ada, { name: "Ada One" });
    const second = await h.createTenant(ada, { name: "Ada Two" });
    const third = await h.createTenant(bob, { name: "Bob's" });

    // A new tenant starts on the default tier, with its creator as owner.
    const created = await h.request("GET", "/v1/tenants", { token: adaToken });
    expect(body<{ tenants: { id: string; planTier: string; role: string }[] }>(created).tenants.map((t) => [t.id, t.planTier, t.role]).sort()).toEqual(
      [[first, "free", "owner"], [second, "free", "owner"]].sort(),
    );

    // Bob invites Ada as a member; the e-mail reaches the SMTP server with a single-use link.
    const bobThird = await h.tenantToken(bob, third);
    const { secret } = await invite(bobThird, third, ada.email, "member");
    const mine = body<{ invitations: { tenantId: string; tenantName: string; role: string }[] }>(await h.request("GET", "/v1/invitations", { token: adaToken }));
    expect(mine.invitations).toEqual([expect.objectContaining({ tenantId: third, tenantName: "Bob's", role: "member" })]);
    const accepted = await h.request("POST", "/v1/invitations/accept", { token: adaToken, body: { token: secret } });
    expect(accepted.status, accepted.text).toBe(200);
    expect(accepted.body).toMatchObject({ tenantId: third, role: "member" });
    expect(body<{ invitations: unknown[] }>(await h.request("GET", "/v1/invitations", { token: adaToken })).invitations).toEqual([]);

    const listed = body<{ tenants: { id: string; role: string }[] }>(await h.request("GET", "/v1/tenants", { token: adaToken })).tenants;
    expect(listed.map((t) => [t.id, t.role]).sort()).toEqual([[first, "owner"], [second, "owner"], [third, "member"]].sort());

    // Switching: one tenant token per tenant; each answers for its own tenant only.
    const jwks = createLocalJWKSet(body<{ keys: never[] }>(await h.request("GET", "/.well-known/jwks.json")));
    for (const [tenantId, role] of [[first, "owner"], [second, "owner"], [third, "member"]] as const) {
      const token = await h.tenantToken(ada, tenantId);
      const header = decodeProtectedHeader(token);
      expect(header).toMatchObject({ alg: "ES256", typ: "at+jwt" });
      const { payload } = await jwtVerify(token, jwks, { issuer: TEST_TOKEN_ISSUER, audience: TENANT_TOKEN.audience });
      expect(payload).toMatchObject({ sub: ada.id, tenant_id: tenantId, plan_tier: "free", role });
      expect((payload.exp as number) - (payload.iat as number)).toBe(TENANT_TOKEN.lifetimeSeconds);

      expect(body<{ tenant: { id: string }; role: string }>(await h.request("GET", `/v1/tenants/${tenantId}`, { token }))).toMatchObject({ tenant: { id: tenantId }, role });
      const members = body<{ tenantId: string; members: { userId: string }[] }>(await h.request("GET", `/v1/tenants/${tenantId}/members`, { token }));
      expect(members.tenantId).toBe(tenantId);
      expect(members.members.map((m) => m.userId).sort()).toEqual(tenantId === third ? [ada.id, bob.id].sort() : [ada.id]);
      expect(body<{ tenantId: string }>(await h.request("GET", `/v1/tenants/${tenantId}/usage`, { token })).tenantId).toBe(tenantId);
      const creds = await h.request("POST", `/v1/tenants/${tenantId}/bus-credentials`, { token });
      expect(creds.status, creds.text).toBe(201);
      expect(creds.body).toMatchObject({ tenantId, subjects: [`swarm.${tenantId}.>`] });
      // This tenant's token on the other tenants: the answer of a tenant that does not exist.
      for (const other of [first, second, third].filter((t) => t !== tenantId)) {
        const res = await h.request("GET", `/v1/tenants/${other}`, { token });
        expect(res.status).toBe(404);
        expect(res.text).toBe('{"error":{"code":"not_found","message":"tenant not found"}}');
      }
      // A user token is not a tenant token, and a tenant token is not a user token.
      expect((await h.request("GET", `/v1/tenants/${tenantId}`, { token: adaToken })).status).toBe(401);
      expect((await h.request("GET", "/v1/tenants", { token })).status).toBe(401);
    }

    // As a member of the third, Ada may neither invite nor offboard it; she may leave it.
    const adaThird = await h.tenantToken(ada, third);
    expect((await h.request("POST", `/v1/tenants/${third}/invitations`, { token: adaThird, body: { email: "x@example.com", role: "viewer" } })).status).toBe(403);
    const offboard = await h.request("DELETE", `/v1/tenants/${third}`, { token: adaThird });
    expect(offboard.status).toBe(403);
    expect(offboard.body).toMatchObject({ error: { code: "forbidden", message: expect.stringContaining("owner") } });
    expect((await h.request("DELETE", `/v1/tenants/${third}/members/${ada.id}`, { token: adaThird })).status).toBe(204);
    // Leaving takes effect here at once: her token of the third no longer reaches it.
    expect((await h.request("GET", `/v1/tenants/${third}`, { token: adaThird })).status).toBe(404);
    expect((await h.request("POST", `/v1/tenants/${third}/token`, { token: adaToken })).status).toBe(404);
  });
});

describe("invitations", () => {
  it("are single-use secrets stored hashed, only for the invited verified e-mail, cancellable and expiring", async () => {
    const owner = await h.addUser();
    const tenantId = await h.createTenant(owner);
    const ownerToken = await h.tenantToken(owner, tenantId);
    const invitee = await h.addUser();
    const stranger = await h.addUser();
    const { id, secret } = await invite(ownerToken, tenantId, invitee.email.toUpperCase(), "viewer");

    // Stored hashed: no key or value of the whole store holds the secret.
    const everything = await h.svc.store.transact((tx) => tx.getRange([]));
    expect(everything.some((r) => r.value.toString("utf8").includes(secret) || JSON.stringify(r.key).includes(secret))).toBe(false);
    const record = () => h.svc.store.transact((tx) => getJson<InvitationRecord>(tx, keys.invitation(tenantId, id)));
    await eventually(async () => (await record())?.delivery === "sent", 10_000, "the delivery to be recorded");
    expect(await record()).toMatchObject({ email: invitee.email, role: "viewer", status: "pending", delivery: "sent" });

    // Another signed-in user with the link gets what a wrong link gets.
    const wrongUser = await h.request("POST", "/v1/invitations/accept", { token: await h.token(stranger), body: { token: secret } });
    const wrongLink = await h.request("POST", "/v1/invitations/accept", { token: await h.token(invitee), body: { token: "A".repeat(43) } });
    expect(wrongUser.status).toBe(404);
    expect(wrongUser.text).toBe(wrongLink.text);
    // An address no longer verified cannot accept, even with the link: Keycloak asks verification
    // at every login, so the token is a refreshed one of a session from before the address changed.
    const unverified = await h.addUser();
    await h.token(unverified);
    await h.admin.call("PUT", `${R}/users/${unverified.id}`, { emailVerified: false });
    const unverifiedToken = await h.token(unverified, { refresh: true });
    expect(claimsOf(unverifiedToken).email_verified).toBe(false);
    const refused = await h.request("POST", "/v1/invitations/accept", { token: unverifiedToken, body: { token: secret } });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: { message: expect.stringContaining("verify your e-mail") } });

    // The invitee accepts once; the second use finds nothing.
    const inviteeToken = await h.token(invitee);
    expect((await h.request("POST", "/v1/invitations/accept", { token: inviteeToken, body: { token: secret } })).status).toBe(200);
    const second = await h.request("POST", "/v1/invitations/accept", { token: inviteeToken, body: { token: secret } });
    expect(second.status).toBe(404);
    const viewer = await h.tenantToken(invitee, tenantId);
    expect(body<{ role: string }>(await h.request("GET", `/v1/tenants/${tenantId}`, { token: viewer })).role).toBe("viewer");
    // A viewer reads, but mints no credentials.
    expect((await h.request("POST", `/v1/tenants/${tenantId}/bus-credentials`, { token: viewer })).status).toBe(403);

    // Cancelled: the link stops working at once. By id from the invitee's own list works too.
    const late = await h.addUser();
    const cancelled = await invite(ownerToken, tenantId, late.email, "member");
    expect((await h.request("DELETE", `/v1/tenants/${tenantId}/invitations/${cancelled.id}`, { token: ownerToken })).body).toMatchObject({ invitation: { status: "cancelled" } });
    expect((await h.request("POST", "/v1/invitations/accept", { token: await h.token(late), body: { token: cancelled.secret } })).status).toBe(404);
    const again = await invite(ownerToken, tenantId, late.email, "member");
    const byId = await h.request("POST", "/v1/invitations/accept", { token: await h.token(late), body: { invitationId: again.id } });
    expect(byId.status, byId.text).toBe(200);

    // Expired: refused with 410 (the clock moved past the record's expiry).
    const slow = await h.addUser();
    const expiring = await invite(ownerToken, tenantId, slow.email, "member");
    await h.svc.store.transact(async (tx) => {
      const rec = await getJson<InvitationRecord>(tx, keys.invitation(tenantId, expiring.id));
      setJson(tx, keys.invitation(tenantId, expiring.id), { ...rec, expiresAt: Date.now() - 1 });
    });
    const expired = await h.request("POST", "/v1/invitations/accept", { token: await h.token(slow), body: { token: expiring.secret } });
    expect(expired.status).toBe(410);
    const list = body<{ invitations: { id: string; status: string }[] }>(await h.request("GET", `/v1/tenants/${tenantId}/invitations`, { token: ownerToken })).invitations;
    expect(Object.fromEntries(list.map((i) => [i.id, i.status]))).toMatchObject({ [id]: "accepted", [cancelled.id]: "cancelled", [again.id]: "accepted", [expiring.id]: "expired" });

    // Bad input names the field and the fix; nothing is created.
    const bad = await h.request("POST", `/v1/tenants/${tenantId}/invitations`, { token: ownerToken, body: { email: "not-an-address", role: "member" } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { field: "body.email" } });
    const badRole = await h.request("POST", `/v1/tenants/${tenantId}/invitations`, { token: ownerToken, body: { email: "a@example.com", role: "superuser" } });
    expect(badRole.body).toMatchObject({ error: { field: "body.role", message: expect.stringContaining("owner, admin, member, viewer") } });
    expect((await h.request("POST", "/v1/invitations/accept", { token: inviteeToken, body: {} })).body).toMatchObject({ error: { field: "body.token" } });
  });

  it("lets only an owner invite an owner, and only owners and admins manage invitations", async () => {
    const owner = await h.addUser();
    const tenantId = await h.createTenant(owner);
    const ownerToken = await h.tenantToken(owner, tenantId);
    const admin = await h.addUser();
    const a = await invite(ownerToken, tenantId, admin.email, "admin");
    expect((await h.request("POST", "/v1/invitations/accept", { token: await h.token(admin), body: { token: a.secret } })).status).toBe(200);
    const adminToken = await h.tenantToken(admin, tenantId);
    expect((await h.request("POST", `/v1/tenants/${tenantId}/invitations`, { token: adminToken, body: { email: "next-owner@example.com", role: "owner" } })).status).toBe(403);
    expect((await h.request("POST", `/v1/tenants/${tenantId}/invitations`, { token: adminToken, body: { email: "helper@example.com", role: "admin" } })).status).toBe(201);
    expect((await h.request("GET", `/v1/tenants/${tenantId}/invitations`, { token: adminToken })).status).toBe(200);
  });
});

describe("roles", () => {
  it("changes and removes members by the rules, keeps the last owner, and moves the realm role with them", async () => {
    const ada = await h.addUser();
    const tenantId = await h.createTenant(ada);
    const adaToken = await h.tenantToken(ada, tenantId);
    const join = async (role: string): Promise<{ user: RealmUser; token: () => Promise<string> }> => {
      const user = await h.addUser();
      const inv = await invite(adaToken, tenantId, user.email, role);
      expect((await h.request("POST", "/v1/invitations/accept", { token: await h.token(user), body: { token: inv.secret } })).status).toBe(200);
      return { user, token: () => h.tenantToken(user, tenantId) };
    };
    const admin = await join("admin");
    const member = await join("member");
    const viewer = await join("viewer");
    await drained();
    expect(await realmRoles(ada.id)).toContain(REALM_ROLES.tenantAdmin);
    expect(await realmRoles(admin.user.id)).toContain(REALM_ROLES.tenantAdmin);
    expect(await realmRoles(member.user.id)).not.toContain(REALM_ROLES.tenantAdmin);

    // The last owner can neither leave nor be demoted.
    const leave = await h.request("DELETE", `/v1/tenants/${tenantId}/members/${ada.id}`, { token: adaToken });
    expect(leave.status).toBe(409);
    expect(leave.body).toMatchObject({ error: { message: expect.stringContaining("last owner") } });
    expect((await h.request("PUT", `/v1/tenants/${tenantId}/members/${ada.id}`, { token: adaToken, body: { role: "admin" } })).status).toBe(409);
    // An admin may not touch an owner, nor make one; a member manages nobody.
    expect((await h.request("DELETE", `/v1/tenants/${tenantId}/members/${ada.id}`, { token: await admin.token() })).status).toBe(403);
    expect((await h.request("PUT", `/v1/tenants/${tenantId}/members/${member.user.id}`, { token: await admin.token(), body: { role: "owner" } })).status).toBe(403);
    expect((await h.request("PUT", `/v1/tenants/${tenantId}/members/${viewer.user.id}`, { token: await member.token(), body: { role: "member" } })).status).toBe(403);
    expect((await h.request("DELETE", `/v1/tenants/${tenantId}/members/${viewer.user.id}`, { token: await member.token() })).status).toBe(403);
    // An admin promotes a viewer to member and removes the member.
    expect(body<{ role: string }>(await h.request("PUT", `/v1/tenants/${tenantId}/members/${viewer.user.id}`, { token: await admin.token(), body: { role: "member" } })).role).toBe("member");
    const memberToken = await member.token();
    expect((await h.request("DELETE", `/v1/tenants/${tenantId}/members/${member.user.id}`, { token: await admin.token() })).status).toBe(204);
    // The removal takes effect here at once, on a token issued before it.
    expect((await h.request("GET", `/v1/tenants/${tenantId}`, { token: memberToken })).status).toBe(404);
    expect((await h.request("DELETE", `/v1/tenants/${tenantId}/members/${member.user.id}`, { token: adaToken })).status).toBe(404);

    // The owner hands over: the admin becomes owner, then Ada may leave; the admin keeps the realm role.
    expect((await h.request("PUT", `/v1/tenants/${tenantId}/members/${admin.user.id}`, { token: adaToken, body: { role: "owner" } })).status).toBe(200);
    expect((await h.request("DELETE", `/v1/tenants/${tenantId}/members/${ada.id}`, { token: adaToken })).status).toBe(204);
    // Demoting the new owner (now the last) is refused; demoting nobody else is left to do.
    const newOwner = await admin.token();
    expect((await h.request("PUT", `/v1/tenants/${tenantId}/members/${admin.user.id}`, { token: newOwner, body: { role: "viewer" } })).status).toBe(409);
    await drained();
    expect(await realmRoles(ada.id)).not.toContain(REALM_ROLES.tenantAdmin);
    expect(await realmRoles(admin.user.id)).toContain(REALM_ROLES.tenantAdmin);
    const members = body<{ members: { userId: string; role: string }[] }>(await h.request("GET", `/v1/tenants/${tenantId}/members`, { token: newOwner })).members;
    expect(Object.fromEntries(members.map((m) => [m.userId, m.role]))).toEqual({ [admin.user.id]: "owner", [viewer.user.id]: "member" });
    expect(body<{ usage: Record<string, number> }>(await h.request("GET", `/v1/tenants/${tenantId}/usage`, { token: newOwner })).usage).toMatchObject({ members: 2, owners: 1 });
  });
});

describe("caps from the catalog", () => {
  it("caps a user's active tenants and tenants per day", async () => {
    const user = await h.addUser();
    const token = await h.token(user);
    const ids: string[] = [];
    for (let i = 0; i < USER_LIMITS.activeTenants; i++) ids.push(await h.createTenant(user));
    const over = await h.request("POST", "/v1/tenants", { token, body: { name: "one too many", slug: `over-${Date.now()}` } });
    expect(over.status).toBe(429);
    expect(over.body).toMatchObject({ error: { code: "tenant_limit", message: expect.stringContaining(`(${USER_LIMITS.activeTenants})`) } });
    // Offboarding frees a place, until the day's creations are used up.
    let created = USER_LIMITS.activeTenants;
    while (created < USER_LIMITS.tenantsPerDay) {
      const id = ids.shift()!;
      expect((await h.request("DELETE", `/v1/tenants/${id}`, { token: await h.tenantToken(user, id) })).status).toBe(202);
      ids.push(await h.createTenant(user));
      created++;
    }
    const id = ids.shift()!;
    expect((await h.request("DELETE", `/v1/tenants/${id}`, { token: await h.tenantToken(user, id) })).status).toBe(202);
    const daily = await h.request("POST", "/v1/tenants", { token, body: { name: "tomorrow", slug: `tomorrow-${Date.now()}` } });
    expect(daily.status).toBe(429);
    expect(daily.body).toMatchObject({ error: { code: "tenant_limit", message: expect.stringContaining("per day") } });
    // The tier comes from the catalog's default, never from the caller.
    const chosen = await h.request("POST", "/v1/tenants", { token, body: { name: "x", slug: "chosen-tier", planTier: "enterprise" } });
    expect(chosen.status).toBe(400);
    expect(chosen.body).toMatchObject({ error: { field: "body.planTier", message: expect.stringContaining("billing") } });
  });

  it("caps members, pending invitations and bus credentials per tenant by its tier", async () => {
    const owner = await h.addUser();
    const tenantId = await h.createTenant(owner);
    const token = await h.tenantToken(owner, tenantId);
    const free = PLAN_TIERS.free;
    // The owner counts as a member: max - 1 invitations fit.
    for (let i = 1; i < free.members.max; i++) {
      expect((await h.request("POST", `/v1/tenants/${tenantId}/invitations`, { token, body: { email: `cap-${i}-${tenantId}@example.com`, role: "viewer" } })).status).toBe(201);
    }
    const full = await h.request("POST", `/v1/tenants/${tenantId}/invitations`, { token, body: { email: `cap-x-${tenantId}@example.com`, role: "viewer" } });
    expect(full.status).toBe(429);
    expect(full.body).toMatchObject({ error: { code: "member_limit" } });

    for (let i = 0; i < free.bus.credentialsPerDay; i++) {
      const res = await h.request("POST", `/v1/tenants/${tenantId}/bus-credentials`, { token, body: { ttlSeconds: 60 } });
      expect(res.status, res.text).toBe(201);
    }
    const over = await h.request("POST", `/v1/tenants/${tenantId}/bus-credentials`, { token });
    expect(over.status).toBe(429);
    expect(over.body).toMatchObject({ error: { code: "credential_limit" } });
    expect(body<{ usage: Record<string, number> }>(await h.request("GET", `/v1/tenants/${tenantId}/usage`, { token })).usage).toMatchObject({ bus_credentials_minted: free.bus.credentialsPerDay, pending_invitations: free.members.max - 1 });
  });
});

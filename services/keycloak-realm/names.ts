/**
 * The names other parts of the platform share with the Keycloak realm: the realm, its clients,
 * the claims the API gateway reads and the audience it checks. The one home of each; Kong and the
 * provisioning service import them from here.
 */

/** The one realm. Tenants are Organizations inside it, never realms. */
export const REALM_NAME = "enchanted";

/** Top-level access-token claim holding the caller's tenant id (it matches `TENANT_ID_PATTERN`). */
export const TENANT_CLAIM = "tenant_id";
/** Top-level access-token claim holding the tenant's plan tier (one of `PLAN_TIER_NAMES`). */
export const PLAN_TIER_CLAIM = "plan_tier";

/**
 * User attributes the claims are read from. The provisioning service writes both on every member
 * of a tenant's Organization (and rewrites `plan_tier` on every member when the plan changes);
 * the user profile lets only admins (the provisioning service account) edit or even see them.
 */
export const TENANT_ATTRIBUTE = "tenant_id";
export const PLAN_TIER_ATTRIBUTE = "plan_tier";

/** `aud` value of every access token meant for the API; Kong rejects tokens without it. */
export const API_AUDIENCE = "api";

/** Public (PKCE) client of the web app. */
export const WEB_CLIENT_ID = "enchanted-web";
/** Confidential client of the provisioning service (client credentials, service account). */
export const PROVISIONING_CLIENT_ID = "enchanted-provisioning";
/** Keycloak names a client's service-account user after the client. */
export const PROVISIONING_SERVICE_ACCOUNT = `service-account-${PROVISIONING_CLIENT_ID}`;

/** Client scope carrying the tenant claims and the API audience (a default scope of the web client). */
export const TENANT_CLIENT_SCOPE = "enchanted-tenant";

/** Realm roles. Admin roles are composites of {@link MFA_REQUIRED_ROLE}, which the login flow's OTP condition checks. */
export const REALM_ROLES = {
  /** Operators of the platform (all tenants). */
  platformAdmin: "platform-admin",
  /** Administrators of one tenant; the provisioning service grants it to a tenant's first user. */
  tenantAdmin: "tenant-admin",
  /** Marker role: whoever has it (directly or through a composite) must pass OTP at login. */
  mfaRequired: "mfa-required",
} as const;

/** Realm roles that require OTP at every browser login. */
export const ADMIN_ROLES = [REALM_ROLES.platformAdmin, REALM_ROLES.tenantAdmin] as const;

/**
 * `realm-management` roles of the provisioning service account, and why each is needed
 * (Keycloak 26.5 admin REST API):
 * - `manage-users`: create the tenant's users, write their `tenant_id` / `plan_tier` attributes,
 *   grant `tenant-admin`, send the verification e-mail, disable and delete users. It implies
 *   viewing and querying users.
 * - `manage-realm`: every `/organizations` endpoint (create an Organization, add and remove
 *   members, set its attributes) requires it in 26.5. Keycloak 26.6 adds a narrower
 *   `manage-organizations` role: replace `manage-realm` with it when the chart moves there.
 */
export const PROVISIONING_ADMIN_ROLES = ["manage-realm", "manage-users"] as const;

/** Name of Keycloak's per-realm admin client that owns the admin roles. */
export const REALM_MANAGEMENT_CLIENT = "realm-management";

/** The browser login flow the realm binds: the built-in steps plus OTP for admin roles. */
export const BROWSER_FLOW = "browser-admin-otp";

/**
 * Environment variables the realm apply (`applyRealm`) substitutes (`$(env:NAME)`) into the realm: secrets never appear in the realm JSON, the ConfigMap or Terraform.
 */
export const REALM_VARIABLES = {
  provisioningClientSecret: "PROVISIONING_CLIENT_SECRET",
  smtpUsername: "SMTP_USERNAME",
  smtpPassword: "SMTP_PASSWORD",
} as const;

/**
 * The realm Job's environment (`apply-main.ts`, run by the Job of constructs/keycloak/realm-import.ts
 * and by the tests): where Keycloak is, how to sign in (client credentials of the bootstrap admin
 * client in `master`), the realm file, and how long to wait for Keycloak to answer. The names are
 * keycloak-config-cli's, whose job this is.
 */
export const REALM_APPLY_ENV = {
  url: "KEYCLOAK_URL",
  loginRealm: "KEYCLOAK_LOGINREALM",
  clientId: "KEYCLOAK_CLIENTID",
  clientSecret: "KEYCLOAK_CLIENTSECRET",
  file: "REALM_FILE",
  availabilityTimeoutSeconds: "KEYCLOAK_AVAILABILITY_TIMEOUT_SECONDS",
} as const;

/** A realm variable reference (`$(env:NAME)`, keycloak-config-cli's syntax, which applyRealm substitutes). */
export function realmVariable(name: string): string {
  return `$(env:${name})`;
}

/** Paths of the web app under its origin. */
export const WEB_APP_PATHS = {
  /** Where Keycloak sends the authorization code. */
  redirect: "/auth/callback",
  /** Where Keycloak sends the browser after logout. */
  postLogout: "/",
} as const;

/** The issuer (`iss`) of the realm's tokens, behind `https://<domains.auth>`. */
export function issuerUrl(authDomain: string): string {
  return `https://${authDomain}/realms/${REALM_NAME}`;
}

/** The realm's JSON Web Key Set, where Kong fetches the token signing keys. */
export function jwksUrl(authDomain: string): string {
  return `${issuerUrl(authDomain)}/protocol/openid-connect/certs`;
}

/**
 * The names other parts of the platform share with the Keycloak realm: the realm, its clients,
 * client scopes, roles and the audiences of its tokens. The one home of each; the provisioning
 * service, the identity contract (services/identity/names.ts) and Kong import them from here.
 *
 * Keycloak holds users only: no Organization, group, attribute, client or role per tenant.
 * Tenants and their memberships live in the platform's own store; a tenant-scoped call carries
 * the platform's tenant token, which the provisioning service signs.
 */

/** The one realm: the platform's users (never one realm, Organization or group per tenant). */
export const REALM_NAME = "enchanted";

/**
 * Claim of the platform's tenant token (`TENANT_TOKEN` in services/identity/names.ts), not of any
 * Keycloak token: the tenant the token is good for (it matches `TENANT_ID_PATTERN`).
 */
export const TENANT_CLAIM = "tenant_id";
/** Claim of the platform's tenant token, not of any Keycloak token: the tenant's plan tier (one of `PLAN_TIER_NAMES`). */
export const PLAN_TIER_CLAIM = "plan_tier";

/** `aud` of every Keycloak access token meant for the API (a user token); the API refuses a Keycloak token without it. */
export const API_AUDIENCE = "api";

/** Public (PKCE) client of the web app. */
export const WEB_CLIENT_ID = "enchanted-web";
/**
 * Public (PKCE) client of the operator console: its access tokens carry the realm role
 * `platform-admin` (nothing else of the user's roles) and the audience `OPERATOR_AUDIENCE` of
 * services/identity/names.ts, never {@link API_AUDIENCE}.
 */
export const OPERATOR_CLIENT_ID = "enchanted-operator";
/** Confidential client of the provisioning service (client credentials, service account). */
export const PROVISIONING_CLIENT_ID = "enchanted-provisioning";
/** Keycloak names a client's service-account user after the client. */
export const PROVISIONING_SERVICE_ACCOUNT = `service-account-${PROVISIONING_CLIENT_ID}`;

/** Client scope carrying the API audience (a default scope of the web client). */
export const API_CLIENT_SCOPE = "enchanted-api";
/** Client scope carrying the operator audience (a default scope of the operator client only). */
export const OPERATIONS_CLIENT_SCOPE = "enchanted-operations";
/**
 * Client scopes whose name starts with this are the realm's own: the realm apply deletes one the
 * realm no longer declares (the built-in scopes Keycloak creates are never touched).
 */
export const OWNED_CLIENT_SCOPE_PREFIX = "enchanted-";

/** Realm roles. Admin roles are composites of {@link MFA_REQUIRED_ROLE}, which the login flow's OTP condition checks. */
export const REALM_ROLES = {
  /** Operators of the platform (all tenants); the only role the operator client's tokens carry. */
  platformAdmin: "platform-admin",
  /**
   * Per user, not per tenant: the user is an owner or admin of at least one tenant (the
   * memberships live in the platform's store). The provisioning service grants and revokes it; it
   * keeps OTP required at login for whoever administers a tenant.
   */
  tenantAdmin: "tenant-admin",
  /** Marker role: whoever has it (directly or through a composite) must pass OTP at login. */
  mfaRequired: "mfa-required",
} as const;

/** Realm roles that require OTP at every browser login. */
export const ADMIN_ROLES = [REALM_ROLES.platformAdmin, REALM_ROLES.tenantAdmin] as const;

/**
 * `realm-management` roles of the provisioning service account, and why each is needed
 * (Keycloak 26.5 admin REST API):
 * - `manage-users`: grant and revoke the realm role `tenant-admin` (it implies viewing and
 *   querying users, and mapping realm roles that are not admin roles). The adapter finds the role
 *   through the user's role mappings (`/users/{id}/role-mappings/realm[/available]`), which this
 *   role allows; reading `/roles/{name}` would need `view-realm` as well.
 */
export const PROVISIONING_ADMIN_ROLES = ["manage-users"] as const;

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
  /** Where Keycloak sends the operator console's authorization code (the operator client). */
  operatorRedirect: "/operator/callback",
  /** The operator console, and where Keycloak sends the browser after an operator's logout. */
  operatorHome: "/operator/",
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

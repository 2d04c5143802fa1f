/**
 * The realm, as data: one pure function from an environment's config to the realm
 * representation the realm program applies (Keycloak's own realm JSON format, plus its
 * `userProfile` key). Keycloak holds users only: nothing here, nor anything the platform writes
 * into Keycloak at run time, is per tenant (no Organization, group, attribute, client, role or
 * scope). Tenants and memberships live in the platform's store; tenant-scoped calls carry the
 * platform's tenant token (services/identity/names.ts).
 */
import type { EnvironmentConfig } from "../../config/environment.js";
import { isLoopbackHost } from "../../console/contract.js";
import { OPERATOR_AUDIENCE } from "../identity/names.js";
import { FieldError } from "../runtime/errors.js";
import {
  ADMIN_ROLES,
  API_AUDIENCE,
  API_CLIENT_SCOPE,
  BROWSER_FLOW,
  OPERATIONS_CLIENT_SCOPE,
  OPERATOR_CLIENT_ID,
  PROVISIONING_ADMIN_ROLES,
  PROVISIONING_CLIENT_ID,
  PROVISIONING_SERVICE_ACCOUNT,
  REALM_MANAGEMENT_CLIENT,
  REALM_NAME,
  REALM_ROLES,
  REALM_VARIABLES,
  realmVariable,
  WEB_APP_PATHS,
  WEB_CLIENT_ID,
} from "./names.js";

/** What the realm needs of an environment's config. */
export type RealmEnvironment = Pick<EnvironmentConfig, "name" | "domains" | "aws">;

export interface RealmOptions {
  /**
   * Origin (`https://host`, no path; `http://` only on a loopback address, for the local platform) the web app and the operator console are served from: the
   * redirect URIs, post-logout URIs and CORS origin of both public clients derive from it.
   * @default `https://${domains.api}`
   */
  readonly webAppOrigin?: string;
  /** Lifetime of access tokens. @default DEFAULT_ACCESS_TOKEN_LIFESPAN_SECONDS */
  readonly accessTokenLifespanSeconds?: number;
}

/** Short-lived access tokens: a disabled user or a revoked role reaches the API within 5 minutes. */
export const DEFAULT_ACCESS_TOKEN_LIFESPAN_SECONDS = 300;
/** Access tokens may live no longer than this (Kong trusts a token until it expires). */
export const MAX_ACCESS_TOKEN_LIFESPAN_SECONDS = 900;

/**
 * Password policy (NIST SP 800-63B: length over composition rules): at least 12 characters, at
 * most 128, not the user name or e-mail, none of the last 5 passwords.
 */
export const PASSWORD_POLICY = "length(12) and maxLength(128) and notUsername and notEmail and passwordHistory(5)";

/** Brute-force detection: temporary lockouts that grow from 1 to 15 minutes after 5 failures within 12 hours. */
export const BRUTE_FORCE = {
  bruteForceProtected: true,
  permanentLockout: false,
  failureFactor: 5,
  waitIncrementSeconds: 60,
  maxFailureWaitSeconds: 900,
  maxDeltaTimeSeconds: 43_200,
  quickLoginCheckMilliSeconds: 1_000,
  minimumQuickLoginWaitSeconds: 60,
} as const;

/** SES SMTP submission port with STARTTLS. */
const SMTP_PORT = 587;
/** Alias of the authenticator config that makes OTP conditional on {@link REALM_ROLES.mfaRequired}. */
export const ADMIN_OTP_CONDITION = "admin-roles-require-otp";
/** Client scopes every OIDC client of a Keycloak 26 realm needs (`basic` carries `sub`). */
const BUILT_IN_DEFAULT_SCOPES = ["basic", "profile", "email", "roles", "web-origins", "acr"] as const;

export interface ProtocolMapperRepresentation {
  readonly name: string;
  readonly protocol: "openid-connect";
  readonly protocolMapper: string;
  readonly config: Readonly<Record<string, string>>;
}

export interface ClientScopeRepresentation {
  readonly name: string;
  readonly description: string;
  readonly protocol: "openid-connect";
  readonly attributes: Readonly<Record<string, string>>;
  readonly protocolMappers: readonly ProtocolMapperRepresentation[];
}

export interface ClientRepresentation {
  readonly clientId: string;
  readonly name?: string;
  readonly description?: string;
  readonly enabled?: boolean;
  readonly protocol?: "openid-connect";
  readonly publicClient?: boolean;
  readonly clientAuthenticatorType?: string;
  readonly secret?: string;
  readonly standardFlowEnabled?: boolean;
  readonly implicitFlowEnabled?: boolean;
  readonly directAccessGrantsEnabled?: boolean;
  readonly serviceAccountsEnabled?: boolean;
  readonly frontchannelLogout?: boolean;
  readonly fullScopeAllowed?: boolean;
  readonly rootUrl?: string;
  readonly baseUrl?: string;
  readonly redirectUris?: readonly string[];
  readonly webOrigins?: readonly string[];
  readonly attributes?: Readonly<Record<string, string>>;
  readonly defaultClientScopes?: readonly string[];
  readonly optionalClientScopes?: readonly string[];
}

export interface RoleRepresentation {
  readonly name: string;
  readonly description: string;
  readonly composite: boolean;
  readonly composites?: { readonly realm: readonly string[] };
}

export interface AuthenticationExecution {
  readonly authenticator?: string;
  readonly flowAlias?: string;
  readonly authenticatorConfig?: string;
  readonly authenticatorFlow: boolean;
  readonly requirement: "REQUIRED" | "ALTERNATIVE" | "CONDITIONAL" | "DISABLED";
  readonly priority: number;
  readonly userSetupAllowed: boolean;
}

export interface AuthenticationFlowRepresentation {
  readonly alias: string;
  readonly description: string;
  readonly providerId: "basic-flow";
  readonly topLevel: boolean;
  readonly builtIn: false;
  readonly authenticationExecutions: readonly AuthenticationExecution[];
}

export interface UserProfileAttribute {
  readonly name: string;
  readonly displayName: string;
  readonly multivalued: boolean;
  readonly group?: string;
  readonly validations: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly permissions: { readonly view: readonly string[]; readonly edit: readonly string[] };
  readonly required?: { readonly roles: readonly string[] };
}

export interface UserRepresentation {
  readonly username: string;
  readonly enabled: boolean;
  readonly serviceAccountClientId: string;
  readonly clientRoles: Readonly<Record<string, readonly string[]>>;
}

/** The realm representation the realm program (apply-main.ts, applyRealm) applies. */
export interface RealmRepresentation {
  readonly realm: string;
  readonly displayName: string;
  readonly enabled: boolean;
  readonly sslRequired: "external" | "all";
  readonly organizationsEnabled: boolean;
  readonly registrationAllowed: boolean;
  readonly registrationEmailAsUsername: boolean;
  readonly verifyEmail: boolean;
  readonly loginWithEmailAllowed: boolean;
  readonly duplicateEmailsAllowed: boolean;
  readonly resetPasswordAllowed: boolean;
  readonly editUsernameAllowed: boolean;
  readonly rememberMe: boolean;
  readonly bruteForceProtected: boolean;
  readonly permanentLockout: boolean;
  readonly failureFactor: number;
  readonly waitIncrementSeconds: number;
  readonly maxFailureWaitSeconds: number;
  readonly maxDeltaTimeSeconds: number;
  readonly quickLoginCheckMilliSeconds: number;
  readonly minimumQuickLoginWaitSeconds: number;
  readonly passwordPolicy: string;
  readonly accessTokenLifespan: number;
  readonly ssoSessionIdleTimeout: number;
  readonly ssoSessionMaxLifespan: number;
  readonly revokeRefreshToken: boolean;
  readonly refreshTokenMaxReuse: number;
  readonly defaultSignatureAlgorithm: string;
  readonly otpPolicyType: "totp";
  readonly otpPolicyAlgorithm: string;
  readonly otpPolicyDigits: number;
  readonly otpPolicyPeriod: number;
  readonly eventsEnabled: boolean;
  readonly eventsExpiration: number;
  readonly adminEventsEnabled: boolean;
  readonly adminEventsDetailsEnabled: boolean;
  readonly browserFlow: string;
  readonly smtpServer: Readonly<Record<string, string>>;
  readonly roles: { readonly realm: readonly RoleRepresentation[] };
  readonly clientScopes: readonly ClientScopeRepresentation[];
  readonly clients: readonly ClientRepresentation[];
  readonly scopeMappings: readonly { readonly client: string; readonly roles: readonly string[] }[];
  readonly users: readonly UserRepresentation[];
  readonly authenticationFlows: readonly AuthenticationFlowRepresentation[];
  readonly authenticatorConfig: readonly { readonly alias: string; readonly config: Readonly<Record<string, string>> }[];
  readonly userProfile: {
    readonly attributes: readonly UserProfileAttribute[];
    readonly groups: readonly { readonly name: string; readonly displayHeader: string; readonly displayDescription: string }[];
  };
}

/** Thrown for a realm option that cannot be used. */
export class RealmConfigError extends FieldError {
  override readonly name = "RealmConfigError";
  readonly code = "E_REALM_CONFIG";
  constructor(field: string, value: unknown, problem: string, fix: string) {
    super(field, value, problem, fix, { context: "realmConfig: " });
  }
}

/** Adds `audience` to the `aud` of access tokens (and introspection), never of ID tokens. */
function audienceMapper(name: string, audience: string): ProtocolMapperRepresentation {
  return {
    name,
    protocol: "openid-connect",
    protocolMapper: "oidc-audience-mapper",
    config: {
      "included.custom.audience": audience,
      "access.token.claim": "true",
      "id.token.claim": "false",
      "introspection.token.claim": "true",
    },
  };
}

const HIDDEN_SCOPE = { "include.in.token.scope": "false", "display.on.consent.screen": "false" } as const;

/** The web client's scope: `aud: api` in every access token, which the API demands of a user token. Nothing about tenants. */
export function apiClientScope(): ClientScopeRepresentation {
  return {
    name: API_CLIENT_SCOPE,
    description: "The API audience of a signed-in user's access token",
    protocol: "openid-connect",
    attributes: HIDDEN_SCOPE,
    protocolMappers: [audienceMapper("api-audience", API_AUDIENCE)],
  };
}

/** The operator client's scope: `aud: platform-operations`, which the operator routes demand together with `platform-admin`. */
export function operationsClientScope(): ClientScopeRepresentation {
  return {
    name: OPERATIONS_CLIENT_SCOPE,
    description: "The operator audience of a platform operator's access token",
    protocol: "openid-connect",
    attributes: HIDDEN_SCOPE,
    protocolMappers: [audienceMapper("operations-audience", OPERATOR_AUDIENCE)],
  };
}

/**
 * A public browser client on the web app's origin: authorization code with PKCE (S256) only, no
 * secret, no password, device or CIBA grant, no token exchange; its own scope beside the built-in ones.
 */
function browserClient(origin: string, c: { clientId: string; name: string; description: string; home: string; redirect: string; postLogout: string; scope: string }): ClientRepresentation {
  return {
    clientId: c.clientId,
    name: c.name,
    description: c.description,
    enabled: true,
    protocol: "openid-connect",
    publicClient: true,
    standardFlowEnabled: true,
    implicitFlowEnabled: false,
    directAccessGrantsEnabled: false,
    serviceAccountsEnabled: false,
    frontchannelLogout: true,
    fullScopeAllowed: false,
    rootUrl: origin,
    baseUrl: c.home,
    redirectUris: [`${origin}${c.redirect}`],
    webOrigins: [origin],
    attributes: {
      "pkce.code.challenge.method": "S256",
      "post.logout.redirect.uris": `${origin}${c.postLogout}`,
      "oauth2.device.authorization.grant.enabled": "false",
      "oidc.ciba.grant.enabled": "false",
      "standard.token.exchange.enabled": "false",
    },
    defaultClientScopes: [...BUILT_IN_DEFAULT_SCOPES, c.scope],
    optionalClientScopes: [],
  };
}

/**
 * The web app's origin: https, no path, no wildcard. Plain http only on a loopback host (the local
 * platform's console, `npm run platform`): a browser on the same machine, nothing on a network.
 */
function checkOrigin(origin: string): string {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new RealmConfigError("webAppOrigin", origin, "is not a URL", 'write an origin such as "https://app.example.com"');
  }
  const secure = url.protocol === "https:" || (url.protocol === "http:" && isLoopbackHost(url.hostname));
  if (!secure || url.origin !== origin || origin.includes("*")) {
    throw new RealmConfigError("webAppOrigin", origin, "is not an https origin without path or wildcard (plain http only on a loopback address)", 'write an origin such as "https://app.example.com", or http://127.0.0.1:<port> for the local platform');
  }
  return origin;
}

function execution(
  step: { authenticator: string; authenticatorConfig?: string } | { flowAlias: string },
  requirement: AuthenticationExecution["requirement"],
  priority: number,
): AuthenticationExecution {
  return { ...step, authenticatorFlow: "flowAlias" in step, requirement, priority, userSetupAllowed: false };
}

/**
 * The browser login: an SSO cookie, an identity-provider redirect (`kc_idp_hint`), or the
 * username/password form followed by OTP when the user holds `mfa-required` (through an admin
 * role). An admin without OTP yet is made to configure it at that login (the OTP form adds the
 * CONFIGURE_TOTP required action).
 */
export function browserFlows(): AuthenticationFlowRepresentation[] {
  const forms = `${BROWSER_FLOW} forms`;
  const adminOtp = `${BROWSER_FLOW} admin otp`;
  return [
    {
      alias: BROWSER_FLOW,
      description: "Browser login; OTP is required for admin roles",
      providerId: "basic-flow",
      topLevel: true,
      builtIn: false,
      authenticationExecutions: [
        execution({ authenticator: "auth-cookie" }, "ALTERNATIVE", 10),
        execution({ authenticator: "identity-provider-redirector" }, "ALTERNATIVE", 20),
        execution({ flowAlias: forms }, "ALTERNATIVE", 30),
      ],
    },
    {
      alias: forms,
      description: "Username and password, then OTP for admin roles",
      providerId: "basic-flow",
      topLevel: false,
      builtIn: false,
      authenticationExecutions: [
        execution({ authenticator: "auth-username-password-form" }, "REQUIRED", 10),
        execution({ flowAlias: adminOtp }, "CONDITIONAL", 20),
      ],
    },
    {
      alias: adminOtp,
      description: `OTP when the user has the ${REALM_ROLES.mfaRequired} role (every admin role is a composite of it)`,
      providerId: "basic-flow",
      topLevel: false,
      builtIn: false,
      authenticationExecutions: [
        execution({ authenticator: "conditional-user-role", authenticatorConfig: ADMIN_OTP_CONDITION }, "REQUIRED", 10),
        execution({ authenticator: "auth-otp-form" }, "REQUIRED", 20),
      ],
    },
  ];
}

const BY_USER_AND_ADMINS = { view: ["admin", "user"], edit: ["admin", "user"] } as const;

/**
 * The declarative user profile: the user name, e-mail and names, nothing else. Attributes not
 * listed here are not stored (unmanaged attributes stay disabled), so neither registration, the
 * account API nor an admin can put anything else on a user, a tenant least of all.
 */
export function userProfileAttributes(): UserProfileAttribute[] {
  return [
    {
      name: "username",
      displayName: "Username",
      multivalued: false,
      validations: { length: { min: 3, max: 255 }, "username-prohibited-characters": {}, "up-username-not-idn-homograph": {} },
      permissions: BY_USER_AND_ADMINS,
    },
    {
      name: "email",
      displayName: "Email",
      multivalued: false,
      validations: { email: {}, length: { max: 255 } },
      required: { roles: ["user"] },
      permissions: BY_USER_AND_ADMINS,
    },
    {
      name: "firstName",
      displayName: "First name",
      multivalued: false,
      validations: { length: { max: 255 }, "person-name-prohibited-characters": {} },
      permissions: BY_USER_AND_ADMINS,
    },
    {
      name: "lastName",
      displayName: "Last name",
      multivalued: false,
      validations: { length: { max: 255 }, "person-name-prohibited-characters": {} },
      permissions: BY_USER_AND_ADMINS,
    },
  ];
}

/** The realm file the realm program reads (`REALM_FILE`) and the realm Job's ConfigMap holds. */
export function realmDocument(realm: RealmRepresentation): string {
  return `${JSON.stringify(realm, null, 2)}\n`;
}

/**
 * The realm of an environment: users only. Self-registration with e-mail verification,
 * brute-force protection, a password policy, OTP for admin roles, Organizations off; the web
 * app's public PKCE client (access tokens with `aud: api`, the `enchanted-api` scope, and of the
 * user's roles the two admin roles only), the operator console's public PKCE client (`aud:
 * platform-operations`, the `enchanted-operations` scope, and `platform-admin` only), and the
 * provisioning service's confidential client with exactly {@link PROVISIONING_ADMIN_ROLES}.
 * Secrets are `$(env:...)` references that the realm program fills in from its environment.
 */
export function realmConfig(env: RealmEnvironment, options: RealmOptions = {}): RealmRepresentation {
  const origin = checkOrigin(options.webAppOrigin ?? `https://${env.domains.api}`);
  const accessTokenLifespan = options.accessTokenLifespanSeconds ?? DEFAULT_ACCESS_TOKEN_LIFESPAN_SECONDS;
  if (!Number.isInteger(accessTokenLifespan) || accessTokenLifespan < 60 || accessTokenLifespan > MAX_ACCESS_TOKEN_LIFESPAN_SECONDS) {
    throw new RealmConfigError(
      "accessTokenLifespanSeconds",
      accessTokenLifespan,
      `is not a whole number of seconds from 60 to ${MAX_ACCESS_TOKEN_LIFESPAN_SECONDS}`,
      "keep access tokens short-lived; sessions are extended with refresh tokens",
    );
  }

  const adminRoles: RoleRepresentation[] = ADMIN_ROLES.map((name) => ({
    name,
    description:
      name === REALM_ROLES.platformAdmin
        ? "Operates the platform for all tenants (through the operator console)"
        : "Owner or admin of at least one tenant (memberships are the platform's, not Keycloak's); granted and revoked by the provisioning service",
    composite: true,
    composites: { realm: [REALM_ROLES.mfaRequired] },
  }));

  return {
    realm: REALM_NAME,
    displayName: env.name === "prod" ? "Enchanted" : `Enchanted (${env.name})`,
    enabled: true,
    // Behind the TLS-terminating proxy (X-Forwarded-*): every client on the internet gets HTTPS only.
    sslRequired: "external",
    // Tenants are not in Keycloak (Organizations do not scale to a million tenants).
    organizationsEnabled: false,

    registrationAllowed: true,
    registrationEmailAsUsername: true,
    verifyEmail: true,
    loginWithEmailAllowed: true,
    duplicateEmailsAllowed: false,
    resetPasswordAllowed: true,
    editUsernameAllowed: false,
    rememberMe: false,

    ...BRUTE_FORCE,
    passwordPolicy: PASSWORD_POLICY,

    accessTokenLifespan,
    ssoSessionIdleTimeout: 1_800,
    ssoSessionMaxLifespan: 36_000,
    revokeRefreshToken: true,
    refreshTokenMaxReuse: 0,
    defaultSignatureAlgorithm: "RS256",
    otpPolicyType: "totp",
    otpPolicyAlgorithm: "HmacSHA1",
    otpPolicyDigits: 6,
    otpPolicyPeriod: 30,

    eventsEnabled: true,
    eventsExpiration: 30 * 86_400,
    adminEventsEnabled: true,
    adminEventsDetailsEnabled: false,

    browserFlow: BROWSER_FLOW,
    smtpServer: {
      host: `email-smtp.${env.aws.region}.amazonaws.com`,
      port: String(SMTP_PORT),
      from: `no-reply@${env.domains.auth}`,
      fromDisplayName: "Enchanted",
      starttls: "true",
      ssl: "false",
      auth: "true",
      user: realmVariable(REALM_VARIABLES.smtpUsername),
      password: realmVariable(REALM_VARIABLES.smtpPassword),
    },

    roles: {
      realm: [
        { name: REALM_ROLES.mfaRequired, description: "Must pass OTP at every browser login", composite: false },
        ...adminRoles,
      ],
    },
    clientScopes: [apiClientScope(), operationsClientScope()],
    clients: [
      browserClient(origin, {
        clientId: WEB_CLIENT_ID,
        name: "Enchanted web app",
        description: "Browser app: authorization code with PKCE (S256), no client secret",
        home: "/",
        redirect: WEB_APP_PATHS.redirect,
        postLogout: WEB_APP_PATHS.postLogout,
        scope: API_CLIENT_SCOPE,
      }),
      browserClient(origin, {
        clientId: OPERATOR_CLIENT_ID,
        name: "Enchanted operator console",
        description: "Platform operators: authorization code with PKCE (S256), no client secret; tokens carry platform-admin and the platform-operations audience, not the api audience",
        home: WEB_APP_PATHS.operatorHome,
        redirect: WEB_APP_PATHS.operatorRedirect,
        postLogout: WEB_APP_PATHS.operatorHome,
        scope: OPERATIONS_CLIENT_SCOPE,
      }),
      {
        clientId: PROVISIONING_CLIENT_ID,
        name: "Provisioning service",
        description: "Grants and revokes the tenant-admin realm role of users through the admin REST API",
        enabled: true,
        protocol: "openid-connect",
        publicClient: false,
        clientAuthenticatorType: "client-secret",
        secret: realmVariable(REALM_VARIABLES.provisioningClientSecret),
        standardFlowEnabled: false,
        implicitFlowEnabled: false,
        directAccessGrantsEnabled: false,
        serviceAccountsEnabled: true,
        frontchannelLogout: false,
        fullScopeAllowed: true,
        redirectUris: [],
        webOrigins: [],
        attributes: { "oauth2.device.authorization.grant.enabled": "false", "oidc.ciba.grant.enabled": "false" },
        defaultClientScopes: ["basic", "roles"],
        optionalClientScopes: [],
      },
      // The realm's built-in admin-cli would accept a password grant, which skips the browser
      // flow's OTP: admins sign in through the browser only.
      { clientId: "admin-cli", directAccessGrantsEnabled: false },
    ],
    // Of a user's roles, the web app's tokens carry the admin roles (it shows what the user
    // administers; platform-admin alone opens no operator route, which also demands the operator
    // audience), the operator console's platform-admin only; nothing else reaches either.
    scopeMappings: [
      { client: WEB_CLIENT_ID, roles: [...ADMIN_ROLES] },
      { client: OPERATOR_CLIENT_ID, roles: [REALM_ROLES.platformAdmin] },
    ],
    users: [
      {
        username: PROVISIONING_SERVICE_ACCOUNT,
        enabled: true,
        serviceAccountClientId: PROVISIONING_CLIENT_ID,
        clientRoles: { [REALM_MANAGEMENT_CLIENT]: [...PROVISIONING_ADMIN_ROLES] },
      },
    ],
    authenticationFlows: browserFlows(),
    authenticatorConfig: [{ alias: ADMIN_OTP_CONDITION, config: { condUserRole: REALM_ROLES.mfaRequired, negate: "false" } }],
    userProfile: { attributes: userProfileAttributes(), groups: [] },
  };
}

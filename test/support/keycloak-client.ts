/** Moved to platform/keycloak-client.ts (the local platform uses it too); kept here for the tests that import it. */
export * from "../../platform/keycloak-client.js";

/** The Keycloak realm: shared names (claims, clients, audience) and the realm representation. */
export * from "./names.js";
export * from "./realm.js";

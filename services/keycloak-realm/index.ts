/** The Keycloak realm: shared names (claims, clients, audience), the realm representation and its application over the Admin API. */
export * from "./names.js";
export * from "./realm.js";
export * from "./apply.js";

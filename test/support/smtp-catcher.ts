/** Moved to platform/mail-catcher.ts (the local platform uses it too); kept here for the tests that import it. */
export * from "../../platform/mail-catcher.js";

import { describe, expect, it } from "vitest";
import type { BusCredentials } from "../../api-types.js";
import { CREDENTIALS_JSON_FILE_NAME, credentialsJson } from "./snippet.js";

const answer = {
  tenantId: "acme",
  jwt: "eyJ.x.y",
  seed: "SUSEED",
  creds: "-----BEGIN NATS USER JWT-----\neyJ.x.y\n------END NATS USER JWT------\n",
  publicKey: `U${"A".repeat(55)}`,
  inboxPrefix: "_INBOX_acme",
  expiresAt: 1_900_000_000,
  account: "AACC",
  subjects: ["swarm.acme.>"],
  userId: "alice",
  servers: ["tls://nats.example.com:4222"],
  api: "https://api.example.com",
} as unknown as BusCredentials;

describe("Download credentials.json", () => {
  it("saves the bus-credentials answer exactly, as the README's credentials.json", () => {
    expect(CREDENTIALS_JSON_FILE_NAME).toBe("credentials.json");
    expect(JSON.parse(credentialsJson(answer, ["nats://fallback:4222"]))).toEqual(answer);
  });

  it("fills the servers from the runtime config only when the answer names none", () => {
    const saved = JSON.parse(credentialsJson({ ...answer, servers: [] }, ["nats://127.0.0.1:4222"])) as BusCredentials;
    expect(saved.servers).toEqual(["nats://127.0.0.1:4222"]);
    expect({ ...saved, servers: [] }).toEqual({ ...answer, servers: [] });
  });
});

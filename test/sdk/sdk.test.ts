/**
 * The SDK's pure parts: the event builders (the ingestor's rules applied before sending, errors
 * that name the field and the fix, W3C trace context from the active OpenTelemetry span), field
 * sealing (AES-256-GCM bound to tenant, event and field), the credentials parsers, the agent
 * request signature as the provisioning service verifies it, and the README carrying the example
 * that test/agents/loop.test.ts runs. The client on a real server: test/agents/loop.test.ts.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { context, ROOT_CONTEXT, trace, type Context, type ContextManager } from "@opentelemetry/api";
import { createAccount, fromPublic } from "@nats-io/nkeys";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentAuthHeaders, AgentClient, completeEvent, credentialClaims, credentialsFromAnswer, credentialsFromCredsFile, decision, EncryptionError, InvalidEventError, InvalidOptionError, openEvent, openField, sealField, sealedKeyId, signal, stateChange, stateHashOf, type DataKey } from "../../sdk/index.js";
import { AGENT_AUTH, agentSigningInput } from "../../services/identity/names.js";
import { mintTenantCredentials } from "../../services/nats-auth/mint.js";
import { generateNatsSeeds } from "../../services/nats-auth/sign.js";

const TENANT = "t0123456789abcdefghijklmn";
const CONTEXT = { tenantId: TENANT, projectId: "checkout-service", userId: "user-1" };
const key: DataKey = { keyId: `dk-${"ab".repeat(16)}`, key: randomBytes(32) };

/** A minimal synchronous context manager, so `context.with` makes a span active without an SDK. */
class StackContextManager implements ContextManager {
  private stack: Context[] = [];
  active(): Context {
    return this.stack[this.stack.length - 1] ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    this.stack.push(ctx);
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.stack.pop();
    }
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.stack = [];
    return this;
  }
}

function invalid(fn: () => unknown): InvalidEventError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidEventError);
    return error as InvalidEventError;
  }
  throw new Error("expected an InvalidEventError");
}

describe("event builders", () => {
  it("complete a draft with ids, time, tenant, project and user, and keep the filter fields as given", () => {
    const e = completeEvent(stateChange({ agentId: "coder-1", agentRole: "coder", resource: "src/a.ts", change: "modified", stateHash: stateHashOf("b"), previousStateHash: stateHashOf("a"), summary: "edit" }), CONTEXT);
    expect(e).toMatchObject({ tenantId: TENANT, projectId: "checkout-service", userId: "user-1", agentId: "coder-1", isEncrypted: false, traceId: "", spanId: "" });
    expect(e.eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(e.payload.case === "stateChange" && e.payload.value.targetResource).toBe("src/a.ts");
    expect(stateHashOf("a")).toBe("ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb");
  });

  it("refuse what the ingestor would dead-letter, naming the field and the fix", () => {
    const cases: [() => unknown, string, string][] = [
      [() => completeEvent(decision({ agentId: "bad agent", confidence: 0.5, action: "a", rationale: "r" }), CONTEXT), "agentId", "letters, digits"],
      [() => completeEvent(decision({ agentId: "a", confidence: 1.5, action: "a", rationale: "r" }), CONTEXT), "confidence", "from 0 to 1"],
      [() => completeEvent(decision({ agentId: "a", projectId: "two tokens.x", confidence: 0.5, action: "a", rationale: "r" }), CONTEXT), "projectId", "letters, digits"],
      [() => completeEvent(stateChange({ agentId: "a", resource: "x", change: "modified", summary: "s" }), CONTEXT), "stateHash", "stateHashOf"],
      [() => completeEvent(stateChange({ agentId: "a", resource: "x", change: "renamed" as "modified", stateHash: stateHashOf("x"), summary: "s" }), CONTEXT), "change", "created, modified, deleted"],
      [() => completeEvent(signal({ agentId: "a", signal: "dancing" as "started" }), CONTEXT), "signal", "started"],
      [() => completeEvent(decision({ agentId: "a", confidence: 0.5, action: "a", rationale: "r", timestamp: new Date("2001-01-01") }), CONTEXT), "timestamp", "after 2020"],
      [() => completeEvent(decision({ agentId: "a", confidence: 0.5, action: "a", rationale: "r", traceId: "XYZ" }), CONTEXT), "traceId", "W3C"],
      [() => completeEvent(decision({ agentId: "a", confidence: 0.5, action: "a", rationale: "x".repeat(20_000) }), CONTEXT), "rationale", "object storage"],
      [() => completeEvent(decision({ agentId: "a", confidence: 0.5, action: "a", rationale: "r" }), { ...CONTEXT, userId: undefined as unknown as string }), "userId", "userId"],
    ];
    for (const [fn, field, fix] of cases) {
      const e = invalid(fn);
      expect(e.message, field).toContain(field);
      expect(e.message, field).toContain(fix);
    }
  });

  describe("trace context", () => {
    beforeAll(() => void context.setGlobalContextManager(new StackContextManager()));
    afterAll(() => context.disable());

    it("fills trace_id and span_id from the active OpenTelemetry span, and leaves them empty without one", () => {
      const spanContext = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", traceFlags: 1 };
      const inSpan = context.with(trace.setSpanContext(context.active(), spanContext), () => completeEvent(signal({ agentId: "a", signal: "heartbeat" }), CONTEXT));
      expect({ traceId: inSpan.traceId, spanId: inSpan.spanId }).toEqual({ traceId: spanContext.traceId, spanId: spanContext.spanId });
      expect(completeEvent(signal({ agentId: "a", signal: "heartbeat" }), CONTEXT).traceId).toBe("");
      // Explicit ids win over the span.
      const explicit = context.with(trace.setSpanContext(context.active(), spanContext), () => completeEvent(signal({ agentId: "a", signal: "heartbeat", traceId: "a".repeat(32), spanId: "b".repeat(16) }), CONTEXT));
      expect(explicit.traceId).toBe("a".repeat(32));
    });
  });
});

describe("sealed payloads", () => {
  const ids = { tenantId: TENANT, eventId: "0b7e8a8c-9a3e-4c6e-8f5b-2d1f8a7c6e5d" };

  it("seal every free-text field with the tenant key and leave the filter fields clear; open restores them", async () => {
    const draft = decision({ agentId: "architect-1", confidence: 0.7, action: "migrate", rationale: "the plan", alternatives: ["wait"], eventId: ids.eventId });
    const e = completeEvent(draft, CONTEXT, (text, field, at) => sealField(key, text, field, at));
    expect(e.isEncrypted).toBe(true);
    expect(e.agentId).toBe("architect-1");
    expect(e.payload.case === "decision" && e.payload.value.confidenceScore).toBeCloseTo(0.7);
    const value = e.payload.case === "decision" ? e.payload.value : undefined;
    for (const text of [value?.rationale, value?.action, value?.alternatives[0]]) {
      expect(text?.startsWith(`enc1.${key.keyId}.`)).toBe(true);
      expect(sealedKeyId(text ?? "")).toBe(key.keyId);
    }
    const opened = await openEvent(e, async (keyId) => (keyId === key.keyId ? key : Promise.reject(new Error("unknown key"))));
    expect(opened.payload.case === "decision" && [opened.payload.value.rationale, opened.payload.value.action, opened.payload.value.alternatives[0]]).toEqual(["the plan", "migrate", "wait"]);
    // Sealing twice gives different ciphertexts (a fresh nonce each time).
    expect(sealField(key, "same", "rationale", ids)).not.toBe(sealField(key, "same", "rationale", ids));
  });

  it("refuse another key, another tenant, another event, another field, and any altered byte", () => {
    const sealed = sealField(key, "secret", "rationale", ids);
    expect(openField(key, sealed, "rationale", ids)).toBe("secret");
    const other: DataKey = { keyId: key.keyId, key: randomBytes(32) };
    expect(() => openField(other, sealed, "rationale", ids)).toThrow(EncryptionError);
    expect(() => openField(key, sealed, "rationale", { ...ids, tenantId: "t1111111111111111111111111" })).toThrow(/another tenant's event, or altered/);
    expect(() => openField(key, sealed, "rationale", { ...ids, eventId: "1b7e8a8c-9a3e-4c6e-8f5b-2d1f8a7c6e5d" })).toThrow(EncryptionError);
    expect(() => openField(key, sealed, "action", ids)).toThrow(EncryptionError);
    const body = Buffer.from(sealed.split(".")[2] as string, "base64url");
    body[body.length - 1] = (body[body.length - 1] as number) ^ 1;
    expect(() => openField(key, `enc1.${key.keyId}.${body.toString("base64url")}`, "rationale", ids)).toThrow(EncryptionError);
    expect(() => openField({ keyId: `dk-${"cd".repeat(16)}`, key: key.key }, sealed, "rationale", ids)).toThrow(/sealed with data key/);
    expect(() => openField(key, "plain text", "rationale", ids)).toThrow(/not a sealed field/);
  });
});

describe("credentials", () => {
  let creds: Awaited<ReturnType<typeof mintTenantCredentials>>;
  const ACCOUNT = createAccount().getPublicKey();
  beforeAll(async () => {
    const seeds = generateNatsSeeds([]);
    creds = await mintTenantCredentials({ tenantId: TENANT, tier: "pro", signingKeySeed: seeds.swarmSigningKeys.pro, accountPublicKey: ACCOUNT, expiresInSeconds: 600 });
  });

  it("parse the API's answer and a creds file to the same credentials, and read the claims", () => {
    const fromAnswer = credentialsFromAnswer({ jwt: creds.jwt, seed: creds.seed, servers: ["tls://nats.example.com:4222"], api: "https://api.example.com", userId: "user-1", extra: 1 });
    expect(fromAnswer).toEqual({ jwt: creds.jwt, seed: creds.seed, servers: ["tls://nats.example.com:4222"], api: "https://api.example.com", userId: "user-1" });
    expect(credentialsFromCredsFile(creds.creds)).toEqual({ jwt: creds.jwt, seed: creds.seed });
    expect(credentialClaims(creds.jwt)).toMatchObject({ tenantId: TENANT, tier: "pro", publicKey: creds.publicKey });
  });

  it("refuse broken credentials before connecting, naming the field", async () => {
    const other = await mintTenantCredentials({ tenantId: TENANT, tier: "pro", signingKeySeed: generateNatsSeeds([]).swarmSigningKeys.pro, accountPublicKey: ACCOUNT });
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ jwt: "not-a-jwt", seed: creds.seed }, /credentials\.jwt/],
      [{ jwt: creds.jwt, seed: other.seed }, /credentials\.seed .*not the seed of the JWT's user/],
      [{ jwt: creds.jwt, seed: "SUBAD" }, /credentials\.seed/],
      [{ jwt: creds.jwt, seed: creds.seed, servers: ["http://x"] }, /credentials\.servers\[0\]/],
      [{ jwt: creds.jwt, seed: creds.seed, ca: "not pem", servers: ["tls://h:4222"] }, /credentials\.ca/],
      [{ jwt: creds.jwt, seed: creds.seed }, /servers .*are not given/],
    ];
    for (const [credentials, message] of cases) {
      await expect(AgentClient.connect({ credentials: credentials as never, projectId: "p" })).rejects.toThrow(message);
    }
    await expect(AgentClient.connect({ credentials: { jwt: creds.jwt, seed: creds.seed, servers: ["nats://127.0.0.1:1"] }, projectId: "p", maxInFlight: 0 })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(AgentClient.connect({ credentials: { jwt: creds.jwt, seed: creds.seed, servers: ["nats://127.0.0.1:1"] }, projectId: "two.tokens" })).rejects.toThrow(/projectId/);
    expect(() => credentialsFromCredsFile("nothing here")).toThrow(/creds file/);
    expect(() => credentialsFromAnswer({ seed: "x" })).toThrow(/has no jwt and seed/);
  });

  it("sign agent requests with the credential's nkey over exactly what the service verifies", () => {
    const at = Date.UTC(2026, 11, 4, 12, 0, 0);
    const headers = agentAuthHeaders(creds, "GET", "/v1/agent/data-key", at);
    expect(headers["authorization"]).toBe(`${AGENT_AUTH.scheme} ${creds.jwt}`);
    const m = /^t=(\d+),n=([A-Za-z0-9_-]+),s=([A-Za-z0-9_-]+)$/.exec(headers[AGENT_AUTH.signatureHeader] ?? "");
    expect(m?.[1]).toBe(String(at / 1000));
    const input = new TextEncoder().encode(agentSigningInput("GET", "/v1/agent/data-key", at / 1000, m?.[2] ?? ""));
    expect(fromPublic(creds.publicKey).verify(input, Buffer.from(m?.[3] ?? "", "base64url"))).toBe(true);
    // Another path or method does not verify with the same signature.
    expect(fromPublic(creds.publicKey).verify(new TextEncoder().encode(agentSigningInput("GET", "/v1/agent/data-keys/x", at / 1000, m?.[2] ?? "")), Buffer.from(m?.[3] ?? "", "base64url"))).toBe(false);
  });
});

describe("the README", () => {
  it("carries sdk/examples/quickstart.ts verbatim (the example test/agents/loop.test.ts runs)", () => {
    const readme = readFileSync("README.md", "utf8");
    expect(readme).toContain("```ts\n" + readFileSync("sdk/examples/quickstart.ts", "utf8") + "```");
  });
});

/**
 * Payload encryption with the tenant's data key: AES-256-GCM per free-text field, a fresh
 * 96-bit nonce each time, and the tenant, the event and the field bound as additional
 * authenticated data, so a ciphertext cannot be moved to another field, event or tenant.
 *
 * A sealed field is text (protobuf strings must be UTF-8): `enc1.<key id>.<base64url(nonce ‖
 * ciphertext ‖ tag)>`. The key id says which of the tenant's data keys opens it, so readers keep
 * working across key rotations. Without the key (the tenant offboarded: its wrapped key was
 * destroyed) nothing opens it.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { clone } from "@bufbuild/protobuf";
import { SwarmEventSchema, type SwarmEvent } from "../services/ingestor/src/gen/enchanted/events/v1/events_pb.js";
import { EncryptionError } from "./errors.js";

export const SEALED_PREFIX = "enc1.";
/** A data key's id: what the provisioning service names it (`dk-` and hex). */
export const DATA_KEY_ID_PATTERN = /^dk-[0-9a-f]{16,64}$/;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** One of the tenant's data keys, in memory only. */
export interface DataKey {
  readonly keyId: string;
  /** 32 bytes. */
  readonly key: Uint8Array;
}

function aad(tenantId: string, eventId: string, field: string): Buffer {
  return Buffer.from(`enchanted-payload-v1\n${tenantId}\n${eventId}\n${field}`, "utf8");
}

/** Seals one field's text. */
export function sealField(key: DataKey, plaintext: string, field: string, ids: { readonly tenantId: string; readonly eventId: string }): string {
  if (key.key.length !== 32) throw new EncryptionError(`data key ${key.keyId} has ${key.key.length} bytes, not 32`);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key.key, nonce);
  cipher.setAAD(aad(ids.tenantId, ids.eventId, field));
  const body = Buffer.concat([nonce, cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return `${SEALED_PREFIX}${key.keyId}.${body.toString("base64url")}`;
}

/** The key id a sealed field names, or undefined when the text is not sealed. */
export function sealedKeyId(text: string): string | undefined {
  if (!text.startsWith(SEALED_PREFIX)) return undefined;
  const dot = text.indexOf(".", SEALED_PREFIX.length);
  return dot < 0 ? undefined : text.slice(SEALED_PREFIX.length, dot);
}

/** Opens one sealed field; throws {@link EncryptionError} when it is not sealed, the key is wrong, or anything was altered. */
export function openField(key: DataKey, text: string, field: string, ids: { readonly tenantId: string; readonly eventId: string }): string {
  const keyId = sealedKeyId(text);
  if (keyId === undefined) throw new EncryptionError(`${field} is not a sealed field (enc1.<key id>.<data>)`);
  if (keyId !== key.keyId) throw new EncryptionError(`${field} is sealed with data key ${keyId}, not ${key.keyId}`);
  const body = Buffer.from(text.slice(SEALED_PREFIX.length + keyId.length + 1), "base64url");
  if (body.length < NONCE_BYTES + TAG_BYTES) throw new EncryptionError(`${field} is too short to be sealed`);
  try {
    const decipher = createDecipheriv("aes-256-gcm", key.key, body.subarray(0, NONCE_BYTES));
    decipher.setAAD(aad(ids.tenantId, ids.eventId, field));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    return Buffer.concat([decipher.update(body.subarray(NONCE_BYTES, body.length - TAG_BYTES)), decipher.final()]).toString("utf8");
  } catch (error) {
    throw new EncryptionError(`${field} of event ${ids.eventId} does not open with data key ${keyId} (another tenant's event, or altered)`, { cause: error });
  }
}

/** Finds a data key by id (the SDK's {@link DataKeyClient.key}, or a map in tests). */
export type KeyLookup = (keyId: string) => Promise<DataKey>;

/**
 * The event with its sealed fields opened (a copy; `is_encrypted` cleared). An event that is not
 * encrypted comes back as it is.
 */
export async function openEvent(event: SwarmEvent, keys: KeyLookup): Promise<SwarmEvent> {
  if (!event.isEncrypted) return event;
  const out = clone(SwarmEventSchema, event);
  const ids = { tenantId: event.tenantId, eventId: event.eventId };
  const open = async (text: string, field: string) => {
    if (text === "") return text;
    const keyId = sealedKeyId(text);
    if (keyId === undefined) throw new EncryptionError(`${field} of encrypted event ${event.eventId} is not sealed`);
    return openField(await keys(keyId), text, field, ids);
  };
  const p = out.payload;
  if (p.case === "decision") {
    p.value.rationale = await open(p.value.rationale, "rationale");
    p.value.action = await open(p.value.action, "action");
    p.value.alternatives = await Promise.all(p.value.alternatives.map((a, i) => open(a, `alternatives.${i}`)));
  } else if (p.case === "stateChange") {
    p.value.summary = await open(p.value.summary, "summary");
  } else if (p.case === "systemSignal") {
    p.value.message = await open(p.value.message, "message");
  }
  out.isEncrypted = false;
  return out;
}

/**
 * The billing provider's webhook: the only way besides an operator that a tenant's tier changes.
 *
 * A delivery is `POST /v1/billing/events` with a JSON body
 * `{"id","type":"entitlement.updated","created":<unix s>,"data":{"tenantId","planTier"}}` and the
 * header `enchanted-signature: t=<unix s>,v1=<hex>` where v1 is HMAC-SHA256 under the shared
 * secret of `"<t>.<raw body>"` (the scheme payment providers use). Checked here, before the body
 * is validated or read:
 * - signed: some v1 matches under some configured secret (two during a secret rotation),
 *   compared in constant time;
 * - timestamped: `t` within {@link BILLING_WEBHOOK}.toleranceSeconds of now, so a captured
 *   delivery cannot be replayed later;
 * - replay-proof and idempotent within the window: the event id's first answer is stored with
 *   its effect in one transaction (ControlPlane.applyBillingEvent) and every repeat gets it;
 * - ordered: an event older (`created`) than the one that set the current tier changes nothing.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { BILLING_WEBHOOK } from "../../identity/names.js";

export class BillingSignatureError extends Error {
  override readonly name = "BillingSignatureError";
}

export interface BillingWebhook {
  /** Throws {@link BillingSignatureError} unless `header` signs `rawBody` now. */
  verify(header: string | string[] | undefined, rawBody: string): void;
}

/** The signature header for `rawBody` at `t` (the provider's side; tests and the bench use it). */
export function signBillingDelivery(secret: string, rawBody: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${rawBody}`).digest("hex")}`;
}

/** Secrets from a file, one per line (blank lines ignored). */
export function readBillingSecrets(path: string): string[] {
  const secrets = readFileSync(path, "utf8").split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  if (secrets.length === 0) throw new Error(`${path} holds no webhook secret. Fix: write the billing provider's signing secret on one line`);
  return secrets;
}

export function billingWebhook(secrets: readonly string[], now: () => number = Date.now): BillingWebhook {
  return {
    verify(header, rawBody) {
      if (typeof header !== "string" || header.length > 1_024) throw new BillingSignatureError(`the ${BILLING_WEBHOOK.signatureHeader} header is missing`);
      let t: number | undefined;
      const signatures: Buffer[] = [];
      for (const part of header.split(",")) {
        const [k, v] = part.trim().split("=", 2);
        if (k === "t" && v && /^\d{1,12}$/.test(v)) t = Number(v);
        else if (k === "v1" && v && /^[0-9a-f]{64}$/.test(v)) signatures.push(Buffer.from(v, "hex"));
      }
      if (t === undefined || signatures.length === 0) throw new BillingSignatureError(`the ${BILLING_WEBHOOK.signatureHeader} header needs t=<unix seconds> and v1=<hex HMAC-SHA256>`);
      const age = Math.abs(Math.floor(now() / 1000) - t);
      if (age > BILLING_WEBHOOK.toleranceSeconds) throw new BillingSignatureError(`the delivery's timestamp is ${age} s from now (at most ${BILLING_WEBHOOK.toleranceSeconds} s): a replayed or delayed delivery`);
      for (const secret of secrets) {
        const expected = createHmac("sha256", secret).update(`${t}.${rawBody}`).digest();
        if (signatures.some((s) => timingSafeEqual(s, expected))) return;
      }
      throw new BillingSignatureError("the signature does not match the body under the webhook secret");
    },
  };
}

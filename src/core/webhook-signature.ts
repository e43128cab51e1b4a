// Signed webhook deliveries, both directions: the forms src/agent/webhook.ts accepts (Vigil's own, which
// binds the method, path and delivery id into an HMAC-SHA256 over the body, and a forge's X-Hub-Signature-256
// with a per-path secret), and the form the monitor's webhook sink sends. One implementation for both.
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { InputError } from "./errors.ts";
import { readInputText } from "./input-file.ts";

export function readWebhookSecret(file: string): Buffer {
  const secret = readInputText(file, "the webhook secret").replace(/\r?\n$/, "");
  if (secret.length < 16)
    throw new InputError(
      `${file}: the webhook secret is ${secret.length === 0 ? "empty" : "shorter than 16 characters"}; use a long random one`,
    );
  return Buffer.from(secret, "utf8");
}

/** "sha256=<hex>" for a body, as the Git host computes it. */
export function signWebhookBody(secret: Buffer | string, body: Buffer | string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** Whether the header is the body's signature; constant time in the signature's content. */
export function verifyWebhookSignature(secret: Buffer | string, body: Buffer, header: string | string[] | undefined): boolean {
  if (typeof header !== "string" || !/^sha256=[0-9a-f]{64}$/i.test(header)) return false;
  const expected = createHmac("sha256", secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(header.slice("sha256=".length), "hex"));
}

/** The secret a forge signs deliveries to `path` with ("/hooks/prod"): one per path, derived from the shared one. */
export function webhookSecretFor(secret: Buffer | string, path: string): string {
  return createHmac("sha256", secret).update(`vigil-webhook ${path}`).digest("hex");
}

/** What Vigil's own form signs: the method, the path and the delivery id, then the body. */
export function boundWebhookPayload(path: string, delivery: string, body: Buffer | string): Buffer {
  return Buffer.concat([Buffer.from(`POST ${path}\n${delivery}\n`), Buffer.isBuffer(body) ? body : Buffer.from(body)]);
}

/** The headers a forge sends for a delivery to `path` (GitHub's form, with the path's secret). */
export function forgeDeliveryHeaders(
  secret: Buffer | string,
  path: string,
  body: Buffer | string,
  delivery: string = randomUUID(),
): Record<string, string> {
  return { "x-hub-signature-256": signWebhookBody(webhookSecretFor(secret, path), body), "x-github-delivery": delivery };
}

/** The headers of Vigil's own form, which binds the path and the delivery id into the signature. */
export function vigilDeliveryHeaders(
  secret: Buffer | string,
  path: string,
  body: Buffer | string,
  delivery: string = randomUUID(),
): Record<string, string> {
  return { "x-vigil-signature-256": signWebhookBody(secret, boundWebhookPayload(path, delivery, body)), "x-vigil-delivery": delivery };
}

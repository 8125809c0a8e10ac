// Signing webhook deliveries as the Standard Webhooks specification does
// (github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md): three
// headers, `webhook-id` (unique per message, the same on every retry),
// `webhook-timestamp` (Unix seconds, when this attempt was signed) and
// `webhook-signature` (`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, several
// space-separated when keys rotate). The key is the secret after its `whsec_` prefix,
// base64-decoded. Any of the specification's libraries verifies what this signs.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { MandateError } from '../errors.ts';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';

/** What a receiver should allow between the timestamp and its clock, either way. */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** The HMAC key of a `whsec_<base64>` secret. */
export function webhookKey(secret: string): Buffer {
  const encoded = secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : '';
  const key = Buffer.from(encoded, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || key.length === 0) {
    throw new MandateError('webhook_secret_invalid', `a webhook secret is ${WEBHOOK_SECRET_PREFIX} followed by its key in base64`);
  }
  return key;
}

/** `v1,<signature>` of one message: HMAC-SHA256 over `<id>.<timestamp>.<body>`, standard base64. */
export function webhookSignature(key: Uint8Array, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** The three headers of one delivery attempt of `body`, signed at `timestamp` (Unix seconds). */
export function webhookHeaders(key: Uint8Array, id: string, timestamp: number, body: string): WebhookHeaders {
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': webhookSignature(key, id, timestamp, body) };
}

/**
 * A receiver's check: the timestamp within the tolerance of `now` (Unix seconds), and
 * one of the `v1` signatures the header lists equal, in constant time, to the one the
 * key makes over exactly the body received.
 */
export function verifyWebhook(key: Uint8Array, headers: Partial<WebhookHeaders>, body: string, now: number, tolerance = WEBHOOK_TOLERANCE_SECONDS): boolean {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || !timestamp || !signatures || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(now - Number(timestamp)) > tolerance) return false;
  const expected = Buffer.from(webhookSignature(key, id, Number(timestamp), body).slice('v1,'.length), 'base64');
  return signatures.split(' ').some((entry) => {
    if (!entry.startsWith('v1,')) return false;
    const given = Buffer.from(entry.slice('v1,'.length), 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

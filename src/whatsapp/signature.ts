import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Checks Meta's `X-Hub-Signature-256: sha256=<hex>`: HMAC-SHA256 of the exact raw body with the app secret,
 * compared in constant time. False when the header is missing or malformed or no secret is configured.
 */
export function verifySignature(rawBody: Buffer, header: string | undefined, appSecret: string): boolean {
  if (!appSecret || !header) return false;
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!m) return false;
  const given = Buffer.from(m[1]!, 'hex');
  const expected = createHmac('sha256', appSecret).update(rawBody).digest();
  return timingSafeEqual(given, expected);
}

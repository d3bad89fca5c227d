import { createHmac } from 'node:crypto';

/**
 * A short, stable tag for a phone number or user id in log lines; the number itself never goes to a log.
 * Keyed (pass the deployment's pseudonym key) so that a tag cannot be reversed by hashing every number.
 */
export function contactTag(id: string, key = 'binbridge-whatsapp'): string {
  return createHmac('sha256', key).update(id).digest('hex').slice(0, 10);
}

import type { StatusUpdate } from './webhook.js';

/**
 * Masks what could identify a person in free text bound for a log line or an error column: runs of seven or
 * more digits (phone numbers, with or without `+`, spaces or dashes) and WhatsApp message ids (a wamid carries
 * the contact's number, base64-encoded). Graph's error codes (six digits) stay readable.
 */
export function redactText(text: string): string {
  return text.replace(/wamid\.[A-Za-z0-9+/=_-]+/g, 'wamid.[redacted]').replace(/\+?\d(?:[\s-]?\d){6,}/g, '[number]');
}

/** Delivery errors of a status as stored: their titles and messages masked like any free text. */
export function redactErrors(errors: StatusUpdate['errors']): string | null {
  return errors ? JSON.stringify(errors.map((e) => ({ ...e, title: redactText(e.title), ...(e.message ? { message: redactText(e.message) } : {}) }))) : null;
}

/**
 * Masks what could identify a person in free text bound for a log line or an error column: runs of seven or
 * more digits (phone numbers, with or without `+`, spaces or dashes) and WhatsApp message ids (a wamid carries
 * the contact's number, base64-encoded). Graph's error codes (six digits) stay readable.
 */
export function redactText(text: string): string {
  return text.replace(/wamid\.[A-Za-z0-9+/=_-]+/g, 'wamid.[redacted]').replace(/\+?\d(?:[\s-]?\d){6,}/g, '[number]');
}

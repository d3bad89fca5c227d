import { randomBytes } from 'node:crypto';
import { webhookEnvelope, webhookSeconds as seconds, type BusinessIdentity, type EnvelopeMessage, type WebhookEnvelope } from '../src/whatsapp/envelope.js';

export { inboundEnvelope, type BusinessIdentity, type WebhookEnvelope } from '../src/whatsapp/envelope.js';

export type StatusName = 'sent' | 'delivered' | 'read' | 'failed';

export interface WebhookError {
  code: number;
  title: string;
  message: string;
  error_data: { details: string };
  href: string;
}

export interface StatusObject {
  id: string;
  status: StatusName;
  timestamp: string;
  recipient_id: string;
  conversation?: { id: string; expiration_timestamp?: string; origin: { type: string } };
  pricing?: { billable: boolean; pricing_model: 'PMP'; type: string; category: string };
  errors?: WebhookError[];
}

/** The part of an inbound message a user chooses; `from`, `id` and `timestamp` are filled in. */
export type InboundContent = { type: string } & Record<string, unknown>;

export type InboundMessage = EnvelopeMessage;

export function statusEnvelope(business: BusinessIdentity, status: StatusObject): WebhookEnvelope {
  return webhookEnvelope(business, { statuses: [status] });
}

export function buildInboundMessage(from: string, content: InboundContent, id: string, at: number): InboundMessage {
  return { from, id, timestamp: seconds(at), ...content };
}

export function webhookError(code: number, title: string, details: string): WebhookError {
  return { code, title, message: title, error_data: { details }, href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/' };
}

/** A message id in the style of Meta's (`wamid.` + base64), unique per call. */
export function newWamid(recipient: string): string {
  const bytes = Buffer.concat([Buffer.from([0x15, 0x02, 0x00, 0x11, 0x18]), Buffer.from(recipient), randomBytes(16)]);
  return `wamid.HBgL${bytes.toString('base64')}`;
}

/**
 * JSON the way Meta's webhooks serialise it: `/` as `\/` and every non-ASCII character as `\uXXXX`.
 * A receiver that re-serialises the parsed body instead of hashing the raw bytes fails the signature check,
 * as it would in production.
 */
export function metaJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/\//g, '\\/')
    .replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// Builders for what a WhatsApp user sends (the `message` argument of `userSends`).
export const text = (body: string): InboundContent => ({ type: 'text', text: { body } });
export const buttonReply = (id: string, title: string): InboundContent => ({ type: 'interactive', interactive: { type: 'button_reply', button_reply: { id, title } } });
export const listReply = (id: string, title: string, description?: string): InboundContent => ({
  type: 'interactive',
  interactive: { type: 'list_reply', list_reply: { id, title, ...(description === undefined ? {} : { description }) } },
});
/** A tap on a template's quick-reply button. */
export const templateButton = (payload: string, buttonText: string): InboundContent => ({ type: 'button', button: { payload, text: buttonText } });
export const location = (latitude: number, longitude: number, extra: { name?: string; address?: string; url?: string } = {}): InboundContent => ({
  type: 'location',
  location: { latitude, longitude, ...extra },
});
/** A photo; without `mediaId` the emulator stores its default JPEG under a fresh id. */
export const image = (caption?: string, mediaId?: string): InboundContent => ({
  type: 'image',
  image: { ...(caption === undefined ? {} : { caption }), mime_type: 'image/jpeg', ...(mediaId === undefined ? {} : { id: mediaId }) },
});

import { z } from 'zod';
import { isAddressable } from './messages.js';

// Meta's webhook envelope, only the parts binbridge reads; unknown keys are dropped, unknown message types
// (reaction, sticker, unsupported, system, ...) become type 'other'. Each message and status is parsed on
// its own, so one odd element never costs the others.

const seconds = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    ctx.addIssue({ code: 'custom', message: 'timestamp is not a number of seconds' });
    return z.NEVER;
  }
  return n * 1000;
});

const contactSchema = z.object({
  wa_id: z.string().optional(),
  user_id: z.string().optional(),
  profile: z.object({ name: z.string().optional() }).optional(),
});

const messageSchema = z.object({
  id: z.string().min(1),
  from: z.string().optional(),
  from_user_id: z.string().optional(),
  timestamp: seconds,
  type: z.string(),
  context: z.object({ id: z.string().optional() }).optional(),
  text: z.object({ body: z.string() }).optional(),
  interactive: z
    .object({
      type: z.string(),
      button_reply: z.object({ id: z.string(), title: z.string().optional() }).optional(),
      list_reply: z.object({ id: z.string(), title: z.string().optional(), description: z.string().optional() }).optional(),
    })
    .optional(),
  button: z.object({ payload: z.string().optional(), text: z.string().optional() }).optional(),
  location: z
    .object({
      latitude: z.coerce.number(),
      longitude: z.coerce.number(),
      name: z.string().optional(),
      address: z.string().optional(),
    })
    .optional(),
  image: z.object({ id: z.string(), caption: z.string().optional(), mime_type: z.string().optional() }).optional(),
});

const statusSchema = z.object({
  id: z.string().min(1),
  status: z.string(),
  timestamp: seconds,
  recipient_id: z.string().optional(),
  recipient_user_id: z.string().optional(),
  errors: z
    .array(z.object({ code: z.coerce.number(), title: z.string().default(''), message: z.string().optional() }))
    .optional(),
});

const envelopeSchema = z.object({
  object: z.string().optional(),
  entry: z
    .array(
      z.object({
        changes: z
          .array(
            z.object({
              field: z.string().optional(),
              value: z
                .object({
                  contacts: z.array(z.unknown()).optional(),
                  messages: z.array(z.unknown()).optional(),
                  statuses: z.array(z.unknown()).optional(),
                })
                .optional(),
            }),
          )
          .default([]),
      }),
    )
    .default([]),
});

export interface InboundMessage {
  id: string;
  /** the sender's wa_id (phone number), or business-scoped user id when Meta withholds the number */
  from: string;
  name?: string;
  /** ms since the epoch */
  timestamp: number;
  type: 'text' | 'interactive' | 'button' | 'location' | 'image' | 'other';
  text?: string;
  buttonReplyId?: string;
  buttonPayload?: string;
  listReplyId?: string;
  location?: { latitude: number; longitude: number; name?: string; address?: string };
  image?: { id: string; caption?: string; mime_type?: string };
  /** the id of our message this one answers */
  contextId?: string;
}

export type DeliveryStatus = 'sent' | 'delivered' | 'read' | 'failed';

export interface StatusUpdate {
  wamid: string;
  status: DeliveryStatus;
  /** ms since the epoch */
  timestamp: number;
  recipient: string;
  errors?: { code: number; title: string; message?: string }[];
}

export interface ParsedWebhook {
  messages: InboundMessage[];
  statuses: StatusUpdate[];
  /** elements that were not understood and were skipped */
  skipped: number;
}

const STATUSES = new Set<string>(['sent', 'delivered', 'read', 'failed']);

function toInbound(m: z.infer<typeof messageSchema>, contacts: z.infer<typeof contactSchema>[]): InboundMessage | null {
  const contact = contacts.find((c) => (m.from && c.wa_id === m.from) || (m.from_user_id && c.user_id === m.from_user_id)) ??
    (contacts.length === 1 ? contacts[0] : undefined);
  // the sender is whom we answer: a message from someone we cannot write to (Meta sends digits or a user id) is
  // skipped here, rather than failing every reply, being retried and set aside in the inbox
  const given = [m.from, m.from_user_id].filter((v) => v !== undefined);
  const from = given.length > 0 ? given.find(isAddressable) : [contact?.wa_id, contact?.user_id].find((v) => v !== undefined && isAddressable(v));
  if (!from) return null;
  const out: InboundMessage = { id: m.id, from, timestamp: m.timestamp, type: 'other' };
  const name = contact?.profile?.name;
  if (name) out.name = name;
  if (m.context?.id) out.contextId = m.context.id;
  if (m.type === 'text' && m.text) {
    out.type = 'text';
    out.text = m.text.body;
  } else if (m.type === 'interactive' && m.interactive) {
    out.type = 'interactive';
    if (m.interactive.button_reply) {
      out.buttonReplyId = m.interactive.button_reply.id;
      if (m.interactive.button_reply.title !== undefined) out.text = m.interactive.button_reply.title;
    } else if (m.interactive.list_reply) {
      out.listReplyId = m.interactive.list_reply.id;
      if (m.interactive.list_reply.title !== undefined) out.text = m.interactive.list_reply.title;
    }
  } else if (m.type === 'button' && m.button) {
    out.type = 'button';
    if (m.button.payload !== undefined) out.buttonPayload = m.button.payload;
    if (m.button.text !== undefined) out.text = m.button.text;
  } else if (m.type === 'location' && m.location) {
    out.type = 'location';
    const { latitude, longitude, name: place, address } = m.location;
    out.location = { latitude, longitude, ...(place ? { name: place } : {}), ...(address ? { address } : {}) };
  } else if (m.type === 'image' && m.image) {
    out.type = 'image';
    const { id, caption, mime_type } = m.image;
    out.image = { id, ...(caption !== undefined ? { caption } : {}), ...(mime_type ? { mime_type } : {}) };
    if (caption) out.text = caption;
  }
  return out;
}

interface RawChange {
  contacts: unknown[];
  parsedContacts?: z.infer<typeof contactSchema>[];
}

/**
 * A webhook body's messages and statuses, parsed a slice at a time in the order Meta listed them (per change, its
 * messages, then its statuses): one body may hold thousands, and the inbox records them over several turns of the
 * event loop rather than in one long one. Never throws.
 */
export class WebhookItems {
  private readonly raw: { kind: 'message' | 'status'; item: unknown; change: RawChange }[] = [];
  private at = 0;

  constructor(body: unknown) {
    const env = envelopeSchema.safeParse(body);
    if (!env.success) return;
    for (const entry of env.data.entry) {
      for (const { value } of entry.changes) {
        if (!value) continue;
        const change: RawChange = { contacts: value.contacts ?? [] };
        for (const item of value.messages ?? []) this.raw.push({ kind: 'message', item, change });
        for (const item of value.statuses ?? []) this.raw.push({ kind: 'status', item, change });
      }
    }
  }

  /** Every element was handed out. */
  get done(): boolean {
    return this.at >= this.raw.length;
  }

  /** Parses up to `max` more elements: those understood, and how many were skipped. */
  next(max: number): ParsedWebhook {
    const out: ParsedWebhook = { messages: [], statuses: [], skipped: 0 };
    const end = Math.min(this.raw.length, this.at + max);
    for (; this.at < end; this.at++) {
      const { kind, item, change } = this.raw[this.at]!;
      if (kind === 'message') {
        change.parsedContacts ??= change.contacts.flatMap((c) => {
          const p = contactSchema.safeParse(c);
          return p.success ? [p.data] : [];
        });
        const p = messageSchema.safeParse(item);
        const m = p.success ? toInbound(p.data, change.parsedContacts) : null;
        if (m) out.messages.push(m);
        else out.skipped++;
        continue;
      }
      const p = statusSchema.safeParse(item);
      const recipient = p.success ? (p.data.recipient_id ?? p.data.recipient_user_id) : undefined;
      if (!p.success || !STATUSES.has(p.data.status) || !recipient) {
        out.skipped++;
        continue;
      }
      const s: StatusUpdate = { wamid: p.data.id, status: p.data.status as DeliveryStatus, timestamp: p.data.timestamp, recipient };
      if (p.data.errors?.length) s.errors = p.data.errors.map((e) => ({ code: e.code, title: e.title, ...(e.message ? { message: e.message } : {}) }));
      out.statuses.push(s);
    }
    return out;
  }
}

/** Messages and statuses of one webhook body, in the order Meta listed them. Never throws. */
export function parseWebhook(body: unknown): ParsedWebhook {
  return new WebhookItems(body).next(Number.POSITIVE_INFINITY);
}

// Builders for the JSON bodies POSTed to Graph's /messages. Pure; limits are Meta's and are enforced here
// so that a message Graph would refuse with error 100 fails at the caller, with a message naming the field.

export interface ReplyButton {
  id: string;
  title: string;
}

export interface ListRow {
  id: string;
  title: string;
  description?: string;
}

export interface ListSection {
  title?: string;
  rows: ListRow[];
}

interface Envelope {
  messaging_product: 'whatsapp';
  recipient_type: 'individual';
  /** a phone number, digits only */
  to?: string;
  /** a business-scoped user id (`CC.1234...`) when the user has no phone number shared with us */
  recipient?: string;
}

export type TextMessage = Envelope & { type: 'text'; text: { body: string; preview_url?: boolean } };

export type InteractiveMessage = Envelope & {
  type: 'interactive';
  interactive:
    | {
        type: 'button';
        header?: { type: 'text'; text: string };
        body: { text: string };
        footer?: { text: string };
        action: { buttons: { type: 'reply'; reply: ReplyButton }[] };
      }
    | {
        type: 'list';
        body: { text: string };
        action: { button: string; sections: ListSection[] };
      }
    | {
        type: 'location_request_message';
        body: { text: string };
        action: { name: 'send_location' };
      };
};

export type TemplateParameter = { type: 'text'; text: string } | { type: 'payload'; payload: string };

export type TemplateComponent =
  | { type: 'body'; parameters: TemplateParameter[] }
  | { type: 'button'; sub_type: 'quick_reply'; index: string; parameters: TemplateParameter[] };

export type TemplateMessage = Envelope & {
  type: 'template';
  template: { name: string; language: { code: string }; components: TemplateComponent[] };
};

/** The JSON body sent to `POST /{phone_number_id}/messages`. */
export type OutboundMessage = TextMessage | InteractiveMessage | TemplateMessage;

/** The addressee of a message, whichever of `to` and `recipient` it uses. */
export function recipientOf(msg: OutboundMessage): string {
  return msg.to ?? msg.recipient ?? '';
}

const PHONE = /^\+?\d{6,20}$/;
const USER_ID = /^[A-Z]{2}\.[A-Za-z0-9.]{1,140}$/;

/** Whether a message can be addressed to this user: a phone number (wa_id, digits) or a business-scoped user id. */
export function isAddressable(user: string): boolean {
  return PHONE.test(user) || USER_ID.test(user);
}

function envelope(to: string): Envelope {
  if (PHONE.test(to)) return { messaging_product: 'whatsapp', recipient_type: 'individual', to: to.replace(/^\+/, '') };
  if (USER_ID.test(to)) return { messaging_product: 'whatsapp', recipient_type: 'individual', recipient: to };
  throw new RangeError('recipient must be a phone number (digits) or a business-scoped user id');
}

const chars = (s: string) => Array.from(s).length;

function limit(what: string, s: string, max: number, min = 1): string {
  const n = chars(s);
  if (n < min) throw new RangeError(`${what} must not be empty`);
  if (n > max) throw new RangeError(`${what} is ${n} characters, at most ${max} allowed`);
  return s;
}

/**
 * Text from content we do not control (registry addresses, residents' words) made to fit a field the builders
 * check: clipped to `max` characters (code points, as Meta counts them, with "…" when cut), the fallback when blank.
 */
export function fit(s: string, max: number, fallback: string): string {
  const text = s.trim() === '' ? fallback : s;
  const cps = Array.from(text);
  return cps.length <= max ? text : `${cps.slice(0, Math.max(0, max - 1)).join('')}…`;
}

function unique(what: string, values: string[]): void {
  if (new Set(values).size !== values.length) throw new RangeError(`${what} must be unique`);
}

export function textMessage(to: string, body: string): TextMessage {
  return { ...envelope(to), type: 'text', text: { body: limit('text body', body, 4096) } };
}

/** Interactive reply buttons: 1 to 3 buttons, titles up to 20 characters. */
export function buttonsMessage(to: string, body: string, buttons: ReplyButton[], header?: string, footer?: string): InteractiveMessage {
  if (buttons.length < 1 || buttons.length > 3) throw new RangeError(`${buttons.length} buttons; 1 to 3 allowed`);
  unique('button ids', buttons.map((b) => b.id));
  unique('button titles', buttons.map((b) => b.title));
  return {
    ...envelope(to),
    type: 'interactive',
    interactive: {
      type: 'button',
      ...(header === undefined ? {} : { header: { type: 'text' as const, text: limit('header', header, 60) } }),
      body: { text: limit('body', body, 1024) },
      ...(footer === undefined ? {} : { footer: { text: limit('footer', footer, 60) } }),
      action: {
        buttons: buttons.map((b) => ({
          type: 'reply' as const,
          reply: { id: limit('button id', b.id, 256), title: limit('button title', b.title, 20) },
        })),
      },
    },
  };
}

/** Interactive list: at most 10 sections and 10 rows in all; row titles up to 24 characters. */
export function listMessage(to: string, body: string, buttonText: string, sections: ListSection[]): InteractiveMessage {
  const rows = sections.flatMap((s) => s.rows);
  if (sections.length < 1 || sections.length > 10) throw new RangeError(`${sections.length} sections; 1 to 10 allowed`);
  if (rows.length < 1 || rows.length > 10) throw new RangeError(`${rows.length} rows; 1 to 10 allowed`);
  if (sections.some((s) => s.rows.length === 0)) throw new RangeError('a section has no rows');
  if (sections.length > 1 && sections.some((s) => !s.title)) throw new RangeError('every section needs a title when there are several');
  unique('row ids', rows.map((r) => r.id));
  return {
    ...envelope(to),
    type: 'interactive',
    interactive: {
      type: 'list',
      body: { text: limit('body', body, 4096) },
      action: {
        button: limit('list button text', buttonText, 20),
        sections: sections.map((s) => ({
          ...(s.title === undefined ? {} : { title: limit('section title', s.title, 24) }),
          rows: s.rows.map((r) => ({
            id: limit('row id', r.id, 200),
            title: limit('row title', r.title, 24),
            ...(r.description === undefined ? {} : { description: limit('row description', r.description, 72) }),
          })),
        })),
      },
    },
  };
}

/** Asks the user to share a location pin. */
export function locationRequestMessage(to: string, body: string): InteractiveMessage {
  return {
    ...envelope(to),
    type: 'interactive',
    interactive: { type: 'location_request_message', body: { text: limit('body', body, 1024) }, action: { name: 'send_location' } },
  };
}

/**
 * An approved template: `bodyParams` fill {{1}}, {{2}}, ... of its body; one quick-reply payload per button,
 * in the order the buttons were registered with Meta.
 */
export function templateMessage(to: string, name: string, lang: string, bodyParams: string[], quickReplyPayloads: string[]): TemplateMessage {
  if (!/^[a-z0-9_]{1,512}$/.test(name)) throw new RangeError('template name must be lower-case letters, digits and underscores');
  if (quickReplyPayloads.length > 10) throw new RangeError(`${quickReplyPayloads.length} quick replies; at most 10 allowed`);
  const components: TemplateComponent[] = [];
  if (bodyParams.length > 0) {
    components.push({ type: 'body', parameters: bodyParams.map((text, i) => ({ type: 'text', text: limit(`body parameter ${i + 1}`, text, 1024) })) });
  }
  quickReplyPayloads.forEach((payload, i) => {
    components.push({
      type: 'button',
      sub_type: 'quick_reply',
      index: String(i),
      parameters: [{ type: 'payload', payload: limit(`quick reply payload ${i}`, payload, 256) }],
    });
  });
  return { ...envelope(to), type: 'template', template: { name, language: { code: limit('language', lang, 15) }, components } };
}

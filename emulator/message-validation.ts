import { z } from 'zod';
import { graphError, type GraphError } from './graph-errors.js';

/** A template the emulator knows as approved; without a registry every template name is accepted. */
export interface TemplateDefinition {
  languages?: string[];
  /** Number of `{{n}}` variables in the body. */
  bodyParams?: number;
  /** Number of quick-reply buttons. */
  quickReplies?: number;
  category?: 'utility' | 'marketing' | 'authentication';
}
export type TemplateRegistry = Readonly<Record<string, TemplateDefinition>>;

export const MESSAGE_TYPES = ['text', 'interactive', 'template', 'image', 'location'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];
export const INTERACTIVE_TYPES = ['button', 'list', 'location_request_message', 'cta_url'] as const;

export type OutboundRequest =
  | {
      kind: 'message';
      /** the phone number of `to`, or the BSUID of `recipient` */
      to: string;
      waId: string;
      byBsuid: boolean;
      type: MessageType;
      interactiveType?: string;
      template?: { name: string; category: string };
    }
  | { kind: 'mark_read'; messageId: string };

const text = (max: number) => z.string().min(1).max(max);
const TO = /^\+?[0-9]{5,20}$/;
/** business-scoped user id, e.g. US.13491208655302741918 (2026 usernames) */
export const BSUID = /^[A-Z]{2}\.(ENT\.)?[0-9]{6,30}$/;

const textHeader = z.object({
  type: z.enum(['text', 'image', 'video', 'document']),
  text: text(60).optional(),
});
const footer = z.object({ text: text(60) });

const schemas = {
  text: z.object({ text: z.object({ body: text(4096), preview_url: z.boolean().optional() }) }),
  image: z.object({
    image: z
      .object({ id: z.string().min(1).optional(), link: z.url().optional(), caption: z.string().max(1024).optional() })
      .superRefine((v, ctx) => {
        if (v.id === undefined && v.link === undefined)
          ctx.addIssue({ code: 'custom', path: ['id'], message: '', params: { graphCode: 131008, details: "The parameter image['id'] or image['link'] is required." } });
      }),
  }),
  location: z.object({
    location: z.object({
      latitude: z.coerce.number().min(-90).max(90),
      longitude: z.coerce.number().min(-180).max(180),
      name: z.string().max(1000).optional(),
      address: z.string().max(1000).optional(),
    }),
  }),
  template: z.object({
    template: z.object({
      name: text(512),
      language: z.object({ code: z.string().min(1), policy: z.literal('deterministic').optional() }),
      components: z
        .array(
          z.object({
            type: z.enum(['header', 'body', 'button', 'footer']),
            sub_type: z.enum(['quick_reply', 'url', 'copy_code', 'flow', 'catalog', 'voice_call']).optional(),
            index: z.union([z.string().regex(/^\d$/), z.number().int().min(0).max(9)]).optional(),
            parameters: z
              .array(
                z.object({
                  type: z.enum(['text', 'currency', 'date_time', 'image', 'document', 'video', 'location', 'payload', 'action', 'coupon_code']),
                  text: z.string().optional(),
                  payload: z.string().optional(),
                  parameter_name: z.string().optional(),
                }).loose(),
              )
              .optional(),
          }),
        )
        .optional(),
    }),
  }),
} as const;

const interactiveSchemas = {
  button: z.object({
    header: textHeader.optional(),
    body: z.object({ text: text(1024) }),
    footer: footer.optional(),
    action: z.object({
      buttons: z
        .array(z.object({ type: z.literal('reply'), reply: z.object({ id: text(256), title: text(20) }) }))
        .min(1)
        .max(3),
    }),
  }),
  list: z.object({
    header: z.object({ type: z.literal('text'), text: text(60) }).optional(),
    body: z.object({ text: text(4096) }),
    footer: footer.optional(),
    action: z.object({
      button: text(20),
      sections: z
        .array(
          z.object({
            title: z.string().max(24).optional(),
            rows: z.array(z.object({ id: text(200), title: text(24), description: z.string().max(72).optional() })).min(1).max(10),
          }),
        )
        .min(1)
        .max(10),
    }),
  }),
  location_request_message: z.object({
    body: z.object({ text: text(1024) }),
    action: z.object({ name: z.literal('send_location') }),
  }),
  cta_url: z.object({
    header: textHeader.optional(),
    body: z.object({ text: text(1024) }),
    footer: footer.optional(),
    action: z.object({ name: z.literal('cta_url'), parameters: z.object({ display_text: text(20), url: z.url() }) }),
  }),
} as const;

/** `interactive['action']['buttons'][0]['reply']['title']`, the way Meta names a nested parameter. */
export function paramName(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (i === 0 ? String(p) : typeof p === 'number' ? `[${p}]` : `['${String(p)}']`)).join('');
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** One zod issue as Meta words it: a missing parameter is 131008, anything else 100 naming the parameter. */
function issueToError(issue: z.core.$ZodIssue, root: unknown, prefix: readonly PropertyKey[]): GraphError {
  const path = [...prefix, ...issue.path];
  const name = paramName(path);
  if (issue.code === 'custom') {
    const params = (issue.params ?? {}) as { graphCode?: number; details?: string };
    const code = params.graphCode ?? 100;
    const details = params.details ?? issue.message;
    return code === 100 ? graphError(100, { message: `(#100) ${details}`, details }) : graphError(code, { details });
  }
  if (valueAt(root, path) === undefined) return graphError(131008, { details: `The parameter ${name} is required.` });
  let rule: string;
  switch (issue.code) {
    case 'too_big':
      rule = issue.origin === 'string' ? `must be at most ${issue.maximum} characters long` : issue.origin === 'array' ? `must have at most ${issue.maximum} items` : `must be at most ${issue.maximum}`;
      break;
    case 'too_small':
      rule = issue.origin === 'string' ? `must be at least ${issue.minimum} character${issue.minimum === 1 ? '' : 's'} long` : issue.origin === 'array' ? `must have at least ${issue.minimum} item${issue.minimum === 1 ? '' : 's'}` : `must be at least ${issue.minimum}`;
      break;
    case 'invalid_type':
      rule = `must be a ${issue.expected}`;
      break;
    case 'invalid_value':
      rule = `must be one of {${issue.values.map(String).join(', ')}}`;
      break;
    default:
      rule = `is invalid (${issue.message})`;
  }
  const details = `Param ${name} ${rule}.`;
  return graphError(100, { message: `(#100) ${details}`, details });
}

function check(schema: z.ZodType, value: unknown, root: unknown, prefix: readonly PropertyKey[]): void {
  const r = schema.safeParse(value);
  if (!r.success) throw issueToError(r.error.issues[0]!, root, prefix);
}

function invalid(details: string, code = 100): GraphError {
  return code === 100 ? graphError(100, { message: `(#100) ${details}`, details }) : graphError(code, { details });
}

function checkInteractive(body: Record<string, unknown>): string {
  const interactive = body.interactive;
  if (interactive === null || typeof interactive !== 'object') throw graphError(131008, { details: "The parameter interactive is required." });
  const type = (interactive as Record<string, unknown>).type;
  if (type === undefined) throw graphError(131008, { details: "The parameter interactive['type'] is required." });
  if (typeof type !== 'string' || !(type in interactiveSchemas))
    throw invalid(`Param interactive['type'] must be one of {${INTERACTIVE_TYPES.join(', ')}}.`);
  check(interactiveSchemas[type as keyof typeof interactiveSchemas], interactive, body, ['interactive']);
  const action = (interactive as { action: Record<string, unknown> }).action;
  if (type === 'button') {
    const buttons = action.buttons as { reply: { id: string; title: string } }[];
    if (new Set(buttons.map((b) => b.reply.id)).size !== buttons.length) throw invalid("Param interactive['action']['buttons'] must have unique reply ids.");
    if (new Set(buttons.map((b) => b.reply.title)).size !== buttons.length) throw invalid("Param interactive['action']['buttons'] must have unique reply titles.");
  }
  if (type === 'list') {
    const sections = action.sections as { title?: string; rows: { id: string }[] }[];
    const rows = sections.flatMap((s) => s.rows);
    if (rows.length > 10) throw invalid(`Total row count exceed max allowed count: 10 (interactive['action']['sections'] has ${rows.length} rows).`);
    if (new Set(rows.map((r) => r.id)).size !== rows.length) throw invalid("Param interactive['action']['sections'] rows must have unique ids.");
    if (sections.length > 1 && sections.some((s) => !s.title)) throw graphError(131008, { details: "The parameter interactive['action']['sections'][]['title'] is required when there is more than one section." });
  }
  if (type === 'button' || type === 'cta_url') {
    const header = (interactive as { header?: { type: string; text?: string } }).header;
    if (header?.type === 'text' && !header.text) throw graphError(131008, { details: "The parameter interactive['header']['text'] is required." });
  }
  return type;
}

interface TemplateComponent {
  type: string;
  sub_type?: string;
  index?: string | number;
  parameters?: { type: string; text?: string; payload?: string }[];
}

function checkTemplate(body: Record<string, unknown>, registry: TemplateRegistry | undefined): { name: string; category: string } {
  check(schemas.template, body, body, []);
  const t = body.template as { name: string; language: { code: string }; components?: TemplateComponent[] };
  const components = t.components ?? [];
  components.forEach((c, i) => {
    const at = `template['components'][${i}]`;
    if (c.type === 'button') {
      if (c.sub_type === undefined) throw graphError(131008, { details: `The parameter ${at}['sub_type'] is required.` });
      if (c.index === undefined) throw graphError(131008, { details: `The parameter ${at}['index'] is required.` });
      if (c.sub_type === 'quick_reply') {
        const p = c.parameters?.[0];
        if (!p) throw graphError(131008, { details: `The parameter ${at}['parameters'] is required.` });
        if (p.type !== 'payload') throw invalid(`Param ${at}['parameters'][0]['type'] must be payload for a quick_reply button.`);
        if (p.payload === undefined) throw graphError(131008, { details: `The parameter ${at}['parameters'][0]['payload'] is required.` });
      }
    }
    (c.parameters ?? []).forEach((p, j) => {
      if (p.type !== 'text') return;
      if (p.text === undefined) throw graphError(131008, { details: `The parameter ${at}['parameters'][${j}]['text'] is required.` });
      if (c.type === 'body' && (/[\n\t]/.test(p.text) || / {5,}/.test(p.text)))
        throw graphError(132018, { details: `Param text cannot have new-line/tab characters or more than 4 consecutive spaces (${at}['parameters'][${j}]['text']).` });
    });
  });
  if (!registry) return { name: t.name, category: 'utility' };
  const def = registry[t.name];
  if (!def || !(def.languages ?? ['en']).includes(t.language.code))
    throw graphError(132001, { details: `template name (${t.name}) does not exist in ${t.language.code}` });
  const bodyParams = components.filter((c) => c.type === 'body').reduce((n, c) => n + (c.parameters?.length ?? 0), 0);
  if (def.bodyParams !== undefined && bodyParams !== def.bodyParams)
    throw graphError(132000, { details: `body: number of localizable_params (${bodyParams}) does not match the expected number of params (${def.bodyParams})` });
  for (const c of components) {
    if (c.type === 'button' && c.sub_type === 'quick_reply' && Number(c.index) >= (def.quickReplies ?? 0))
      throw graphError(131009, { details: `Button at index ${String(c.index)} is not a quick reply button of template ${t.name}.` });
  }
  return { name: t.name, category: def.category ?? 'utility' };
}

/**
 * Checks a `POST /{phone_number_id}/messages` body the way the Cloud API does, first problem first.
 * Throws the GraphError Meta would answer with; returns what the rest of the emulator needs.
 */
export function validateOutbound(raw: unknown, registry?: TemplateRegistry): OutboundRequest {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('The request body must be a JSON object.');
  const body = raw as Record<string, unknown>;
  if (body.messaging_product === undefined) throw invalid('The parameter messaging_product is required.');
  if (body.messaging_product !== 'whatsapp') throw invalid('Param messaging_product must be whatsapp.');
  if (body.status !== undefined) {
    if (body.status !== 'read') throw invalid('Param status must be read.');
    if (typeof body.message_id !== 'string' || body.message_id === '') throw invalid('The parameter message_id is required.');
    return { kind: 'mark_read', messageId: body.message_id };
  }
  if (body.recipient_type !== undefined && body.recipient_type !== 'individual') throw invalid('Param recipient_type must be individual.');
  // `to` (phone number) wins over `recipient` (BSUID) when both are given
  const byBsuid = body.to === undefined && body.recipient !== undefined;
  if (byBsuid) {
    if (typeof body.recipient !== 'string' || !BSUID.test(body.recipient)) throw invalid('Param recipient must be a business-scoped user id.');
  } else {
    if (body.to === undefined) throw invalid('The parameter to is required.');
    if (typeof body.to !== 'string' || !TO.test(body.to)) throw invalid('Param to must be a phone number (digits, optionally after +).');
  }
  const to = (byBsuid ? body.recipient : body.to) as string;
  // the Cloud API treats a body without `type` as a text message
  const type = body.type ?? 'text';
  if (typeof type !== 'string' || !(MESSAGE_TYPES as readonly string[]).includes(type))
    throw invalid(`Param type must be one of {${MESSAGE_TYPES.join(', ')}}.`);
  const base = { kind: 'message' as const, to, waId: to.replace(/^\+/, ''), byBsuid, type: type as MessageType };
  switch (type) {
    case 'interactive':
      return { ...base, interactiveType: checkInteractive(body) };
    case 'template':
      return { ...base, template: checkTemplate(body, registry) };
    default:
      check(schemas[type as 'text' | 'image' | 'location'], body, body, []);
      return base;
  }
}

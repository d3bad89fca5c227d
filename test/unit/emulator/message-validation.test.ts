import { describe, expect, it } from 'vitest';
import { GraphError } from '../../../emulator/graph-errors.js';
import { paramName, validateOutbound, type TemplateRegistry } from '../../../emulator/message-validation.js';

const base = { messaging_product: 'whatsapp', recipient_type: 'individual', to: '31612345678' };
const buttons = (n: number, title = (i: number) => `B${i}`, id = (i: number) => `id-${i}`) =>
  Array.from({ length: n }, (_, i) => ({ type: 'reply', reply: { id: id(i), title: title(i) } }));
const rows = (n: number, prefix = 'r') => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, title: `Bin ${prefix}${i}` }));
const button = (btns: unknown[]) => ({ ...base, type: 'interactive', interactive: { type: 'button', body: { text: 'Job J-1' }, action: { buttons: btns } } });
const list = (sections: unknown[], btn = 'Choose') => ({
  ...base,
  type: 'interactive',
  interactive: { type: 'list', body: { text: 'Which bin?' }, action: { button: btn, sections } },
});
const template = (components: unknown[], name = 'bin_dispatch', code = 'en') => ({ ...base, type: 'template', template: { name, language: { code }, components } });
const body = (...texts: string[]) => ({ type: 'body', parameters: texts.map((t) => ({ type: 'text', text: t })) });
const quickReply = (index: number, payload: string) => ({ type: 'button', sub_type: 'quick_reply', index: String(index), parameters: [{ type: 'payload', payload }] });

function refusal(body: unknown, registry?: TemplateRegistry): GraphError {
  try {
    validateOutbound(body, registry);
  } catch (err) {
    if (err instanceof GraphError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('validateOutbound accepts what the Cloud API accepts', () => {
  it.each([
    ['text', { ...base, type: 'text', text: { body: 'hello', preview_url: false } }],
    ['text without type (the default)', { ...base, text: { body: 'hello' } }],
    ['to with a plus', { ...base, to: '+31612345678', type: 'text', text: { body: 'x' } }],
    ['3 reply buttons at their limits', button(buttons(3, (i) => `${i}`.padEnd(20, 'x'), (i) => `${i}`.padEnd(256, 'y')))],
    ['list of 10 rows over 2 sections', list([{ title: 'North', rows: rows(5, 'a') }, { title: 'South', rows: rows(5, 'b') }])],
    ['list row at its limits', list([{ rows: [{ id: 'x', title: 'T'.repeat(24), description: 'D'.repeat(72) }] }], 'B'.repeat(20))],
    ['location request', { ...base, type: 'interactive', interactive: { type: 'location_request_message', body: { text: 'Where?' }, action: { name: 'send_location' } } }],
    ['cta url', { ...base, type: 'interactive', interactive: { type: 'cta_url', body: { text: 'Route' }, action: { name: 'cta_url', parameters: { display_text: 'Open map', url: 'https://maps.example/r' } } } }],
    ['template with body and quick replies', template([body('J-1', '2', 'Centrum', 'B-1 Main St; B-2 High St', 'https://m'), quickReply(0, 'accept:J-1'), quickReply(1, 'done:J-1')])],
    ['template without components', template([])],
    ['image by id', { ...base, type: 'image', image: { id: '123', caption: 'bin' } }],
    ['image by link', { ...base, type: 'image', image: { link: 'https://x.example/a.jpg' } }],
    ['location', { ...base, type: 'location', location: { latitude: 52.09, longitude: 5.12, name: 'Bin B-1', address: 'Main St 1' } }],
    ['location as strings', { ...base, type: 'location', location: { latitude: '52.09', longitude: '5.12' } }],
  ])('%s', (_name, body) => {
    expect(validateOutbound(body)).toMatchObject({ kind: 'message', to: (body as { to: string }).to });
  });

  it('mark as read', () => {
    expect(validateOutbound({ messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.X' })).toEqual({ kind: 'mark_read', messageId: 'wamid.X' });
  });

  it('a BSUID recipient when there is no `to`', () => {
    const r = validateOutbound({ messaging_product: 'whatsapp', recipient: 'US.13491208655302741918', type: 'text', text: { body: 'x' } });
    expect(r).toMatchObject({ kind: 'message', to: 'US.13491208655302741918', byBsuid: true });
  });
});

describe('validateOutbound refuses like the Cloud API, naming the parameter', () => {
  it.each<[string, unknown, number, string]>([
    ['not an object', 'hello', 100, 'JSON object'],
    ['no messaging_product', { to: '31612345678', type: 'text', text: { body: 'x' } }, 100, 'messaging_product'],
    ['wrong messaging_product', { ...base, messaging_product: 'sms', text: { body: 'x' } }, 100, 'messaging_product'],
    ['no to', { messaging_product: 'whatsapp', type: 'text', text: { body: 'x' } }, 100, 'to'],
    ['to not digits', { ...base, to: '06-12 34', type: 'text', text: { body: 'x' } }, 100, 'to'],
    ['unknown type', { ...base, type: 'sticker', sticker: {} }, 100, 'type'],
    ['text without body', { ...base, type: 'text', text: {} }, 131008, "text['body']"],
    ['text too long', { ...base, type: 'text', text: { body: 'x'.repeat(4097) } }, 100, "text['body']"],
    ['4 buttons', button(buttons(4)), 100, "interactive['action']['buttons']"],
    ['no buttons', button([]), 100, "interactive['action']['buttons']"],
    ['button title 21 chars', button(buttons(1, () => 'x'.repeat(21))), 100, "interactive['action']['buttons'][0]['reply']['title']"],
    ['button id 257 chars', button(buttons(1, undefined, () => 'x'.repeat(257))), 100, "interactive['action']['buttons'][0]['reply']['id']"],
    ['button without title', button([{ type: 'reply', reply: { id: 'a' } }]), 131008, "interactive['action']['buttons'][0]['reply']['title']"],
    ['duplicate button ids', button(buttons(2, undefined, () => 'same')), 100, "interactive['action']['buttons']"],
    ['button body too long', { ...button(buttons(1)), interactive: { type: 'button', body: { text: 'x'.repeat(1025) }, action: { buttons: buttons(1) } } }, 100, "interactive['body']['text']"],
    ['interactive without type', { ...base, type: 'interactive', interactive: { body: { text: 'x' } } }, 131008, "interactive['type']"],
    ['interactive unknown type', { ...base, type: 'interactive', interactive: { type: 'carousel' } }, 100, "interactive['type']"],
    ['11 rows in one section', list([{ rows: rows(11) }]), 100, "interactive['action']['sections'][0]['rows']"],
    ['11 rows over two sections', list([{ title: 'A', rows: rows(6, 'a') }, { title: 'B', rows: rows(5, 'b') }]), 100, "interactive['action']['sections']"],
    ['row title 25 chars', list([{ rows: [{ id: 'a', title: 'x'.repeat(25) }] }]), 100, "['rows'][0]['title']"],
    ['row description 73 chars', list([{ rows: [{ id: 'a', title: 'a', description: 'x'.repeat(73) }] }]), 100, "['rows'][0]['description']"],
    ['list button 21 chars', list([{ rows: rows(1) }], 'x'.repeat(21)), 100, "interactive['action']['button']"],
    ['two sections without titles', list([{ rows: rows(1, 'a') }, { rows: rows(1, 'b') }]), 131008, "['title']"],
    ['location request wrong action', { ...base, type: 'interactive', interactive: { type: 'location_request_message', body: { text: 'x' }, action: { name: 'go' } } }, 100, "interactive['action']['name']"],
    ['template without name', { ...base, type: 'template', template: { language: { code: 'en' } } }, 131008, "template['name']"],
    ['template without language code', { ...base, type: 'template', template: { name: 'x', language: {} } }, 131008, "template['language']['code']"],
    ['quick reply without payload', template([{ type: 'button', sub_type: 'quick_reply', index: '0', parameters: [{ type: 'payload' }] }]), 131008, "['payload']"],
    ['button component without index', template([{ type: 'button', sub_type: 'quick_reply', parameters: [{ type: 'payload', payload: 'x' }] }]), 131008, "['index']"],
    ['body parameter with a newline', template([body('line1\nline2')]), 132018, 'new-line'],
    ['body parameter with 5 spaces', template([body('a     b')]), 132018, 'consecutive spaces'],
    ['image without id or link', { ...base, type: 'image', image: { caption: 'x' } }, 131008, "image['id'] or image['link']"],
    ['location without longitude', { ...base, type: 'location', location: { latitude: 1 } }, 131008, "location['longitude']"],
    ['latitude out of range', { ...base, type: 'location', location: { latitude: 91, longitude: 0 } }, 100, "location['latitude']"],
    ['bad BSUID recipient', { messaging_product: 'whatsapp', recipient: 'nobody', text: { body: 'x' } }, 100, 'recipient'],
    ['mark as read without message_id', { messaging_product: 'whatsapp', status: 'read' }, 100, 'message_id'],
  ])('%s', (_name, body, code, field) => {
    const err = refusal(body);
    expect(err.status).toBe(400);
    expect(err.body.error.code).toBe(code);
    expect(err.body.error.type).toBe('OAuthException');
    expect(err.body.error.error_data?.messaging_product).toBe('whatsapp');
    expect(`${err.body.error.message} ${err.body.error.error_data?.details}`).toContain(field);
  });
});

describe('templates checked against a registry', () => {
  const registry: TemplateRegistry = { bin_dispatch: { languages: ['en', 'nl'], bodyParams: 2, quickReplies: 2 } };
  it('accepts a known template with the right parameters', () => {
    expect(validateOutbound(template([body('a', 'b'), quickReply(1, 'done:J-1')], 'bin_dispatch', 'nl'), registry)).toMatchObject({ template: { name: 'bin_dispatch', category: 'utility' } });
  });
  it.each<[string, unknown, number]>([
    ['unknown name', template([body('a', 'b')], 'other'), 132001],
    ['unknown language', template([body('a', 'b')], 'bin_dispatch', 'de'), 132001],
    ['parameter count', template([body('a')]), 132000],
    ['quick reply index beyond the buttons', template([body('a', 'b'), quickReply(2, 'x')]), 131009],
  ])('%s', (_name, body, code) => {
    expect(refusal(body, registry).body.error.code).toBe(code);
  });
});

describe('paramName', () => {
  it('names nested parameters the way Meta does', () => {
    expect(paramName(['interactive', 'action', 'buttons', 0, 'reply', 'title'])).toBe("interactive['action']['buttons'][0]['reply']['title']");
    expect(paramName(['to'])).toBe('to');
  });
});

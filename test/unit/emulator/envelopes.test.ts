import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  buildInboundMessage,
  buttonReply,
  inboundEnvelope,
  listReply,
  location,
  metaJson,
  newWamid,
  statusEnvelope,
  templateButton,
  text,
  type BusinessIdentity,
} from '../../../emulator/envelopes.js';
import { signatureOf } from '../../../emulator/webhook-sender.js';

// Meta's webhook payloads, from Meta's documentation (test/fixtures/whatsapp)
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/whatsapp');
const fixture = (name: string) => JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8'));
const business: BusinessIdentity = { wabaId: '102290129340398', phoneNumberId: '106540352242922', displayPhoneNumber: '15550783881' };

describe("envelopes match Meta's payloads", () => {
  it.each([
    ['text.json', text('Does it come in another color?')],
    ['interactive_button_reply.json', buttonReply('cancel-button', 'Cancel')],
    ['location.json', location(37.44221496582, -122.16165924072, { address: '101 Forest Ave, Palo Alto, CA 94301', name: 'Philz Coffee', url: 'https://philzcoffee.com/' })],
  ])('%s', (name, content) => {
    const f = fixture(name);
    const fm = f.entry[0].changes[0].value.messages[0];
    const msg = buildInboundMessage(fm.from, content, fm.id, Number(fm.timestamp) * 1000);
    if (fm.context) msg.context = fm.context;
    expect(inboundEnvelope(business, msg, 'Sheena Nelson')).toEqual(f);
  });

  it('status_sent.json', () => {
    const f = fixture('status_sent.json');
    expect(statusEnvelope(business, f.entry[0].changes[0].value.statuses[0])).toEqual(f);
  });

  it('list replies and template quick replies', () => {
    expect(listReply('B-17', 'B-17 Main St', '80% full')).toEqual({ type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'B-17', title: 'B-17 Main St', description: '80% full' } } });
    expect(templateButton('done:J-1', 'Done')).toEqual({ type: 'button', button: { payload: 'done:J-1', text: 'Done' } });
  });
});

describe('metaJson', () => {
  it('escapes slashes and non-ASCII like Meta, and parses back to the same value', () => {
    const value = { a: 'https://x/y', b: 'Straße 5 — 🚮', c: 'back\\slash/' };
    const raw = metaJson(value);
    expect(raw).toBe('{"a":"https:\\/\\/x\\/y","b":"Stra\\u00dfe 5 \\u2014 \\ud83d\\udeae","c":"back\\\\slash\\/"}');
    expect(raw).toMatch(/^[\x20-\x7e]*$/);
    expect(JSON.parse(raw)).toEqual(value);
    expect(raw).not.toBe(JSON.stringify(value));
  });
});

describe('signatureOf', () => {
  it('is the HMAC-SHA256 hex of the raw body with the app secret', () => {
    const raw = '{"x":"\\u00e9"}';
    expect(signatureOf(raw, 's3cret')).toBe(`sha256=${createHmac('sha256', 's3cret').update(raw).digest('hex')}`);
    expect(signatureOf(raw, 's3cret', 'sha1')).toMatch(/^sha1=[0-9a-f]{40}$/);
  });
});

describe('newWamid', () => {
  it('is unique and looks like a wamid', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newWamid('31612345678')));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^wamid\.[A-Za-z0-9+/=]+$/);
  });
});

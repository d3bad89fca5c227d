import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseWebhook } from '../../../src/whatsapp/index.js';
import { FIXTURES } from './fixtures.js';

const fixture = (name: string): unknown => JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8'));
const envelope = (value: Record<string, unknown>) => ({
  object: 'whatsapp_business_account',
  entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: {}, ...value } }] }],
});
const contacts = [{ profile: { name: 'Ann' }, wa_id: '31600000001' }];
const msg = (extra: Record<string, unknown>) => ({ from: '31600000001', id: 'wamid.1', timestamp: '1750000000', ...extra });

describe('parseWebhook on Meta’s payloads', () => {
  it('text.json', () => {
    expect(parseWebhook(fixture('text.json'))).toEqual({
      messages: [
        {
          id: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=',
          from: '16505551234',
          name: 'Sheena Nelson',
          timestamp: 1749416383000,
          type: 'text',
          text: 'Does it come in another color?',
        },
      ],
      statuses: [],
      skipped: 0,
    });
  });

  it('interactive_button_reply.json', () => {
    const { messages } = parseWebhook(fixture('interactive_button_reply.json'));
    expect(messages).toEqual([
      {
        id: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZBQzg0MzQ4QjRCM0NGNkVGOAA=',
        from: '16505551234',
        name: 'Sheena Nelson',
        timestamp: 1750025136000,
        type: 'interactive',
        buttonReplyId: 'cancel-button',
        text: 'Cancel',
        contextId: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA',
      },
    ]);
  });

  it('location.json', () => {
    const { messages } = parseWebhook(fixture('location.json'));
    expect(messages[0]).toMatchObject({
      type: 'location',
      from: '16505551234',
      timestamp: 1744344496000,
      location: { latitude: 37.44221496582, longitude: -122.16165924072, name: 'Philz Coffee', address: '101 Forest Ave, Palo Alto, CA 94301' },
    });
  });

  it('status_sent.json', () => {
    expect(parseWebhook(fixture('status_sent.json'))).toEqual({
      messages: [],
      statuses: [
        {
          wamid: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=',
          status: 'sent',
          timestamp: 1750030073000,
          recipient: '16505551234',
        },
      ],
      skipped: 0,
    });
  });
});

describe('parseWebhook on other shapes', () => {
  it.each([
    ['template quick reply', msg({ type: 'button', button: { payload: 'done:7', text: 'Done' } }), { type: 'button', buttonPayload: 'done:7', text: 'Done' }],
    [
      'list reply',
      msg({ type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'bin:UT-1', title: 'UT-1' } } }),
      { type: 'interactive', listReplyId: 'bin:UT-1', text: 'UT-1' },
    ],
    [
      'photo with caption',
      msg({ type: 'image', image: { id: '123', caption: 'full bin', mime_type: 'image/jpeg', sha256: 'x' } }),
      { type: 'image', image: { id: '123', caption: 'full bin', mime_type: 'image/jpeg' }, text: 'full bin' },
    ],
    ['reaction', msg({ type: 'reaction', reaction: { message_id: 'wamid.0', emoji: '👍' } }), { type: 'other' }],
    ['sticker', msg({ type: 'sticker', sticker: { id: '9' } }), { type: 'other' }],
    ['unsupported', msg({ type: 'unsupported', errors: [{ code: 131051 }] }), { type: 'other' }],
    ['location as strings', msg({ type: 'location', location: { latitude: '52.09', longitude: '5.12' } }), { location: { latitude: 52.09, longitude: 5.12 } }],
  ])('%s', (_name, message, expected) => {
    const { messages, skipped } = parseWebhook(envelope({ contacts, messages: [message] }));
    expect(skipped).toBe(0);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ id: 'wamid.1', from: '31600000001', name: 'Ann', timestamp: 1750000000000, ...expected });
  });

  it('takes the business-scoped user id when Meta withholds the phone number', () => {
    const m = { id: 'wamid.2', from_user_id: 'NL.1234567890', timestamp: '1750000000', type: 'text', text: { body: 'hi' } };
    const { messages } = parseWebhook(envelope({ contacts: [{ user_id: 'NL.1234567890', profile: { name: 'Bo' } }], messages: [m] }));
    expect(messages[0]).toMatchObject({ from: 'NL.1234567890', name: 'Bo', text: 'hi' });
  });

  // the sender is who we answer: a message from anyone we cannot write to is skipped here, not retried and set aside
  it.each([
    ['a phone number', { from: '31600000001' }, '31600000001'],
    ['a phone number with +', { from: '+31600000001' }, '+31600000001'],
    ['a business-scoped user id', { from: undefined, from_user_id: 'NL.1234567890' }, 'NL.1234567890'],
    ['a bad number with a good user id', { from: 'abc', from_user_id: 'NL.1234567890' }, 'NL.1234567890'],
    ['no sender: the lone contact', { from: undefined }, '31600000001'],
    ['letters', { from: 'abc' }, null],
    ['empty', { from: '' }, null],
    ['too short', { from: '123' }, null],
    ['spaces', { from: '31 6 0000 0001' }, null],
    ['a bad user id', { from: undefined, from_user_id: 'nobody' }, null],
  ])('sender %s', (_name, sender, expected) => {
    const { messages, skipped } = parseWebhook(envelope({ contacts, messages: [{ ...msg({ type: 'text', text: { body: 'hi' } }), ...sender }] }));
    if (expected === null) {
      expect(messages).toEqual([]);
      expect(skipped).toBe(1);
    } else {
      expect(skipped).toBe(0);
      expect(messages[0]?.from).toBe(expected);
    }
  });

  it('reads failed statuses with their errors and skips what it does not understand', () => {
    const statuses = [
      { id: 'wamid.9', status: 'failed', timestamp: 1750000001, recipient_id: '31600000001', errors: [{ code: 131047, title: 'Re-engagement message', message: 'more than 24 hours' }] },
      { id: 'wamid.9', status: 'deleted', timestamp: '1750000002', recipient_id: '31600000001' },
      { status: 'read' },
    ];
    const parsed = parseWebhook(envelope({ statuses, messages: [{ type: 'text' }] }));
    expect(parsed.statuses).toEqual([
      {
        wamid: 'wamid.9',
        status: 'failed',
        timestamp: 1750000001000,
        recipient: '31600000001',
        errors: [{ code: 131047, title: 'Re-engagement message', message: 'more than 24 hours' }],
      },
    ]);
    expect(parsed.messages).toEqual([]);
    expect(parsed.skipped).toBe(3);
  });

  it.each([null, 42, 'x', [], {}, { entry: 'nope' }, { object: 'page', entry: [{ changes: [{ field: 'feed', value: { item: 1 } }] }] }])(
    'never throws: %j',
    (body) => {
      expect(parseWebhook(body)).toEqual({ messages: [], statuses: [], skipped: 0 });
    },
  );
});

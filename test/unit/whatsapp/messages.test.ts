import { describe, expect, it } from 'vitest';
import { buttonsMessage, listMessage, locationRequestMessage, templateMessage, textMessage } from '../../../src/whatsapp/index.js';

const TO = '31612345678';
const btn = (i: number, title = `Button ${i}`) => ({ id: `b${i}`, title });

describe('message builders', () => {
  it('builds a text message for Graph', () => {
    expect(textMessage(`+${TO}`, 'hello')).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: TO,
      type: 'text',
      text: { body: 'hello' },
    });
  });

  it('addresses a business-scoped user id through `recipient`', () => {
    const m = textMessage('NL.13491208655302741918', 'hi');
    expect(m.to).toBeUndefined();
    expect(m.recipient).toBe('NL.13491208655302741918');
  });

  it('builds reply buttons with header and footer', () => {
    const m = buttonsMessage(TO, 'Bin UT-0042 is full', [{ id: 'accept:7', title: 'Accept' }, { id: 'done:7', title: 'Done' }], 'Job 7', 'binbridge');
    expect(m.interactive).toEqual({
      type: 'button',
      header: { type: 'text', text: 'Job 7' },
      body: { text: 'Bin UT-0042 is full' },
      footer: { text: 'binbridge' },
      action: {
        buttons: [
          { type: 'reply', reply: { id: 'accept:7', title: 'Accept' } },
          { type: 'reply', reply: { id: 'done:7', title: 'Done' } },
        ],
      },
    });
  });

  it.each([
    ['no buttons', () => buttonsMessage(TO, 'x', [])],
    ['four buttons', () => buttonsMessage(TO, 'x', [btn(1), btn(2), btn(3), btn(4)])],
    ['a 21-character title', () => buttonsMessage(TO, 'x', [btn(1, 'a'.repeat(21))])],
    ['an empty title', () => buttonsMessage(TO, 'x', [btn(1, '')])],
    ['duplicate ids', () => buttonsMessage(TO, 'x', [{ id: 'a', title: 'A' }, { id: 'a', title: 'B' }])],
    ['a 61-character header', () => buttonsMessage(TO, 'x', [btn(1)], 'h'.repeat(61))],
    ['a 1025-character body', () => buttonsMessage(TO, 'x'.repeat(1025), [btn(1)])],
    ['an empty text', () => textMessage(TO, '')],
    ['a bad recipient', () => textMessage('not a number', 'x')],
  ])('refuses %s', (_name, build) => {
    expect(build).toThrow(RangeError);
  });

  it('counts characters, not UTF-16 units: 20 emoji fit a title', () => {
    expect(() => buttonsMessage(TO, 'x', [btn(1, '🗑'.repeat(20))])).not.toThrow();
  });

  it('builds a list of at most 10 rows', () => {
    const rows = Array.from({ length: 10 }, (_, i) => ({ id: `bin:${i}`, title: `UT-00${i}`, description: 'Oudegracht 1' }));
    const m = listMessage(TO, 'Which bin?', 'Choose', [{ rows }]);
    expect(m.interactive).toMatchObject({ type: 'list', action: { button: 'Choose', sections: [{ rows }] } });
    expect(() => listMessage(TO, 'Which bin?', 'Choose', [{ rows: [...rows, { id: 'x', title: 'x' }] }])).toThrow(/11 rows/);
    expect(() => listMessage(TO, 'b', 'Choose', [{ rows: [{ id: 'a', title: 't'.repeat(25) }] }])).toThrow(RangeError);
    expect(() => listMessage(TO, 'b', 'c'.repeat(21), [{ rows: [{ id: 'a', title: 't' }] }])).toThrow(RangeError);
    expect(() => listMessage(TO, 'b', 'Choose', [{ rows: [rows[0]!] }, { rows: [rows[1]!] }])).toThrow(/title/);
  });

  it('builds a location request', () => {
    expect(locationRequestMessage(TO, 'Where is the bin?').interactive).toEqual({
      type: 'location_request_message',
      body: { text: 'Where is the bin?' },
      action: { name: 'send_location' },
    });
  });

  it('builds a template with body parameters and one quick reply per payload', () => {
    const m = templateMessage(TO, 'bin_dispatch', 'en', ['UT-0042', 'Oudegracht 1'], ['accept:7', 'done:7']);
    expect(m).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: TO,
      type: 'template',
      template: {
        name: 'bin_dispatch',
        language: { code: 'en' },
        components: [
          { type: 'body', parameters: [{ type: 'text', text: 'UT-0042' }, { type: 'text', text: 'Oudegracht 1' }] },
          { type: 'button', sub_type: 'quick_reply', index: '0', parameters: [{ type: 'payload', payload: 'accept:7' }] },
          { type: 'button', sub_type: 'quick_reply', index: '1', parameters: [{ type: 'payload', payload: 'done:7' }] },
        ],
      },
    });
    expect(templateMessage(TO, 'hello_world', 'en_US', [], []).template.components).toEqual([]);
    expect(() => templateMessage(TO, 'Bad Name', 'en', [], [])).toThrow(RangeError);
  });
});

import { describe, expect, it } from 'vitest';
import { redactText } from '../../../src/whatsapp/index.js';

describe('redactText', () => {
  it.each([
    ['no crew with phone 31612345678', 'no crew with phone [number]'],
    ['to +1 650-555-1234 now', 'to [number] now'],
    ['message wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQz== failed', 'message wamid.[redacted] failed'],
    ['(#131047) Re-engagement message', '(#131047) Re-engagement message'],
    ['HTTP 500', 'HTTP 500'],
  ])('%s', (input, out) => expect(redactText(input)).toBe(out));
});

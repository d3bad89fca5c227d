import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cliArgOptions, CliOptionsError, parseCliOptions } from '../../../emulator/cli-options.js';

const parse = (...args: string[]) => parseCliOptions(parseArgs({ args, options: cliArgOptions, strict: true }).values);

describe('emulator CLI options', () => {
  it('takes the options of the emulator example in docs/whatsapp.md', () => {
    const o = parse('--port', '8055', '--webhook', 'http://127.0.0.1:3000/webhooks/whatsapp', '--app-secret', 'S', '--phone-number-id', '106540352242922', '--access-token', 'T');
    expect(o.emulator).toMatchObject({ port: 8055, webhookUrl: 'http://127.0.0.1:3000/webhooks/whatsapp', appSecret: 'S', phoneNumberId: '106540352242922', accessToken: 'T', pairIntervalMs: 6000, mps: 80 });
  });

  it('has defaults', () => {
    expect(parse().emulator).toMatchObject({ port: 8055, host: '127.0.0.1', unreachable: [] });
    expect(parse().emulator.webhookUrl).toBeUndefined();
  });

  it('reads status delays, unreachable numbers and open windows', () => {
    const o = parse('--status-delays', '10,20,-', '--unreachable', '3161', '--unreachable', '3162', '--open-window', '3163', '--quiet');
    expect(o.emulator.statusDelaysMs).toEqual({ sent: 10, delivered: 20, read: null });
    expect(o.emulator.unreachable).toEqual(['3161', '3162']);
    expect(o.openWindows).toEqual(['3163']);
    expect(o.emulator.logger).toBe(false);
  });

  it.each([
    ['--port', 'abc'],
    ['--mps', '0'],
    ['--webhook', 'not a url'],
    ['--status-delays', 'x,1,2'],
  ])('refuses %s %s', (flag, value) => {
    expect(() => parse(flag, value)).toThrow(CliOptionsError);
  });
});

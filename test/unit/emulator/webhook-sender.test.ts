import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebhookSender } from '../../../emulator/webhook-sender.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

describe('WebhookSender', () => {
  it('waits and posts for many webhooks at once without a listener-leak warning (each listens on the one abort signal)', async () => {
    let open = 0;
    let most = 0;
    const server = http.createServer((req, res) => {
      open++;
      most = Math.max(most, open);
      req.resume();
      req.on('end', () =>
        setTimeout(() => {
          open--;
          res.end('ok');
        }, 30),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const sender = new WebhookSender({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
      appSecret: 's',
      retries: 0,
      retryBaseMs: 10,
      timeoutMs: 5000,
      now: () => 0,
      onAttempt: () => undefined,
    });
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      // as the status notifier does for each message: wait its delay, then post
      const statuses = await Promise.all(Array.from({ length: 30 }, async (_, i) => (await sender.sleep(20), sender.post('{}', 'inbound', `m${i}`, 1))));
      expect(statuses.every((s) => s === 200)).toBe(true);
      // the posts were on the wire together
      expect(most).toBeGreaterThan(10);
      // warnings are emitted on a later tick
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { LiveHub, SandboxFeed } from '../../../src/http/live/index.js';
import type { SandboxMessage } from '../../../src/whatsapp/index.js';

describe('LiveHub', () => {
  it('numbers each event and sends it to every open page, past one whose stream throws', () => {
    const hub = new LiveHub();
    const got: string[] = [];
    hub.subscribe(() => {
      throw new Error('a broken stream');
    });
    hub.subscribe((type, data, id) => got.push(`${id}:${type}:${String(data)}`));
    hub.publish('report', 'a');
    hub.publish('alert', 'b');
    expect(got).toEqual(['1:report:a', '2:alert:b']);
    expect(hub.subscribers).toBe(2);
  });

  it('forgets a page that unsubscribes, and ends the open ones when it closes', () => {
    const hub = new LiveHub();
    const ended: string[] = [];
    const leave = hub.subscribe(() => undefined, () => ended.push('left'));
    hub.subscribe(() => undefined, () => ended.push('open'));
    leave();
    expect(hub.subscribers).toBe(1);
    hub.close();
    expect(ended).toEqual(['open']);
    expect(hub.subscribers).toBe(0);
    // a page arriving during the shutdown is ended at once and kept nowhere
    hub.subscribe(() => undefined, () => ended.push('late'));
    expect(ended).toEqual(['open', 'late']);
    expect(hub.subscribers).toBe(0);
  });
});

describe('SandboxFeed', () => {
  const recorded: SandboxMessage[] = [];
  const record = (): void => {
    const id = recorded.length + 1;
    recorded.push({ id, wamid: `w${id}`, to: '31600000042', kind: 'text', message: { messaging_product: 'whatsapp', to: '31600000042', type: 'text', text: { body: `m${id}` } } as SandboxMessage['message'], createdAt: id });
  };
  const newestFirst = (limit: number): SandboxMessage[] => [...recorded].reverse().slice(0, limit);

  it('hands over what was recorded since the last call, oldest first, and not what was there before', () => {
    record();
    const feed = new SandboxFeed(newestFirst);
    feed.prime();
    expect(feed.fresh()).toEqual([]);
    record();
    record();
    expect(feed.fresh().map((m) => m.id)).toEqual([2, 3]);
    expect(feed.fresh()).toEqual([]);
    record();
    expect(feed.fresh().map((m) => m.id)).toEqual([4]);
  });
});

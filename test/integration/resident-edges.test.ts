// Residents' messages that our own reply-building once choked on (issue 15, found by the fuzz suite): a sender that
// is no phone number and no business-scoped user id, and a bin code that matches two bins of the registry, one
// without an address. Each must leave the inbox drained with nothing set aside, and the next resident answered.
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboundMessage } from '../../src/whatsapp/index.js';
import { metricValue, quiescent, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { waitFor } from '../helpers/wait.js';
import { FIXTURES } from '../unit/whatsapp/fixtures.js';

const SECRET = 'resident-edges-secret';
const RESIDENT = '31620000099';
let seq = 0;

/** Meta's text fixture with a fresh message id, its sender and text replaced. */
function textBody(from: string, body: string): string {
  const json = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'text.json'), 'utf8')) as {
    entry: { changes: { value: { contacts: { wa_id: string }[]; messages: { from: string; id: string; timestamp: string; text: { body: string } }[] } }[] }[];
  };
  const m = json.entry[0]!.changes[0]!.value.messages[0]!;
  m.from = from;
  m.id = `wamid.EDGES.${++seq}`;
  m.timestamp = String(Math.floor(Date.now() / 1000));
  m.text.body = body;
  return JSON.stringify(json);
}

describe("residents' messages our replies once choked on", () => {
  let bridge: InProcessBridge;
  const api = (p: string, init: RequestInit = {}) =>
    fetch(`${bridge.httpUrl}/api${p}`, { ...init, headers: { authorization: 'Bearer admin', ...(init.body ? { 'content-type': 'application/json' } : {}) } });
  const post = (raw: string) =>
    fetch(`${bridge.httpUrl}/webhooks/whatsapp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=' + createHmac('sha256', SECRET).update(raw).digest('hex') },
      body: raw,
    });
  const sent = async () => ((await (await api('/whatsapp/messages')).json()) as { items: { to: string; message: OutboundMessage }[] }).items;
  const replyTo = (to: string, after: number) =>
    waitFor(
      async () => {
        // newest first: the messages recorded after `after` of them come first
        const items = await sent();
        return items.slice(0, items.length - after).find((m) => m.to === to);
      },
      { message: 'a reply to the resident', timeoutMs: 10_000 },
    );

  beforeAll(async () => {
    bridge = await startBridge({ BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_HTTP_API_TOKEN: 'admin', BINBRIDGE_WHATSAPP_APP_SECRET: SECRET, BINBRIDGE_DISPATCH_BATCH_WINDOW_S: '0' });
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it('skips a message whose sender cannot be answered, counts it, and answers the next resident', async () => {
    const before = (await sent()).length;
    expect((await post(textBody('abc', 'UTR-0002 is vol'))).status).toBe(200);
    expect((await post(textBody(RESIDENT, 'UTR-0002 is vol'))).status).toBe(200);
    await replyTo(RESIDENT, before);
    await quiescent(bridge);
    expect(await bridge.inbox.backlog()).toEqual({ pending: 0, failed: 0 });
    const recorded = await sent();
    expect(recorded.filter((m) => m.to === RESIDENT)).toHaveLength(1);
    expect(recorded.some((m) => m.to === 'abc')).toBe(false);
    const metrics = await (await fetch(`${bridge.httpUrl}/metrics`)).text();
    expect(metricValue(metrics, 'binbridge_whatsapp_webhook_skipped_total')).toBe(1);
  });

  it('offers a list when a code matches two bins, one of them without an address', async () => {
    const bin = { lat: 52.0963, lon: 5.1167, zone: 'centrum', kind: 'rest', capacity_l: 1100, depth_mm: 1200 };
    // UTR-1 is another bin (ids differ), but a resident's code drops the zero padding: "UTR-0001" names both
    expect((await api('/bins/UTR-1', { method: 'PUT', body: JSON.stringify(bin) })).status).toBeLessThan(300);
    const before = (await sent()).length;
    const who = '31620000098';
    expect((await post(textBody(who, 'UTR-0001'))).status).toBe(200);
    const reply = await replyTo(who, before);
    await quiescent(bridge);
    expect(await bridge.inbox.backlog()).toEqual({ pending: 0, failed: 0 });
    const msg = reply.message as Extract<OutboundMessage, { type: 'interactive' }>;
    expect(msg.interactive.type).toBe('list');
    const rows = (msg.interactive as { action: { sections: { rows: { id: string; title: string; description?: string }[] }[] } }).action.sections.flatMap((s) => s.rows);
    expect(rows.map((r) => r.id).sort()).toEqual(['UTR-0001', 'UTR-1']);
    for (const r of rows) expect(r.description?.length).toBeGreaterThan(0);
  });
});

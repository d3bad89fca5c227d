// Sandbox mode (the default): decisions are recorded and listed instead of sent; the admin routes for zones and crews.
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CITY, cityBins, connectClient, metricValue, publishAcked, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { readBinsFile } from '../../src/registry/index.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'sandbox-secret';
const [BIN] = cityBins(1) as [string];
const ZONE = readBinsFile(CITY).find((b) => b.id === BIN)!.zone;
const CREW = '31655555555';

describe('sandbox mode and the admin API', () => {
  let bridge: InProcessBridge;
  const api = (p: string, init: RequestInit = {}) =>
    fetch(`${bridge.httpUrl}/api${p}`, { ...init, headers: { authorization: 'Bearer admin', ...(init.body ? { 'content-type': 'application/json' } : {}) } });

  beforeAll(async () => {
    bridge = await startBridge({
      BINBRIDGE_MQTT_AUTH: 'none',
      BINBRIDGE_HTTP_API_TOKEN: 'admin',
      BINBRIDGE_WHATSAPP_APP_SECRET: SECRET,
      BINBRIDGE_DISPATCH_BATCH_WINDOW_S: '0',
    });
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it('edits zones and crews, refusing a crew of an unknown zone', async () => {
    expect((await api(`/zones/${ZONE}`, { method: 'PUT', body: JSON.stringify({ name: 'Binnenstad', rules: { full_pct: 75 } }) })).status).toBe(200);
    const bad = await api('/crews/c-x', { method: 'PUT', body: JSON.stringify({ name: 'X', phone: CREW, zones: ['atlantis'], shift: '00:00-24:00' }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { detail: string }).detail).toContain('atlantis');
    const badPhone = await api('/crews/c-x', { method: 'PUT', body: JSON.stringify({ name: 'X', phone: '+31 6', zones: [ZONE], shift: '00:00-24:00' }) });
    expect(badPhone.status).toBe(400);
    // the only crew of the zone from now on
    for (const c of ((await (await api('/crews')).json()) as { items: { id: string }[] }).items) {
      expect((await api(`/crews/${c.id}`, { method: 'DELETE' })).status).toBe(204);
    }
    const ok = await api('/crews/c-sandbox', { method: 'PUT', body: JSON.stringify({ name: 'Sandbox crew', phone: CREW, zones: [ZONE], shift: '00:00-24:00', lang: 'nl' }) });
    expect(ok.status).toBe(200);
    expect(((await (await api('/crews')).json()) as { items: { id: string }[] }).items.map((c) => c.id)).toEqual(['c-sandbox']);
    expect(((await (await api('/zones')).json()) as { items: { id: string; name: string }[] }).items.find((z) => z.id === ZONE)?.name).toBe('Binnenstad');
    expect((await fetch(`${bridge.httpUrl}/api/crews`)).status).toBe(401);
  });

  it('records the crew message instead of sending it, and the crew can answer through the webhook', async () => {
    const c = await connectClient(bridge.mqttUrl, { clientId: 'sandbox' });
    const t = Date.now() - 3_600_000;
    // the zone's own threshold (75) applies
    for (const [i, f] of [60, 76, 77].entries()) await publishAcked(c, `bins/${BIN}/telemetry`, { fill_pct: f, ts: t + i * 60_000 });
    c.end();
    const messages = await waitFor(
      async () => {
        const items = ((await (await api('/whatsapp/messages')).json()) as { items: { to?: string; recipient?: string; body?: unknown; message?: unknown }[] }).items;
        return items.length > 0 ? items : undefined;
      },
      { message: 'a sandbox message' },
    );
    const first = JSON.stringify(messages[0]);
    expect(first).toContain(CREW);
    expect(first).toContain(BIN);
    expect(first).toContain('bin_dispatch');
    const job = await waitFor(
      async () => ((await (await api(`/dispatches?bin=${BIN}`)).json()) as { items: { id: string; status: string; crew_id: string }[] }).items.find((j) => j.status === 'sent'),
      { message: 'job sent' },
    );
    expect(job.crew_id).toBe('c-sandbox');

    const body = JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '1', phone_number_id: '1' }, contacts: [{ profile: { name: 'Crew' }, wa_id: CREW }], messages: [{ from: CREW, id: 'wamid.SANDBOX1', timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'klaar' } }] } }] }],
    });
    const sig = 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex');
    const r = await fetch(`${bridge.httpUrl}/webhooks/whatsapp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig }, body });
    expect(r.status).toBe(200);
    await waitFor(async () => ((await (await api(`/dispatches/${job.id}`)).json()) as { status: string }).status === 'done', { message: 'job done' });
    const text = await (await fetch(`${bridge.httpUrl}/metrics`)).text();
    expect(metricValue(text, 'binbridge_dispatches', { status: 'done' })).toBe(1);
    expect(metricValue(text, 'binbridge_alerts_open', { type: 'full' })).toBe(1);
  });
});

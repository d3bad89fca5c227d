// The live page's server side without a browser: the reading window (per-bin throttle), the SSE route's token
// check, the readings and page-settings routes, the sandbox route's availability, and the page fed by the event bus.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { ReadingWindow } from '../../src/http/live/index.js';
import { sandboxEnvelope, sandboxInboundSchema } from '../../src/http/routes/sandbox.js';
import { parseWebhook } from '../../src/whatsapp/webhook.js';
import { textMessage } from '../../src/whatsapp/index.js';
import { startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { openEventStream, type EventStream } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';

const reading = (binId: string, ts: number, fillPct: number) => ({ binId, ts, receivedAt: ts, fillPct, batteryPct: 80 });

describe('ReadingWindow', () => {
  it('publishes at most one reading per bin per throttle time, then the newest one held back', async () => {
    const clock = new ManualClock(10_000);
    const got: { data: { bin_id: string; fill_pct: number } }[] = [];
    const live = new ReadingWindow({ publish: (data) => got.push({ data }), throttleMs: 200, clock });
    live.onReadings([reading('A', 1000, 10), reading('B', 1000, 50)]);
    live.onReadings([reading('A', 2000, 20)]);
    live.onReadings([reading('A', 3000, 30)]);
    expect(got.map((e) => `${e.data.bin_id}:${e.data.fill_pct}`)).toEqual(['A:10', 'B:50']);
    await clock.advance(199);
    expect(got).toHaveLength(2);
    await clock.advance(200);
    expect(got.map((e) => `${e.data.bin_id}:${e.data.fill_pct}`)).toEqual(['A:10', 'B:50', 'A:30']);
    live.close();
  });

  it('does not let a reading stamped just inside the future limit hold back the next real one', () => {
    const got: { fill_pct: number; ts: string; received_at: string }[] = [];
    const live = new ReadingWindow({ publish: (data) => got.push(data), throttleMs: 0 });
    // stamped 4 min 59 s ahead of its arrival at 1 s, then a real reading at 2 s and a backlog sent at 3 s
    live.onReadings([{ binId: 'A', ts: 300_000, receivedAt: 1000, fillPct: 10 }]);
    live.onReadings([reading('A', 2000, 90)]);
    live.onReadings([{ binId: 'A', ts: 500, receivedAt: 3000, fillPct: 55 }]);
    expect(got.map((e) => e.fill_pct)).toEqual([10, 90]);
    // the event says what the device said and when it arrived; the page orders by the earlier of the two
    expect(got[0]).toMatchObject({ ts: new Date(300_000).toISOString(), received_at: new Date(1000).toISOString() });
    live.close();
  });
});

describe('sandbox envelope', () => {
  it('is a Meta webhook body the inbox parses back to the same message', () => {
    const cases = [
      { from: '+31600000042', text: 'UTR-0007 is vol' },
      { from: '31600000042', button_reply: { id: 'done:J-1234', title: 'Done' } },
      { from: '31600000042', list_reply: { id: 'UTR-0001', title: 'UTR-0001' } },
      { from: '31600000042', button: { payload: 'accept:J-1234', text: 'Accept' } },
      { from: '31600000042', location: { latitude: 52.09, longitude: 5.12 } },
    ];
    const parsed = cases.map((c) => parseWebhook(sandboxEnvelope(sandboxInboundSchema.parse(c), 1_700_000_000_000, 'wamid.X')).messages[0]!);
    expect(parsed.map((m) => m.from)).toEqual(Array(5).fill('31600000042'));
    expect(parsed[0]).toMatchObject({ type: 'text', text: 'UTR-0007 is vol', timestamp: 1_700_000_000_000 });
    expect(parsed[1]).toMatchObject({ type: 'interactive', buttonReplyId: 'done:J-1234' });
    expect(parsed[2]).toMatchObject({ type: 'interactive', listReplyId: 'UTR-0001' });
    expect(parsed[3]).toMatchObject({ type: 'button', buttonPayload: 'accept:J-1234' });
    expect(parsed[4]).toMatchObject({ type: 'location', location: { latitude: 52.09, longitude: 5.12 } });
    expect(sandboxInboundSchema.safeParse({ from: '31600000042' }).success).toBe(false);
    expect(sandboxInboundSchema.safeParse({ from: '31600000042', text: 'a', location: { latitude: 1, longitude: 2 } }).success).toBe(false);
    expect(sandboxInboundSchema.safeParse({ from: 'alice', text: 'a' }).success).toBe(false);
  });
});

describe('live routes behind the token, WhatsApp in cloud mode', () => {
  let bridge: InProcessBridge;
  const TOKEN = 'cloud-token';
  beforeAll(async () => {
    bridge = await startBridge({ BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_HTTP_API_TOKEN: TOKEN, BINBRIDGE_WHATSAPP_MODE: 'cloud' });
  });
  afterAll(async () => {
    await bridge?.stop();
  });
  const auth = { authorization: `Bearer ${TOKEN}` };

  it('serves the page and its libraries without a token, the data only with one', async () => {
    for (const p of ['/', '/app.js', '/style.css', '/vendor/leaflet/leaflet-src.esm.js', '/vendor/leaflet/leaflet.css', '/vendor/uplot/uPlot.esm.js']) {
      expect((await fetch(`${bridge.httpUrl}${p}`)).status, p).toBe(200);
    }
    expect((await fetch(`${bridge.httpUrl}/`)).headers.get('content-type')).toContain('text/html');
    expect((await fetch(`${bridge.httpUrl}/api/bins/UTR-0001/readings`)).status).toBe(401);
    // ?token= is for the event stream only
    expect((await fetch(`${bridge.httpUrl}/api/bins?token=${TOKEN}`)).status).toBe(401);
  });

  it('streams events with the token as a header or ?token=, and refuses without', async () => {
    expect((await fetch(`${bridge.httpUrl}/api/events`)).status).toBe(401);
    expect((await fetch(`${bridge.httpUrl}/api/events?token=wrong`)).status).toBe(401);
    for (const init of [{ url: `/api/events?token=${TOKEN}`, headers: {} }, { url: '/api/events', headers: auth }]) {
      const ac = new AbortController();
      const res = await fetch(`${bridge.httpUrl}${init.url}`, { headers: init.headers, signal: ac.signal });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      ac.abort();
    }
  });

  it("answers a bin's history, 404 for an unknown bin, and the page's settings", async () => {
    const ok = await fetch(`${bridge.httpUrl}/api/bins/UTR-0001/readings?hours=24`, { headers: auth });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ bin_id: 'UTR-0001', bucket_minutes: 15, items: [], next: null });
    expect((await fetch(`${bridge.httpUrl}/api/bins/NOPE/readings`, { headers: auth })).status).toBe(404);
    expect(await (await fetch(`${bridge.httpUrl}/api/page`, { headers: auth })).json()).toEqual({
      timezone: 'Europe/Amsterdam',
      history: { bucket_minutes: 15, days: 35 },
    });
    expect((await fetch(`${bridge.httpUrl}/api/page`)).status).toBe(401);
  });

  it('has no sandbox phones when whatsapp.mode is cloud', async () => {
    const post = await fetch(`${bridge.httpUrl}/api/sandbox/inbound`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ from: '31600000042', text: 'UTR-0007 is vol' }),
    });
    expect(post.status).toBe(404);
    expect(await (await fetch(`${bridge.httpUrl}/api/sandbox`, { headers: auth })).json()).toEqual({ enabled: false });
    expect((await fetch(`${bridge.httpUrl}/api/sandbox/inbound`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(401);
  });
});

describe('live page on the event bus, in simulated time that never moves', () => {
  // nothing advances this clock: no poll can run, so whatever reaches the stream came from an event
  const T0 = Date.parse('2026-11-25T09:00:00Z');
  const clock = new ManualClock(T0);
  let bridge: InProcessBridge;
  let stream: EventStream;
  beforeAll(async () => {
    bridge = await startBridge({ BINBRIDGE_MQTT_AUTH: 'none' }, undefined, { clock });
    stream = await openEventStream(`${bridge.httpUrl}/api/events`);
  });
  afterAll(async () => {
    stream?.close();
    await bridge?.stop();
  });
  const reportEvent = (reference: string, status: string) =>
    stream.events.find((e) => e.type === 'report' && (e.data as { reference: string }).reference === reference && (e.data as { status: string }).status === status);

  it('streams a new report and its change of status as they happen', async () => {
    const report = await bridge.flow.reportFromChannel({ binId: 'UTR-0003', method: 'open311', source: 'open311', serviceCode: 'overflowing-bin', text: 'vol', lat: null, lon: null, photo: null });
    await waitFor(() => reportEvent(report.reference, 'open'), { message: 'the new report on the stream' });
    await bridge.flow.onDispatched(['UTR-0003']);
    await waitFor(() => reportEvent(report.reference, 'dispatched'), { message: 'the dispatched report on the stream' });
    await bridge.flow.onCollected('UTR-0003');
    await waitFor(() => reportEvent(report.reference, 'closed'), { message: 'the closed report on the stream' });
    expect(clock.now()).toBe(T0);
  });

  it("streams a sandbox message once the outbox has sent it, on the clock's own turn", async () => {
    await bridge.outbox.add({ to: '31600000042', message: textMessage('31600000042', 'hello from the bus'), key: 'test:live-bus:1' });
    // the outbox's own wake-up (a timer due now) sends it; no time passes
    await clock.advance(0);
    const event = await waitFor(() => stream.events.find((e) => e.type === 'message'), { message: 'the sent message on the stream' });
    expect(event.data).toMatchObject({ to: '31600000042', kind: 'text', message: { text: { body: 'hello from the bus' } } });
    expect(clock.now()).toBe(T0);
  });
});

// Residents subscribe to their zone by chat and operators send them notices (the Graph API emulator plays their
// phones): targeting by zone and by radius, the unsubscribed and the opted-out get nothing, a restart mid-notice
// resumes without repeating anyone, statuses and replies feed the figures, and no number is kept in clear.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { location, startGraphEmulator, type GraphEmulator } from '../../emulator/index.js';
import { readBinsFile } from '../../src/registry/index.js';
import { freshDatabase, postgresCluster } from '../helpers/postgres.js';
import { CITY, metricValue, quiescent, startBridge, type InProcessBridge, cloudWhatsAppEnv } from '../helpers/bridge.js';
import { freePort } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'notices-app-secret';
const TOKEN = 'notices-token';
const bins = readBinsFile(CITY);
const inZone = (z: string) => bins.filter((b) => b.zone === z);
const [CENTRUM, WEST] = [inZone('centrum'), inZone('west')];
const phone = (n: number) => `3164000${String(n).padStart(4, '0')}`;

// the stores in SQLite under data_dir, and in PostgreSQL (store.url)
const cluster = postgresCluster();

describe.each(['sqlite', 'postgres'] as const)('subscriptions and notices (%s)', (store) => {
  let graph: GraphEmulator;
  let bridge: InProcessBridge;
  let dir: string;
  let logFile: string;
  let env: Record<string, string>;
  let storeUrl: string | null;
  /** statements on the stopped bridge's store, as a crash would leave it (SQLite's file, or the PostgreSQL database) */
  const onStore = async (statements: string): Promise<void> => {
    if (!storeUrl) {
      const raw = new Database(path.join(dir, 'binbridge.db'));
      raw.exec(statements);
      raw.close();
      return;
    }
    const c = new pg.Client({ connectionString: storeUrl });
    await c.connect();
    try {
      await c.query(statements);
    } finally {
      await c.end();
    }
  };

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers of many shapes, checked field by field
  const api = async (p: string, body?: unknown): Promise<{ status: number; j: any }> => {
    const r = await fetch(`${bridge.httpUrl}${p}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const t = await r.text();
    let j: unknown = t;
    try {
      j = JSON.parse(t);
    } catch {
      /* CSV */
    }
    return { status: r.status, j };
  };
  const bodyOf = (m: { body: unknown }) => JSON.stringify(m.body);
  const says = async (from: string, what: Parameters<GraphEmulator['userSends']>[1]) => {
    // the answer comes after what was sent so far (by position: the one before may share its millisecond)
    const after = graph.sent.length;
    await graph.userSends(from, what);
    return graph.waitForMessage((m) => m.to === from && graph.sent.indexOf(m) >= after, 10_000);
  };
  const sentTo = (from: number) => graph.sent.slice(from);

  beforeAll(async () => {
    const httpPort = await freePort();
    graph = await startGraphEmulator({ accessToken: TOKEN, appSecret: SECRET, webhookUrl: `http://127.0.0.1:${httpPort}/webhooks/whatsapp`, pairIntervalMs: 0, statusDelaysMs: { sent: 10, delivered: 20, read: 30 } });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-notices-'));
    logFile = path.join(dir, 'bridge.log');
    storeUrl = store === 'postgres' ? await freshDatabase(cluster.server) : null;
    env = {
      ...(storeUrl ? { BINBRIDGE_STORE_URL: storeUrl } : {}),
      BINBRIDGE_HTTP_PORT: String(httpPort),
      BINBRIDGE_MQTT_AUTH: 'none',
      // service notices go at any hour the suite runs (quiet hours have their own tests, on a manual clock)
      BINBRIDGE_NOTICES_QUIET_HOURS: '00:00-00:00',
      ...cloudWhatsAppEnv(graph, TOKEN, SECRET),
      BB_LOG_FILE: logFile,
    };
    bridge = await startBridge(env, dir);
  });
  afterAll(async () => {
    await bridge?.stop();
    await graph?.close();
  });

  it('subscribes by bin code in any form, by address, and by a pin after asking for one; answers with the zone and how to stop', async () => {
    const a = await says(phone(1), `subscribe ${CENTRUM[0]!.id}`);
    expect(bodyOf(a)).toContain('Centrum');
    expect(bodyOf(a)).toMatch(/UNSUBSCRIBE/);
    const b = await says(phone(2), `AANMELDEN ${CENTRUM[3]!.id.toLowerCase().replace('-', ' ')}`);
    expect(bodyOf(b)).toMatch(/aangemeld.*Centrum.*AFMELDEN/s);
    await says(phone(3), `Subscribe ${CENTRUM[5]!.address}`);
    await says(phone(4), `subscribe ${WEST[0]!.id}`);
    const ask = await says(phone(5), 'subscribe');
    expect(ask.type).toBe('interactive');
    const pin = await says(phone(5), location(WEST[1]!.lat, WEST[1]!.lon));
    expect(bodyOf(pin)).toContain('West');
    await says(phone(6), `subscribe ${CENTRUM[7]!.id}`);
    await says(phone(7), `subscribe ${CENTRUM[9]!.id}`);
    await quiescent(bridge);
    const { j } = await api('/api/subscriptions');
    expect(j.total).toBe(7);
    expect(j.items).toEqual(expect.arrayContaining([{ zone: 'centrum', lang: 'en', subscribers: 4 }, { zone: 'centrum', lang: 'nl', subscribers: 1 }, { zone: 'west', lang: 'en', subscribers: 2 }]));
    // subscribing twice to one zone is one subscription
    await says(phone(1), `subscribe ${CENTRUM[1]!.id}`);
    expect((await api('/api/subscriptions')).j.total).toBe(7);
  });

  it('unsubscribe ends notices (reports still work); STOP ends everything', async () => {
    expect(bodyOf(await says(phone(6), 'unsubscribe'))).toMatch(/not receive notices/);
    await says(phone(7), 'STOP');
    // a report still works after unsubscribing
    expect(bodyOf(await says(phone(6), `The bin ${CENTRUM[11]!.id} is full`))).toMatch(/R-[0-9A-Z]{4}/);
    await quiescent(bridge);
    expect((await api('/api/subscriptions')).j.total).toBe(5);
    const csv = (await api('/api/subscriptions/consent.csv')).j as string;
    expect(csv.split('\n')[0]).toBe('pseudonym,zone,lang,consent_version,consent_text,inbound_message,subscribed_at,ended_at,end_reason');
    expect(csv.trim().split('\n')).toHaveLength(1 + 7);
    expect(csv).toContain(',unsubscribe');
    expect(csv).toContain(',stop');
    expect(csv).not.toContain('3164000');
  });

  it('refuses bad notices with a clear 400 and counts a dry run', async () => {
    const ok = { kind: 'service', title: 'Collection moved', text: { en: 'Tomorrow instead of today.', nl: 'Morgen in plaats van vandaag.' }, target: { zones: ['centrum'] } };
    expect((await api('/api/notices?dry_run=true', ok)).j).toEqual({ dry_run: true, targeted: 3 });
    expect((await api('/api/notices?dry_run=true', { ...ok, target: { zones: ['centrum', 'west'] } })).j.targeted).toBe(5);
    expect((await api('/api/notices?dry_run=true', { ...ok, target: { all: true } })).j.targeted).toBe(5);
    const w = WEST[1]!;
    expect((await api('/api/notices?dry_run=true', { ...ok, target: { near: { lat: w.lat, lon: w.lon, radius_m: 30 } } })).j.targeted).toBe(1);
    const bad = [
      [{ ...ok, target: { zones: ['atlantis'] } }, /unknown zone "atlantis"/],
      [{ ...ok, text: { en: 'x'.repeat(1010) } }, /over Meta's limit of 1024 for a template body/],
      [{ ...ok, text: { en: '  ' } }, /no text in any language/],
      [{ ...ok, send_at: '2001-01-01T00:00:00Z' }, /send_at: .* is in the past/],
    ] as const;
    for (const [body, msg] of bad) {
      const r = await api('/api/notices', body);
      expect(r.status).toBe(400);
      expect(String(r.j.message ?? r.j.detail)).toMatch(msg);
    }
    expect((await api('/api/notices')).j.items).toHaveLength(0);
  });

  it('sends a zone notice once to each active subscriber, in their language, and statuses and replies feed its figures', async () => {
    await quiescent(bridge);
    const mark = graph.sent.length;
    const made = await api('/api/notices', { kind: 'emergency', title: 'Storm', text: { en: 'Bins stay in tomorrow.', nl: 'Containers blijven morgen binnen.' }, target: { zones: ['centrum'] } });
    expect(made.status).toBe(201);
    expect(made.j).toMatchObject({ targeted: 3 });
    expect(['sending', 'sent']).toContain(made.j.status);
    await waitFor(async () => (await api(`/api/notices/${made.j.id}`)).j.figures.read === 3, { message: 'all read' });
    const got = sentTo(mark);
    expect(got.map((m) => m.to).sort()).toEqual([phone(1), phone(2), phone(3)]);
    // outside the window? These residents wrote minutes ago: text, in their language
    expect(bodyOf(got.find((m) => m.to === phone(2))!)).toContain('Containers blijven morgen binnen.');
    expect(bodyOf(got.find((m) => m.to === phone(1))!)).toContain('Storm: Bins stay in tomorrow.');
    await graph.userSends(phone(1), 'Thanks!');
    await graph.userSends(phone(3), 'unsubscribe');
    await quiescent(bridge);
    const n = (await api(`/api/notices/${made.j.id}`)).j;
    expect(n.status).toBe('sent');
    expect(n.figures).toMatchObject({ targeted: 3, sent: 3, delivered: 3, read: 3, failed: 0, replied: 2, unsubscribed: 1 });
    expect(n.figures.response_rate).toBeCloseTo(2 / 3, 2);
    const id = String(made.j.id);
    // the figures reach the gauges at most a second after the last event (a burst reuses them)
    const metrics = await waitFor(
      async () => {
        const text = await (await fetch(`${bridge.httpUrl}/metrics`)).text();
        return metricValue(text, 'binbridge_notice_figure', { notice_id: id, kind: 'emergency', figure: 'replied' }) === 2 ? text : null;
      },
      { message: 'the figures in the gauges' },
    );
    expect(metricValue(metrics, 'binbridge_notice_figure', { notice_id: id, kind: 'emergency', figure: 'read' })).toBe(3);
    expect(metricValue(metrics, 'binbridge_notice_figure', { notice_id: id, kind: 'emergency', figure: 'replied' })).toBe(2);
    expect(metricValue(metrics, 'binbridge_notice_messages_total', { kind: 'emergency', status: 'delivered' })).toBe(3);
    expect(metricValue(metrics, 'binbridge_notice_messages_total', { kind: 'emergency', status: 'unsubscribed' })).toBe(1);
  });

  it('sends the bin_notice template to a resident outside the 24-hour window', async () => {
    graph.closeWindow(phone(4));
    graph.closeWindow(phone(5));
    const mark = graph.sent.length;
    const made = await api('/api/notices', { kind: 'service', title: 'West', text: { en: 'Paper bins are collected on Friday.' }, target: { zones: ['west'] } });
    await waitFor(() => sentTo(mark).length === 2, { message: 'two sent' });
    await quiescent(bridge);
    for (const m of sentTo(mark)) expect(bodyOf(m)).toContain('bin_notice');
    expect((await api(`/api/notices/${made.j.id}`)).j.figures.sent).toBe(2);
  });

  it('counts 131026 (not on WhatsApp) as failed, by code, and does not retry it', async () => {
    await quiescent(bridge);
    const [mark, refusedMark] = [graph.sent.length, graph.refused.length];
    graph.injectFaults({ code: 131026 });
    const made = await api('/api/notices', { kind: 'emergency', title: 'West', text: { en: 'Road closed for collection.' }, target: { zones: ['west'] } });
    await waitFor(async () => (await api(`/api/notices/${made.j.id}`)).j.figures.failed === 1, { message: 'one failed' });
    await quiescent(bridge);
    const f = (await api(`/api/notices/${made.j.id}`)).j.figures;
    expect(f).toMatchObject({ targeted: 2, sent: 1, failed: 1, failed_by_code: { '131026': 1 } });
    // refused once with 131026 and never tried again (the other resident's text met a closed window: 131047, then the template)
    expect(graph.refused.slice(refusedMark).filter((r) => r.error?.code === 131026)).toHaveLength(1);
    expect(sentTo(mark)).toHaveLength(1);
  });

  it('resumes a notice interrupted mid-send after a restart and repeats nobody', async () => {
    for (let i = 20; i < 50; i++) await graph.userSends(phone(i), `subscribe ${CENTRUM[i]!.id}`);
    await quiescent(bridge);
    const mark = graph.sent.length;
    await bridge.stop();
    // a notice scheduled for later whose time came while the bridge was down
    bridge = await startBridge(env, dir);
    const made = await api('/api/notices', { kind: 'service', title: 'Centrum', text: { en: 'Glass bins move.' }, target: { zones: ['centrum'] }, send_at: new Date(Date.now() + 60_000).toISOString() });
    expect(made.j.status).toBe('scheduled');
    await bridge.stop();
    await onStore(`UPDATE notices SET send_at_ms = 0 WHERE id = ${made.j.id}`);
    bridge = await startBridge(env, dir);
    await waitFor(async () => (await api(`/api/notices/${made.j.id}`)).j.status === 'sent', { message: 'sent' });
    await quiescent(bridge);
    const firstRun = sentTo(mark).map((m) => m.to);
    expect(firstRun.length).toBe(32);
    // the process dies again with the outbox items committed but the recipients not yet marked queued
    await bridge.stop();
    await onStore(`UPDATE notice_recipients SET queued = 0 WHERE notice_id = ${made.j.id}; UPDATE notices SET status = 'sending' WHERE id = ${made.j.id}`);
    bridge = await startBridge(env, dir);
    await waitFor(async () => (await api(`/api/notices/${made.j.id}`)).j.status === 'sent', { message: 'sent again' });
    await quiescent(bridge);
    const all = sentTo(mark).map((m) => m.to);
    expect(all.length).toBe(new Set(all).size);
    expect(all.length).toBe(32);
  });

  it('keeps no number in clear in SQLite or the logs', async () => {
    await quiescent(bridge);
    const files = fs.readdirSync(dir).filter((f) => /\.(db|sqlite|db-wal)$/.test(f) || f.endsWith('-wal') || f.endsWith('.log'));
    expect(files.length).toBeGreaterThan(1);
    for (const f of files) {
      const text = fs.readFileSync(path.join(dir, f)).toString('latin1');
      for (let i = 1; i < 50; i++) expect(text.includes(phone(i)), `${phone(i)} in ${f}`).toBe(false);
    }
  });
});

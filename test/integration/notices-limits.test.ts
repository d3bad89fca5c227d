// Service notices keep quiet hours and a per-resident weekly cap; emergencies are exempt from both. The whole
// bridge runs on a manual clock that the Graph API emulator shares, so "21:05 in Utrecht" and "a week later" are
// moments the test chooses, and what the emulator received is all that was sent. The quiet hours are a quarter of
// an hour here (the bridge's one-second timers make simulated hours cost real seconds); the unit test of
// quietUntil covers the default 21:00-08:00 across midnight and clock changes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GraphEmulator } from '../../emulator/index.js';
import { ManualClock } from '../../src/clock.js';
import { readBinsFile } from '../../src/registry/index.js';
import { CITY, startBridge, type InProcessBridge, graphForBridge } from '../helpers/bridge.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'limits-app-secret';
const TOKEN = 'limits-token';
const CENTRUM = readBinsFile(CITY).filter((b) => b.zone === 'centrum');
const phone = (n: number) => `3165000${String(n).padStart(4, '0')}`;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MIN = 60_000;
// Wednesday 2 December 2026, 20:58 in Utrecht (CET, UTC+1)
const T0 = Date.parse('2026-12-02T19:58:00Z');
const QUIET_END = Date.parse('2026-12-02T20:15:00Z');

describe('quiet hours and the weekly cap', () => {
  let clock = new ManualClock(T0);
  let graph: GraphEmulator;
  let bridge: InProcessBridge;
  let dir: string;
  let env: Record<string, string>;

  /** Lets the bridge run until its inbox and outbox are idle; timers due now fire on the manual clock. */
  const settle = () =>
    waitFor(
      async () => {
        await clock.advance(0);
        return (await bridge.inbox.backlog()).pending === 0 && (await bridge.outbox.backlog()) === 0;
      },
      { intervalMs: 20, message: 'inbox drained and outbox idle' },
    );
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers of many shapes, checked field by field
  const api = async (p: string, body?: unknown): Promise<any> => {
    const r = await fetch(`${bridge.httpUrl}${p}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return r.json();
  };
  const notice = async (kind: 'service' | 'emergency', title: string) => {
    const made = await api('/api/notices', { kind, title, text: { en: `${title}.` }, target: { zones: ['centrum'] } });
    await settle();
    return made.id as number;
  };
  const sentWith = (title: string) => graph.sent.filter((m) => JSON.stringify(m.body).includes(`${title}:`) || JSON.stringify(m.body).includes(`"${title}"`));

  beforeAll(async () => {
    const g = await graphForBridge({ accessToken: TOKEN, appSecret: SECRET, now: () => clock.now(), statusDelaysMs: { sent: 5, delivered: 10, read: null } });
    graph = g.graph;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-notice-limits-'));
    env = { BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_NOTICES_QUIET_HOURS: '21:00-21:15', ...g.env };
    bridge = await startBridge(env, dir, { clock });
    for (let i = 1; i <= 3; i++) {
      await graph.userSends(phone(i), `subscribe ${CENTRUM[i]!.id}`);
      await settle();
    }
    expect((await api('/api/subscriptions')).total).toBe(3);
  });
  afterAll(async () => {
    await bridge?.stop();
    await graph?.close();
  });

  it('holds a service notice through the quiet hours and sends it when they end; an emergency goes at once', async () => {
    await clock.advanceTo(T0 + 7 * MIN); // 21:05 local
    const service = await notice('service', 'Glass collection moves');
    const waiting = await api(`/api/notices/${service}`);
    expect(waiting).toMatchObject({ status: 'sending', resumes_at: new Date(QUIET_END).toISOString() });
    expect(waiting.figures).toMatchObject({ queued: 0, sent: 0 });
    expect(sentWith('Glass collection moves')).toHaveLength(0);

    const emergency = await notice('emergency', 'Storm');
    expect(sentWith('Storm').map((m) => m.to).sort()).toEqual([phone(1), phone(2), phone(3)]);
    expect((await api(`/api/notices/${emergency}`)).resumes_at).toBeNull();

    // a minute before the end: still quiet
    await clock.advanceTo(QUIET_END - MIN);
    await settle();
    expect(sentWith('Glass collection moves')).toHaveLength(0);
    // at the end it resumes and reaches everyone, once
    await clock.advanceTo(QUIET_END);
    await settle();
    const sent = sentWith('Glass collection moves');
    expect(sent.map((m) => m.to).sort()).toEqual([phone(1), phone(2), phone(3)]);
    for (const m of sent) expect(m.at).toBeGreaterThanOrEqual(QUIET_END);
    expect(await api(`/api/notices/${service}`)).toMatchObject({ status: 'sent', resumes_at: null, figures: { sent: 3, capped: 0 } });
  });

  it('skips a resident who had 3 service notices in the last 7 days, counts them `capped` and does not retry; emergencies still go', async () => {
    await clock.advance(5 * MIN); // each has had 1 service notice
    await notice('service', 'Paper on Friday');
    await notice('service', 'Paper on Monday');
    expect(sentWith('Paper on Monday')).toHaveLength(3);
    // a newcomer has had none
    await graph.userSends(phone(4), `subscribe ${CENTRUM[4]!.id}`);
    await settle();

    const fourth = await notice('service', 'Textile collection');
    expect(sentWith('Textile collection').map((m) => m.to)).toEqual([phone(4)]);
    const n = await api(`/api/notices/${fourth}`);
    expect(n.status).toBe('sent');
    expect(n.figures).toMatchObject({ targeted: 4, queued: 1, sent: 1, capped: 3 });
    const metrics = await (await fetch(`${bridge.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`binbridge_notice_figure\\{notice_id="${fourth}",kind="service",figure="capped"\\} 3`));

    await notice('emergency', 'Flood');
    expect(sentWith('Flood')).toHaveLength(4);

    // skipped means skipped: later, nothing more of that notice went out
    await clock.advance(10 * MIN);
    await settle();
    expect(sentWith('Textile collection')).toHaveLength(1);
  });

  it('counts the 7 days as a moving window, across a restart: once the oldest service notice is a week old, the next reaches them', async () => {
    // a week later, less a minute, binbridge starts again (on a clock that jumped there), without quiet hours
    await bridge.stop();
    clock = new ManualClock(QUIET_END + 7 * DAY - MIN);
    bridge = await startBridge({ ...env, BINBRIDGE_NOTICES_QUIET_HOURS: '00:00-00:00' }, dir, { clock });
    const almost = await notice('service', 'Almost a week');
    expect(sentWith('Almost a week').map((m) => m.to)).toEqual([phone(4)]);
    expect((await api(`/api/notices/${almost}`)).figures.capped).toBe(3);
    // the notice of QUIET_END is now 7 days old: 2 in the window for residents 1-3, 2 for resident 4
    await clock.advance(MIN + 1000);
    const next = await notice('service', 'Christmas schedule');
    expect(sentWith('Christmas schedule').map((m) => m.to).sort()).toEqual([phone(1), phone(2), phone(3), phone(4)]);
    expect((await api(`/api/notices/${next}`)).figures.capped).toBe(0);
  });
});

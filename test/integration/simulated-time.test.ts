// The whole program on a manual clock: the same composition as `npm start`, with time moved by the test. Batch
// windows, escalations and the offline check happen when simulated time says so, without waiting for the wall clock
// (what the city twin builds on).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { connectClient, publishAcked, startBridge, type InProcessBridge } from '../helpers/bridge.js';

const CREW = '31611111111';
const SUP = '31699999999';
const T0 = Date.parse('2026-11-25T09:00:00Z'); // 10:00 in Utrecht
const MIN = 60_000;
const ZONES = ['centrum', 'noordoost', 'noordwest', 'oost', 'west', 'zuid', 'leidsche-rijn'];

function configFile(): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-simtime-')), 'binbridge.yaml');
  fs.writeFileSync(
    file,
    `zones:
${ZONES.map((z) => `  - { id: ${z}, name: ${z} }`).join('\n')}
crews:
  - { id: crew-a, name: Crew A, phone: "${CREW}", zones: [${ZONES.join(', ')}], shift: "06:00-22:00", lang: en }
dispatch: { batch_window_s: 300, escalate_after_s: 1800, supervisor_phone: "${SUP}" }
rules: { full_pct: 80, clear_pct: 30, debounce: 2, offline_after_s: 7200 }
`,
  );
  return file;
}

describe('binbridge in simulated time', () => {
  const clock = new ManualClock(T0);
  let bridge: InProcessBridge;
  let client: MqttClient;
  const to = (phone: string) => bridge.sandbox!.list({ limit: 100 }).filter((m) => m.to === phone);
  const jobs = () => bridge.dispatcher.store.list({ bin: 'UTR-0001' });

  beforeAll(async () => {
    bridge = await startBridge({ BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_CONFIG: configFile() }, undefined, { clock });
    client = await connectClient(bridge.mqttUrl, { clientId: 'simtime' });
  });
  afterAll(async () => {
    client?.end(true);
    await bridge?.stop();
  });

  it('batches for the window, sends, escalates and sees silence when simulated time says so', async () => {
    // two readings over the line, stamped in simulated time (the wall clock is days ahead of it)
    for (const [ts, fill] of [
      [T0 - MIN, 85],
      [T0, 90],
    ] as const) {
      await publishAcked(client, 'bins/UTR-0001/telemetry', { fill_pct: fill, ts });
    }
    // the rules see committed readings on the turn after their PUBACK
    await bridge.journal.settled();
    expect((await bridge.alerts.list({ status: 'open', type: 'full' })).map((a) => a.bin_id)).toEqual(['UTR-0001']);
    // the batch window has not passed in simulated time, however long the wall clock takes
    await clock.advance(4 * MIN);
    expect(await jobs()).toHaveLength(0);

    await clock.advance(2 * MIN);
    expect(await jobs()).toMatchObject([{ status: 'sent', crew_id: 'crew-a', bin_ids: ['UTR-0001'] }]);
    expect(to(CREW)).toHaveLength(1);
    expect(to(CREW)[0]!.createdAt).toBeGreaterThanOrEqual(T0 + 5 * MIN);

    // nobody accepts: escalated after escalate_after_s of simulated time
    await clock.advance(28 * MIN);
    expect(to(SUP)).toHaveLength(0);
    await clock.advance(2 * MIN);
    expect((await jobs())[0]!.status).toBe('escalated');
    expect(to(SUP)).toHaveLength(1);

    // and two hours without a reading is offline
    expect(await bridge.alerts.list({ status: 'open', type: 'offline' })).toHaveLength(0);
    await clock.advanceTo(T0 + 2 * 3_600_000 + 2 * MIN);
    expect((await bridge.alerts.list({ status: 'open', type: 'offline' })).map((a) => a.bin_id)).toContain('UTR-0001');
  });
});

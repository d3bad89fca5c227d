// A bin's history survives a restart without InfluxDB: readings acknowledged over MQTT (QoS 1) are in the embedded
// 15-minute history that GET /api/bins/{id}/readings answers from, after the bridge is stopped and started again
// on the same data folder, or killed right after the PUBACK (the history is written in the reading's commit).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectClient, publishAcked, spawnBridge, startBridge, type InProcessBridge } from '../helpers/bridge.js';

interface HistoryItem {
  ts: string;
  bucket: string;
  fill_pct: number;
  fill_min_pct: number;
  fill_max_pct: number;
  battery_min_pct: number | null;
  temperature_max_c: number | null;
  readings: number;
}
interface HistoryAnswer {
  bin_id: string;
  from: string;
  to: string;
  bucket_minutes: number;
  items: HistoryItem[];
  next: null;
}

const BIN = 'UTR-0005';
const MIN = 60_000;
const QUARTER = 15 * MIN;

describe('a bin history without InfluxDB', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-history-'));
  let bridge: InProcessBridge | undefined;
  const get = async (p: string): Promise<{ status: number; body: unknown }> => {
    const res = await fetch(`${bridge!.httpUrl}${p}`);
    return { status: res.status, body: await res.json() };
  };
  afterAll(async () => {
    await bridge?.stop();
  });

  // two quarters of an hour, an hour ago: the second one's readings arrive out of order (a sensor's backlog)
  const base = Math.floor((Date.now() - 2 * 3_600_000) / QUARTER) * QUARTER;
  const sent = [
    { ts: base + 1 * MIN, fill_pct: 10, battery_pct: 90, temperature_c: 12 },
    { ts: base + 7 * MIN, fill_pct: 30, battery_pct: 88, temperature_c: 15 },
    { ts: base + 14 * MIN, fill_pct: 20, battery_pct: 89, temperature_c: 11 },
    { ts: base + QUARTER + 9 * MIN, fill_pct: 55, battery_pct: 87, temperature_c: 61 },
    { ts: base + QUARTER + 2 * MIN, fill_pct: 40, battery_pct: 86, temperature_c: 13 },
  ];

  it('answers the acknowledged readings after a restart on the same data folder', async () => {
    bridge = await startBridge({ BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_INFLUX_URL: '' }, dataDir);
    expect(bridge.writer).toBeNull();
    const device = await connectClient(bridge.mqttUrl, { clientId: BIN });
    for (const r of sent) await publishAcked(device, `bins/${BIN}/telemetry`, r);
    device.end(true);
    await bridge.stop();

    bridge = await startBridge({ BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_INFLUX_URL: '' }, dataDir);
    const { status, body } = await get(`/api/bins/${BIN}/readings?hours=24`);
    expect(status).toBe(200);
    const answer = body as HistoryAnswer;
    expect(answer.items).toEqual([
      {
        ts: new Date(base + 14 * MIN).toISOString(),
        bucket: new Date(base).toISOString(),
        fill_pct: 20,
        fill_min_pct: 10,
        fill_max_pct: 30,
        battery_min_pct: 88,
        temperature_max_c: 15,
        readings: 3,
      },
      {
        ts: new Date(base + QUARTER + 9 * MIN).toISOString(),
        bucket: new Date(base + QUARTER).toISOString(),
        fill_pct: 55,
        fill_min_pct: 40,
        fill_max_pct: 55,
        battery_min_pct: 86,
        temperature_max_c: 61,
        readings: 2,
      },
    ]);
    expect(answer).toMatchObject({ bin_id: BIN, bucket_minutes: 15, next: null });
    // the range answered, ending now
    expect(Date.parse(answer.to) - Date.parse(answer.from)).toBe(24 * 3_600_000);
    expect(Math.abs(Date.parse(answer.to) - Date.now())).toBeLessThan(60_000);
  });

  it('matches the bin id ignoring case and answers an explicit from/to range', async () => {
    const from = new Date(base + QUARTER).toISOString();
    const to = new Date(base + 2 * QUARTER).toISOString();
    const { status, body } = await get(`/api/bins/${BIN.toLowerCase()}/readings?from=${from}&to=${to}`);
    expect(status).toBe(200);
    const answer = body as HistoryAnswer;
    expect(answer.bin_id).toBe(BIN);
    expect(answer).toMatchObject({ from, to });
    expect(answer.items.map((i) => i.fill_pct)).toEqual([55]);
  });

  it('refuses ranges it cannot answer, naming the parameter', async () => {
    const now = Date.now();
    const cases: [string, RegExp][] = [
      ['hours=0', /hours/],
      ['hours=841', /hours/], // 35 days are 840 hours
      ['from=yesterday', /from/],
      [`from=${new Date(now - 36 * 86_400_000).toISOString()}&to=${new Date(now).toISOString()}`, /35 days/],
      [`from=${new Date(now).toISOString()}&to=${new Date(now - 3_600_000).toISOString()}`, /before/],
      [`hours=2&from=${new Date(now - 3_600_000).toISOString()}`, /hours.*from|from.*hours/],
    ];
    for (const [query, message] of cases) {
      const { status, body } = await get(`/api/bins/${BIN}/readings?${query}`);
      expect(status, query).toBe(400);
      expect(JSON.stringify(body), query).toMatch(message);
    }
    expect((await get('/api/bins/NOPE-0000/readings')).status).toBe(404);
  });

  it('has a reading acknowledged just before the bridge was killed (-9)', async () => {
    const env = { BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_INFLUX_URL: '' };
    const first = await spawnBridge(env);
    const device = await connectClient(`mqtt://127.0.0.1:${first.mqttPort}`, { clientId: 'UTR-0006' });
    await publishAcked(device, 'bins/UTR-0006/telemetry', { fill_pct: 77.7 });
    device.end(true);
    await first.kill9();
    const second = await spawnBridge(env, first);
    try {
      const res = await fetch(`http://127.0.0.1:${second.httpPort}/api/bins/UTR-0006/readings`);
      expect(((await res.json()) as HistoryAnswer).items.map((i) => [i.fill_pct, i.readings])).toEqual([[77.7, 1]]);
    } finally {
      await second.stop();
    }
  });
});

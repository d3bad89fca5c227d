// A resident's follow-up answers (the list after a pin, the confirmation after a choice) go out at once under Meta's
// real pair rate (one message per 6 s to one user on average, bursts of 45), enforced by the Graph API emulator and
// kept by binbridge's pacer. The bridge and the emulator run on one manual clock that the test never moves forward:
// zero-delay timers are fired (advance(0)), nothing later is, so five residents' whole conversations being answered
// proves that no answer waited for time to pass (`npm run bench:chat` measures the same flow in real time).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listReply, location, startGraphEmulator, text, type GraphEmulator, type SentMessage } from '../../emulator/index.js';
import { ManualClock } from '../../src/clock.js';
import { cloudWhatsAppEnv, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { freePort } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

const T0 = Date.parse('2026-12-02T10:00:00Z');
const TOKEN = 'pace-token';
const SECRET = 'pace-app-secret';
const RESIDENTS = Array.from({ length: 5 }, (_, i) => `3163000000${i}`);
/** Resident i's two bins, 20 m apart, a kilometre from the next resident's. */
const spot = (i: number) => ({ lat: 52 + i * 0.01, lon: 5 });
const GAP_LON = 0.0003;

describe("residents' follow-up answers at Meta's pair rate", () => {
  const clock = new ManualClock(T0);
  let graph: GraphEmulator;
  let bridge: InProcessBridge;
  let pump: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-chat-pace-'));
    const bins = path.join(dir, 'bins.csv');
    const rows = ['id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm'];
    RESIDENTS.forEach((_, i) => {
      const { lat, lon } = spot(i);
      rows.push(`PC-${i}A,${lat},${lon},Tempolaan ${2 * i + 1},z1,rest,240,1000,50`, `PC-${i}B,${lat},${(lon + GAP_LON).toFixed(4)},Tempolaan ${2 * i + 2},z1,rest,240,1000,50`);
    });
    fs.writeFileSync(bins, rows.join('\n') + '\n');
    const config = path.join(dir, 'binbridge.yaml');
    fs.writeFileSync(config, 'zones:\n  - { id: z1, name: Zone 1 }\n');
    const httpPort = await freePort();
    // Meta's limits, the emulator's defaults: bursts of 45 to one user, then one per 6 s
    graph = await startGraphEmulator({ accessToken: TOKEN, appSecret: SECRET, webhookUrl: `http://127.0.0.1:${httpPort}/webhooks/whatsapp`, now: () => clock.now() });
    bridge = await startBridge(
      {
        ...cloudWhatsAppEnv(graph, TOKEN, SECRET),
        BINBRIDGE_WHATSAPP_PAIR_INTERVAL_MS: '6000',
        BINBRIDGE_CONFIG: config,
        BINBRIDGE_REGISTRY_BINS_FILE: bins,
        BINBRIDGE_HTTP_PORT: String(httpPort),
        BINBRIDGE_MQTT_AUTH: 'none',
      },
      undefined,
      { clock },
    );
    // fires what is due now (the outbox's wake-ups), never what is due later
    pump = setInterval(() => void clock.advance(0), 5);
  });
  afterAll(async () => {
    clearInterval(pump);
    await bridge?.stop();
    await graph?.close();
  });

  const answers = (phone: string): SentMessage[] => graph.sent.filter((m) => m.to === phone);
  const nth = (phone: string, n: number): Promise<SentMessage> =>
    waitFor(() => answers(phone)[n - 1], { timeoutMs: 10_000, message: `answer ${n} to ${phone} (a later one would need the clock to move)` });

  it('answers five residents\' text, pin and choice at once, without the clock moving', async () => {
    await Promise.all(
      RESIDENTS.map(async (phone, i) => {
        await graph.userSends(phone, text('Hello, the bin here is overflowing'));
        expect(JSON.stringify((await nth(phone, 1)).body)).toContain('location_request_message');
        const { lat, lon } = spot(i);
        await graph.userSends(phone, location(lat, lon + GAP_LON / 2));
        const list = (await nth(phone, 2)).body as { interactive?: { type: string; action: { sections: { rows: { id: string; title: string }[] }[] } } };
        expect(list.interactive?.type).toBe('list');
        const row = list.interactive!.action.sections[0]!.rows[0]!;
        await graph.userSends(phone, listReply(row.id, row.title));
        expect(JSON.stringify((await nth(phone, 3)).body)).toMatch(/R-[0-9A-Z]{4}/);
      }),
    );
    expect(clock.now()).toBe(T0);
    expect(graph.sent).toHaveLength(3 * RESIDENTS.length);
    expect(graph.sent.every((m) => m.at === T0)).toBe(true);
    expect(graph.refused).toEqual([]);
  });
});

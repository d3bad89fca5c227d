// kill -9 in the middle of a notice: the restarted bridge resumes it and every subscriber gets it. The recipients
// and their queued messages are committed before anything is sent, so nobody is skipped; a repeat can come only
// from the outbox's one at-least-once window (a request on the wire when the process died), which it logs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startGraphEmulator } from '../../emulator/index.js';
import { readBinsFile } from '../../src/registry/index.js';
import { CITY, spawnBridge, cloudWhatsAppEnv } from '../helpers/bridge.js';
import { freePort } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'k9-notices-secret';
const TOKEN = 'k9-notices-token';
const CENTRUM = readBinsFile(CITY).filter((b) => b.zone === 'centrum');
const N = 40;
const phone = (i: number) => `3165000${String(i).padStart(4, '0')}`;

describe('a notice interrupted by kill -9', () => {
  it('is resumed after the restart: every subscriber gets it, none twice beyond a request that was on the wire', async () => {
    const httpPort = await freePort();
    const graph = await startGraphEmulator({ accessToken: TOKEN, appSecret: SECRET, webhookUrl: `http://127.0.0.1:${httpPort}/webhooks/whatsapp`, pairIntervalMs: 0 });
    const env = {
      BINBRIDGE_MQTT_AUTH: 'none',
      ...cloudWhatsAppEnv(graph, TOKEN, SECRET),
      // slow enough that the kill lands mid-notice
      BINBRIDGE_WHATSAPP_MPS: '10',
    };
    let bridge = await spawnBridge(env, { httpPort, mqttPort: await freePort(), dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'bb-k9n-')) });
    let output = '';
    try {
      for (let i = 0; i < N; i++) await graph.userSends(phone(i), `subscribe ${CENTRUM[i]!.id}`);
      await waitFor(() => new Set(graph.sent.map((m) => m.to)).size === N, { timeoutMs: 20_000, message: 'every subscription answered' });
      const mark = graph.sent.length;
      const r = await fetch(`http://127.0.0.1:${httpPort}/api/notices`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'emergency', title: 'Storm', text: { en: 'Keep bins inside.' }, target: { zones: ['centrum'] } }),
      });
      const { id } = (await r.json()) as { id: number };
      await waitFor(() => graph.sent.length - mark >= 8, { timeoutMs: 10_000, message: 'some sent' });
      await bridge.kill9();
      output += bridge.output();
      const before = graph.sent.length - mark;
      expect(before).toBeLessThan(N);
      bridge = await spawnBridge(env, bridge);
      await waitFor(() => new Set(graph.sent.slice(mark).map((m) => m.to)).size === N, { timeoutMs: 20_000, message: 'every subscriber reached' });
      await waitFor(async () => ((await (await fetch(`http://127.0.0.1:${httpPort}/api/notices/${id}`)).json()) as { figures: { sent: number } }).figures.sent >= N, {
        timeoutMs: 10_000,
        message: 'figures caught up',
      });
      output += bridge.output();
      const got = graph.sent.slice(mark).map((m) => m.to);
      const recovered = [...output.matchAll(/"event":"outbox_recovered"[^\n]*?"items":(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
      expect(got.length - N).toBeLessThanOrEqual(recovered);
      expect(new Set(got).size).toBe(N);
    } finally {
      await bridge.kill9();
      await graph.close();
    }
  }, 90_000);
});

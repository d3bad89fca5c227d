// The firmware simulator against two real bridges (`--url a,b`): its devices spread over both, and when one bridge
// stops they carry on through the other, their readings acknowledged there.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { CITY, cityBins, connectClient, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { cli } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

const BINS = 6;

/** Which bins' readings a broker passes on from now: a subscriber on it. */
async function watch(bridge: InProcessBridge): Promise<{ bins: Set<string>; client: MqttClient }> {
  const client = await connectClient(bridge.mqttUrl, { clientId: `watch-${Math.random().toString(36).slice(2)}` });
  const bins = new Set<string>();
  client.on('message', (topic) => bins.add(topic.split('/')[1]!));
  await client.subscribeAsync('bins/+/telemetry', { qos: 0 });
  return { bins, client };
}

describe('firmware-sim --url with two brokers', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });

  it('spreads the devices over both; when one bridge stops, every device carries on through the other, nothing dropped', { timeout: 90_000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-sim-brokers-'));
    const city = path.join(dir, 'bins.csv');
    fs.writeFileSync(city, fs.readFileSync(CITY, 'utf8').split('\n').slice(0, BINS + 1).join('\n') + '\n');
    const env = { BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_REGISTRY_BINS_FILE: city };
    const a = await startBridge(env);
    cleanups.push(() => a.stop());
    const b = await startBridge(env);
    cleanups.push(() => b.stop());
    const onA = await watch(a);
    cleanups.push(() => onA.client.endAsync());
    const onB = await watch(b);
    cleanups.push(() => onB.client.endAsync());

    const args = ['--no-auth', '--bins-file', city, '--url', `${a.mqttUrl},${b.mqttUrl}`, '--interval', '1s', '--speed', '10', '--duration', '12s'];
    const run = cli(args, {}, 'firmware-sim/main.ts');
    const ids = cityBins(BINS);
    await waitFor(() => onA.bins.size + onB.bins.size === BINS, { timeoutMs: 15_000, message: 'every device publishing' });
    // device i starts at broker i mod 2
    expect([...onA.bins].sort()).toEqual(ids.filter((_, i) => i % 2 === 0).sort());
    expect([...onB.bins].sort()).toEqual(ids.filter((_, i) => i % 2 === 1).sort());

    await a.stop();
    onB.bins.clear();
    await waitFor(() => onB.bins.size === BINS, { timeoutMs: 8_000, message: `every device through b (now ${[...onB.bins].join(', ')})` });

    const result = await run;
    expect(result.code, result.stderr).toBe(0);
    const summary = /firmware-sim stopped: (\d+) devices, sent (\d+), acked (\d+), unsent (\d+) \(buffered or unacknowledged\), dropped (\d+)/.exec(result.stdout);
    expect(summary, result.stdout).not.toBeNull();
    const [, devices, sent, acked, unsent, dropped] = summary!.map(Number);
    expect(devices).toBe(BINS);
    expect(dropped).toBe(0);
    // every reading handed to a connection was acknowledged, or is still counted as unsent at the end
    expect(acked).toBeGreaterThan(BINS * 5);
    expect(sent! - acked!).toBeLessThanOrEqual(unsent!);
    expect(result.stderr).toContain(`${a.mqttUrl}, ${b.mqttUrl}`);
  });
});

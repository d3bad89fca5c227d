// Device secrets of the release before (scrypt records) keep working over MQTT, and each is replaced by an HMAC
// record at its device's first login; the HMAC key lives in data_dir, and without it no HMAC record verifies.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEVICE_KEY_FILE } from '../../src/broker/index.js';
import { cityBins, connectClient, publishAcked, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { provisionLegacy } from '../helpers/legacy-secret.js';
import { rawConnect } from '../helpers/raw-mqtt.js';

const [OLD, NEW, OTHER] = cityBins(3) as [string, string, string];

const running: InProcessBridge[] = [];
afterEach(async () => {
  for (const b of running.splice(0)) await b.stop();
});
const start = async (dir: string): Promise<InProcessBridge> => {
  const b = await startBridge({}, dir);
  running.push(b);
  return b;
};
const stop = async (b: InProcessBridge): Promise<void> => {
  running.splice(running.indexOf(b), 1);
  await b.stop();
};
const hashOf = (b: InProcessBridge, bin: string): string => b.db.prepare('SELECT hash FROM device_secrets WHERE bin_id = ?').pluck().get(bin) as string;
const code = async (b: InProcessBridge, bin: string, password: string): Promise<number> => {
  const c = await rawConnect(b.ports.mqtt!, { clientId: bin, username: bin, password });
  c.end();
  return c.connack.returnCode ?? -1;
};

describe('device secrets across the upgrade to HMAC records', () => {
  it('logs a device in with its scrypt record, upgrades the record, and after a restart logs it in with the HMAC record', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-upgrade-'));
    let bridge = await start(dir);
    const oldSecret = await provisionLegacy(bridge.db, OLD);
    const newSecret = await bridge.secrets.issue(NEW);
    expect(hashOf(bridge, NEW)).toMatch(/^hmac-sha256\$/);
    expect(fs.statSync(path.join(dir, DEVICE_KEY_FILE)).mode & 0o777).toBe(0o600);

    expect(await code(bridge, OLD, 'wrong')).toBe(4);
    expect(hashOf(bridge, OLD)).toMatch(/^scrypt\$/);
    const device = await connectClient(bridge.mqttUrl, { clientId: OLD, username: OLD, password: oldSecret });
    await publishAcked(device, `bins/${OLD}/telemetry`, { fill_pct: 40 });
    expect(hashOf(bridge, OLD)).toMatch(/^hmac-sha256\$/);
    // the upgrade is no change of secret: the session it was made by stays open and keeps publishing, also after
    // a change elsewhere makes every session look at its bin's record again
    await bridge.secrets.issue(OTHER);
    await publishAcked(device, `bins/${OLD}/telemetry`, { fill_pct: 40 });
    device.end(true);

    await stop(bridge);
    bridge = await start(dir);
    expect(await code(bridge, OLD, oldSecret)).toBe(0);
    expect(await code(bridge, NEW, newSecret)).toBe(0);
    expect(await code(bridge, OLD, 'wrong')).toBe(4);
    expect(await code(bridge, NEW, oldSecret)).toBe(4);
    for (const f of fs.readdirSync(dir).filter((f) => fs.statSync(path.join(dir, f)).isFile())) expect(fs.readFileSync(path.join(dir, f)).includes(Buffer.from(oldSecret)), f).toBe(false);
  });

  it('refuses HMAC records made under a key that is gone, and says so in the log at start', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-upgrade-'));
    let bridge = await start(dir);
    const secret = await bridge.secrets.issue(NEW);
    await stop(bridge);
    fs.rmSync(path.join(dir, DEVICE_KEY_FILE));
    const logFile = path.join(dir, 'log.ndjson');
    bridge = await startBridge({ BB_LOG_FILE: logFile }, dir);
    running.push(bridge);
    expect(await code(bridge, NEW, secret)).toBe(4);
    const lines = fs.readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.event === 'device_key_new')).toMatchObject({ level: 50, records: 1 });
    expect(fs.readFileSync(logFile, 'utf8')).not.toContain(fs.readFileSync(path.join(dir, DEVICE_KEY_FILE), 'utf8').trim());
  });
});

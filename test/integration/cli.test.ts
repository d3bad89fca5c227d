// The command line as an operator meets it: start-up errors, the logged ports, graceful shutdown, device secrets.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CITY, connectClient, publishAcked, spawnBridge, startBridge } from '../helpers/bridge.js';
import { cli } from '../helpers/cli.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'bb-cli-'));

describe('binbridge start', () => {
  it('stops at a wrong value with a message naming the key, the expected form and the source', async () => {
    const r = await cli(['start'], { BINBRIDGE_MQTT_PORT: 'abc', BINBRIDGE_INFLUX_API: 'v3', BINBRIDGE_DATA_DIR: tmp() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('mqtt.port: expected number, got "abc" (from BINBRIDGE_MQTT_PORT)');
    expect(r.stderr).toContain('influx.api: expected one of "v2", "v1", got "v3" (from BINBRIDGE_INFLUX_API)');
  });

  it('stops at a broken bins file, naming the line', async () => {
    const dir = tmp();
    const file = path.join(dir, 'bins.csv');
    fs.writeFileSync(file, 'id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm\nA-1,520,5.1,x,centrum,rest,240,1000,50\n');
    const r = await cli(['start'], { BINBRIDGE_REGISTRY_BINS_FILE: file, BINBRIDGE_DATA_DIR: dir, BINBRIDGE_MQTT_PORT: '0', BINBRIDGE_HTTP_PORT: '0' });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('bins file rejected');
    expect(r.stdout).toContain('line 2: lat');
  });

  it('logs each chosen port on one line, and on SIGTERM commits what it took and exits 0', async () => {
    const bridge = await spawnBridge({ BINBRIDGE_MQTT_AUTH: 'none' });
    const lines = bridge
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"listening"'))
      .map((l) => JSON.parse(l) as { listener: string; port: number });
    expect(lines.find((l) => l.listener === 'mqtt')?.port).toBe(bridge.mqttPort);
    expect(lines.find((l) => l.listener === 'http')?.port).toBe(bridge.httpPort);
    const c = await connectClient(`mqtt://127.0.0.1:${bridge.mqttPort}`, { clientId: 'cli-test' });
    const [bin] = fs.readFileSync(CITY, 'utf8').split('\n')[1]!.split(',');
    await publishAcked(c, `bins/${bin}/telemetry`, { fill_pct: 33 });
    c.end();
    expect(await bridge.stop()).toBe(0);
    expect(bridge.output()).toContain('"msg":"stopped"');
    // the state it acknowledged is there at the next start
    const again = await startBridge({}, bridge.dataDir);
    expect(again.binState.get(bin!)?.fill_pct).toBe(33);
    await again.stop();
  });
});

describe('binbridge devices', () => {
  it('creates, rotates and revokes a secret, and provisions a secrets file for the simulator', async () => {
    const dir = tmp();
    // a small city: provisioning runs scrypt once per bin
    const city = path.join(dir, 'bins.csv');
    fs.writeFileSync(city, fs.readFileSync(CITY, 'utf8').split('\n').slice(0, 7).join('\n') + '\n');
    const env = { BINBRIDGE_DATA_DIR: dir, BINBRIDGE_REGISTRY_BINS_FILE: city };
    const [bin] = fs.readFileSync(city, 'utf8').split('\n')[1]!.split(',');
    const first = await cli(['devices', 'secret', bin!], env);
    expect(first.code).toBe(0);
    const [id, secret] = first.stdout.trim().split(' ');
    expect(id).toBe(bin);
    expect(secret!.length).toBeGreaterThanOrEqual(32);
    expect(fs.readFileSync(path.join(dir, 'binbridge.db')).includes(Buffer.from(secret!))).toBe(false);
    const rotated = await cli(['devices', 'secret', bin!], env);
    expect(rotated.stdout.trim().split(' ')[1]).not.toBe(secret);
    expect((await cli(['devices', 'secret', 'NOPE-1'], env)).stderr).toContain('no bin NOPE-1');

    const out = path.join(dir, 'secrets.json');
    const p = await cli(['devices', 'provision', '--all', '--out', out], env);
    expect(p.code).toBe(0);
    const file = JSON.parse(fs.readFileSync(out, 'utf8')) as Record<string, string>;
    expect(Object.keys(file).length).toBe(6);
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    expect((await cli(['devices', 'revoke', bin!], env)).stdout).toContain(`revoked ${bin}`);
  });
});

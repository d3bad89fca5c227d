// The command line as an operator meets it: start-up errors, the logged ports, graceful shutdown, device secrets.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { CITY, connectClient, publishAcked, spawnBridge, startBridge } from '../helpers/bridge.js';
import { cli } from '../helpers/cli.js';

/**
 * Runs the command line and measures how long it lives after it said why it stops (its first stderr line):
 * the time to start tsx on a loaded machine is no part of "ends within 5 s".
 */
async function cliUntilExit(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string; afterMessageMs: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    env: { ...process.env, BINBRIDGE_REGISTRY_BINS_FILE: CITY, BINBRIDGE_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let saidAt = 0;
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    saidAt ||= Date.now();
    stderr += d.toString();
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(killer);
  return { code, stdout, stderr, afterMessageMs: Date.now() - saidAt };
}

/** A port that something else holds, for as long as the test needs it. */
async function occupied(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** A copy of the first n bins of the example city (provisioning commits once per bin). */
function smallCity(dir: string, n: number): string {
  const city = path.join(dir, 'bins.csv');
  fs.writeFileSync(city, fs.readFileSync(CITY, 'utf8').split('\n').slice(0, n + 1).join('\n') + '\n');
  return city;
}

const stackLines = (text: string) => text.split('\n').filter((l) => /^\s+at /.test(l)).length;

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'bb-cli-'));

describe('binbridge start', () => {
  it('stops at a wrong value with a message naming the key, the expected form and the source', async () => {
    const r = await cli(['start'], { BINBRIDGE_MQTT_PORT: 'abc', BINBRIDGE_INFLUX_API: 'v3', BINBRIDGE_DATA_DIR: tmp() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('mqtt.port: expected number, got "abc" (from BINBRIDGE_MQTT_PORT)');
    expect(r.stderr).toContain('influx.api: expected one of "v2", "v1", got "v3" (from BINBRIDGE_INFLUX_API)');
  });

  it('stops at a broken bins file, naming every bad line, exit 2', async () => {
    const dir = tmp();
    const file = path.join(dir, 'bins.csv');
    fs.writeFileSync(file, 'id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm\nA-1,520,5.1,x,centrum,rest,240,1000,50\nA-2,52,5.1,x,atlantis,rest,240,1000,50\n');
    const r = await cli(['start'], { BINBRIDGE_REGISTRY_BINS_FILE: file, BINBRIDGE_DATA_DIR: dir, BINBRIDGE_MQTT_PORT: '0', BINBRIDGE_HTTP_PORT: '0' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`binbridge: bins file ${file}: 2 problem(s):`);
    expect(r.stderr).toContain('line 2: lat');
    expect(r.stderr).toMatch(/line 3: zone: unknown zone "atlantis"; known zones: centrum, noord, /);
    expect(stackLines(r.stdout + r.stderr)).toBe(0);
  });

  it('a missing bins file is one line naming it and the setting, exit 2, no stack trace', async () => {
    const dir = tmp();
    const file = path.join(dir, 'none.csv');
    const r = await cliUntilExit(['start'], { BINBRIDGE_REGISTRY_BINS_FILE: file, BINBRIDGE_DATA_DIR: dir, BINBRIDGE_MQTT_PORT: '0', BINBRIDGE_HTTP_PORT: '0' });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([`binbridge: bins file not found: ${file} (set registry.bins_file or BINBRIDGE_REGISTRY_BINS_FILE)`]);
    expect(stackLines(r.stdout + r.stderr)).toBe(0);
    expect(r.afterMessageMs).toBeLessThan(5000);
  });

  it.each([
    ['http', 'BINBRIDGE_HTTP_PORT', 'http.port'],
    ['mqtt', 'BINBRIDGE_MQTT_PORT', 'mqtt.port'],
  ])('a busy %s port is one line naming it and the setting, exit 2, and the process ends by itself', async (_, variable, setting) => {
    const busy = await occupied();
    try {
      const ports = { BINBRIDGE_MQTT_PORT: '0', BINBRIDGE_HTTP_PORT: '0', BINBRIDGE_MQTT_HOST: '127.0.0.1', BINBRIDGE_HTTP_HOST: '127.0.0.1', [variable]: String(busy.port) };
      const r = await cliUntilExit(['start'], { BINBRIDGE_DATA_DIR: tmp(), BINBRIDGE_LOG_LEVEL: 'warn', ...ports });
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([`binbridge: cannot listen on 127.0.0.1:${busy.port} (address in use; set ${setting} or ${variable})`]);
      expect(stackLines(r.stdout + r.stderr)).toBe(0);
      // it ends by itself, not by the 4-second guard in the command line
      expect(r.afterMessageMs).toBeLessThan(3000);
    } finally {
      await busy.close();
    }
  });

  it('refuses an unknown flag with the usage line', { timeout: 180_000 }, async () => {
    const r = await cli(['start', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('binbridge: unknown option --bogus');
    expect(r.stderr).toContain('usage: binbridge start [--config FILE]');
    const typo = await cli(['devices', 'provision', '--all', '--rotat']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('binbridge: unknown option --rotat; did you mean --rotate?');
    expect(typo.stderr).toContain('usage: binbridge devices provision');
    expect((await cli(['config', 'check', '--verbose'])).stderr).toContain('binbridge: unknown option --verbose');
    expect((await cli(['devices', 'list', '--all'])).code).toBe(2);
    expect((await cli(['config', 'check', 'extra'])).stderr).toContain('binbridge: unexpected argument extra');
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

describe('binbridge config check', () => {
  it('fails on a misspelt key, naming the path and the key meant', async () => {
    const dir = tmp();
    const file = path.join(dir, 'typo.yaml');
    fs.writeFileSync(file, 'rules:\n  ful_pct: 70\n');
    const r = await cli(['config', 'check'], { BINBRIDGE_CONFIG: file });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`rules.ful_pct: unknown key; did you mean full_pct? (from ${file})`);
  });

  it('validates the bins file against the config\'s zones and kinds and prints its count', async () => {
    const ok = await cli(['config', 'check']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).rules.full_pct).toBe(85);
    expect(ok.stderr).toMatch(/bins file \S*config\/bins\.example\.csv: 3\d\d bins in 7 zones, 5 kinds/);
    const dir = tmp();
    const file = path.join(dir, 'bins.csv');
    fs.writeFileSync(file, 'id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm\nA-1,52,5.1,x,centrum,pmd,240,1000,50\n');
    const bad = await cli(['config', 'check'], { BINBRIDGE_REGISTRY_BINS_FILE: file });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('line 2: kind: unknown kind "pmd"; known kinds: rest, paper, glass, plastic, organic, textile');
  });
});

describe('binbridge devices', () => {
  // many command-line runs, each starting tsx: minutes on a busy two-core machine
  it('provision --all --out keeps every existing secret: only bins without one get one, the file only verifying ones', { timeout: 240_000 }, async () => {
    const dir = tmp();
    let city = smallCity(dir, 6);
    const env = { BINBRIDGE_DATA_DIR: dir, BINBRIDGE_REGISTRY_BINS_FILE: city };
    const ids = fs.readFileSync(city, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]!);
    const old = (await cli(['devices', 'secret', ids[0]!], env)).stdout.trim().split(' ')[1]!;
    const out = path.join(dir, 'secrets.json');
    const p = await cli(['devices', 'provision', '--all', '--out', out], env);
    expect(p.code).toBe(0);
    expect(p.stderr).toContain('5 secret(s) issued');
    expect(p.stderr).toContain(`1 bin(s) keep the secret they have (--rotate issues new ones); 1 of those are not in ${out}: ${ids[0]}`);
    const file = JSON.parse(fs.readFileSync(out, 'utf8')) as Record<string, string>;
    expect(Object.keys(file).sort()).toEqual(ids.slice(1).sort());
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);

    // a second run changes nothing
    const again = await cli(['devices', 'provision', '--all', '--out', out], env);
    expect(again.stderr).toContain('0 secret(s) issued');
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual(file);

    // a rotated secret leaves the file when it is next written; a new bin joins it
    await cli(['devices', 'secret', ids[1]!], env);
    city = smallCity(dir, 7);
    const seventh = fs.readFileSync(city, 'utf8').trim().split('\n')[7]!.split(',')[0]!;
    const grown = await cli(['devices', 'provision', '--all', '--out', out], env);
    expect(grown.stderr).toContain('1 secret(s) issued');
    expect(grown.stderr).toContain(`dropped 1 that no longer verif`);
    const file2 = JSON.parse(fs.readFileSync(out, 'utf8')) as Record<string, string>;
    expect(Object.keys(file2).sort()).toEqual([...ids.slice(2), seventh].sort());

    // a file that is not a secrets file is left alone, and nothing is issued
    const other = path.join(dir, 'notes.json');
    fs.writeFileSync(other, '["not", "secrets"]');
    const refused = await cli(['devices', 'provision', ids[0]!, '--rotate', '--out', other], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${other} is not a secrets file`);
    expect(fs.readFileSync(other, 'utf8')).toBe('["not", "secrets"]');

    // the devices connect: the old secret, one from the first file, the new bin's
    const bridge = await startBridge({ BINBRIDGE_REGISTRY_BINS_FILE: city }, dir);
    try {
      for (const [id, secret] of [[ids[0]!, old], [ids[2]!, file[ids[2]!]!], [seventh, file2[seventh]!]] as const) {
        const c = await connectClient(bridge.mqttUrl, { clientId: id, username: id, password: secret });
        await publishAcked(c, `bins/${id}/telemetry`, { fill_pct: 40 });
        c.end();
      }
      await expect(connectClient(bridge.mqttUrl, { clientId: ids[1]!, username: ids[1]!, password: file[ids[1]!]! })).rejects.toThrow(/Bad username or password|Not authorized/);
    } finally {
      await bridge.stop();
    }
  });

  it('creates, rotates and revokes a secret, and provisions a secrets file for the simulator', { timeout: 180_000 }, async () => {
    const dir = tmp();
    // a small city: provisioning commits once per bin
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
    const p = await cli(['devices', 'provision', '--all', '--rotate', '--out', out], env);
    expect(p.code).toBe(0);
    const file = JSON.parse(fs.readFileSync(out, 'utf8')) as Record<string, string>;
    expect(Object.keys(file).length).toBe(6);
    expect(file[bin!]).not.toBe(secret);
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    expect((await cli(['devices', 'revoke', bin!], env)).stdout).toContain(`revoked ${bin}`);
  });
});

describe('npm run sim', () => {
  const SIM = 'firmware-sim/main.ts';
  const secretsIn = (dir: string): number => {
    const file = path.join(dir, 'binbridge.db');
    if (!fs.existsSync(file)) return 0;
    const db = new Database(file, { readonly: true });
    try {
      const has = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'device_secrets'").get();
      return has ? (db.prepare('SELECT count(*) FROM device_secrets').pluck().get() as number) : 0;
    } finally {
      db.close();
    }
  };

  it('--help and a bad flag provision nothing', async () => {
    const dir = tmp();
    const env = { BINBRIDGE_DATA_DIR: dir, BINBRIDGE_REGISTRY_BINS_FILE: smallCity(dir, 3) };
    const out = path.join(dir, 'device-secrets.json');
    const help = await cli(['--provision', '--credentials', out, '--help'], env, SIM);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: npm run sim -- [options]');
    const bad = await cli(['--provision', '--credentials', out, '--bogus'], env, SIM);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('firmware-sim: unknown option --bogus');
    expect(bad.stderr).toContain('Usage: npm run sim -- [options]');
    expect(fs.existsSync(out)).toBe(false);
    expect(secretsIn(dir)).toBe(0);
  });

  it('with --provision, the first run gives every bin a secret (file mode 0600) and later runs reuse it', { timeout: 180_000 }, async () => {
    const dir = tmp();
    const city = smallCity(dir, 3);
    const bridge = await startBridge({ BINBRIDGE_REGISTRY_BINS_FILE: city }, dir);
    try {
      const out = path.join(dir, 'device-secrets.json');
      const env = { BINBRIDGE_DATA_DIR: dir, BINBRIDGE_REGISTRY_BINS_FILE: city };
      const args = ['--provision', '--credentials', out, '--bins-file', city, '--url', bridge.mqttUrl, '--duration', '1500ms', '--interval', '1s', '--speed', '1', '--quiet'];
      const first = await cli(args, env, SIM);
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/firmware-sim stopped: 3 devices, sent \d+, acked [1-9]/);
      const secrets = JSON.parse(fs.readFileSync(out, 'utf8')) as Record<string, string>;
      expect(Object.keys(secrets)).toHaveLength(3);
      expect(fs.statSync(out).mode & 0o777).toBe(0o600);
      const second = await cli(args, env, SIM);
      expect(second.stdout).toMatch(/firmware-sim stopped: 3 devices, sent \d+, acked [1-9]/);
      expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual(secrets);
    } finally {
      await bridge.stop();
    }
  });
});

describe('the other entry points', () => {
  it.each([
    ['demo/main.ts', 'usage: npm run demo -- [--http 3000]'],
    ['emulator/main.ts', 'Usage: npm run emulator -- [options]'],
  ])('%s refuses an unknown flag with its usage line, exit 2, no stack trace', async (script, usage) => {
    const r = await cli(['--bogus'], {}, script);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '?--bogus/i);
    expect(r.stderr).toContain(usage);
    expect(stackLines(r.stderr)).toBe(0);
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, envVariables, loadConfig } from '../../../src/config/index.js';

function tmpYaml(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-config-'));
  const file = path.join(dir, 'binbridge.yaml');
  fs.writeFileSync(file, text);
  return file;
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives the documented defaults with no file', () => {
    const { config, file } = loadConfig({ env: {}, cwd: os.tmpdir() });
    expect(file).toBeNull();
    expect(config.mqtt.port).toBe(1883);
    expect(config.mqtt.auth).toBe('devices');
    expect(config.http.port).toBe(3000);
    expect(config.influx.url).toBe('');
    expect(config.whatsapp.mode).toBe('sandbox');
    expect(config.rules.full_pct).toBe(85);
    expect(path.isAbsolute(config.data_dir)).toBe(true);
  });

  it('reads the shipped config/binbridge.yaml', () => {
    const { config } = loadConfig({ env: {}, file: 'config/binbridge.yaml' });
    expect(config.zones.length).toBeGreaterThan(0);
    expect(config.registry.bins_file).toBe('config/bins.example.csv');
  });

  it('applies the fixed BINBRIDGE_* overrides with the right types', () => {
    const { config } = loadConfig({
      env: {
        BINBRIDGE_MQTT_PORT: '0',
        BINBRIDGE_MQTT_AUTH: 'none',
        BINBRIDGE_HTTP_PORT: '8080',
        BINBRIDGE_HTTP_API_TOKEN: 't0k',
        BINBRIDGE_DATA_DIR: '/tmp/bb-data',
        BINBRIDGE_REGISTRY_BINS_FILE: 'x.csv',
        BINBRIDGE_INFLUX_URL: 'http://127.0.0.1:8086',
        BINBRIDGE_INFLUX_API: 'v1',
        BINBRIDGE_INFLUX_DB: 'city',
        BINBRIDGE_INFLUX_ORG: 'o',
        BINBRIDGE_INFLUX_BUCKET: 'b',
        BINBRIDGE_INFLUX_TOKEN: 'tok',
        BINBRIDGE_INFLUX_GZIP: 'false',
        BINBRIDGE_WHATSAPP_MODE: 'cloud',
        BINBRIDGE_WHATSAPP_GRAPH_URL: 'http://127.0.0.1:9999',
        BINBRIDGE_WHATSAPP_API_VERSION: 'v21.0',
        BINBRIDGE_WHATSAPP_PHONE_NUMBER_ID: '123',
        BINBRIDGE_WHATSAPP_ACCESS_TOKEN: 'a',
        BINBRIDGE_WHATSAPP_APP_SECRET: 's',
        BINBRIDGE_WHATSAPP_VERIFY_TOKEN: 'v',
      },
      cwd: os.tmpdir(),
    });
    expect(config.mqtt.port).toBe(0);
    expect(config.mqtt.auth).toBe('none');
    expect(config.http).toMatchObject({ port: 8080, api_token: 't0k' });
    expect(config.data_dir).toBe('/tmp/bb-data');
    expect(config.influx).toMatchObject({ url: 'http://127.0.0.1:8086', api: 'v1', db: 'city', org: 'o', bucket: 'b', token: 'tok', gzip: false });
    expect(config.whatsapp).toMatchObject({ mode: 'cloud', api_version: 'v21.0', phone_number_id: '123', verify_token: 'v' });
  });

  it('lists every fixed variable name of SPEC.md', () => {
    const names = new Set(envVariables().keys());
    for (const n of [
      'BINBRIDGE_MQTT_PORT', 'BINBRIDGE_MQTT_AUTH', 'BINBRIDGE_HTTP_PORT', 'BINBRIDGE_HTTP_API_TOKEN', 'BINBRIDGE_DATA_DIR',
      'BINBRIDGE_REGISTRY_BINS_FILE', 'BINBRIDGE_INFLUX_URL', 'BINBRIDGE_INFLUX_API', 'BINBRIDGE_INFLUX_DB', 'BINBRIDGE_INFLUX_ORG',
      'BINBRIDGE_INFLUX_BUCKET', 'BINBRIDGE_INFLUX_TOKEN', 'BINBRIDGE_WHATSAPP_MODE', 'BINBRIDGE_WHATSAPP_GRAPH_URL',
      'BINBRIDGE_WHATSAPP_API_VERSION', 'BINBRIDGE_WHATSAPP_PHONE_NUMBER_ID', 'BINBRIDGE_WHATSAPP_ACCESS_TOKEN',
      'BINBRIDGE_WHATSAPP_APP_SECRET', 'BINBRIDGE_WHATSAPP_VERIFY_TOKEN',
    ]) expect(names, n).toContain(n);
  });

  it.each([
    [{ BINBRIDGE_MQTT_PORT: 'abc' }, /^mqtt\.port: expected number, got "abc" \(from BINBRIDGE_MQTT_PORT\)$/],
    [{ BINBRIDGE_MQTT_PORT: '70000' }, /^mqtt\.port: expected a value <= 65535, got 70000/],
    [{ BINBRIDGE_MQTT_AUTH: 'maybe' }, /^mqtt\.auth: expected one of "devices", "none", got "maybe"/],
    [{ BINBRIDGE_INFLUX_API: 'v3' }, /^influx\.api: expected one of "v2", "v1"/],
    [{ BINBRIDGE_INFLUX_URL: 'ftp://x' }, /^influx\.url: /],
    [{ BINBRIDGE_WHATSAPP_API_VERSION: '23' }, /^whatsapp\.api_version: expected like v23\.0/],
  ])('refuses %o with a message naming the key and the expected form', (env, pattern) => {
    const p = problems(() => loadConfig({ env, cwd: os.tmpdir() }));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(pattern);
  });

  it('names keys inside lists and the file they came from', () => {
    const file = tmpYaml('crews:\n  - id: c1\n    name: C\n    phone: "+31 6 1234"\n    zones: [centrum]\n    shift: "6-22"\n');
    const p = problems(() => loadConfig({ file, env: {} }));
    expect(p.some((m) => m.startsWith('crews.0.phone: expected digits only, with country code'))).toBe(true);
    expect(p.some((m) => m.startsWith('crews.0.shift: expected HH:MM-HH:MM') || m.startsWith('crews.0.shift: HH:MM-HH:MM'))).toBe(true);
    expect(p.every((m) => m.includes(`(from ${file})`) || m.includes('binbridge.yaml'))).toBe(true);
  });

  it('refuses a missing explicit file and invalid YAML', () => {
    expect(() => loadConfig({ file: '/nonexistent/x.yaml', env: {} })).toThrow(/does not exist/);
    expect(() => loadConfig({ file: tmpYaml('mqtt: [port: 1'), env: {} })).toThrow(/not valid YAML/);
  });

  it('takes the file from BINBRIDGE_CONFIG and warns about unknown variables, suggesting the closest one', () => {
    const file = tmpYaml('http:\n  port: 0\n');
    const { config, warnings } = loadConfig({ env: { BINBRIDGE_CONFIG: file, BINBRIDGE_HTTP_PROT: '1', BINBRIDGE_SOMETHING_ELSE: 'x' } });
    expect(config.http.port).toBe(0);
    expect(warnings).toContain('unknown environment variable BINBRIDGE_HTTP_PROT (ignored); did you mean BINBRIDGE_HTTP_PORT?');
    expect(warnings).toContain('unknown environment variable BINBRIDGE_SOMETHING_ELSE (ignored; `binbridge config env` lists the known ones)');
  });

  it('refuses unknown keys at every level, naming each path and the closest known key, all at once', () => {
    const file = tmpYaml(
      'rules:\n  ful_pct: 70\nmqtt:\n  prot: 1\n  tls: { port: 8883, certt: x }\nzones:\n  - { id: centrum, nmae: Centrum }\n  - id: oost\n    name: Oost\n    rules: { debouce: 3 }\nwhatever: 1\n',
    );
    const p = problems(() => loadConfig({ file, env: {} }));
    expect(p).toContain(`rules.ful_pct: unknown key; did you mean full_pct? (from ${file})`);
    expect(p).toContain(`mqtt.prot: unknown key; did you mean port? (from ${file})`);
    expect(p).toContain(`mqtt.tls.certt: unknown key; did you mean cert? (from ${file})`);
    expect(p).toContain(`zones.0.nmae: unknown key; did you mean name? (from ${file})`);
    expect(p).toContain(`zones.1.rules.debouce: unknown key; did you mean debounce? (from ${file})`);
    expect(p.find((m) => m.startsWith('whatever: unknown key; known keys: data_dir, log_level,'))).toBeDefined();
    expect(p).toHaveLength(6);
  });

  it('refuses crews serving zones the config does not have', () => {
    const file = tmpYaml('zones:\n  - { id: noordoost, name: Noordoost }\ncrews:\n  - { id: c1, name: C, phone: "31612345678", zones: [noordost], shift: "06:00-22:00" }\n');
    const p = problems(() => loadConfig({ file, env: {} }));
    expect(p).toEqual([`crews.0.zones.0: unknown zone "noordost"; did you mean noordoost? (from ${file})`]);
  });

  it('takes zones from the bins file when the config names none', () => {
    const { config } = loadConfig({ env: {}, cwd: os.tmpdir() });
    expect(config.zones).toEqual([]);
    expect(config.registry.kinds).toEqual(['rest', 'paper', 'glass', 'plastic', 'organic', 'textile']);
  });

  it('takes store.url from BINBRIDGE_STORE_URL, and never shows its password when it refuses one', () => {
    expect(loadConfig({ env: {}, cwd: os.tmpdir() }).config.store.url).toBe('');
    const url = 'postgres://binbridge:s3cret@db.example:5432/binbridge';
    expect(loadConfig({ env: { BINBRIDGE_STORE_URL: url }, cwd: os.tmpdir() }).config.store.url).toBe(url);
    const refused = (value: string): string => problems(() => loadConfig({ env: { BINBRIDGE_STORE_URL: value }, cwd: os.tmpdir() })).join('\n');
    expect(refused('mysql://binbridge:s3cret@db.example/binbridge')).toBe(
      'store.url: expected a postgres:// URL, or nothing for SQLite under data_dir, got "mysql://binbridge:***@db.example/binbridge" (from BINBRIDGE_STORE_URL)',
    );
    expect(refused('postgres://binbridge:s3cret@db.example/ x?sslpassword=s3cret')).not.toContain('s3cret');
    expect(refused('s3cret')).toBe('store.url: expected a postgres:// URL, or nothing for SQLite under data_dir, got "(not shown: 6 characters)" (from BINBRIDGE_STORE_URL)');
  });
});

// docker-compose.yml, the Dockerfile, .env.example and the InfluxDB init script, checked as far as a machine
// without a Docker engine allows: parsed, cross-checked against the config schema, the build output and the
// simulator's options; `docker compose config` runs when the Compose CLI plugin is installed.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { simArgOptions, parseSimOptions } from '../../../firmware-sim/options.js';
import { envVariables, loadConfig } from '../../../src/config/index.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8');

interface Service {
  build?: unknown;
  image?: string;
  profiles?: string[];
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
}
interface Compose {
  version?: unknown;
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const composeText = read('docker-compose.yml');
const compose = parseYaml(composeText) as Compose;
const envExampleText = read('.env.example');
const dockerfile = read('Dockerfile');

/** `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?err}` ... as Compose interpolates them. */
const INTERPOLATION = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}/g;
const interpolations = [...composeText.matchAll(INTERPOLATION)].map((m) => ({ name: m[1]!, op: m[2], value: m[3] ?? '' }));

/** NAME=value lines of .env.example (commented-out ones separately). */
function envFileEntries(text: string): { set: Map<string, string>; commented: Set<string> } {
  const set = new Map<string, string>();
  const commented = new Set<string>();
  for (const line of text.split('\n')) {
    const on = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (on) set.set(on[1]!, on[2]!);
    const off = /^#\s*([A-Za-z_][A-Za-z0-9_]*)=/.exec(line);
    if (off) commented.add(off[1]!);
  }
  return { set, commented };
}
const envExample = envFileEntries(envExampleText);

/** A compose value with every ${VAR:-default} replaced by its default (what `docker compose up` with no .env uses). */
function withDefaults(value: string): string {
  return value.replace(INTERPOLATION, (_m, _name: string, op: string | undefined, def: string | undefined) => (op === ':-' || op === '-' ? (def ?? '') : ''));
}

function serviceEnv(name: string): Record<string, string> {
  const env = compose.services[name]?.environment ?? {};
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, withDefaults(String(v ?? ''))]));
}

/** The Dockerfile's stages: FROM line and the instructions under it (continuation lines joined). */
function stages(): { from: string; lines: string[] }[] {
  const logical = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const out: { from: string; lines: string[] }[] = [];
  for (const line of logical) {
    if (/^FROM\s/i.test(line)) out.push({ from: line, lines: [] });
    else out.at(-1)?.lines.push(line);
  }
  return out;
}
const finalStage = (): string[] => stages().at(-1)!.lines;

function composeCli(): { ok: true } | { ok: false; why: string } {
  const r = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error) return { ok: false, why: `no docker CLI (${r.error.message})` };
  if (r.status !== 0) return { ok: false, why: `docker CLI without the Compose plugin: ${(r.stderr || r.stdout).trim().split('\n')[0]}` };
  return { ok: true };
}

describe('docker-compose.yml', () => {
  it('follows the Compose spec (no version key) and has the three services by default, the simulator under profile demo, two instances on PostgreSQL behind a load balancer under profile ha', () => {
    expect(compose.version).toBeUndefined();
    const byProfile = (profile: string | undefined): string[] =>
      Object.entries(compose.services)
        .filter(([, svc]) => (profile === undefined ? svc.profiles === undefined : svc.profiles?.includes(profile)))
        .map(([name]) => name)
        .sort();
    expect(byProfile(undefined)).toEqual(['binbridge', 'grafana', 'influxdb']);
    expect(byProfile('demo')).toEqual(['simulator']);
    expect(byProfile('ha')).toEqual(['binbridge-a', 'binbridge-b', 'lb', 'postgres']);
    expect(Object.keys(compose.services)).toHaveLength(8);
    expect(compose.services.simulator!.profiles).toEqual(['demo']);
    expect(compose.services.binbridge!.build).toBe('.');
    expect(compose.services.influxdb!.image).toMatch(/^influxdb:2\./);
    expect(compose.services.grafana!.image).toMatch(/^grafana\/grafana-oss:11\./);
  });

  it('keeps state in named volumes, all declared', () => {
    const declared = new Set(Object.keys(compose.volumes ?? {}));
    expect([...declared].sort()).toEqual(['binbridge-a-data', 'binbridge-b-data', 'binbridge-data', 'grafana-data', 'influxdb-config', 'influxdb-data', 'postgres-data']);
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const v of svc.volumes ?? []) {
        const source = v.split(':')[0]!;
        if (source.startsWith('.') || source.startsWith('/')) continue; // bind mount
        expect(declared.has(source), `${name}: volume ${source} is declared`).toBe(true);
      }
    }
    expect(compose.services.binbridge!.volumes).toContain('binbridge-data:/data');
    expect(compose.services.simulator!.volumes).toContain('binbridge-data:/data');
    expect(compose.services.influxdb!.volumes).toEqual(expect.arrayContaining(['influxdb-data:/var/lib/influxdb2', 'influxdb-config:/etc/influxdb2']));
    expect(compose.services.grafana!.volumes).toContain('grafana-data:/var/lib/grafana');
  });

  it('publishes MQTT 1883 and HTTP 3000 of binbridge, Grafana on 3001 and InfluxDB on 8086', () => {
    const published = (svc: string): string[] => (compose.services[svc]!.ports ?? []).map(withDefaults);
    expect(published('binbridge')).toEqual(['1883:1883', '3000:3000']);
    expect(published('grafana')).toEqual(['3001:3000']);
    expect(published('influxdb')).toEqual(['8086:8086']);
  });

  it('names only BINBRIDGE_* variables that the config schema knows', () => {
    const known = new Set([...envVariables().keys(), 'BINBRIDGE_CONFIG']);
    for (const [file, text] of [['docker-compose.yml', composeText], ['.env.example', envExampleText], ['Dockerfile', dockerfile]] as const) {
      const named = new Set(text.match(/BINBRIDGE_[A-Z0-9_]*[A-Z0-9]/g) ?? []);
      expect([...named].filter((n) => !known.has(n)), file).toEqual([]);
    }
  });

  it('gives every ${VAR} a default, documented in .env.example with the same value', () => {
    expect(interpolations.length).toBeGreaterThan(0);
    const problems: string[] = [];
    for (const { name, op, value } of interpolations) {
      if (op !== ':-') problems.push(`\${${name}} has no :- default`);
      if (envExample.set.has(name) && envExample.set.get(name) !== value) {
        problems.push(`${name}: .env.example says "${envExample.set.get(name)}", the compose default is "${value}"`);
      }
      if (!envExample.set.has(name) && !envExample.commented.has(name)) problems.push(`${name} is not in .env.example`);
    }
    const used = new Set(interpolations.map((i) => i.name));
    for (const name of [...envExample.set.keys(), ...envExample.commented]) {
      if (!used.has(name) && !name.startsWith('COMPOSE_')) problems.push(`.env.example names ${name}, which docker-compose.yml does not use`);
    }
    expect(problems).toEqual([]);
  });

  it('runs binbridge with an environment the config accepts, writing to the InfluxDB service', () => {
    const env = serviceEnv('binbridge');
    const { config, warnings } = loadConfig({ file: path.join(ROOT, 'config/binbridge.yaml'), env, cwd: ROOT });
    expect(warnings).toEqual([]);
    expect(config.data_dir).toBe('/data');
    expect(config.mqtt.auth).toBe('devices');
    expect(config.influx).toMatchObject({ url: 'http://influxdb:8086', api: 'v2', org: 'binbridge', bucket: 'binbridge' });
    expect(config.influx.token).not.toBe('');
    // one token: the one InfluxDB is initialised with, and the one Grafana reads with
    expect(env.BINBRIDGE_INFLUX_TOKEN).toBe(serviceEnv('influxdb').DOCKER_INFLUXDB_INIT_ADMIN_TOKEN);
    expect(env.BINBRIDGE_INFLUX_TOKEN).toBe(serviceEnv('grafana').INFLUX_TOKEN);
    expect(env.BINBRIDGE_INFLUX_ORG).toBe(serviceEnv('influxdb').DOCKER_INFLUXDB_INIT_ORG);
    expect(env.BINBRIDGE_INFLUX_BUCKET).toBe(serviceEnv('influxdb').DOCKER_INFLUXDB_INIT_BUCKET);
    expect(compose.services.binbridge!.depends_on).toEqual({ influxdb: { condition: 'service_healthy' } });
    expect(compose.services.binbridge!.healthcheck?.test?.join(' ')).toContain('/healthz');
  });

  it('initialises InfluxDB 2.x in setup mode with a healthcheck and the DBRP init script', () => {
    const env = serviceEnv('influxdb');
    expect(env.DOCKER_INFLUXDB_INIT_MODE).toBe('setup');
    for (const k of ['USERNAME', 'PASSWORD', 'ORG', 'BUCKET', 'ADMIN_TOKEN']) expect(env[`DOCKER_INFLUXDB_INIT_${k}`], k).toMatch(/\S/);
    expect(env.DOCKER_INFLUXDB_INIT_PASSWORD!.length).toBeGreaterThanOrEqual(8); // influx setup refuses shorter ones
    expect(compose.services.influxdb!.healthcheck?.test).toEqual(['CMD', 'influx', 'ping']);
    const mount = compose.services.influxdb!.volumes!.find((v) => v.includes('/docker-entrypoint-initdb.d/'));
    expect(mount).toBeDefined();
    const [source, target] = mount!.split(':');
    expect(source).toBe('./docker/influxdb/init-dbrp.sh');
    expect(target).toMatch(/^\/docker-entrypoint-initdb\.d\/[^/]+\.sh$/); // the image runs only *.sh
    // the database the script maps is the one Grafana's datasource queries
    expect(env.INFLUX_V1_DB).toBe(serviceEnv('grafana').INFLUX_DB);
  });

  it('mounts Grafana provisioning and dashboards from folders that exist, with the datasource variables', () => {
    const vols = compose.services.grafana!.volumes!;
    expect(vols).toContain('./config/grafana/provisioning:/etc/grafana/provisioning:ro');
    expect(vols).toContain('./config/grafana/dashboards:/var/lib/grafana/dashboards:ro');
    for (const dir of ['config/grafana/provisioning', 'config/grafana/dashboards']) {
      expect(fs.statSync(path.join(ROOT, dir), { throwIfNoEntry: false })?.isDirectory(), `${dir} exists`).toBe(true);
    }
    const env = serviceEnv('grafana');
    expect(env).toMatchObject({ INFLUX_URL: 'http://influxdb:8086', INFLUX_DB: 'binbridge' });
    expect(env.INFLUX_TOKEN).toMatch(/\S/);
    expect(env.GF_SECURITY_ADMIN_PASSWORD).toMatch(/\S/);
    expect(compose.services.grafana!.depends_on).toEqual({ influxdb: { condition: 'service_healthy' } });
    // the provisioning's ${VAR}s are given (INFLUX_USER / INFLUX_PASSWORD are for InfluxDB 1.x only, empty here),
    // and the dashboard provider reads the folder the dashboards are mounted at
    const provisioning = path.join(ROOT, 'config/grafana/provisioning');
    const files = (fs.readdirSync(provisioning, { recursive: true }) as string[]).filter((f) => /\.ya?ml$/.test(f));
    const texts = files.map((f) => fs.readFileSync(path.join(provisioning, f), 'utf8'));
    const referenced = new Set(
      texts.flatMap((t) => t.split('\n').filter((l) => !l.trimStart().startsWith('#'))).flatMap((l) => [...l.matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((m) => m[1]!)),
    );
    expect([...referenced].filter((v) => !(v in env) && !['INFLUX_USER', 'INFLUX_PASSWORD'].includes(v))).toEqual([]);
    const paths = texts.flatMap((t) => [...t.matchAll(/^\s*path:\s*(\S+)/gm)].map((m) => m[1]));
    expect(paths).toContain('/var/lib/grafana/dashboards');
  });

  it('runs the simulator from the same image: provisions secrets into the shared volume, then connects with them', () => {
    const sim = compose.services.simulator!;
    expect(sim.build).toBe('.');
    expect(sim.depends_on).toEqual({ binbridge: { condition: 'service_healthy' } });
    expect(sim.healthcheck).toEqual({ disable: true });
    expect(serviceEnv('simulator').BINBRIDGE_DATA_DIR).toBe('/data');
    const cmd = sim.command as string[];
    expect(cmd.slice(0, 2)).toEqual(['sh', '-c']);
    const script = withDefaults(cmd[2]!);
    const [provision, run] = script.split('&&').map((s) => s.trim().split(/\s+/));
    expect(provision).toEqual(['node', 'dist/src/cli.js', 'devices', 'provision', '--all', '--out', '/data/device-secrets.json']);
    expect(run!.slice(0, 3)).toEqual(['exec', 'node', 'dist/firmware-sim/main.js']);
    const { values } = parseArgs({ args: run!.slice(3), options: simArgOptions, strict: true, allowPositionals: false });
    const options = parseSimOptions(values);
    expect(options).toMatchObject({ urls: ['mqtt://binbridge:1883'], credentials: '/data/device-secrets.json', speed: 60, noAuth: false });
  });

  // Compose's own check runs where its CLI plugin exists (not on this project's CI machines: no Docker there);
  // elsewhere it is not a test at all, and one line says so.
  const cli = composeCli();
  if (!cli.ok) console.log(`docker compose config not run: ${cli.why}`);
  else it('is accepted by `docker compose config` (also with .env.example as .env)', () => {
    for (const extra of [[], ['--env-file', '.env.example']]) {
      const r = spawnSync('docker', ['compose', ...extra, '-f', 'docker-compose.yml', '--profile', 'demo', '--profile', 'ha', 'config', '-q'], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(r.status, `docker compose ${extra.join(' ')} config: ${r.stderr}`).toBe(0);
    }
  });
});

/** haproxy.cfg as sections ("frontend mqtt", "backend binbridge_http", …), each with its directives, comments dropped. */
function haproxySections(text: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trimEnd();
    if (line.trim() === '') continue;
    if (/^\S/.test(line)) sections.set(line.trim(), (current = []));
    else current?.push(line.trim().replace(/\s+/g, ' '));
  }
  return sections;
}

describe('docker-compose.yml profile ha', () => {
  const ha = (name: string): Service => compose.services[name]!;

  it('runs PostgreSQL from the official image, its data in a volume, healthy once it takes connections', () => {
    expect(ha('postgres').image).toMatch(/^postgres:\d+$/);
    expect(ha('postgres').volumes).toEqual(['postgres-data:/var/lib/postgresql/data']);
    expect(ha('postgres').healthcheck?.test?.slice(0, 2)).toEqual(['CMD', 'pg_isready']);
    expect(ha('postgres').ports).toBeUndefined();
    expect(serviceEnv('postgres')).toMatchObject({ POSTGRES_USER: 'binbridge', POSTGRES_DB: 'binbridge' });
    expect(serviceEnv('postgres').POSTGRES_PASSWORD).toMatch(/\S{8}/);
  });

  it('runs two binbridge instances from the same image on that PostgreSQL, each with a data volume of its own, reachable only through the load balancer', () => {
    const pg = serviceEnv('postgres');
    for (const name of ['binbridge-a', 'binbridge-b']) {
      const svc = ha(name);
      expect(svc.build, name).toBe('.');
      expect(svc.image, name).toBe(compose.services.binbridge!.image);
      expect(svc.ports, name).toBeUndefined();
      expect(svc.depends_on, name).toEqual({ postgres: { condition: 'service_healthy' }, influxdb: { condition: 'service_healthy' } });
      expect(svc.healthcheck?.test?.join(' '), name).toContain('/healthz');
      const env = serviceEnv(name);
      const { config, warnings } = loadConfig({ file: path.join(ROOT, 'config/binbridge.yaml'), env, cwd: ROOT });
      expect(warnings, name).toEqual([]);
      const url = new URL(config.store.url);
      expect([url.protocol, url.hostname, url.port, url.username, decodeURIComponent(url.password), url.pathname], name).toEqual(['postgres:', 'postgres', '5432', pg.POSTGRES_USER, pg.POSTGRES_PASSWORD, `/${pg.POSTGRES_DB}`]);
      expect(config.data_dir, name).toBe('/data');
      // what both must share, or an instance could not read what the other wrote or let in whom the other lets in
      expect(config.http.api_token.length, name).toBeGreaterThanOrEqual(16);
      expect(config.reports.pseudonym_key.length, name).toBeGreaterThanOrEqual(16);
      expect(config.mqtt.auth, name).toBe('devices');
      // every device comes from the load balancer's address
      expect(config.http.max_connections_per_ip, name).toBe(0);
      // HTTP clients too, but HAProxy names them in X-Forwarded-For: trusted from Docker's private network ranges
      expect(config.http.trust_proxy, name).toBe('uniquelocal');
      expect(config.mqtt.connect_rate_per_ip, name).toBeGreaterThanOrEqual(1000);
      expect(config.influx, name).toMatchObject({ url: 'http://influxdb:8086', api: 'v2', token: serviceEnv('binbridge').BINBRIDGE_INFLUX_TOKEN });
    }
    expect(serviceEnv('binbridge-a')).toEqual(serviceEnv('binbridge-b'));
    const volumes = ['binbridge-a', 'binbridge-b'].map((n) => ha(n).volumes);
    expect(volumes).toEqual([['binbridge-a-data:/data'], ['binbridge-b-data:/data']]);
  });

  it('puts one MQTT and one HTTP address in front of them: HAProxy on 1883 and 3000 with its config mounted', () => {
    const lb = ha('lb');
    expect(lb.image).toMatch(/^haproxy:\d+\.\d+$/);
    expect((lb.ports ?? []).map(withDefaults)).toEqual(['1883:1883', '3000:3000']);
    expect(lb.volumes).toEqual(['./docker/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro']);
    expect(Object.keys(lb.depends_on ?? {}).sort()).toEqual(['binbridge-a', 'binbridge-b']);
    // the single instance of the default profile publishes the same ports: the header says to name the services
    expect(composeText).toMatch(/^# .*docker compose --profile ha up --build lb grafana/m);
  });

  it('balances MQTT over TCP and HTTP round-robin over both instances, each checked on /readyz', () => {
    const sections = haproxySections(read('docker/haproxy/haproxy.cfg'));
    const frontends = [...sections.keys()].filter((k) => k.startsWith('frontend '));
    const bind = (f: string): string[] => sections.get(f)!.filter((d) => d.startsWith('bind ')).map((d) => d.split(' ')[1]!);
    expect(frontends.flatMap(bind).sort()).toEqual([':1883', ':3000']);
    const instances = ['binbridge-a', 'binbridge-b'];
    for (const [port, mode] of [['1883', 'tcp'], ['3000', 'http']] as const) {
      const frontend = frontends.find((f) => bind(f).includes(`:${port}`))!;
      expect(sections.get(frontend), frontend).toContain(`mode ${mode}`);
      const backendName = sections.get(frontend)!.find((d) => d.startsWith('default_backend '))!.split(' ')[1]!;
      const backend = sections.get(`backend ${backendName}`)!;
      expect(backend, backendName).toEqual(expect.arrayContaining([`mode ${mode}`, 'balance roundrobin', 'option httpchk', 'http-check send meth GET uri /readyz', 'http-check expect status 200']));
      const servers = backend.filter((d) => d.startsWith('server ')).map((d) => d.split(' ')[2]);
      expect(servers, backendName).toEqual(instances.map((i) => `${i}:${port}`));
      // the MQTT port's health is asked of the HTTP port
      const checks = backend.filter((d) => d.startsWith('default-server ')).join(' ');
      expect(checks, backendName).toMatch(/\bcheck\b/);
      if (port === '1883') expect(checks).toMatch(/\bport 3000\b/);
      // the client's address goes to the instances, which trust it (http.trust_proxy above)
      if (mode === 'http') expect(sections.get(frontend), frontend).toContain('option forwardfor');
    }
    for (const i of instances) expect(compose.services[i]?.profiles, i).toEqual(['ha']);
  });

  // HAProxy's own check where it is installed (it is not on this project's machines)
  const haproxy = spawnSync('haproxy', ['-v'], { encoding: 'utf8' });
  if (haproxy.error) console.log(`haproxy -c not run: no haproxy (${haproxy.error.message})`);
  else it('is accepted by `haproxy -c`', () => {
    const r = spawnSync('haproxy', ['-c', '-f', path.join(ROOT, 'docker/haproxy/haproxy.cfg')], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });
});

describe('Dockerfile', () => {
  it('is multi-stage on node:24-bookworm-slim (the LTS cities run), with build tools only in the build stage', () => {
    const all = stages();
    expect(all.length).toBeGreaterThanOrEqual(2);
    for (const s of all) expect(s.from).toMatch(/^FROM node:24-bookworm-slim\b/);
    expect(all[0]!.lines.join('\n')).toMatch(/python3.*make.*g\+\+/);
    expect(all[0]!.lines.join('\n')).toMatch(/npm ci/);
    expect(all[0]!.lines.join('\n')).toMatch(/npm run build/);
    expect(all[0]!.lines.join('\n')).toMatch(/npm prune --omit=dev/);
    expect(finalStage().join('\n')).not.toMatch(/g\+\+|python3/);
  });

  it('runs as the non-root user node in /app, with the data volume, ports and a healthcheck', () => {
    const lines = finalStage();
    const users = lines.filter((l) => /^USER\s/i.test(l));
    expect(users.at(-1)).toBe('USER node');
    expect(lines).toContain('WORKDIR /app');
    expect(lines.join('\n')).toMatch(/NODE_ENV=production/);
    expect(lines.join('\n')).toMatch(/BINBRIDGE_DATA_DIR=\/data/);
    expect(lines).toContain('VOLUME /data');
    // the volume directory exists and belongs to node before VOLUME, so a new named volume is writable
    expect(lines.findIndex((l) => /chown node:node \/data/.test(l))).toBeLessThan(lines.indexOf('VOLUME /data'));
    const exposed = lines.filter((l) => /^EXPOSE\s/i.test(l)).flatMap((l) => l.split(/\s+/).slice(1));
    expect(exposed.sort()).toEqual(['1883', '3000']);
    expect(lines.some((l) => /^HEALTHCHECK\s.*CMD\s.*\/healthz/i.test(l))).toBe(true);
    const copied = lines.filter((l) => /^COPY --from=build\s/i.test(l)).map((l) => l.split(/\s+/)[2]);
    expect(copied.sort()).toEqual(['/src/config', '/src/dist', '/src/node_modules', '/src/package.json', '/src/web']);
    // what is copied from the build context as it is (not made by the build) must be in the repository
    for (const source of copied.map((c) => c!.replace(/^\/src\//, '')).filter((c) => !['dist', 'node_modules'].includes(c))) {
      expect(fs.existsSync(path.join(ROOT, source)), `${source} exists`).toBe(true);
    }
    // the live page is served from web/ (web/index.html), found above dist/src at run time
    expect(fs.existsSync(path.join(ROOT, 'web/index.html')), 'web/index.html exists').toBe(true);
  });

  it("starts dist/src/cli.js, which is what `npm run build` makes of src/cli.ts", () => {
    const cmd = finalStage().find((l) => /^CMD\s/i.test(l));
    const argv = JSON.parse(cmd!.replace(/^CMD\s+/i, '')) as string[];
    expect(argv).toEqual(['node', 'dist/src/cli.js', 'start']);
    const build = JSON.parse(read('tsconfig.build.json')) as { extends?: string; include: string[]; compilerOptions?: { outDir?: string; rootDir?: string } };
    const base = JSON.parse(read(build.extends ?? 'tsconfig.json')) as { compilerOptions: { outDir?: string; rootDir?: string } };
    const outDir = build.compilerOptions?.outDir ?? base.compilerOptions.outDir!;
    const rootDir = build.compilerOptions?.rootDir ?? base.compilerOptions.rootDir!;
    const emitted = (source: string): string => path.posix.join(outDir, path.posix.relative(rootDir, source)).replace(/\.ts$/, '.js');
    for (const source of ['src/cli.ts', 'firmware-sim/main.ts']) {
      expect(fs.existsSync(path.join(ROOT, source)), source).toBe(true);
      expect(build.include.some((dir) => source.startsWith(dir + '/')), `${source} is compiled`).toBe(true);
    }
    expect(emitted('src/cli.ts')).toBe('dist/src/cli.js');
    expect(emitted('firmware-sim/main.ts')).toBe('dist/firmware-sim/main.js');
    expect((JSON.parse(read('package.json')) as { bin: Record<string, string> }).bin.binbridge).toBe('dist/src/cli.js');
  });

  it('has a healthcheck command that passes on 200 from /healthz and fails when nothing listens', async () => {
    const line = finalStage().find((l) => /^HEALTHCHECK\s/i.test(l))!;
    const argv = JSON.parse(line.slice(line.indexOf(' CMD ') + 5).trim()) as string[];
    expect(argv[0]).toBe('node');
    const server = http.createServer((req, res) => {
      res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const probe = (args: string[]) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(args[0] === 'node' ? process.execPath : args[0]!, args.slice(1), {
          env: { ...process.env, BINBRIDGE_HTTP_PORT: String(port) },
          stdio: 'ignore',
        });
        child.once('exit', (code) => resolve(code));
      });
    try {
      expect(await probe(argv)).toBe(0);
      // compose's probe targets the fixed container port 3000: run the same script against the test server
      const composeArgv = compose.services.binbridge!.healthcheck!.test!.slice(1).map((a) => a.replace('127.0.0.1:3000', `127.0.0.1:${port}`));
      expect(await probe(composeArgv)).toBe(0);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await probe(argv)).toBe(1);
  });
});

describe('.dockerignore', () => {
  const patterns = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

  it('keeps local state and build output out of the context', () => {
    for (const p of ['node_modules', 'dist', 'data', '.git', 'test-artifacts', 'coverage', '.env']) expect(patterns, p).toContain(p);
  });

  it('keeps everything the build needs', () => {
    const build = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'config', 'web', ...build.include]) {
      expect(patterns, needed).not.toContain(needed);
    }
  });
});

describe('.env.example', () => {
  it('holds no real secret: secrets are empty or the public development defaults', () => {
    const composeDefaults = new Map(interpolations.map((i) => [i.name, i.value]));
    for (const [name, value] of envExample.set) {
      if (!/PASSWORD|TOKEN|SECRET|KEY/.test(name) || value === '') continue;
      expect(value, name).toMatch(/dev/);
      expect(value, name).toBe(composeDefaults.get(name));
    }
    expect(envExampleText).toMatch(/change/i);
  });
});

describe('docker/influxdb/init-dbrp.sh', () => {
  const file = path.join(ROOT, 'docker/influxdb/init-dbrp.sh');

  it('is an executable shell script that parses', () => {
    expect(fs.statSync(file).mode & 0o111).toBe(0o111);
    expect(read('docker/influxdb/init-dbrp.sh')).toMatch(/^#!\/bin\/(ba)?sh\n/);
    expect(() => execFileSync('bash', ['-n', file])).not.toThrow();
  });

  it('maps the InfluxQL database to the initial bucket as its default retention policy', () => {
    const text = read('docker/influxdb/init-dbrp.sh').replace(/\\\n/g, ' ');
    const create = text.split('\n').find((l) => /influx v1 dbrp create/.test(l));
    expect(create).toBeDefined();
    expect(create).toMatch(/--bucket-id "\$bucket_id"/);
    expect(create).toMatch(/--db "\$db"/);
    expect(create).toMatch(/--rp "\$rp"/);
    expect(create).toMatch(/--default/);
    expect(text).toMatch(/bucket_id="\$\{DOCKER_INFLUXDB_INIT_BUCKET_ID/);
    expect(text).toMatch(/rp="autogen"/);
    expect(text).toMatch(/db="\$\{INFLUX_V1_DB:-binbridge\}"/);
  });

  it('runs the create command with the values compose gives it (with a stand-in influx CLI)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-init-dbrp-'));
    try {
      const log = path.join(dir, 'calls');
      fs.writeFileSync(path.join(dir, 'influx'), `#!/bin/sh\necho "$*" >> "${log}"\n`, { mode: 0o755 });
      const env = serviceEnv('influxdb');
      execFileSync('bash', [file], {
        env: { PATH: `${dir}:${process.env.PATH ?? ''}`, ...env, DOCKER_INFLUXDB_INIT_BUCKET_ID: '0123456789abcdef' },
        encoding: 'utf8',
      });
      const calls = fs.readFileSync(log, 'utf8').trim().split('\n');
      expect(calls.at(-1)).toBe('v1 dbrp create --org binbridge --db binbridge --rp autogen --bucket-id 0123456789abcdef --default');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

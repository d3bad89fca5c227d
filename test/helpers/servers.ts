// Real servers for integration tests (SPEC "Real components and how tests start them"): each one on free
// loopback ports, in its own temporary folder, with its output in a log file there.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './wait.js';

const execFileAsync = promisify(execFile);

// ---------------------------------------------------------------------------------------------------------
// Child bookkeeping: a server must never outlive the test process, whatever way the test process ends.

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
}

process.on('exit', () => {
  killAllChildren();
  for (const dir of tempDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort on the way out
    }
  }
});

// Default signal handling ends the process without an 'exit' event; kill the servers, then let the
// signal do what it would have done (unless someone else handles it).
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  const onSignal = (): void => {
    killAllChildren();
    process.removeListener(signal, onSignal);
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  process.on(signal, onSignal);
}

function makeTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `binbridge-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}


/** Finds an executable on PATH, falling back to the Debian locations (sbin is often missing from PATH). */
function findBinary(name: string, debianPackage: string): string {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/bin', '/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  throw new Error(`${name} not found on PATH or in /usr/sbin, /usr/bin (install the Debian package "${debianPackage}")`);
}

function logTail(file: string, maxBytes = 4000): string {
  try {
    const size = fs.statSync(file).size;
    const start = Math.max(0, size - maxBytes);
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(size - start);
      fs.readSync(fd, buf, 0, buf.length, start);
      return buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '(no log)';
  }
}

/** A free TCP port on 127.0.0.1, as the kernel hands it out for port 0. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the port of a probe listener'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

function tcpReachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

async function httpStatus(url: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.status;
}

// ---------------------------------------------------------------------------------------------------------
// One server process that can be stopped and started again with the same command line.

class ServerProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private exitReason: string | undefined;

  constructor(
    private readonly name: string,
    private readonly command: string,
    private readonly args: readonly string[],
    readonly logFile: string,
    private readonly isReady: () => Promise<boolean>,
    private readonly readyTimeoutMs = 20_000,
    private readonly opts: {
      /** run as this user (a server that refuses root, started by root) */
      user?: { uid: number; gid: number } | undefined;
      /** the signal that shuts the server down cleanly without waiting for its clients (default SIGTERM) */
      stopSignal?: NodeJS.Signals;
    } = {},
  ) {}

  get running(): boolean {
    return this.child !== undefined;
  }

  tail(): string {
    return logTail(this.logFile);
  }

  async start(): Promise<void> {
    if (this.child) throw new Error(`${this.name} is already running`);
    fs.appendFileSync(this.logFile, `--- ${new Date().toISOString()} ${this.command} ${this.args.join(' ')}\n`);
    const fd = fs.openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.command, this.args, { stdio: ['ignore', fd, fd], detached: false, ...this.opts.user });
    } finally {
      fs.closeSync(fd);
    }
    this.child = child;
    this.exitReason = undefined;
    children.add(child);
    this.exited = new Promise<void>((resolve) => {
      const done = (reason: string): void => {
        children.delete(child);
        if (this.child === child) this.child = undefined;
        this.exitReason ??= reason;
        resolve();
      };
      child.once('exit', (code, signal) => done(signal ? `killed by ${signal}` : `exit code ${code}`));
      // 'exit' may not follow a spawn failure
      child.once('error', (err) => done(`spawn error: ${err.message}`));
    });

    // ready, or exited (a start-up failure says why at once), or out of time
    const ready = await waitFor(async () => this.child !== child || (await this.isReady().catch(() => false)), {
      timeoutMs: this.readyTimeoutMs,
      intervalMs: 100,
      message: `${this.name} ready`,
    }).catch(() => false);
    if (this.child !== child) {
      throw new Error(`${this.name} exited during start-up (${this.exitReason}); log ${this.logFile}:\n${this.tail()}`);
    }
    if (!ready) {
      await this.stop();
      throw new Error(`${this.name} was not ready after ${this.readyTimeoutMs} ms; log ${this.logFile}:\n${this.tail()}`);
    }
  }

  /** SIGTERM or the server's own clean-shutdown signal (they save their state), SIGKILL if that takes too long. */
  async stop(timeoutMs = 15_000): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(this.opts.stopSignal ?? 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      child.kill('SIGKILL');
      await this.exited;
    }
  }
}

interface Stoppable {
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
  /** The temporary folder holding the server's data, config and log. */
  readonly dir: string;
  readonly logFile: string;
  /** The last few kilobytes of the server's log, for assertion messages. */
  logTail(): string;
}

function lifecycle(proc: ServerProcess, dir: string): Stoppable {
  return {
    dir,
    logFile: proc.logFile,
    logTail: () => proc.tail(),
    start: () => proc.start(),
    stop: () => proc.stop(),
    destroy: async () => {
      await proc.stop();
      removeTempDir(dir);
    },
  };
}

/** Starts the process; on failure removes the folder before rethrowing. */
async function launch(proc: ServerProcess, dir: string): Promise<void> {
  try {
    await proc.start();
  } catch (err) {
    await proc.stop();
    removeTempDir(dir);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------
// InfluxDB 1.x

/** Shape of an InfluxDB 1.x `/query` answer (with `epoch` set, times are numbers). */
export interface InfluxQueryResponse {
  results: Array<{
    statement_id: number;
    series?: Array<{
      name: string;
      tags?: Record<string, string>;
      columns: string[];
      values: Array<Array<string | number | boolean | null>>;
    }>;
    error?: string;
  }>;
  error?: string;
}

export interface Influxd extends Stoppable {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /**
   * Runs InfluxQL (GET for SELECT/SHOW, POST for the rest) and resolves the parsed JSON body,
   * `{ results: [{ statement_id, series?: [{ name, tags?, columns, values }] }] }` (see InfluxQueryResponse).
   * Rejects on an HTTP error or a statement error. `epoch` ('ms', 's', …) makes times numbers.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- loose on purpose: tests index into it freely
  query(influxql: string, db?: string, opts?: { epoch?: 'ns' | 'u' | 'ms' | 's' }): Promise<any>;
  /** Sum of the second column over the first series' rows (e.g. `SELECT count(fill_pct) FROM bin_reading`); 0 without series. */
  count(influxql: string, db?: string): Promise<number>;
  /** POST /write with line protocol; rejects unless 204. */
  write(lines: string, opts?: { db?: string; precision?: 'ns' | 'u' | 'ms' | 's' }): Promise<void>;
}

/** Sets `key = value` in a TOML section ('' for the top level), replacing the key or adding it. */
function setTomlKey(text: string, section: string, key: string, value: string): string {
  const lines = text.split('\n');
  let current = '';
  let sectionStart = section === '' ? -1 : undefined;
  for (let i = 0; i < lines.length; i++) {
    const header = /^\s*\[\[?([^\]]+)\]\]?\s*$/.exec(lines[i] ?? '');
    if (header) {
      if (sectionStart !== undefined && current === section) break;
      current = header[1]?.trim() ?? '';
      if (current === section) sectionStart = i;
      continue;
    }
    if (current === section && new RegExp(`^\\s*${key.replace(/[-.]/g, '\\$&')}\\s*=`).test(lines[i] ?? '')) {
      const indent = /^\s*/.exec(lines[i] ?? '')?.[0] ?? '';
      lines[i] = `${indent}${key} = ${value}`;
      return lines.join('\n');
    }
  }
  if (sectionStart === undefined) return `${text}\n[${section}]\n  ${key} = ${value}\n`;
  lines.splice(sectionStart + 1, 0, `${section === '' ? '' : '  '}${key} = ${value}`);
  return lines.join('\n');
}

const toml = (s: string): string => JSON.stringify(s);

async function influxConfig(dir: string, httpPort: number, rpcPort: number): Promise<string> {
  const influxd = findBinary('influxd', 'influxdb');
  // /dev/null: defaults only, not whatever /etc/influxdb/influxdb.conf says on this machine
  const { stdout } = await execFileAsync(influxd, ['config', '-config', '/dev/null']);
  let conf = stdout;
  // upstream calls it reporting-disabled; Debian's build renames it reporting-enabled
  if (/^reporting-enabled\s*=/m.test(conf)) conf = setTomlKey(conf, '', 'reporting-enabled', 'false');
  else conf = setTomlKey(conf, '', 'reporting-disabled', 'true');
  const settings: Array<[string, string, string]> = [
    ['', 'bind-address', toml(`127.0.0.1:${rpcPort}`)],
    ['meta', 'dir', toml(path.join(dir, 'meta'))],
    ['meta', 'logging-enabled', 'false'],
    ['data', 'dir', toml(path.join(dir, 'data'))],
    ['data', 'wal-dir', toml(path.join(dir, 'wal'))],
    ['data', 'query-log-enabled', 'false'],
    ['http', 'bind-address', toml(`127.0.0.1:${httpPort}`)],
    ['http', 'log-enabled', 'false'],
    ['http', 'pprof-enabled', 'false'],
    ['monitor', 'store-enabled', 'false'],
    ['subscriber', 'enabled', 'false'],
    ['continuous_queries', 'log-enabled', 'false'],
    ['logging', 'level', toml('warn')],
    ['logging', 'suppress-logo', 'true'],
  ];
  for (const [section, key, value] of settings) conf = setTomlKey(conf, section, key, value);
  return conf;
}

export async function startInfluxd(): Promise<Influxd> {
  const binary = findBinary('influxd', 'influxdb');
  const dir = makeTempDir('influxd');
  const port = await freePort();
  let rpcPort = await freePort();
  while (rpcPort === port) rpcPort = await freePort();
  const configFile = path.join(dir, 'influxdb.conf');
  fs.writeFileSync(configFile, await influxConfig(dir, port, rpcPort));
  const url = `http://127.0.0.1:${port}`;
  const proc = new ServerProcess(
    'influxd',
    binary,
    ['run', '-config', configFile],
    path.join(dir, 'influxd.log'),
    async () => (await httpStatus(`${url}/ping`)) === 204,
  );
  await launch(proc, dir);

  const query = async (
    influxql: string,
    db = 'binbridge',
    opts: { epoch?: 'ns' | 'u' | 'ms' | 's' } = {},
  ): Promise<InfluxQueryResponse> => {
    const params = new URLSearchParams({ q: influxql });
    if (db) params.set('db', db);
    if (opts.epoch) params.set('epoch', opts.epoch);
    // 1.x refuses statements that change anything over GET
    const readOnly = /^\s*(select|show)\b/i.test(influxql);
    const res = readOnly
      ? await fetch(`${url}/query?${params}`)
      : await fetch(`${url}/query`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: params,
        });
    const text = await res.text();
    if (!res.ok) throw new Error(`influxd /query ${res.status} for "${influxql}": ${text}`);
    const body = JSON.parse(text) as InfluxQueryResponse;
    const error = body.error ?? body.results.find((r) => r.error)?.error;
    if (error) throw new Error(`influxd /query error for "${influxql}": ${error}`);
    return body;
  };

  const influx: Influxd = {
    ...lifecycle(proc, dir),
    url,
    port,
    query,
    async count(influxql, db) {
      const body = await query(influxql, db);
      const values = body.results[0]?.series?.[0]?.values ?? [];
      return values.reduce((sum, row) => sum + (typeof row[1] === 'number' ? row[1] : Number(row[1] ?? 0)), 0);
    },
    async write(lines, opts = {}) {
      const params = new URLSearchParams({ db: opts.db ?? 'binbridge', precision: opts.precision ?? 'ms' });
      const res = await fetch(`${url}/write?${params}`, { method: 'POST', body: lines });
      if (res.status !== 204) throw new Error(`influxd /write ${res.status}: ${await res.text()}`);
    },
  };
  try {
    await query('CREATE DATABASE binbridge', '');
  } catch (err) {
    await influx.destroy();
    throw err;
  }
  return influx;
}

// ---------------------------------------------------------------------------------------------------------
// VictoriaMetrics

export interface VictoriaSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

export interface Victoria extends Stoppable {
  readonly url: string;
  readonly port: number;
  /** Raw samples of every series matching the selector (`m_f`, `{__name__=~"bin_reading_.*"}`), via /api/v1/export. */
  exportSeries(match: string): Promise<VictoriaSeries[]>;
  /** Number of stored samples of one metric (field f of measurement m is `m_f`), over all its series. */
  countSamples(metricName: string): Promise<number>;
  /** Makes just-written samples visible to exports; exportSeries does it already. */
  flush(): Promise<void>;
}

export async function startVictoriaMetrics(): Promise<Victoria> {
  const binary = findBinary('victoria-metrics', 'victoria-metrics');
  const dir = makeTempDir('victoria');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = new ServerProcess(
    'victoria-metrics',
    binary,
    [
      `-storageDataPath=${path.join(dir, 'data')}`,
      `-httpListenAddr=127.0.0.1:${port}`,
      '-loggerLevel=ERROR',
      // the default (1 month) would silently drop readings that tests date in the past
      '-retentionPeriod=100y',
    ],
    path.join(dir, 'victoria-metrics.log'),
    async () => (await httpStatus(`${url}/health`)) === 200,
  );
  await launch(proc, dir);

  const flush = async (): Promise<void> => {
    const res = await fetch(`${url}/internal/force_flush`);
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`victoria-metrics /internal/force_flush ${res.status}`);
  };
  const exportSeries = async (match: string): Promise<VictoriaSeries[]> => {
    await flush();
    const res = await fetch(`${url}/api/v1/export`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ 'match[]': match }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`victoria-metrics /api/v1/export ${res.status} for ${match}: ${text}`);
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as VictoriaSeries);
  };
  return {
    ...lifecycle(proc, dir),
    url,
    port,
    flush,
    exportSeries,
    async countSamples(metricName) {
      const series = await exportSeries(`{__name__=${JSON.stringify(metricName)}}`);
      return series.reduce((sum, s) => sum + s.values.length, 0);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Mosquitto

export interface Mosquitto extends Stoppable {
  /** mqtt://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
}

export interface MosquittoOptions {
  /** Keep sessions and queued QoS 1/2 messages across stop()/start() (saved at shutdown in the temp folder). */
  persistence?: boolean;
  /** Extra lines appended to mosquitto.conf. */
  extraConfig?: string[];
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const binary = findBinary('mosquitto', 'mosquitto');
  const dir = makeTempDir('mosquitto');
  const port = await freePort();
  const configFile = path.join(dir, 'mosquitto.conf');
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    `persistence ${opts.persistence ? 'true' : 'false'}`,
    // started as root, mosquitto would switch to the "mosquitto" user, who cannot write this folder
    `user ${os.userInfo().username}`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
  ];
  if (opts.persistence) {
    // trailing separator required: mosquitto concatenates it with the file name
    lines.push(`persistence_location ${path.join(dir, 'persist')}${path.sep}`, 'persistence_file mosquitto.db');
    fs.mkdirSync(path.join(dir, 'persist'));
  }
  lines.push(...(opts.extraConfig ?? []));
  fs.writeFileSync(configFile, `${lines.join('\n')}\n`);
  const proc = new ServerProcess(
    'mosquitto',
    binary,
    ['-c', configFile],
    path.join(dir, 'mosquitto.log'),
    () => tcpReachable(port),
  );
  await launch(proc, dir);
  return { ...lifecycle(proc, dir), url: `mqtt://127.0.0.1:${port}`, port };
}

/**
 * Runs `mosquitto_pub` with `args` (e.g. `['-p', String(port), '-t', 'bins/x/telemetry', '-m', '{}']`);
 * `input` goes to its standard input (for `-l` or `-s`). Resolves its exit code and standard error.
 */
export function mosquittoPub(
  args: string[],
  input?: string,
  timeoutMs = 20_000,
): Promise<{ code: number; stderr: string }> {
  const binary = findBinary('mosquitto_pub', 'mosquitto-clients');
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'ignore', 'pipe'], detached: false });
    children.add(child);
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mosquitto_pub ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      children.delete(child);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code: code ?? (signal ? 128 : 1), stderr });
    });
    // a publisher that quits early must not crash the test with EPIPE
    child.stdin?.on('error', () => {});
    child.stdin?.end(input ?? '');
  });
}

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL (Debian's postgresql package)

export interface Postgres extends Stoppable {
  /** postgres://binbridge@127.0.0.1:PORT/binbridge (trust authentication, loopback only) */
  readonly url: string;
  readonly port: number;
}

/** Whether Debian's postgresql (initdb and postgres) is installed. */
export function postgresInstalled(): boolean {
  try {
    postgresBin('initdb');
    postgresBin('postgres');
    return true;
  } catch {
    return false;
  }
}

/** Debian keeps initdb and postgres under /usr/lib/postgresql/<major>/bin, off PATH: the newest one installed. */
function postgresBin(name: string): string {
  const root = '/usr/lib/postgresql';
  const majors = fs.existsSync(root) ? fs.readdirSync(root).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const major of majors) {
    const candidate = path.join(root, major, 'bin', name);
    if (fs.existsSync(candidate)) return candidate;
  }
  return findBinary(name, 'postgresql');
}

/** initdb and postgres refuse to run as root: as root, they run as Debian's "postgres" user. */
async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const { stdout } = await execFileAsync('id', ['-u', 'postgres']).catch(() => {
    throw new Error('running as root, PostgreSQL needs the "postgres" user (install the Debian package "postgresql")');
  });
  const { stdout: gid } = await execFileAsync('id', ['-g', 'postgres']);
  return { uid: Number(stdout.trim()), gid: Number(gid.trim()) };
}

async function postgresReady(url: string): Promise<boolean> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A fresh PostgreSQL cluster in a temporary folder, listening on a free loopback port only (no Unix socket outside
 * the folder), with a database and a superuser both named "binbridge". fsync stays on: tests of durability mean it.
 */
export async function startPostgres(): Promise<Postgres> {
  const initdb = postgresBin('initdb');
  const postgres = postgresBin('postgres');
  const user = await postgresUser();
  const dir = makeTempDir('postgres');
  const data = path.join(dir, 'data');
  if (user) fs.chownSync(dir, user.uid, user.gid);
  const port = await freePort();
  try {
    await execFileAsync(initdb, ['-D', data, '-U', 'binbridge', '--auth=trust', '--encoding=UTF8', '--locale=C'], { ...user });
  } catch (err) {
    removeTempDir(dir);
    throw new Error(`initdb failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
  const base = `postgres://binbridge@127.0.0.1:${port}`;
  const proc = new ServerProcess(
    'postgres',
    postgres,
    ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-k', dir, '-c', 'max_connections=200'],
    path.join(dir, 'postgres.log'),
    () => postgresReady(`${base}/postgres`),
    30_000,
    // SIGTERM would wait for every client to leave; SIGINT is PostgreSQL's fast, clean shutdown
    { user, stopSignal: 'SIGINT' },
  );
  await launch(proc, dir);
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: `${base}/postgres` });
  await admin.connect();
  try {
    await admin.query('CREATE DATABASE binbridge');
  } finally {
    await admin.end();
  }
  return { ...lifecycle(proc, dir), url: `${base}/binbridge`, port };
}

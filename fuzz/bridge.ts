// The bridge under fuzz: binbridge run as a child process the way `npm start` runs it (src/cli.ts start, through
// tsx so no build is needed), in a temporary data folder, on free loopback ports, with its log in a file. A crash
// is an exit event here, and the fuzzer's own work runs in another process, so it does not distort the bridge's
// timings. InfluxDB is configured on a loopback port where nothing listens: every accepted reading stays in the
// SQLite spool, where the run counts them at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import YAML from 'yaml';
import { SqliteDeviceSecrets } from '../src/broker/device-secrets.js';
import { loadDeviceKey } from '../src/broker/device-key.js';
import { openDatabase } from '../src/storage/database.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const HOST = '127.0.0.1';
export const CITY = path.join(ROOT, 'config/bins.example.csv');

export type AuthMode = 'devices' | 'none';

export interface BridgeSecrets {
  apiToken: string;
  appSecret: string;
  verifyToken: string;
  open311Key: string;
}

export interface BridgeOptions {
  auth: AuthMode;
  /** empty: /api/* is open */
  apiToken: string;
  tmp: string;
  /** bins whose device secrets are issued before the start (auth: devices) */
  provision: string[];
  maxPacketBytes: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Bin ids of the example city, in file order. */
export function cityBins(): string[] {
  return fs
    .readFileSync(CITY, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(',')[0]!);
}

/** The example city's addresses ("Oudegracht 11"), for residents' messages. */
export function cityAddresses(): { id: string; address: string; lat: number; lon: number }[] {
  return fs
    .readFileSync(CITY, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => {
      const [id, lat, lon, address] = l.split(',');
      return { id: id!, address: address!, lat: Number(lat), lon: Number(lon) };
    });
}

export class Bridge {
  readonly name: string;
  mqttPort = 0;
  httpPort = 0;
  readonly dataDir: string;
  readonly logFile: string;
  readonly secrets: Record<string, string> = {};
  readonly config: BridgeSecrets;
  private proc: ChildProcess | null = null;
  exit: Exit | null = null;
  private stopping = false;
  private exitWaiters: (() => void)[] = [];
  private db: Database.Database | null = null;

  constructor(private readonly opts: BridgeOptions) {
    this.name = `auth-${opts.auth}`;
    this.dataDir = path.join(opts.tmp, `data-${this.name}`);
    this.logFile = path.join(opts.tmp, `bridge-${this.name}.log`);
    this.config = {
      apiToken: opts.apiToken,
      appSecret: `fuzz-app-secret-${opts.auth}`,
      verifyToken: `fuzz-verify-${opts.auth}`,
      open311Key: `fuzz-open311-key-${opts.auth}`,
    };
  }

  get auth(): AuthMode {
    return this.opts.auth;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get url(): string {
    return `http://${HOST}:${this.httpPort}`;
  }

  /** Issues the device secrets, writes the config file and starts the child; resolves once /healthz answers. */
  async start(): Promise<void> {
    fs.mkdirSync(this.dataDir, { recursive: true });
    if (this.opts.auth === 'devices' && this.opts.provision.length > 0) await this.provision();
    this.mqttPort = await freePort();
    this.httpPort = await freePort();
    // nothing listens here: the writer keeps retrying and every point stays in the spool
    const deadInflux = await freePort();
    const file = path.join(this.opts.tmp, `binbridge-${this.name}.yaml`);
    fs.writeFileSync(file, YAML.stringify(this.configFile(deadInflux)));
    const fd = fs.openSync(this.logFile, 'a');
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BINBRIDGE_')));
    // FUZZ_BRIDGE_NODE_ARGS: extra node flags for the bridge, to find what blocked its event loop (fuzz/long-tasks.ts)
    const nodeArgs = (process.env.FUZZ_BRIDGE_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const proc = spawn(process.execPath, ['--import', 'tsx', ...nodeArgs, 'src/cli.ts', 'start'], {
      cwd: ROOT,
      env: { ...env, BINBRIDGE_CONFIG: file },
      stdio: ['ignore', fd, fd],
    });
    fs.closeSync(fd);
    this.proc = proc;
    proc.once('exit', (code, signal) => {
      this.exit = { code, signal, at: Date.now() };
      for (const w of this.exitWaiters.splice(0)) w();
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (this.exit) throw new Error(`bridge ${this.name} exited during start-up (code ${this.exit.code}, signal ${this.exit.signal}):\n${this.logTail()}`);
      const ok = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1000) })
        .then(async (r) => (await r.arrayBuffer(), r.ok))
        .catch(() => false);
      if (ok) return;
      if (Date.now() > deadline) {
        this.kill();
        throw new Error(`bridge ${this.name} did not answer /healthz within 60 s:\n${this.logTail()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The config file: the shipped one with this run's ports, folder, secrets and the dead InfluxDB. */
  private configFile(influxPort: number): object {
    const base = YAML.parse(fs.readFileSync(path.join(ROOT, 'config/binbridge.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
    return {
      ...base,
      data_dir: this.dataDir,
      log_format: 'json',
      mqtt: { ...base.mqtt, port: this.mqttPort, host: HOST, auth: this.opts.auth, max_packet_bytes: this.opts.maxPacketBytes, tls: { port: -1, cert: '', key: '' } },
      http: { ...base.http, port: this.httpPort, host: HOST, api_token: this.config.apiToken },
      registry: { bins_file: CITY },
      influx: { ...base.influx, url: `http://${HOST}:${influxPort}` },
      whatsapp: { ...base.whatsapp, mode: 'sandbox', app_secret: this.config.appSecret, verify_token: this.config.verifyToken },
      open311: { ...base.open311, api_keys: [this.config.open311Key] },
    };
  }

  private async provision(): Promise<void> {
    const db = openDatabase(this.dataDir, { sync: 'normal' });
    try {
      const secrets = new SqliteDeviceSecrets(db, loadDeviceKey(this.dataDir).key);
      const ids = this.opts.provision;
      for (let i = 0; i < ids.length; i += 8) {
        const chunk = ids.slice(i, i + 8);
        const issued = await Promise.all(chunk.map((id) => secrets.issue(id)));
        chunk.forEach((id, k) => (this.secrets[id] = issued[k]!));
      }
    } finally {
      db.close();
    }
  }

  get alive(): boolean {
    return this.proc !== null && this.exit === null;
  }

  /** true when the process exited while nobody asked it to */
  get crashed(): boolean {
    return this.exit !== null && !this.stopping;
  }

  waitExit(ms: number): Promise<boolean> {
    if (this.exit) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.exitWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** SIGTERM, the way an operator stops it; SIGKILL when it does not exit within graceMs. */
  async stop(graceMs = 20_000): Promise<{ exit: Exit | null; forced: boolean }> {
    this.closeDb();
    if (!this.proc || this.exit) return { exit: this.exit, forced: false };
    this.stopping = true;
    this.proc.kill('SIGTERM');
    if (await this.waitExit(graceMs)) return { exit: this.exit, forced: false };
    this.kill();
    await this.waitExit(5000);
    return { exit: this.exit, forced: true };
  }

  kill(): void {
    this.stopping = true;
    this.closeDb();
    if (this.proc && this.exit === null) {
      try {
        this.proc.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
  }

  logTail(bytes = 4000): string {
    try {
      const buf = fs.readFileSync(this.logFile);
      return buf.subarray(Math.max(0, buf.length - bytes)).toString('utf8');
    } catch {
      return '(no log)';
    }
  }

  /** Error and fatal lines (pino levels 50, 60) of the log, at most `max`. */
  errorLines(max = 20): string[] {
    try {
      const out: string[] = [];
      for (const line of fs.readFileSync(this.logFile, 'utf8').split('\n')) {
        if (/"level":(50|60)/.test(line)) out.push(line.length > 1500 ? `${line.slice(0, 1500)}…` : line);
        if (out.length >= max) break;
      }
      return out;
    } catch {
      return [];
    }
  }

  /** A read-only view of the bridge's SQLite file (WAL: it reads beside the running bridge). */
  private readDb(): Database.Database {
    if (!this.db) {
      this.db = new Database(path.join(this.dataDir, 'binbridge.db'), { readonly: true, fileMustExist: true });
      this.db.pragma('busy_timeout = 5000');
    }
    return this.db;
  }

  closeDb(): void {
    this.db?.close();
    this.db = null;
  }

  /** Inbound WhatsApp messages waiting for their handlers, and those set aside after failing. */
  inboxBacklog(): { pending: number; failed: number } {
    const r = this.readDb().prepare(`SELECT sum(state = 'pending') AS pending, sum(state = 'failed') AS failed FROM whatsapp_inbound`).get() as {
      pending: number | null;
      failed: number | null;
    };
    return { pending: r.pending ?? 0, failed: r.failed ?? 0 };
  }

  /** Error texts of inbound messages set aside (redacted by the bridge), grouped. */
  inboxFailures(): { error: string; n: number }[] {
    return this.readDb()
      .prepare(`SELECT coalesce(error, '') AS error, count(*) AS n FROM whatsapp_inbound WHERE state = 'failed' GROUP BY error ORDER BY n DESC LIMIT 10`)
      .all() as { error: string; n: number }[];
  }

  /** Timestamps (ms) of the bin_reading points of one bin in the spool and its dead letters. */
  storedReadingTimes(binId: string): Set<number> {
    const db = this.readDb();
    const prefix = `bin_reading,bin_id=${binId},`;
    const out = new Set<number>();
    for (const table of ['spool', 'spool_dead_letter']) {
      // a row holds a group commit's points, newline-separated
      const rows = db.prepare(`SELECT line FROM ${table}`).pluck().all() as string[];
      for (const row of rows) {
        for (const line of row.split('\n')) if (line.startsWith(prefix)) out.add(Number(line.slice(line.lastIndexOf(' ') + 1)));
      }
    }
    return out;
  }
}

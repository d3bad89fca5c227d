// Shared pieces of the benchmark drivers (bench/ingest.ts, bench/dispatch.ts): a temp folder and the child
// processes of one run, stopped and removed however the driver ends (normal exit, failure, SIGINT/SIGTERM/SIGHUP,
// hard timeout); free loopback ports; start-up polling; CPU time and peak RSS of a process from /proc.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const HOST = '127.0.0.1';

export const log = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const r1 = (v: number): number => Math.round(v * 10) / 10;
export const r3 = (v: number): number => Math.round(v * 1000) / 1000;

/** An integer command-line option in min..max; exits with code 2 otherwise. */
export function intArg(name: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    process.stderr.write(`bench: --${name} must be an integer in ${min}..${max} (got ${v})\n`);
    process.exit(2);
  }
  return n;
}

export function exited(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => c.once('exit', () => resolve()));
}

export function logTail(file: string, bytes = 3000): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.slice(-bytes);
  } catch {
    return '(no log)';
  }
}

/**
 * One benchmark run: its temp folder and every child it started. `stop` (set with `onStop`) is the orderly
 * shutdown; `abort` runs it (bounded) and exits; on process exit whatever is left gets SIGKILL and the temp
 * folder is removed (unless keepTemp).
 */
/** The WhatsApp Cloud API account the benches' bridge and Graph API emulator share (loopback only, not a secret). */
export const BENCH_WHATSAPP = { accessToken: 'bench-access-token', appSecret: 'bench-app-secret', phoneNumberId: '106540352242922' } as const;

/**
 * The environment of a bridge a bench starts in cloud mode against the Graph API emulator at `graphUrl`: its config
 * file, loopback ports, no TLS listener, no device auth, warn-level JSON logs, and nothing from the caller's own
 * BINBRIDGE_* variables, so that the bench's settings are the whole config; `settings` adds to them.
 */
export function cloudBridgeEnv(
  o: { configFile: string; dataDir: string; mqttPort: number; httpPort: number; graphUrl: string },
  settings: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BINBRIDGE_')));
  return {
    ...base,
    BINBRIDGE_CONFIG: o.configFile,
    BINBRIDGE_DATA_DIR: o.dataDir,
    BINBRIDGE_MQTT_HOST: HOST,
    BINBRIDGE_MQTT_PORT: String(o.mqttPort),
    BINBRIDGE_MQTT_TLS_PORT: '-1',
    BINBRIDGE_MQTT_AUTH: 'none',
    BINBRIDGE_HTTP_HOST: HOST,
    BINBRIDGE_HTTP_PORT: String(o.httpPort),
    BINBRIDGE_LOG_LEVEL: 'warn',
    BINBRIDGE_LOG_FORMAT: 'json',
    BINBRIDGE_WHATSAPP_MODE: 'cloud',
    BINBRIDGE_WHATSAPP_GRAPH_URL: o.graphUrl,
    BINBRIDGE_WHATSAPP_PHONE_NUMBER_ID: BENCH_WHATSAPP.phoneNumberId,
    BINBRIDGE_WHATSAPP_ACCESS_TOKEN: BENCH_WHATSAPP.accessToken,
    BINBRIDGE_WHATSAPP_APP_SECRET: BENCH_WHATSAPP.appSecret,
    ...settings,
  };
}

export class Harness {
  readonly tmp: string;
  private readonly children = new Set<ChildProcess>();
  private stopFn: () => Promise<void> = async () => {};
  private stopping: Promise<void> | null = null;
  private aborting = false;
  private readonly hardTimer: NodeJS.Timeout;

  constructor(private readonly opts: { keepTemp: boolean; hardTimeoutMs: number; prefix?: string }) {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), opts.prefix ?? 'binbridge-bench-'));
    process.on('exit', () => {
      this.killAll('SIGKILL');
      this.removeTemp();
    });
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(sig, () => void this.abort(`${sig}: stopping`, 130));
    }
    this.hardTimer = setTimeout(() => void this.abort(`hard timeout after ${opts.hardTimeoutMs / 1000} s`, 124), opts.hardTimeoutMs);
    this.hardTimer.unref();
  }

  /** The orderly shutdown of what the driver started (children, servers), run once by stopAll/abort. */
  onStop(fn: () => Promise<void>): void {
    this.stopFn = fn;
  }

  get isStopping(): boolean {
    return this.stopping !== null;
  }

  stopAll(): Promise<void> {
    return (this.stopping ??= this.stopFn());
  }

  /** The first reason wins; errors caused by the stopping itself are not news. */
  async abort(reason: string, code: number): Promise<void> {
    if (this.aborting) return;
    this.aborting = true;
    log(reason);
    await Promise.race([this.stopAll(), sleep(20_000)]);
    process.exit(code);
  }

  /** Runs main, prints nothing itself; exit 0 after it, abort with code 1 when it throws. */
  run(main: () => Promise<void>): void {
    main().then(
      () => {
        clearTimeout(this.hardTimer);
        process.exit(0);
      },
      (err: unknown) => void this.abort(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, 1),
    );
  }

  track(c: ChildProcess): ChildProcess {
    this.children.add(c);
    c.once('exit', () => this.children.delete(c));
    return c;
  }

  logFile(name: string): string {
    return path.join(this.tmp, `${name}.log`);
  }

  /** Spawns a child whose stdout and stderr go to <tmp>/<name>.log; extra stdio entries (e.g. 'ipc') appended. */
  spawnLogged(
    name: string,
    cmd: string,
    argv: string[],
    opts: { cwd?: string; env?: NodeJS.ProcessEnv; ipc?: boolean } = {},
  ): ChildProcess {
    const fd = fs.openSync(this.logFile(name), 'a');
    const stdio: ('ignore' | 'ipc' | number)[] = ['ignore', fd, fd];
    if (opts.ipc) stdio.push('ipc');
    const c = spawn(cmd, argv, { cwd: opts.cwd ?? this.tmp, env: opts.env ?? process.env, stdio });
    fs.closeSync(fd);
    this.track(c);
    c.once('error', (err) => log(`${name}: ${err.message}`));
    return c;
  }

  private killAll(signal: NodeJS.Signals): void {
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) {
        try {
          c.kill(signal);
        } catch {
          /* gone */
        }
      }
    }
  }

  private removeTemp(): void {
    if (this.opts.keepTemp) {
      log(`temp folder kept: ${this.tmp}`);
      return;
    }
    try {
      fs.rmSync(this.tmp, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
}

/** SIGTERM, then SIGKILL after graceMs. */
export async function stopChild(c: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (!c) return;
  if (c.exitCode === null && c.signalCode === null) {
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
    await exited(c);
    clearTimeout(t);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** Polls ok() every 100 ms until it answers true; throws with the log tail when the child exits or time runs out. */
export async function waitFor(what: string, child: ChildProcess, logFile: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited during start-up (code ${child.exitCode}, signal ${child.signalCode}):\n${logTail(logFile)}`);
    }
    if (await ok().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms:\n${logTail(logFile)}`);
    await sleep(100);
  }
}

/** Waits until GET http://HOST:port/healthz answers 200. */
export function waitForHealthz(what: string, child: ChildProcess, logFile: string, port: number, timeoutMs = 30_000): Promise<void> {
  return waitFor(what, child, logFile, timeoutMs, async () => {
    const res = await fetch(`http://${HOST}:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  });
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process, in microseconds (from /proc/<pid>/stat). */
export function cpuUs(pid: number | undefined, tid?: number): number {
  if (pid === undefined) return NaN;
  try {
    // one thread's (its main thread: tid = pid), or the whole process's
    const stat = fs.readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime field 15
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** VmHWM (peak resident set) of a process in MB. */
export function peakRssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : NaN;
  } catch {
    return NaN;
  }
}

/** Error and fatal lines (pino JSON levels 50/60) in the tail of a log. */
export function errorLines(file: string, bytes = 20_000): string[] {
  return logTail(file, bytes)
    .split('\n')
    .filter((l) => /"level":(50|60)/.test(l));
}

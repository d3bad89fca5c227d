// binbridge instances as processes on one PostgreSQL store (store.url), for the tests that kill one with -9 or take
// the database away under load. Each runs on its own data folder and free loopback ports; what instances must share
// (the device-secrets key, the pseudonym key) is set up by `dataFolder(from)` and SHARED_ENV.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CITY } from './bridge.js';
import { INSTANCE_ARGS } from './instance-command.js';
import { freePort } from './servers.js';
import { waitFor } from './wait.js';
import { DEVICE_KEY_FILE } from '../../src/broker/index.js';

/** Set the same on every instance of one database (docs/operations.md, "Two instances on PostgreSQL"). */
export const SHARED_ENV: Record<string, string> = { BINBRIDGE_REPORTS_PSEUDONYM_KEY: 'instances-share-one-pseudonym-key-0123456789' };

export interface Readyz {
  ready: boolean;
  checks: Record<string, string>;
  instance: string;
  lease: { name: string; holder: string | null; this_instance: boolean };
}

export interface Instance {
  readonly name: string;
  readonly mqttPort: number;
  readonly httpPort: number;
  readonly mqttUrl: string;
  readonly httpUrl: string;
  readonly dataDir: string;
  readonly proc: ChildProcess;
  /** what it wrote on stdout and stderr (its log lines) */
  output(): string;
  /** GET /readyz within a second: its status and body */
  readyz(): Promise<{ status: number; body: Readyz }>;
  kill9(): Promise<void>;
  /** SIGTERM, then waits for the exit; its code */
  stop(): Promise<number | null>;
}

// an instance must never outlive the test process, however that ends; its folder goes with it
const running = new Set<ChildProcess>();
const folders = new Set<string>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
  for (const dir of folders) fs.rmSync(dir, { recursive: true, force: true });
});

/** A new data folder; with `deviceKeyFrom`, holding that folder's device-secrets key (set before the first start). */
export function dataFolder(deviceKeyFrom?: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-instance-'));
  folders.add(dir);
  if (deviceKeyFrom) fs.copyFileSync(path.join(deviceKeyFrom, DEVICE_KEY_FILE), path.join(dir, DEVICE_KEY_FILE));
  return dir;
}

/** Starts one instance with `env` (BINBRIDGE_*) on `dataDir` and waits until /healthz answers (a start through tsx takes 5–30 s on a loaded 2-core machine). */
export async function spawnInstance(name: string, env: Record<string, string>, dataDir = dataFolder()): Promise<Instance> {
  const mqttPort = await freePort();
  let httpPort = await freePort();
  while (httpPort === mqttPort) httpPort = await freePort();
  let out = '';
  const proc = spawn(process.execPath, [...INSTANCE_ARGS], {
    env: {
      ...process.env,
      BINBRIDGE_MQTT_HOST: '127.0.0.1',
      BINBRIDGE_HTTP_HOST: '127.0.0.1',
      BINBRIDGE_MQTT_PORT: String(mqttPort),
      BINBRIDGE_HTTP_PORT: String(httpPort),
      BINBRIDGE_DATA_DIR: dataDir,
      BINBRIDGE_REGISTRY_BINS_FILE: CITY,
      BINBRIDGE_LOG_FORMAT: 'json',
      BINBRIDGE_LOG_LEVEL: 'warn',
      ...SHARED_ENV,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  const keep = (d: Buffer): void => {
    // the last 200 kB are enough to say what went wrong
    out = (out + d.toString()).slice(-200_000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  await waitFor(
    async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`instance ${name} exited (${proc.exitCode ?? proc.signalCode})`);
      return (await fetch(`${httpUrl}/healthz`, { signal: AbortSignal.timeout(1000) })).ok;
    },
    { timeoutMs: 60_000, intervalMs: 100, message: `instance ${name} /healthz` },
  ).catch((err: Error) => {
    proc.kill('SIGKILL');
    throw new Error(`${err.message}\n${out.slice(-2000)}`);
  });
  return {
    name,
    mqttPort,
    httpPort,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    httpUrl,
    dataDir,
    proc,
    output: () => out,
    async readyz() {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`instance ${name} exited (${proc.exitCode ?? proc.signalCode}):\n${out.slice(-3000)}`);
      const res = await fetch(`${httpUrl}/readyz`, { signal: AbortSignal.timeout(1000) });
      return { status: res.status, body: (await res.json()) as Readyz };
    },
    async kill9() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

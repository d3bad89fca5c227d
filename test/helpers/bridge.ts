// Starts binbridge for integration tests: in this process (startApp, for inspecting its parts) or as a
// child process exactly as `npm start` runs it (for kill -9 and signal tests).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { startGraphEmulator, type GraphEmulator, type GraphEmulatorOptions } from '../../emulator/index.js';
import { startApp, type AppOptions, type RunningApp } from '../../src/app.js';
import { DEVICE_KEY_FILE } from '../../src/broker/index.js';
import { loadConfig } from '../../src/config/index.js';
import { freePort } from './servers.js';
import { waitFor } from './wait.js';

export const CITY = path.resolve('config/bins.example.csv');

export interface InProcessBridge extends RunningApp {
  dataDir: string;
  mqttUrl: string;
  httpUrl: string;
}

/** Starts the bridge in this process with BINBRIDGE_* overrides (ports 0, a fresh data folder). */
export async function startBridge(env: Record<string, string> = {}, dataDir?: string, opts: AppOptions = {}): Promise<InProcessBridge> {
  const dir = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bb-bridge-'));
  const { config } = loadConfig({
    env: {
      BINBRIDGE_MQTT_PORT: '0',
      BINBRIDGE_HTTP_PORT: '0',
      BINBRIDGE_MQTT_HOST: '127.0.0.1',
      BINBRIDGE_HTTP_HOST: '127.0.0.1',
      BINBRIDGE_DATA_DIR: dir,
      BINBRIDGE_REGISTRY_BINS_FILE: CITY,
      BINBRIDGE_INFLUX_FLUSH_INTERVAL_MS: '100',
      ...Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('BINBRIDGE_'))),
    },
    file: env.BINBRIDGE_CONFIG ?? 'config/binbridge.yaml',
  });
  // BB_LOG_FILE: write every log line (debug and up) to that file, e.g. to check what the logs contain
  const logFile = env.BB_LOG_FILE;
  const log = logFile ? pino({ level: 'debug' }, pino.destination({ dest: logFile, sync: true })) : pino({ level: process.env.BB_TEST_LOG ?? 'silent' });
  const app = await startApp(config, log, opts);
  return { ...app, dataDir: dir, mqttUrl: `mqtt://127.0.0.1:${app.ports.mqtt}`, httpUrl: `http://127.0.0.1:${app.ports.http}` };
}

/**
 * Instances sharing one store.url, as a city runs them: each its own data folder, all with the first one's device key
 * (data_dir/device-secrets.key: the secrets' records are HMACs under it) and one pseudonym key (message ids and
 * residents' numbers are keyed with it). Started one after the other, so the first creates the key the others copy.
 */
export async function startInstances(n: number, env: Record<string, string>, opts: AppOptions = {}): Promise<InProcessBridge[]> {
  const shared = { BINBRIDGE_REPORTS_PSEUDONYM_KEY: 'instances-share-one-pseudonym-key-0123456789', ...env };
  const bridges: InProcessBridge[] = [];
  try {
    for (let i = 0; i < n; i++) {
      let dir: string | undefined;
      if (i > 0) {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-bridge-'));
        fs.copyFileSync(path.join(bridges[0]!.dataDir, DEVICE_KEY_FILE), path.join(dir, DEVICE_KEY_FILE));
      }
      bridges.push(await startBridge(shared, dir, opts));
    }
    return bridges;
  } catch (err) {
    for (const b of bridges) await b.stop();
    throw err;
  }
}

export interface ChildBridge {
  mqttPort: number;
  httpPort: number;
  dataDir: string;
  proc: ChildProcess;
  output: () => string;
  kill9: () => Promise<void>;
  stop: () => Promise<number | null>;
}

/** Runs `src/cli.ts start` in a child process (through tsx, so no build is needed) and waits for /healthz. */
export async function spawnBridge(env: Record<string, string>, reuse?: { mqttPort: number; httpPort: number; dataDir: string }): Promise<ChildBridge> {
  const mqttPort = reuse?.mqttPort ?? (await freePort());
  const httpPort = reuse?.httpPort ?? (await freePort());
  const dataDir = reuse?.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bb-child-'));
  let out = '';
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
    env: {
      ...process.env,
      BINBRIDGE_MQTT_PORT: String(mqttPort),
      BINBRIDGE_HTTP_PORT: String(httpPort),
      BINBRIDGE_MQTT_HOST: '127.0.0.1',
      BINBRIDGE_HTTP_HOST: '127.0.0.1',
      BINBRIDGE_DATA_DIR: dataDir,
      BINBRIDGE_REGISTRY_BINS_FILE: CITY,
      BINBRIDGE_LOG_FORMAT: 'json',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  await waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error(`bridge exited with ${proc.exitCode}: ${out.slice(-800)}`);
      return (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).ok;
    },
    { timeoutMs: 30_000, intervalMs: 100, message: 'bridge /healthz' },
  ).catch((err: Error) => {
    proc.kill('SIGKILL');
    throw new Error(`${err.message}\n${out.slice(-1500)}`);
  });
  return {
    mqttPort,
    httpPort,
    dataDir,
    proc,
    output: () => out,
    kill9: async () => {
      proc.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * The bridge has handled every webhook message it took and sent (or failed for good) every message it queued:
 * what a test then finds is all that will happen, so "nothing more was sent" is a fact and not a guess.
 */
export async function quiescent(bridge: Pick<RunningApp, 'inbox' | 'outbox'>, timeoutMs = 15_000): Promise<void> {
  await waitFor(async () => (await bridge.inbox.backlog()).pending === 0 && (await bridge.outbox.backlog()) === 0, { timeoutMs, message: 'inbox drained and outbox idle' });
}

/** An MQTT 3.1.1 client that has connected (or throws the broker's refusal). */
export async function connectClient(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  client.setMaxListeners(0);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
  return client;
}

/** Publishes QoS 1 and resolves on PUBACK; rejects when the connection closes first. */
export function publishAcked(client: MqttClient, topic: string, payload: string | object): Promise<void> {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return new Promise((resolve, reject) => {
    const onClose = (): void => reject(new Error(`connection closed before PUBACK on ${topic}`));
    client.once('close', onClose);
    client.publish(topic, body, { qos: 1 }, (err) => {
      client.off('close', onClose);
      if (err) reject(err);
      else resolve();
    });
  });
}

/** Resolves when the client's connection is closed by the other side. */
export function closed(client: MqttClient, timeoutMs = 5000): Promise<boolean> {
  if (!client.connected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    client.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** The example city's bins (id, address, zone), in the file's order. */
export function cityBinRows(): { id: string; address: string; zone: string }[] {
  return fs
    .readFileSync(CITY, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(','))
    .map(([id, , , address, zone]) => ({ id: id!, address: address!, zone: zone! }));
}

/** Ids of the first n bins of the example city. */
export function cityBins(n: number): string[] {
  return cityBinRows()
    .slice(0, n)
    .map((b) => b.id);
}

/** One family's samples from Prometheus text, e.g. metricValue(text, 'binbridge_readings_rejected_total', {reason: 'bad_json'}). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_:]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const want = Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`));
    if (want) sum += Number(m[3]);
  }
  return sum;
}

export interface Stream {
  /** the device's MQTT.js client, for a test that drives an interleaving */
  readonly client: MqttClient;
  readonly sent: number;
  readonly acked: number;
  /** resolves when every reading is acknowledged */
  done: Promise<void>;
  /** publishes the next n readings now */
  step: (n: number) => void;
  end: () => void;
}

/**
 * A device that keeps publishing QoS 1 readings at a steady rate through outages: fixed client id, persistent
 * session, automatic reconnect; MQTT.js resends what was not acknowledged, and this helper what MQTT.js gave back
 * unsent. Reading i has ts = base + i s. ratePerS 0: the test publishes with step(n).
 */
export function streamReadings(
  url: string,
  opts: { bins: string[]; count: number; ratePerS: number; base: number; clientId?: string; username?: string; password?: string },
): Stream {
  const client = mqtt.connect(url, {
    protocolVersion: 4,
    clientId: opts.clientId ?? `stream-${process.pid}`,
    clean: false,
    reconnectPeriod: 200,
    connectTimeout: 3000,
    username: opts.username,
    password: opts.password,
  });
  client.setMaxListeners(0);
  client.on('error', () => undefined);
  let sent = 0;
  let acked = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  // MQTT.js holds a publish made while it replays its unacknowledged readings after a reconnect, and if that
  // connection closes before the replay ends it fails the held publish with "Connection closed" without storing
  // it: the reading was never sent and nothing will resend it. So such a reading is kept here and published again
  // once MQTT.js says 'connect' (emitted only after its replay), as a device resends what was not acknowledged.
  const failed: number[] = [];
  const publishOne = (i: number): void => {
    const bin = opts.bins[i % opts.bins.length]!;
    client.publish(`bins/${bin}/telemetry`, JSON.stringify({ fill_pct: i % 100, ts: opts.base + i * 1000 }), { qos: 1 }, (err) => {
      if (err) {
        failed.push(i);
        return;
      }
      if (++acked === opts.count) resolveDone();
    });
  };
  client.on('connect', () => {
    for (const i of failed.splice(0).sort((a, b) => a - b)) publishOne(i);
  });
  const publishNext = (n: number): void => {
    for (let k = 0; k < n && sent < opts.count; k++, sent++) publishOne(sent);
  };
  // ratePerS 0: no timer, the test publishes with step(n)
  const perTick = Math.max(1, Math.round(opts.ratePerS / 20));
  const tick =
    opts.ratePerS > 0
      ? setInterval(() => {
          publishNext(perTick);
          if (sent >= opts.count) clearInterval(tick);
        }, 50)
      : undefined;
  return {
    client,
    get sent() {
      return sent;
    },
    get acked() {
      return acked;
    },
    done,
    step: publishNext,
    end: () => {
      clearInterval(tick);
      client.end(true);
    },
  };
}

/** The settings of a bridge in cloud mode against the Graph API emulator, pacing off (tests that count messages). */
/**
 * A Graph API emulator whose webhooks go to a bridge that is about to start on a free HTTP port, and the env that
 * points that bridge at it (its HTTP port and the cloud WhatsApp settings): spread `env` into startBridge's.
 */
export async function graphForBridge(
  opts: Omit<GraphEmulatorOptions, 'webhookUrl' | 'accessToken' | 'appSecret'> & { accessToken: string; appSecret: string },
): Promise<{ graph: GraphEmulator; env: Record<string, string> }> {
  const httpPort = await freePort();
  const graph = await startGraphEmulator({ pairIntervalMs: 0, ...opts, webhookUrl: `http://127.0.0.1:${httpPort}/webhooks/whatsapp` });
  return { graph, env: { BINBRIDGE_HTTP_PORT: String(httpPort), ...cloudWhatsAppEnv(graph, opts.accessToken, opts.appSecret) } };
}

export function cloudWhatsAppEnv(graph: { url: string; phoneNumberId: string }, accessToken: string, appSecret: string): Record<string, string> {
  return {
    BINBRIDGE_WHATSAPP_MODE: 'cloud',
    BINBRIDGE_WHATSAPP_GRAPH_URL: graph.url,
    BINBRIDGE_WHATSAPP_PHONE_NUMBER_ID: graph.phoneNumberId,
    BINBRIDGE_WHATSAPP_ACCESS_TOKEN: accessToken,
    BINBRIDGE_WHATSAPP_APP_SECRET: appSecret,
    BINBRIDGE_WHATSAPP_PAIR_INTERVAL_MS: '0',
  };
}

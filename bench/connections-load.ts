// The devices of bench/connections.ts, in a process of its own (started by the driver with `node --import tsx`).
// Each device is one TCP socket speaking MQTT 3.1.1 (mqtt-packet), as light as firmware: it logs in with its bin
// id and secret, publishes one QoS 1 reading, and stays connected and idle (PINGREQ within its keepalive). When
// the connection drops it reconnects with capped, jittered backoff and publishes one more reading. Devices are
// spread over loopback source addresses (about 100 per address), as real devices come from many addresses.
// The driver steers it over IPC: 'connect' starts round 1; every round ends with a 'round' report once each device
// is back and acknowledged (or the round's deadline passed).
import fs from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import mqttPacket, { type Packet } from 'mqtt-packet';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    secrets: { type: 'string' },
    'per-address': { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '500' },
    'max-backoff-ms': { type: 'string', default: '1000' },
    'round-timeout': { type: 'string', default: '300' },
  },
});

const PORT = Number(opts.port);
const PER_ADDRESS = Number(opts['per-address']);
const CONCURRENCY = Number(opts.concurrency);
const MAX_BACKOFF_MS = Number(opts['max-backoff-ms']);
const ROUND_TIMEOUT_MS = Number(opts['round-timeout']) * 1000;
const KEEPALIVE_S = 60;
// bin -> secret, as `binbridge devices provision --out` writes it; without --secrets, logins carry no password
const SECRETS = opts.secrets ? (JSON.parse(fs.readFileSync(opts.secrets, 'utf8')) as Record<string, string>) : null;

export interface RoundReport {
  round: number;
  devices: number;
  /** ms from the round's start to the last CONNACK / the last PUBACK of the round's reading */
  last_connack_ms: number;
  last_puback_ms: number;
  /** devices that got their CONNACK / PUBACK this round */
  connected: number;
  acked: number;
  /** connection attempts in this round, and those refused or failed (refused by the broker, closed, ECONNREFUSED) */
  attempts: number;
  failed_attempts: number;
  connack_codes: Record<string, number>;
  /** the round's start as an epoch ms, so that the driver can relate it to the bridge's restart */
  started_at: number;
  ended_at: number;
}

export type ConnMessage = { type: 'round'; report: RoundReport } | { type: 'error'; message: string };
export type DriverMessage = { type: 'connect' } | { type: 'expect-drop' };

function send(m: ConnMessage): void {
  if (process.send) process.send(m);
  else process.stdout.write(JSON.stringify(m) + '\n');
}

interface Device {
  bin: string;
  password: Buffer | undefined;
  localAddress: string;
  socket: net.Socket | null;
  /** 0 idle/down, 1 connecting, 2 connected (CONNACK), 3 reading acknowledged */
  state: 0 | 1 | 2 | 3;
  attempt: number;
  /** the round whose reading this device has had acknowledged */
  ackedRound: number;
  seq: number;
}

const bins = SECRETS ? Object.keys(SECRETS).sort() : [];
const devices: Device[] = bins.map((bin, i) => ({
  bin,
  password: SECRETS![bin] ? Buffer.from(SECRETS![bin]!) : undefined,
  localAddress: `127.0.${1 + Math.floor(i / PER_ADDRESS / 254)}.${1 + (Math.floor(i / PER_ADDRESS) % 254)}`,
  socket: null,
  state: 0,
  attempt: 0,
  ackedRound: 0,
  seq: 0,
}));

let round = 0;
let roundStart = 0;
let report: RoundReport | null = null;
let connecting = 0;
const queue: Device[] = [];
const BASE_TS = Date.now() - 3600_000;

function newRound(): void {
  round++;
  roundStart = Date.now();
  report = { round, devices: devices.length, last_connack_ms: 0, last_puback_ms: 0, connected: 0, acked: 0, attempts: 0, failed_attempts: 0, connack_codes: {}, started_at: roundStart, ended_at: 0 };
  const r = round;
  setTimeout(() => {
    if (report && report.round === r) finishRound();
  }, ROUND_TIMEOUT_MS).unref();
}

function finishRound(): void {
  if (!report) return;
  report.ended_at = Date.now();
  send({ type: 'round', report });
  report = null;
}

function enqueue(d: Device): void {
  queue.push(d);
  pump();
}

function pump(): void {
  while (connecting < CONCURRENCY && queue.length > 0) connect(queue.shift()!);
}

function retry(d: Device): void {
  d.attempt++;
  const cap = Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(d.attempt, 10));
  setTimeout(() => enqueue(d), cap / 2 + Math.random() * (cap / 2));
}

function connect(d: Device): void {
  connecting++;
  d.state = 1;
  if (report) report.attempts++;
  const socket = net.connect({ port: PORT, host: opts.host, localAddress: d.localAddress });
  d.socket = socket;
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  let settled = false;
  const settle = (): void => {
    if (!settled) {
      settled = true;
      connecting--;
      pump();
    }
  };
  socket.setNoDelay(true);
  socket.on('connect', () => {
    socket.write(
      mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: d.bin, keepalive: KEEPALIVE_S, username: d.bin, password: d.password } as Packet),
    );
  });
  parser.on('packet', (p: Packet) => {
    if (p.cmd === 'connack') {
      settle();
      const code = (p as { returnCode?: number }).returnCode ?? -1;
      if (report) report.connack_codes[code] = (report.connack_codes[code] ?? 0) + 1;
      if (code !== 0) return; // the broker closes the connection; 'close' retries
      d.state = 2;
      d.attempt = 0;
      if (report) {
        report.connected++;
        report.last_connack_ms = Date.now() - roundStart;
      }
      const seq = d.seq++;
      const payload = Buffer.from(`{"fill_pct":${(seq * 7) % 97},"battery_pct":80,"ts":${BASE_TS + seq * 1000}}`);
      socket.write(mqttPacket.generate({ cmd: 'publish', topic: `bins/${d.bin}/telemetry`, payload, qos: 1, messageId: 1 + (seq % 65535), dup: false, retain: false } as Packet));
    } else if (p.cmd === 'puback' && d.state === 2) {
      d.state = 3;
      if (report && d.ackedRound < round) {
        d.ackedRound = round;
        report.acked++;
        report.last_puback_ms = Date.now() - roundStart;
        if (report.acked === devices.length) finishRound();
      }
    }
  });
  socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  socket.on('error', () => undefined);
  socket.on('close', () => {
    settle();
    if (d.socket !== socket) return;
    d.socket = null;
    const wasUp = d.state >= 2;
    d.state = 0;
    if (report && !wasUp) report.failed_attempts++;
    // a device whose connection drops (a restart, a refusal) comes back, as firmware does
    if (!stopping) retry(d);
  });
}

let stopping = false;

// keepalive: PINGREQ to every connected device every half keepalive
const PINGREQ = mqttPacket.generate({ cmd: 'pingreq' } as Packet);
setInterval(() => {
  for (const d of devices) if (d.state >= 2) d.socket?.write(PINGREQ);
}, (KEEPALIVE_S * 1000) / 2).unref();

process.on('message', (m: DriverMessage) => {
  if (m.type === 'connect') {
    newRound();
    for (const d of devices) enqueue(d);
  } else if (m.type === 'expect-drop') {
    // the bridge is about to restart: the next round starts now, and the devices reconnect as their sockets close
    newRound();
  }
});
// the driver went away (killed or done): close everything and stop
process.on('disconnect', () => {
  stopping = true;
  for (const d of devices) d.socket?.destroy();
  process.exit(0);
});
if (!SECRETS) {
  send({ type: 'error', message: 'connections-load: --secrets <file> is required' });
  process.exit(2);
}
if (!Number.isInteger(PORT) || PORT < 1) {
  send({ type: 'error', message: `connections-load: --port must be a port (got ${opts.port})` });
  process.exit(2);
}

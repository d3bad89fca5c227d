import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { FaultKind, TelemetryPayload, StepResult } from './bin-model.js';
import { mqttServers } from './brokers.js';

export const telemetryTopic = (binId: string): string => `bins/${binId}/telemetry`;
export const statusTopic = (binId: string): string => `bins/${binId}/status`;

/** Where a device's readings come from: a bin model, or a script in tests. */
export interface ReadingSource {
  step(simTimeMs: number): StepResult;
}

/** An event with fields, e.g. log('device_refused', { bin_id, code }). */
export type DeviceLog = (event: string, fields: Record<string, unknown>) => void;

export interface SimDeviceOptions {
  binId: string;
  /** the brokers: the first one first, then each reconnect goes to the next (MQTT.js `servers`) */
  urls: readonly string[];
  /** undefined: connect without username and password */
  secret: string | undefined;
  qos: 0 | 1;
  source: ReadingSource;
  simNow: () => number;
  /** when set, readings carry this time instead of the simulated one (--stamps real) */
  stampNow?: () => number;
  /** real time between two readings */
  publishEveryMs: number;
  log: DeviceLog;
  /** unsent readings kept while offline; the oldest are dropped past it */
  bufferLimit?: number;
  /** QoS 1 publishes awaiting PUBACK at once; the rest wait in the buffer, in order */
  maxInflight?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** jitter source */
  random?: () => number;
  keepaliveS?: number;
  /**
   * Publish as a network server's integration would (TTN, ChirpStack): this message per reading, this login, and
   * no bins/{id}/status presence. Default: native JSON on bins/{id}/telemetry, logged in as the bin.
   */
  network?: {
    uplink: (reading: TelemetryPayload) => { topic: string; payload: string };
    clientId: string;
    username?: string | undefined;
    password?: string | undefined;
  };
}

export interface DeviceSnapshot {
  connected: boolean;
  refused: boolean;
  silent: boolean;
  /** readings handed to the connection */
  sent: number;
  /** QoS 1 readings acknowledged by the broker */
  acked: number;
  /** readings waiting for the connection */
  buffered: number;
  inflight: number;
  /** readings lost: buffer overflow, or a publish that failed */
  dropped: number;
  faults: readonly FaultKind[];
}

/** Exponential backoff with jitter: attempt 0 waits 0.5-1 s, doubling up to half-to-all of the maximum. */
export function reconnectDelayMs(attempt: number, random: () => number, initialMs = 1000, maxMs = 60_000): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return base / 2 + (random() * base) / 2;
}

/**
 * One simulated bin sensor: one MQTT 3.1.1 client. Reconnects are managed here (MQTT.js `reconnectPeriod: 0`)
 * so that the delay can grow, and so that a silent device stays away until its fault ends.
 */
export class SimDevice {
  private client: MqttClient | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly queue: TelemetryPayload[] = [];
  private attempt = 0;
  /** a network connection exists or is being made */
  private streamOpen = false;
  /** CONNACK accepted and MQTT.js has resent its stored messages */
  private ready = false;
  private silent = false;
  private refused = false;
  private errorLogged = false;
  private stopping = false;
  private inflight = 0;
  private sent = 0;
  private acked = 0;
  private dropped = 0;
  private faults: readonly FaultKind[] = [];

  constructor(private readonly opts: SimDeviceOptions) {}

  start(): void {
    const { binId, secret, network } = this.opts;
    const login = network
      ? { ...(network.username ? { username: network.username } : {}), ...(network.password ? { password: network.password } : {}) }
      : secret === undefined
        ? {}
        : { username: binId, password: secret };
    const options: IClientOptions = {
      protocolVersion: 4, // aedes refuses MQTT 5
      clientId: network?.clientId ?? binId,
      clean: false,
      keepalive: this.opts.keepaliveS ?? 30,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      queueQoSZero: false,
      ...(network ? {} : { will: { topic: statusTopic(binId), payload: Buffer.from('offline'), qos: 1, retain: true as const } }),
      ...login,
      ...(this.opts.urls.length > 1 ? { servers: mqttServers(this.opts.urls) } : {}),
    };
    const client = connect(this.opts.urls[0] ?? '', options);
    this.client = client;
    this.streamOpen = true;
    client.on('connect', () => this.onConnect());
    client.on('error', (err) => this.onError(err));
    client.on('close', () => this.onClose());
    this.tickTimer = setInterval(() => this.tick(), this.opts.publishEveryMs);
    this.tick();
  }

  /** Takes one reading from the source; also drives the silent fault. */
  tick(): void {
    if (this.stopping) return;
    const result = this.opts.source.step(this.opts.simNow());
    this.faults = result.faults;
    const silentNow = result.faults.includes('silent');
    if (silentNow && !this.silent) this.goSilent();
    else if (!silentNow && this.silent) this.wakeUp();
    const stamp = this.opts.stampNow;
    if (result.reading) this.enqueue(stamp ? { ...result.reading, ts: new Date(stamp()).toISOString() } : result.reading);
  }

  snapshot(): DeviceSnapshot {
    return {
      connected: this.ready,
      refused: this.refused,
      silent: this.silent,
      sent: this.sent,
      acked: this.acked,
      buffered: this.queue.length,
      inflight: this.inflight,
      dropped: this.dropped,
      faults: this.faults,
    };
  }

  /** Publishes `offline` and disconnects cleanly (no will); gives up waiting after a few seconds. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.tickTimer);
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    if (!client) return;
    if (this.ready) {
      if (!this.opts.network) await within(2000, (done) => client.publish(statusTopic(this.opts.binId), 'offline', { qos: 1, retain: true }, () => done()));
      const ended = await within(3000, (done) => client.end(false, {}, () => done()));
      if (!ended) client.stream.destroy();
    } else {
      await within(1000, (done) => client.end(true, {}, () => done()));
    }
    this.ready = false;
  }

  private enqueue(reading: TelemetryPayload): void {
    this.queue.push(reading);
    if (this.queue.length > (this.opts.bufferLimit ?? 1000)) {
      this.queue.shift();
      this.dropped++;
    }
    this.pump();
  }

  /** Sends buffered readings oldest first; each carries its own ts, so late delivery keeps the series right. */
  private pump(): void {
    const client = this.client;
    if (!client || !this.ready || this.stopping) return;
    const { qos } = this.opts;
    const maxInflight = this.opts.maxInflight ?? 64;
    while (this.queue.length > 0 && (qos === 0 || this.inflight < maxInflight)) {
      const reading = this.queue.shift() as TelemetryPayload;
      this.inflight++;
      this.sent++;
      const message = this.opts.network?.uplink(reading) ?? { topic: telemetryTopic(this.opts.binId), payload: JSON.stringify(reading) };
      client.publish(message.topic, message.payload, { qos }, (err) => {
        this.inflight--;
        if (err) this.dropped++;
        else if (qos === 1) this.acked++;
        this.pump();
      });
    }
  }

  private onConnect(): void {
    this.ready = true;
    this.attempt = 0;
    this.errorLogged = false;
    if (this.refused) {
      this.refused = false;
      this.opts.log('device_accepted', { bin_id: this.opts.binId });
    }
    if (!this.opts.network) this.client?.publish(statusTopic(this.opts.binId), 'online', { qos: 1, retain: true });
    this.pump();
  }

  private onError(err: Error): void {
    const code = (err as Error & { code?: unknown }).code;
    if (typeof code === 'number') {
      // a CONNACK return code: 4 bad user name or password, 5 not authorized [MQTT-3.2.2-5]
      if (!this.refused) this.opts.log('device_refused', { bin_id: this.opts.binId, code, reason: err.message });
      this.refused = true;
    } else if (!this.errorLogged) {
      this.errorLogged = true;
      this.opts.log('device_connection_error', { bin_id: this.opts.binId, error: typeof code === 'string' ? code : err.message });
    }
  }

  private onClose(): void {
    this.ready = false;
    this.streamOpen = false;
    if (this.stopping || this.silent) return;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer) return;
    const delay = reconnectDelayMs(this.attempt++, this.opts.random ?? Math.random, this.opts.backoffInitialMs, this.opts.backoffMaxMs);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopping && !this.silent && !this.streamOpen) this.reconnect();
    }, delay);
  }

  private reconnect(): void {
    if (!this.client) return;
    this.streamOpen = true;
    // connect() on the same client keeps its outgoing store: unacknowledged QoS 1 readings are resent first
    this.client.connect();
  }

  /** Drops the connection without DISCONNECT, as a dead device would, so the broker publishes the will. */
  private goSilent(): void {
    this.silent = true;
    this.ready = false;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (this.streamOpen) this.client?.stream.destroy();
    this.opts.log('device_silent', { bin_id: this.opts.binId });
  }

  private wakeUp(): void {
    this.silent = false;
    this.attempt = 0;
    this.opts.log('device_back', { bin_id: this.opts.binId });
    if (!this.streamOpen && !this.reconnectTimer) this.reconnect();
  }
}

/** Runs `start(done)` and resolves true when done is called, false after `ms`. */
function within(ms: number, start: (done: () => void) => void): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    start(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

// A well-behaved device beside the fuzzing: MQTT.js, QoS 1 readings at a steady rate, each with its own
// timestamp. It checks that every reading is acknowledged (within a bound, and in the end) and that the broker
// never drops it; the run then checks that every acknowledged reading is in the bridge's store.
import mqtt, { type MqttClient } from 'mqtt';
import type { Finding } from './stats.js';

export interface GoodDeviceOptions {
  url: string;
  bin: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  ratePerS: number;
  /** a PUBACK later than this is a finding */
  ackTimeoutMs: number;
  phase: string;
}

export class GoodDevice {
  private client: MqttClient | null = null;
  private tick: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private lastTs = 0;
  /** ts -> when it was published (performance.now()) */
  private readonly outstanding = new Map<number, number>();
  readonly acked: number[] = [];
  sent = 0;
  errors = 0;
  disconnects = 0;
  maxAckMs = 0;
  private lateReported = false;
  readonly findings: Finding[] = [];
  private connectedOnce = false;

  constructor(private readonly opts: GoodDeviceOptions) {}

  async start(): Promise<void> {
    const o = this.opts;
    const client = mqtt.connect(o.url, {
      protocolVersion: 4,
      clientId: o.clientId,
      username: o.username,
      password: o.password,
      clean: false,
      keepalive: 30,
      reconnectPeriod: 500,
      connectTimeout: 10_000,
    });
    this.client = client;
    client.setMaxListeners(0);
    client.on('error', (err) => {
      this.errors++;
      this.note('good_device', `the good device's connection failed: ${err.message}`);
    });
    client.on('close', () => {
      if (!this.connectedOnce || this.stopping) return;
      this.disconnects++;
      this.note('good_device', `the broker closed the good device's connection (${this.disconnects} time(s)); it reconnects and resends`);
    });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the good device could not connect within 15 s')), 15_000);
      client.once('connect', () => {
        clearTimeout(t);
        this.connectedOnce = true;
        resolve();
      });
    });
    const perTick = Math.max(1, Math.round(o.ratePerS / 20));
    this.tick = setInterval(() => {
      for (let k = 0; k < perTick; k++) this.publish();
    }, 50);
    this.watchdog = setInterval(() => this.checkLate(), 1000);
  }

  private stopping = false;

  private publish(): void {
    // strictly increasing ms timestamps: each reading is its own point in the store
    const ts = Math.max(Date.now() - 1000, this.lastTs + 1);
    this.lastTs = ts;
    this.sent++;
    this.outstanding.set(ts, performance.now());
    const payload = JSON.stringify({ fill_pct: this.sent % 100, battery_pct: 87, temperature_c: 18.5, ts });
    this.client!.publish(`bins/${this.opts.bin}/telemetry`, payload, { qos: 1 }, (err) => {
      if (err) {
        this.errors++;
        this.note('good_device', `a reading was refused: ${err.message}`);
        return;
      }
      const at = this.outstanding.get(ts);
      this.outstanding.delete(ts);
      if (at !== undefined) this.maxAckMs = Math.max(this.maxAckMs, performance.now() - at);
      this.acked.push(ts);
    });
  }

  private checkLate(): void {
    const now = performance.now();
    let late = 0;
    for (const at of this.outstanding.values()) if (now - at > this.opts.ackTimeoutMs) late++;
    if (late > 0 && !this.lateReported) {
      this.lateReported = true;
      this.note('good_device', `${late} reading(s) of the good device not acknowledged within ${this.opts.ackTimeoutMs} ms`);
    }
  }

  /** Stops publishing and waits (up to waitMs) for the last acknowledgements. */
  async stop(waitMs = 15_000): Promise<void> {
    if (this.tick) clearInterval(this.tick);
    this.tick = null;
    const deadline = Date.now() + waitMs;
    while (this.outstanding.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    this.checkLate();
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.outstanding.size > 0) {
      this.note('good_device', `${this.outstanding.size} of ${this.sent} readings of the good device never acknowledged (waited ${waitMs} ms after the last)`);
    }
    this.stopping = true;
    await new Promise<void>((resolve) => (this.client ? this.client.end(false, {}, () => resolve()) : resolve()));
  }

  private note(check: string, message: string): void {
    if (this.findings.filter((f) => f.message === message).length > 0) return;
    if (this.findings.length < 10) this.findings.push({ check, phase: this.opts.phase, message });
  }
}

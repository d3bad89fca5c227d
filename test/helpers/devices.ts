// Simulated devices for the tests of several instances: one MQTT.js client per bin, each knowing every instance's
// broker (MQTT.js `servers`: a reconnect goes to the next one), publishing QoS 1 readings at a steady pace through
// kills and outages, and keeping count of what was acknowledged.
import type { Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';

export interface DeviceFleet {
  readonly clients: readonly MqttClient[];
  /** readings published so far (first sends), over all devices */
  readonly sent: number;
  /** readings acknowledged (PUBACK), each counted once */
  readonly acked: number;
  /** "bin ts" of every acknowledged reading */
  readonly ackedKeys: ReadonlySet<string>;
  /** the broker port each device is connected to now (null while it is not) */
  ports(): (number | null)[];
  /** resolves when every device has had all its readings acknowledged */
  done: Promise<void>;
  end(): void;
}

export interface FleetOptions {
  /** one device per bin, each publishing to bins/{bin}/telemetry */
  bins: readonly string[];
  /** broker ports, all on 127.0.0.1; device i tries them starting at i mod n */
  ports: readonly number[];
  /** readings per device */
  perDevice: number;
  /** readings per second per device */
  ratePerS: number;
  /** reading k of a device has ts = base + k s and fill_pct = k mod 100 */
  base: number;
  /** bin → MQTT password (mqtt.auth: devices); none: no login (mqtt.auth: none) */
  secrets?: Record<string, string>;
}

/** The reading each device sends last: what bin state must hold at the end. */
export function lastReading(opts: Pick<FleetOptions, 'perDevice' | 'base'>): { ts: number; fill_pct: number } {
  const k = opts.perDevice - 1;
  return { ts: opts.base + k * 1000, fill_pct: k % 100 };
}

/**
 * One device's MQTT.js client for bin `bin`, knowing every broker on `ports` (127.0.0.1), trying them from index
 * `first` on: a reconnect goes to the next one, and what was not acknowledged is sent again there.
 */
export function connectDevice(bin: string, ports: readonly number[], first: number, password?: string): MqttClient {
  const order = [...ports.slice(first % ports.length), ...ports.slice(0, first % ports.length)];
  const client = mqtt.connect({
    servers: order.map((port) => ({ host: '127.0.0.1', port, protocol: 'mqtt' as const })),
    protocolVersion: 4,
    clientId: bin,
    // MQTT.js keeps what was not acknowledged and sends it again after a reconnect, to whichever broker
    clean: false,
    reconnectPeriod: 200,
    connectTimeout: 3000,
    ...(password === undefined ? {} : { username: bin, password }),
  });
  client.setMaxListeners(0);
  client.on('error', () => undefined);
  return client;
}

export function startFleet(opts: FleetOptions): DeviceFleet {
  let sent = 0;
  const ackedKeys = new Set<string>();
  const finished: Promise<void>[] = [];
  const timers: NodeJS.Timeout[] = [];
  const clients = opts.bins.map((bin, i) => {
    const client = connectDevice(bin, opts.ports, i, opts.secrets?.[bin]);
    let next = 0;
    let acked = 0;
    let resolveDone!: () => void;
    finished.push(new Promise<void>((r) => (resolveDone = r)));
    // a publish MQTT.js failed without storing it (the connection closed while it replayed its session): sent again
    // after the next 'connect', as streamReadings does (test/helpers/bridge.ts)
    const failed: number[] = [];
    const publish = (k: number): void => {
      client.publish(`bins/${bin}/telemetry`, JSON.stringify({ fill_pct: k % 100, ts: opts.base + k * 1000 }), { qos: 1 }, (err) => {
        if (err) {
          failed.push(k);
          return;
        }
        const key = `${bin} ${opts.base + k * 1000}`;
        if (ackedKeys.has(key)) return;
        ackedKeys.add(key);
        if (++acked === opts.perDevice) resolveDone();
      });
    };
    client.on('connect', () => {
      for (const k of failed.splice(0).sort((a, b) => a - b)) publish(k);
    });
    const timer = setInterval(() => {
      if (next >= opts.perDevice) return clearInterval(timer);
      publish(next++);
      sent++;
    }, 1000 / opts.ratePerS);
    timers.push(timer);
    return client;
  });
  return {
    clients,
    get sent() {
      return sent;
    },
    get acked() {
      return ackedKeys.size;
    },
    ackedKeys,
    ports: () => clients.map((c) => (c.connected ? ((c.stream as Partial<Socket> | undefined)?.remotePort ?? null) : null)),
    done: Promise.all(finished).then(() => undefined),
    end() {
      for (const t of timers) clearInterval(t);
      for (const c of clients) c.end(true);
    },
  };
}

import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { Aedes, type AuthenticateError } from 'aedes';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FaultKind, TelemetryPayload, StepResult } from '../../../firmware-sim/bin-model.js';
import { reconnectDelayMs, SimDevice, type SimDeviceOptions } from '../../../firmware-sim/device.js';

interface Seen {
  topic: string;
  payload: string;
  retain: boolean;
}

const SECRET = 's3cret';

async function startBroker(port = 0, opts: { holdPubacks?: boolean } = {}) {
  const seen: Seen[] = [];
  const sockets = new Set<net.Socket>();
  const authAttempts: string[] = [];
  const broker = await Aedes.createBroker({
    authenticate: (_client, username, password, done) => {
      authAttempts.push(username ?? '');
      if (password?.toString() === SECRET) return done(null, true);
      const err = new Error('bad credentials') as AuthenticateError;
      err.returnCode = 4;
      done(err, null);
    },
    // never calling back holds the PUBACK, as a bridge that has not recorded the reading yet
    ...(opts.holdPubacks ? { authorizePublish: (_client, packet, callback) => packet.topic.endsWith('/telemetry') || callback(null) } : {}),
  });
  broker.on('publish', (packet) => {
    if (packet.topic.startsWith('bins/')) seen.push({ topic: packet.topic, payload: packet.payload.toString(), retain: packet.retain });
  });
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    seen,
    authAttempts,
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Readings numbered 0, 1, 2... in distance_mm, so order and loss are visible. */
function scriptedSource() {
  let n = 0;
  let steps = 0;
  let faults: FaultKind[] = [];
  return {
    setFaults(next: FaultKind[]) {
      faults = next;
    },
    /** how often the device has asked for a reading */
    get steps() {
      return steps;
    },
    source: {
      step(simTimeMs: number): StepResult {
        steps++;
        const silent = faults.includes('silent');
        const reading: TelemetryPayload | null = silent
          ? null
          : { distance_mm: n++, battery_pct: 90, temperature_c: 20, tilt: false, ts: new Date(simTimeMs).toISOString() };
        return { reading, fillPct: 0, faults, collected: false, spuriousEcho: false };
      },
    },
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function device(url: string | string[], overrides: Partial<SimDeviceOptions> & Pick<SimDeviceOptions, 'source'>) {
  const d = new SimDevice({
    binId: 'RTM-001',
    urls: [url].flat(),
    secret: SECRET,
    qos: 1,
    simNow: Date.now,
    publishEveryMs: 20,
    log: () => {},
    backoffInitialMs: 20,
    backoffMaxMs: 80,
    ...overrides,
  });
  cleanups.push(() => d.stop());
  return d;
}

const telemetry = (seen: Seen[]) =>
  seen.filter((s) => s.topic === 'bins/RTM-001/telemetry').map((s) => JSON.parse(s.payload) as TelemetryPayload);
const statuses = (seen: Seen[]) => seen.filter((s) => s.topic === 'bins/RTM-001/status').map((s) => `${s.payload}${s.retain ? '' : '(not retained)'}`);

describe('reconnectDelayMs', () => {
  it('doubles from about 1 s up to 60 s, with jitter', () => {
    expect(reconnectDelayMs(0, () => 0)).toBe(500);
    expect(reconnectDelayMs(0, () => 1)).toBe(1000);
    expect(reconnectDelayMs(3, () => 1)).toBe(8000);
    expect(reconnectDelayMs(20, () => 1)).toBe(60_000);
    expect(reconnectDelayMs(20, () => 0)).toBe(30_000);
  });
});

describe('SimDevice against an aedes broker', () => {
  it('connects with its credentials, says online, publishes readings in order and counts PUBACKs', async () => {
    const broker = await startBroker();
    cleanups.push(() => broker.close());
    const { source } = scriptedSource();
    const d = device(broker.url, { source });
    d.start();
    await vi.waitFor(() => expect(d.snapshot().acked).toBeGreaterThanOrEqual(10), { timeout: 5000 });
    expect(broker.authAttempts[0]).toBe('RTM-001');
    expect(statuses(broker.seen)[0]).toBe('online');
    const readings = telemetry(broker.seen);
    expect(readings.map((r) => r.distance_mm)).toEqual(readings.map((_, i) => i));
    expect(readings[0]).toMatchObject({ battery_pct: 90, temperature_c: 20, tilt: false });
    expect(d.snapshot()).toMatchObject({ connected: true, refused: false, dropped: 0 });

    await d.stop();
    expect(statuses(broker.seen).at(-1)).toBe('offline');
    expect(d.snapshot().connected).toBe(false);
  });

  it('stamps readings with stampNow instead of the simulated time when given (--stamps real)', async () => {
    const broker = await startBroker();
    cleanups.push(() => broker.close());
    const { source } = scriptedSource();
    const realNow = Date.parse('2026-11-25T12:00:00Z');
    const d = device(broker.url, { source, simNow: () => realNow - 30 * 86_400_000, stampNow: () => realNow });
    d.start();
    await vi.waitFor(() => expect(telemetry(broker.seen).length).toBeGreaterThanOrEqual(2), { timeout: 5000 });
    expect(new Set(telemetry(broker.seen).map((r) => r.ts))).toEqual(new Set(['2026-11-25T12:00:00.000Z']));
  });

  it('logs a refusal once and keeps retrying with backoff', async () => {
    const broker = await startBroker();
    cleanups.push(() => broker.close());
    const log = vi.fn();
    const d = device(broker.url, { source: scriptedSource().source, secret: 'wrong', log });
    d.start();
    await vi.waitFor(() => expect(broker.authAttempts.length).toBeGreaterThanOrEqual(4), { timeout: 5000 });
    const refusals = log.mock.calls.filter(([event]) => event === 'device_refused');
    expect(refusals).toHaveLength(1);
    expect(refusals[0]?.[1]).toMatchObject({ bin_id: 'RTM-001', code: 4 });
    expect(d.snapshot()).toMatchObject({ connected: false, refused: true, sent: 0 });
    expect(d.snapshot().buffered).toBeGreaterThan(0);
  });

  it('goes silent without DISCONNECT, so the broker publishes its will, and comes back', async () => {
    const broker = await startBroker();
    cleanups.push(() => broker.close());
    const script = scriptedSource();
    const d = device(broker.url, { source: script.source });
    d.start();
    await vi.waitFor(() => expect(d.snapshot().acked).toBeGreaterThanOrEqual(3), { timeout: 5000 });
    script.setFaults(['silent']);
    await vi.waitFor(() => expect(statuses(broker.seen)).toEqual(['online', 'offline']), { timeout: 5000 });
    expect(d.snapshot()).toMatchObject({ silent: true, connected: false });
    const before = telemetry(broker.seen).length;
    // three more ticks of the device, silent ones: nothing reaches the broker
    const steps = script.steps;
    await vi.waitFor(() => expect(script.steps).toBeGreaterThanOrEqual(steps + 3), { timeout: 5000 });
    expect(telemetry(broker.seen).length).toBe(before);

    script.setFaults([]);
    await vi.waitFor(() => expect(statuses(broker.seen)).toEqual(['online', 'offline', 'online']), { timeout: 5000 });
    await vi.waitFor(() => expect(telemetry(broker.seen).length).toBeGreaterThan(before + 2), { timeout: 5000 });
  });

  it('buffers readings while the broker is away, drops the oldest past the limit, and flushes in order', async () => {
    // reserve a port, then leave it closed until the device has buffered a while
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const log = vi.fn();
    const d = device(`mqtt://127.0.0.1:${port}`, { source: scriptedSource().source, bufferLimit: 5, log });
    d.start();
    await vi.waitFor(() => expect(d.snapshot().dropped).toBeGreaterThanOrEqual(5), { timeout: 5000 });
    expect(d.snapshot().buffered).toBe(5);
    expect(log.mock.calls.filter(([event]) => event === 'device_connection_error')).toHaveLength(1);

    const broker = await startBroker(port);
    cleanups.push(() => broker.close());
    await vi.waitFor(() => expect(telemetry(broker.seen).length).toBeGreaterThanOrEqual(10), { timeout: 5000 });
    const numbers = telemetry(broker.seen).map((r) => r.distance_mm);
    const dropped = d.snapshot().dropped;
    // the first reading that arrives is the oldest one kept; then every later reading, in order
    expect(numbers[0]).toBeGreaterThanOrEqual(5);
    expect(numbers).toEqual(numbers.map((_, i) => (numbers[0] ?? 0) + i));
    expect(numbers[0]).toBe(dropped);
    const ts = telemetry(broker.seen).map((r) => Date.parse(r.ts));
    expect([...ts].sort((a, b) => a - b)).toEqual(ts);
    await d.stop();
  });

  it('resends unacknowledged QoS 1 readings after the connection is lost', async () => {
    const holding = await startBroker(0, { holdPubacks: true });
    const port = Number(new URL(holding.url).port);
    const d = device(holding.url, { source: scriptedSource().source, maxInflight: 8 });
    d.start();
    await vi.waitFor(() => expect(d.snapshot().inflight).toBe(8), { timeout: 5000 });
    expect(d.snapshot().acked).toBe(0);
    await holding.close();

    const broker = await startBroker(port);
    cleanups.push(() => broker.close());
    await vi.waitFor(() => expect(d.snapshot().acked).toBeGreaterThanOrEqual(20), { timeout: 5000 });
    const numbers = telemetry(broker.seen).map((r) => r.distance_mm);
    expect(numbers.slice(0, 20)).toEqual([...Array(20).keys()]);
    expect(d.snapshot().dropped).toBe(0);
    await d.stop();
  });

  it('given several brokers, carries on through the next when its broker dies: what the dead one never acknowledged is resent there', async () => {
    const first = await startBroker(0, { holdPubacks: true });
    const second = await startBroker();
    cleanups.push(() => second.close());
    const d = device([first.url, second.url], { source: scriptedSource().source, maxInflight: 8 });
    d.start();
    await vi.waitFor(() => expect(d.snapshot().inflight).toBe(8), { timeout: 5000 });
    expect(telemetry(first.seen).length).toBe(0);
    expect(second.authAttempts).toEqual([]);
    await first.close();

    await vi.waitFor(() => expect(d.snapshot().acked).toBeGreaterThanOrEqual(20), { timeout: 5000 });
    expect(second.authAttempts[0]).toBe('RTM-001');
    const numbers = telemetry(second.seen).map((r) => r.distance_mm);
    expect(numbers.slice(0, 20)).toEqual([...Array(20).keys()]);
    expect(d.snapshot()).toMatchObject({ connected: true, dropped: 0 });
    await d.stop();
  });

  it('goes back to the first broker when the second dies too', async () => {
    const first = await startBroker();
    const firstPort = Number(new URL(first.url).port);
    const second = await startBroker();
    const d = device([first.url, second.url], { source: scriptedSource().source });
    d.start();
    await vi.waitFor(() => expect(telemetry(first.seen).length).toBeGreaterThanOrEqual(3), { timeout: 5000 });
    await first.close();
    await vi.waitFor(() => expect(telemetry(second.seen).length).toBeGreaterThanOrEqual(3), { timeout: 5000 });
    const again = await startBroker(firstPort);
    cleanups.push(() => again.close());
    await second.close();
    await vi.waitFor(() => expect(telemetry(again.seen).length).toBeGreaterThanOrEqual(3), { timeout: 5000 });
    // every reading reached one of the three, none lost on the way
    const all = new Set([first, second, again].flatMap((b) => telemetry(b.seen).map((r) => r.distance_mm)));
    const top = Math.max(...all);
    expect([...Array(top + 1).keys()].filter((n) => !all.has(n))).toEqual([]);
    expect(d.snapshot().dropped).toBe(0);
    await d.stop();
  });
});

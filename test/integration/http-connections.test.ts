// HTTP connections time out and are capped (issue 15, defect 1): an idle socket, a trickled header and a trickled
// body are closed within the configured times; one address gets at most http.max_connections_per_ip connections
// and the listener at most http.max_connections; MQTT over WebSocket and the live page's event stream, both
// long-lived, are neither cut by those timeouts nor held against the per-address cap.
import http from 'node:http';
import net from 'node:net';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cityBins, connectClient, publishAcked, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { waitFor } from '../helpers/wait.js';

const open = new Set<net.Socket>();
const clients = new Set<MqttClient>();

/** A raw TCP connection to the bridge's HTTP port, optionally from another loopback address. */
function connect(port: number, localAddress?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
    open.add(s);
    s.on('close', () => open.delete(s));
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      s.on('error', () => undefined); // a reset by the server is what some tests wait for
      s.resume(); // read what the server sends (a 408), or its close would wait for the reader
      resolve(s);
    });
  });
}

/** Resolves with the milliseconds until the server closed the socket, or null when it was still open after `boundMs`. */
function closedWithin(s: net.Socket, boundMs: number): Promise<number | null> {
  const started = Date.now();
  if (s.destroyed) return Promise.resolve(0);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), boundMs);
    s.once('close', () => {
      clearTimeout(t);
      resolve(Date.now() - started);
    });
  });
}

/** Writes one byte every `ms` until the socket closes: a client that is slow, not idle. */
function trickle(s: net.Socket, ms: number): void {
  const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write('x')), ms);
  s.once('close', () => clearInterval(t));
}

/** Sends a keep-alive GET on a raw socket; resolves with the status line, or null when the socket closed instead. */
function roundTrip(s: net.Socket, path = '/healthz'): Promise<string | null> {
  return new Promise((resolve) => {
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) done(got.split('\r\n')[0]!);
    };
    const done = (v: string | null): void => {
      s.off('data', onData);
      s.off('close', onClose);
      resolve(v);
    };
    const onClose = (): void => done(null);
    s.on('data', onData);
    s.once('close', onClose);
    if (s.destroyed) return done(null);
    s.write(`GET ${path} HTTP/1.1\r\nHost: bins\r\nConnection: keep-alive\r\n\r\n`);
  });
}

afterEach(() => {
  for (const s of open) s.destroy();
  for (const c of clients) c.end(true);
  clients.clear();
});

describe('HTTP connection timeouts', () => {
  let bridge: InProcessBridge;
  beforeAll(async () => {
    bridge = await startBridge({
      BINBRIDGE_MQTT_AUTH: 'none',
      BINBRIDGE_HTTP_CONNECTION_TIMEOUT_MS: '1000',
      BINBRIDGE_HTTP_KEEP_ALIVE_TIMEOUT_MS: '1000',
      BINBRIDGE_HTTP_HEADERS_TIMEOUT_MS: '1000',
      BINBRIDGE_HTTP_REQUEST_TIMEOUT_MS: '1500',
      BINBRIDGE_HTTP_CONNECTIONS_CHECK_INTERVAL_MS: '200',
    });
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it('closes a socket that sends nothing', async () => {
    const s = await connect(bridge.ports.http);
    const ms = await closedWithin(s, 5000);
    expect(ms, 'idle socket still open after 5 s').not.toBeNull();
    expect(ms!).toBeGreaterThanOrEqual(800);
  });

  it('closes a keep-alive socket that goes idle after a response', async () => {
    const s = await connect(bridge.ports.http);
    expect(await roundTrip(s)).toBe('HTTP/1.1 200 OK');
    expect(await closedWithin(s, 5000), 'keep-alive socket still open after 5 s').not.toBeNull();
  });

  it('closes a socket whose header never ends, though it keeps sending', async () => {
    const s = await connect(bridge.ports.http);
    s.write('GET /healthz HTTP/1.1\r\nHost: bins\r\nX-Slow: ');
    trickle(s, 250); // faster than the idle timeout: only the header timeout can end it
    const ms = await closedWithin(s, 5000);
    expect(ms, 'partial header still open after 5 s').not.toBeNull();
  });

  it('closes a socket whose body never ends, though it keeps sending', async () => {
    const s = await connect(bridge.ports.http);
    s.write('POST /open311/v2/requests.json HTTP/1.1\r\nHost: bins\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"service_code":"');
    trickle(s, 250);
    const ms = await closedWithin(s, 6000);
    expect(ms, 'partial body still open after 6 s').not.toBeNull();
  });

  it('keeps MQTT over WebSocket and the live event stream open past the timeouts', async () => {
    const [bin] = cityBins(1) as [string];
    const ws = await connectClient(`ws://127.0.0.1:${bridge.ports.http}/mqtt`, { clientId: 'ws-long-lived' });
    clients.add(ws);
    let wsClosed = false;
    ws.on('close', () => (wsClosed = true));

    let events = '';
    let sseClosed = false;
    const sse = http.get(`${bridge.httpUrl}/api/events`, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d: string) => (events += d));
      res.on('close', () => (sseClosed = true));
    });
    await waitFor(() => events.includes('binbridge live events'), { message: 'the event stream opened' });

    // a slow body opened now is cut by the request timeout: once it is, every timeout has had its chance
    const slow = await connect(bridge.ports.http);
    slow.write('POST /open311/v2/requests.json HTTP/1.1\r\nHost: bins\r\nContent-Length: 1000\r\n\r\n{');
    trickle(slow, 250);
    expect(await closedWithin(slow, 6000), 'slow body still open').not.toBeNull();
    const idle = await connect(bridge.ports.http);
    expect(await closedWithin(idle, 5000), 'idle socket still open').not.toBeNull();

    expect(wsClosed, 'the WebSocket MQTT connection was closed').toBe(false);
    expect(sseClosed, 'the event stream was closed').toBe(false);
    await publishAcked(ws, `bins/${bin}/telemetry`, { fill_pct: 42, ts: Date.now() - 1000 });
    await waitFor(() => events.includes('event: reading') && events.includes(bin), { message: 'the reading on the event stream' });
    sse.destroy();
  });
});

describe('HTTP connection caps', () => {
  let bridge: InProcessBridge;
  beforeAll(async () => {
    bridge = await startBridge({ BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_HTTP_MAX_CONNECTIONS_PER_IP: '5', BINBRIDGE_HTTP_MAX_CONNECTIONS: '8' });
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it('closes the connection beyond max_connections_per_ip from one address, and takes a new one when a slot frees', async () => {
    const five = [];
    for (let i = 0; i < 5; i++) {
      const s = await connect(bridge.ports.http);
      expect(await roundTrip(s), `connection ${i + 1}`).toBe('HTTP/1.1 200 OK');
      five.push(s);
    }
    const sixth = await connect(bridge.ports.http);
    expect(await roundTrip(sixth), 'the sixth connection from one address was served').toBeNull();
    // another address is not held to the first one's count
    const other = await connect(bridge.ports.http, '127.0.0.2');
    expect(await roundTrip(other)).toBe('HTTP/1.1 200 OK');

    five[0]!.destroy();
    await waitFor(async () => (await roundTrip(await connect(bridge.ports.http))) === 'HTTP/1.1 200 OK', { message: 'a freed slot is taken again' });
  });

  it('closes the connection beyond max_connections, whatever the address', async () => {
    const held = [];
    for (let i = 0; i < 8; i++) {
      // the previous test's sockets may still be closing on the server's side: retry until served
      const s = await waitFor(async () => {
        const c = await connect(bridge.ports.http, `127.0.0.${10 + i}`);
        return (await roundTrip(c)) === 'HTTP/1.1 200 OK' ? c : undefined;
      }, { message: `connection ${i + 1}` });
      held.push(s);
    }
    const ninth = await connect(bridge.ports.http, '127.0.0.30');
    expect(await roundTrip(ninth), 'the ninth connection was served').toBeNull();
  });

  it('does not hold MQTT over WebSocket connections against the per-address cap', async () => {
    for (let i = 0; i < 6; i++) {
      // retried: the previous test's sockets may still be closing on the server's side
      const c = await waitFor(() => connectClient(`ws://127.0.0.1:${bridge.ports.http}/mqtt`, { clientId: `ws-${i}` }), { message: `WebSocket device ${i + 1}` });
      clients.add(c);
    }
    const s = await connect(bridge.ports.http);
    expect(await roundTrip(s), 'HTTP after six WebSocket devices from the same address').toBe('HTTP/1.1 200 OK');
  });
});

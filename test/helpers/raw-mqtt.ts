// An MQTT 3.1.1 client made of a TCP socket and mqtt-packet, for what a real client library will not send:
// a packet id of 0, a QoS 2 PUBLISH repeated with DUP, a chosen source address.
import net from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

export interface RawClient {
  socket: net.Socket;
  /** every packet received so far, in order */
  received: Packet[];
  send: (packet: Record<string, unknown>) => void;
  /** resolves with the first received packet (from now or already received) that matches */
  next: (match: (p: Packet) => boolean, timeoutMs?: number) => Promise<Packet>;
  /** resolves when the server has closed the connection */
  closed: Promise<void>;
  isClosed: () => boolean;
  end: () => void;
}

export async function rawConnect(
  port: number,
  connect: { clientId: string; username?: string; password?: string; clean?: boolean; will?: Record<string, unknown> },
  opts: { localAddress?: string } = {},
): Promise<RawClient & { connack: Packet & { returnCode?: number } }> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: opts.localAddress });
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const received: Packet[] = [];
  const waiters: { match: (p: Packet) => boolean; resolve: (p: Packet) => void }[] = [];
  let isClosed = false;
  parser.on('packet', (p: Packet) => {
    received.push(p);
    for (const w of [...waiters]) {
      if (w.match(p)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(p);
      }
    }
  });
  socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  const next = (match: (p: Packet) => boolean, timeoutMs = 5000): Promise<Packet> => {
    const seen = received.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no matching packet within ${timeoutMs} ms (got ${received.map((p) => p.cmd).join(',')})`)), timeoutMs);
      waiters.push({
        match,
        resolve: (p) => {
          clearTimeout(t);
          resolve(p);
        },
      });
      void closed.then(() => {
        clearTimeout(t);
        reject(new Error(`connection closed before a matching packet (got ${received.map((p) => p.cmd).join(',')})`));
      });
    });
  };
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  const send = (packet: Record<string, unknown>): void => void socket.write(mqttPacket.generate(packet as unknown as Packet));
  send({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: connect.clean ?? true,
    clientId: connect.clientId,
    keepalive: 60,
    username: connect.username,
    password: connect.password === undefined ? undefined : Buffer.from(connect.password),
    will: connect.will,
  });
  const connack = (await next((p) => p.cmd === 'connack')) as Packet & { returnCode?: number };
  return { socket, received, send, next, closed, isClosed: () => isClosed, end: () => socket.destroy(), connack };
}

/** A PUBLISH packet for mqtt-packet's generate(). */
export function publishPacket(topic: string, payload: string | Buffer, opts: { qos?: 0 | 1 | 2; messageId?: number; dup?: boolean; retain?: boolean } = {}): Record<string, unknown> {
  return { cmd: 'publish', topic, payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload), qos: opts.qos ?? 0, messageId: opts.messageId, dup: opts.dup ?? false, retain: opts.retain ?? false };
}

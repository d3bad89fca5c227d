import fs from 'node:fs';
import type { Server } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';

export interface ConnectionCaps {
  /** connections the listener holds at most, whatever their address (Node's `server.maxConnections`) */
  maxConnections: number;
  /** connections one address holds at most; 0: no cap */
  maxPerAddress: number;
}

export type RefusedReason = 'per_ip' | 'total';

/**
 * What connections are counted by: an IPv4 address as it is, an IPv6 address by its /64 network (what one
 * subscriber is given, so a host cannot dodge the cap by hopping addresses within it).
 */
export function addressKey(remote: string | undefined): string {
  if (!remote) return '?';
  if (remote.startsWith('::ffff:') && net.isIPv4(remote.slice(7))) return remote.slice(7);
  if (!net.isIPv6(remote)) return remote;
  const [head = '', tail = ''] = remote.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = remote.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** The soft limit on open files of this process (Linux), or null where it cannot be read. */
export function openFilesLimit(read: () => string = () => fs.readFileSync('/proc/self/limits', 'utf8')): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(read());
    return m && m[1] !== 'unlimited' ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Caps the connections of an HTTP listener: at most `maxConnections` in all (Node closes the ones beyond at once,
 * before any byte is read) and at most `maxPerAddress` per address (closed here on arrival). A connection upgraded
 * to MQTT over WebSocket leaves its address's count: it is a device now, under the broker's own limits (connect
 * rate per address, authentication, keepalive), and a site of devices behind one NAT must not be refused. It still
 * counts toward `maxConnections`, which keeps HTTP and WebSocket together well below the process's open-files
 * limit so the MQTT listeners always have descriptors left.
 */
export function guardConnections(server: Server, caps: ConnectionCaps, refused: (reason: RefusedReason) => void): { perAddress: ReadonlyMap<string, number> } {
  const counts = new Map<string, number>();
  const counted = new WeakMap<Duplex, string>();
  const release = (socket: Duplex): void => {
    const key = counted.get(socket);
    if (key === undefined) return;
    counted.delete(socket);
    const n = (counts.get(key) ?? 1) - 1;
    if (n > 0) counts.set(key, n);
    else counts.delete(key);
  };

  server.maxConnections = caps.maxConnections;
  server.on('drop', () => refused('total'));
  if (caps.maxPerAddress > 0) {
    server.on('connection', (socket: net.Socket) => {
      const key = addressKey(socket.remoteAddress);
      const n = counts.get(key) ?? 0;
      if (n >= caps.maxPerAddress) {
        socket.destroy();
        refused('per_ip');
        return;
      }
      counts.set(key, n + 1);
      counted.set(socket, key);
      socket.once('close', () => release(socket));
    });
    // first in line, so the count is right before the broker's listener takes the socket
    server.prependListener('upgrade', (_req, socket: Duplex) => {
      release(socket);
      // with a listener here Node hands every upgrade to listeners; when none other takes it, it is refused
      if (server.listenerCount('upgrade') === 1) socket.destroy();
    });
  }
  return { perAddress: counts };
}

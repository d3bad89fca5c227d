// Deliveries to the WhatsApp webhook as Meta makes them: POST /webhooks/whatsapp, the raw body signed with the
// app secret in X-Hub-Signature-256.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { HOST } from '../bridge.js';

export const sign = (raw: Buffer, secret: string): string => 'sha256=' + createHmac('sha256', secret).update(raw).digest('hex');

const guarded = new WeakSet<object>();

/**
 * Node's client leaves a socket without an 'error' listener once the answer is in; when the server answered
 * early (413) and closes while the body is still being written, the late ECONNRESET would end this process.
 * The request has its answer (or its own error) already: the late one is dropped.
 */
export function guardSocket(req: http.ClientRequest): void {
  req.on('socket', (socket) => {
    if (guarded.has(socket)) return;
    guarded.add(socket);
    socket.on('error', () => undefined);
  });
}

export interface Delivery {
  status: number | null;
  error: string | null;
  body: string;
}

export function postWebhook(agent: http.Agent, port: number, raw: Buffer, headers: Record<string, string>): Promise<Delivery> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (d: Delivery): void => {
      if (!done) {
        done = true;
        resolve(d);
      }
    };
    const req = http.request({ host: HOST, port, method: 'POST', path: '/webhooks/whatsapp', headers: { ...headers, 'content-length': String(raw.length) }, agent, timeout: 30_000 });
    guardSocket(req);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => finish({ status: res.statusCode ?? 0, error: null, body: Buffer.concat(chunks).toString('utf8').slice(0, 2000) }));
      res.on('error', () => finish({ status: res.statusCode ?? 0, error: null, body: '' }));
    });
    req.on('timeout', () => {
      req.destroy();
      finish({ status: null, error: 'timeout', body: '' });
    });
    req.on('error', (err: NodeJS.ErrnoException) => finish({ status: null, error: err.code ?? err.message.slice(0, 40), body: '' }));
    req.end(raw);
  });
}

/** Meta's envelope around messages of one sender (as the sandbox's own envelope builds it). */
export function envelope(from: string, name: string, messages: object[]): object {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'fuzz',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550000000', phone_number_id: 'fuzz' },
              contacts: [{ profile: { name }, wa_id: from }],
              messages,
            },
          },
        ],
      },
    ],
  };
}

/** Waits while the inbox has more than `max` messages waiting; false when it did not move for stallMs. */
export async function paceInbox(pending: () => number, max: number, stallMs: number, alive: () => boolean): Promise<boolean> {
  let last = pending();
  let since = Date.now();
  while (last > max && alive()) {
    await new Promise((r) => setTimeout(r, 100));
    const now = pending();
    if (now < last) since = Date.now();
    else if (Date.now() - since > stallMs) return false;
    last = now;
  }
  return true;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buttonReply, image, listReply, location, startGraphEmulator, templateButton, text, type GraphEmulator, type GraphEmulatorOptions } from '../../emulator/index.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SECRET = 'integration-app-secret';
const TOKEN = 'integration-token';
const CREW = '31612345678';

interface InboundJson {
  from?: string;
  from_user_id?: string;
  id: string;
  type: string;
  context?: { from: string; id: string };
  image?: { id: string };
  text?: { body: string };
}
interface StatusJson {
  id: string;
  status: string;
  recipient_id: string;
  errors?: { code: number }[];
  conversation?: unknown;
  pricing?: unknown;
}
interface Envelope {
  object: string;
  entry: { id: string; changes: { field: string; value: { contacts?: unknown[]; messages?: InboundJson[]; statuses?: StatusJson[] } }[] }[];
}
/** A Graph API answer as these tests read it: either the success fields or `error` are there. */
interface GraphAnswer {
  messages: { id: string }[];
  error: { code: number };
}

interface Received {
  raw: string;
  signatureOk: boolean;
  sha1Ok: boolean;
  body: Envelope;
}

/** binbridge's side of the webhook, reduced to what matters here: check the signature over the raw bytes. */
class WebhookReceiver {
  readonly received: Received[] = [];
  /** statuses to answer the next requests with; 200 when empty */
  readonly answers: number[] = [];
  /** Each test posts to its own `?run=`; a late request of an earlier test's emulator is not counted. */
  run = 0;
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (new URL(req.url ?? '/', 'http://x').searchParams.get('run') !== String(this.run)) {
        res.end();
        return;
      }
      const raw = Buffer.concat(chunks);
      const check = (header: string | string[] | undefined, algorithm: string): boolean => {
        const expected = Buffer.from(`${algorithm}=${createHmac(algorithm, SECRET).update(raw).digest('hex')}`);
        const got = Buffer.from(String(header ?? ''));
        return got.length === expected.length && timingSafeEqual(got, expected);
      };
      const text = raw.toString('utf8');
      this.received.push({ raw: text, signatureOk: check(req.headers['x-hub-signature-256'], 'sha256'), sha1Ok: check(req.headers['x-hub-signature'], 'sha1'), body: JSON.parse(text) });
      res.statusCode = this.answers.shift() ?? 200;
      res.end();
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks/whatsapp`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  statuses(): StatusJson[] {
    return this.received.flatMap((r) => r.body.entry[0]!.changes[0]!.value.statuses ?? []);
  }

  messages(): InboundJson[] {
    return this.received.flatMap((r) => r.body.entry[0]!.changes[0]!.value.messages ?? []);
  }
}

const receiver = new WebhookReceiver();
let webhookUrl: string;
let em: GraphEmulator | undefined;

beforeAll(async () => {
  webhookUrl = await receiver.start();
});
afterAll(() => receiver.close());
afterEach(async () => {
  await em?.close();
  em = undefined;
  receiver.received.length = 0;
  receiver.answers.length = 0;
  receiver.run++;
});

async function start(opts: GraphEmulatorOptions = {}): Promise<GraphEmulator> {
  em = await startGraphEmulator({
    webhookUrl: `${webhookUrl}?run=${receiver.run}`,
    appSecret: SECRET,
    accessToken: TOKEN,
    pairIntervalMs: 0,
    statusDelaysMs: { sent: 10, delivered: 20, read: 30 },
    webhookRetryBaseMs: 20,
    ...opts,
  });
  return em;
}

async function send(body: unknown, token = TOKEN): Promise<{ status: number; body: GraphAnswer; headers: Headers }> {
  const res = await fetch(`${em!.url}/v23.0/${em!.phoneNumberId}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as GraphAnswer, headers: res.headers };
}

const template = (to: string) => ({
  messaging_product: 'whatsapp',
  to,
  type: 'template',
  template: { name: 'bin_dispatch', language: { code: 'en' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'J-1' }] }, { type: 'button', sub_type: 'quick_reply', index: '0', parameters: [{ type: 'payload', payload: 'accept:J-1' }] }] },
});
const buttons = (to: string) => ({
  messaging_product: 'whatsapp',
  to,
  type: 'interactive',
  interactive: { type: 'button', body: { text: 'Job J-1: 2 bins in Centrum' }, action: { buttons: [{ type: 'reply', reply: { id: 'accept:J-1', title: 'Accept' } }, { type: 'reply', reply: { id: 'done:J-1', title: 'Done' } }] } },
});

describe('status webhooks', () => {
  it('sent, delivered, read arrive signed, in order, in full Meta envelopes', async () => {
    await start();
    const r = await send(template(CREW));
    expect(r.status).toBe(200);
    const wamid = r.body.messages[0]!.id;
    await waitFor(() => em!.statusesDelivered.length === 3, { timeoutMs: 5000, message: 'three statuses' });
    expect(receiver.received.every((x) => x.signatureOk && x.sha1Ok)).toBe(true);
    expect(receiver.statuses().map((s) => [s.id, s.status, s.recipient_id])).toEqual([
      [wamid, 'sent', CREW],
      [wamid, 'delivered', CREW],
      [wamid, 'read', CREW],
    ]);
    const first = receiver.received[0]!.body;
    expect(first).toMatchObject({
      object: 'whatsapp_business_account',
      entry: [{ id: '102290129340398', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: em!.phoneNumberId } } }] }],
    });
    const sent = receiver.statuses()[0]!;
    expect(sent).toMatchObject({ conversation: { origin: { type: 'utility' } }, pricing: { billable: true, pricing_model: 'PMP', category: 'utility' } });
    expect(em!.statusesDelivered.map((s) => s.status)).toEqual(['sent', 'delivered', 'read']);
  });

  it('without read receipts there is no read status', async () => {
    await start({ statusDelaysMs: { sent: 5, delivered: 10, read: null } });
    await send(template(CREW));
    await em!.settled();
    expect(receiver.statuses().map((s) => s.status)).toEqual(['sent', 'delivered']);
  });

  it('a delivery not answered 200 is retried with backoff and counted once', async () => {
    await start({ statusDelaysMs: { sent: 5, delivered: 10, read: null } });
    receiver.answers.push(500, 503);
    await send(template(CREW));
    await em!.settled();
    expect(receiver.statuses().map((s) => s.status)).toEqual(['sent', 'sent', 'sent', 'delivered']);
    expect(new Set(receiver.received.slice(0, 3).map((r) => r.raw)).size).toBe(1); // the same bytes each time
    expect(em!.webhookAttempts.map((a) => [a.attempt, a.httpStatus])).toEqual([
      [1, 500],
      [2, 503],
      [3, 200],
      [1, 200],
    ]);
    expect(em!.statusesDelivered.map((s) => s.status)).toEqual(['sent', 'delivered']);
  });

  it('gives up after the configured retries', async () => {
    await start({ statusDelaysMs: { sent: 5, delivered: 10, read: null }, webhookRetries: 2, webhookRetryBaseMs: 5 });
    receiver.answers.push(500, 500, 500);
    await send(template(CREW));
    await em!.settled();
    expect(em!.webhookAttempts.filter((a) => a.httpStatus === 500)).toHaveLength(3);
    expect(em!.statusesDelivered.map((s) => s.status)).toEqual(['delivered']);
  });

  it('a message refused by a fault gets no status', async () => {
    await start();
    em!.injectFaults([{ status: 503, retryAfterS: 1 }]);
    const refused = await send(template(CREW));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    const ok = await send(template('31600000001'));
    await em!.settled();
    expect(new Set(receiver.statuses().map((s) => s.id))).toEqual(new Set([ok.body.messages[0]!.id]));
  });

  it('an unreachable number: accepted, then a failed status with 131026', async () => {
    await start({ unreachable: ['31699999999'] });
    const r = await send(template('31699999999'));
    expect(r.status).toBe(200);
    await em!.settled();
    const statuses = receiver.statuses();
    expect(statuses).toHaveLength(1);
    expect(statuses[0]).toMatchObject({ id: r.body.messages[0]!.id, status: 'failed', errors: [{ code: 131026 }] });
    expect(em!.statusesDelivered[0]).toMatchObject({ status: 'failed', errors: [{ code: 131026 }] });
  });

  it('redeliver posts the last status of a message again, byte for byte', async () => {
    await start({ statusDelaysMs: { sent: 5, delivered: 10, read: null } });
    const wamid = (await send(template(CREW))).body.messages[0]!.id;
    await em!.settled();
    expect(await em!.redeliver(wamid)).toEqual({ status: 200 });
    expect(receiver.statuses().map((s) => s.status)).toEqual(['sent', 'delivered', 'delivered']);
    expect(receiver.received[2]!.raw).toBe(receiver.received[1]!.raw);
  });

  it('a reset fault drops the connection without an answer', async () => {
    await start();
    em!.injectFaults({ reset: true });
    await expect(send(template(CREW))).rejects.toThrow();
    expect(em!.refused[0]).toMatchObject({ httpStatus: 0, error: null, fault: true });
    expect((await send(template(CREW))).status).toBe(200);
  });

  it('reset stops pending deliveries', async () => {
    await start({ statusDelaysMs: { sent: 200, delivered: 300, read: 400 } });
    await send(template(CREW));
    em!.reset();
    await em!.settled();
    expect(receiver.received).toHaveLength(0);
  });
});

describe('users writing to the business', () => {
  it.each([
    ['text', text('B-17 is overflowing'), { type: 'text', text: { body: 'B-17 is overflowing' } }],
    ['button reply', buttonReply('done:J-1', 'Done'), { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'done:J-1', title: 'Done' } } }],
    ['list reply', listReply('B-17', 'B-17 Main St'), { type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'B-17', title: 'B-17 Main St' } } }],
    ['template quick reply', templateButton('accept:J-1', 'Accept'), { type: 'button', button: { payload: 'accept:J-1', text: 'Accept' } }],
    ['location', location(52.0907, 5.1214), { type: 'location', location: { latitude: 52.0907, longitude: 5.1214 } }],
    ['image', image('full again'), { type: 'image', image: { caption: 'full again', mime_type: 'image/jpeg' } }],
  ])('%s arrives signed in Meta shape', async (_name, content, expected) => {
    await start();
    const { status, messageId } = await em!.userSends(CREW, content, 'Jan');
    expect(status).toBe(200);
    const got = receiver.received[0]!;
    expect(got.signatureOk).toBe(true);
    const value = got.body.entry[0]!.changes[0]!.value;
    expect(value.contacts).toEqual([{ profile: { name: 'Jan' }, wa_id: CREW }]);
    expect(value.messages![0]).toMatchObject({ from: CREW, id: messageId, timestamp: expect.stringMatching(/^\d{10}$/), ...expected });
  });

  it('opens the 24-hour window; a button reply carries the context of the message it answers', async () => {
    await start();
    expect((await send(buttons(CREW))).body.error.code).toBe(131047);
    const t = await send(template(CREW));
    await em!.userSends(CREW, templateButton('accept:J-1', 'Accept'));
    expect(receiver.messages()[0]!.context).toEqual({ from: '15550783881', id: t.body.messages[0]!.id });
    expect((await send(buttons(CREW))).status).toBe(200);
  });

  it('non-ASCII and slashes are escaped as Meta does: only the raw bytes verify', async () => {
    await start();
    await em!.userSends(CREW, text('Straße 5/7 — vol 🚮'), 'Zoë');
    const got = receiver.received[0]!;
    expect(got.signatureOk).toBe(true);
    expect(got.raw).toContain('Stra\\u00dfe 5\\/7');
    const reserialised = JSON.stringify(got.body);
    expect(createHmac('sha256', SECRET).update(reserialised).digest('hex')).not.toBe(createHmac('sha256', SECRET).update(got.raw).digest('hex'));
  });

  it('redeliver posts the same message again, byte for byte', async () => {
    await start();
    const { messageId } = await em!.userSends(CREW, text('done'));
    expect(await em!.redeliver(messageId)).toEqual({ status: 200 });
    const res = await fetch(`${em!.url}/__emulator/redeliver`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messageId }) });
    expect(await res.json()).toEqual({ status: 200 });
    expect(receiver.received).toHaveLength(3);
    expect(new Set(receiver.received.map((r) => r.raw)).size).toBe(1);
    expect(receiver.received.every((r) => r.signatureOk)).toBe(true);
  });

  it('an inbound message not answered 200 is retried in the background', async () => {
    await start();
    receiver.answers.push(503);
    const r = await em!.userSends(CREW, text('hello'));
    expect(r.status).toBe(503);
    await em!.settled();
    expect(receiver.received).toHaveLength(2);
    expect(em!.webhookAttempts.map((a) => [a.kind, a.attempt, a.httpStatus])).toEqual([
      ['inbound', 1, 503],
      ['inbound', 2, 200],
    ]);
  });

  it('over HTTP: POST /__emulator/inbound', async () => {
    await start();
    const res = await fetch(`${em!.url}/__emulator/inbound`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: CREW, message: { type: 'text', text: { body: 'klaar' } }, name: 'Piet' }),
    });
    const j = (await res.json()) as { messageId: string };
    expect(j).toEqual({ status: 200, messageId: expect.stringMatching(/^wamid\./) });
    expect(receiver.messages()[0]).toMatchObject({ id: j.messageId, text: { body: 'klaar' } });
    expect(em!.isWindowOpen(CREW)).toBe(true);
  });

  it('a user with a username and hidden number arrives with user_id only', async () => {
    await start();
    await em!.userSends(CREW, text('hi'), 'Anon', { userId: 'NL.1234567890', username: '@anon', hidePhone: true });
    const value = receiver.received[0]!.body.entry[0]!.changes[0]!.value;
    expect(value.contacts).toEqual([{ profile: { name: 'Anon', username: '@anon' }, user_id: 'NL.1234567890' }]);
    expect(value.messages![0]!.from).toBeUndefined();
    expect(value.messages![0]!.from_user_id).toBe('NL.1234567890');
  });
});

describe('media over HTTP', () => {
  it("a resident's photo can be downloaded with the bearer token", async () => {
    await start();
    await em!.userSends(CREW, image('look'));
    const mediaId = receiver.messages()[0]!.image!.id;
    const info = (await (await fetch(`${em!.url}/v23.0/${mediaId}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { url: string; file_size: number };
    expect(info.url.startsWith(em!.url)).toBe(true);
    const bytes = Buffer.from(await (await fetch(info.url, { headers: { authorization: `Bearer ${TOKEN}` } })).arrayBuffer());
    expect(bytes.length).toBe(info.file_size);
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  });
});

describe('npm run emulator (the CLI)', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGTERM');
    child = undefined;
  });

  it('starts with the options of docs/whatsapp.md and serves the Graph API', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'emulator/main.ts', '--port', '0', '--webhook', `${webhookUrl}?run=${receiver.run}`, '--app-secret', SECRET, '--phone-number-id', '106540352242922', '--access-token', 'cli-token', '--quiet'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const url = await waitFor(() => /url=(http:\/\/\S+)/.exec(out)?.[1], { timeoutMs: 20_000, message: `emulator start line; output so far: ${out}` });
    const res = await fetch(`${url}/v23.0/106540352242922/messages`, { method: 'POST', headers: { authorization: 'Bearer cli-token', 'content-type': 'application/json' }, body: JSON.stringify(template(CREW)) });
    expect(res.status).toBe(200);
    await waitFor(() => receiver.statuses().length === 3, { timeoutMs: 5000, message: 'statuses from the CLI emulator' });
    expect(receiver.received.every((r) => r.signatureOk)).toBe(true);
    const list = (await (await fetch(`${url}/__emulator/messages`)).json()) as { sent: unknown[] };
    expect(list.sent).toHaveLength(1);
  });
});

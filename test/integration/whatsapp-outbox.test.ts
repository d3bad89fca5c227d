import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { SqliteUnitOfWork, openDatabase, type Db } from '../../src/storage/index.js';
import {
  GraphClient,
  sqliteOutbox,
  SandboxTransport,
  buttonsMessage,
  templateMessage,
  textMessage,
  type MessageTransport,
  type OutboxOptions,
  type SendResult,
  type StatusEvent,
} from '../../src/whatsapp/index.js';
import { turnCounter } from '../helpers/event-loop.js';
import { waitFor } from '../helpers/wait.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';
import { telemetryBus } from '../helpers/telemetry.js';

const silent = pino({ level: 'silent' });
const PHONE_ID = '106540352242922';
const TOKEN = 'test-token';
const A = '31611111111';
const B = '31622222222';
const C = '31633333333';

interface Received {
  body: { to?: string; type: string; text?: { body: string }; template?: { name: string } };
  at: number;
  auth: string | undefined;
  path: string;
  answered: number;
}
interface Fault {
  status: number;
  code?: number;
  headers?: Record<string, string>;
  /** never answer */
  hang?: boolean;
}

/** A stand-in for Meta's Graph API: 200 with a wamid, or the queued faults in Meta's error shape. */
async function fakeGraph() {
  const received: Received[] = [];
  const faults: Fault[] = [];
  let n = 0;
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(data) as Received['body'];
      const fault = faults.shift();
      const r: Received = { body, at: Date.now(), auth: req.headers.authorization, path: req.url ?? '', answered: fault?.status ?? 200 };
      received.push(r);
      if (fault?.hang) return;
      if (fault) {
        res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
        res.end(
          JSON.stringify({
            error: { message: `fault ${fault.code ?? fault.status}`, type: 'OAuthException', code: fault.code ?? 0, error_data: { details: 'injected' }, fbtrace_id: 'AbC' },
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ messaging_product: 'whatsapp', contacts: [{ input: body.to, wa_id: body.to }], messages: [{ id: `wamid.T${++n}` }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    faults,
    ok: () => received.filter((r) => r.answered === 200),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  vi.restoreAllMocks();
});

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'bb-wa-outbox-'));

async function setup(opts: Partial<OutboxOptions> = {}, dir = tmpDir()) {
  const graph = await fakeGraph();
  cleanups.push(graph.close);
  const db = openDatabase(dir, { sync: 'normal' });
  const transport = new GraphClient({ graphUrl: graph.url, apiVersion: 'v23.0', phoneNumberId: PHONE_ID, accessToken: TOKEN, timeoutMs: 2000 });
  const { outbox, results, points, metrics } = build(db, { transport, ...opts });
  return { graph, db, dir, transport, outbox, results, points, metrics };
}

function build(db: Db, opts: Partial<OutboxOptions> & { transport: MessageTransport }) {
  const metrics = createMetrics();
  const { bus, points } = telemetryBus();
  const outbox = sqliteOutbox({
    db,
    log: silent,
    sealer,
    metrics,
    events: bus,
    pairIntervalMs: 200,
    retryBaseMs: 20,
    retryMaxMs: 200,
    ...opts,
  });
  const results: SendResult[] = [];
  outbox.onResult((r) => results.push(r));
  cleanups.push(() => outbox.stop());
  return { outbox, results, points, metrics };
}

describe('Outbox against a Graph API', () => {
  it('sends in order, with the bearer token, to /{version}/{phone_number_id}/messages', async () => {
    const { graph, outbox, results, points, metrics } = await setup();
    outbox.start();
    for (const [i, to] of [A, B, C].entries()) await outbox.add({ to, message: textMessage(to, `m${i}`), key: `k${i}`, ref: `job-${i}` });
    await waitFor(() => results.length === 3);
    expect(graph.received.map((r) => r.body.text?.body)).toEqual(['m0', 'm1', 'm2']);
    expect(graph.received.every((r) => r.auth === `Bearer ${TOKEN}` && r.path === `/v23.0/${PHONE_ID}/messages`)).toBe(true);
    expect(results.map((r) => [r.status, r.ref, r.wamid])).toEqual([
      ['sent', 'job-0', 'wamid.T1'],
      ['sent', 'job-1', 'wamid.T2'],
      ['sent', 'job-2', 'wamid.T3'],
    ]);
    expect((await outbox.list({ limit: 10 })).map((i) => i.status)).toEqual(['sent', 'sent', 'sent']);
    expect(points).toHaveLength(3);
    expect(points[0]).toMatch(/^whatsapp_message,direction=out,kind=text,status=accepted count=1 \d+$/);
    expect(new Set(points.map((p) => p.split(' ')[2])).size).toBe(3); // distinct timestamps: no overwrite in InfluxDB
    expect(await metrics.registry.getSingleMetricAsString('binbridge_whatsapp_sends_total')).toContain('result="sent",code=""} 3');
  });

  it('lets replies to one recipient go at once up to the pair burst, then one per interval', async () => {
    const { graph, outbox, results } = await setup({ pairIntervalMs: 400, pairBurst: 2 });
    outbox.start();
    for (const k of ['a1', 'a2', 'a3']) await outbox.add({ to: A, message: textMessage(A, k), key: k });
    await waitFor(() => results.length === 3, { timeoutMs: 5000 });
    const at = (text: string) => graph.received.find((r) => r.body.text?.body === text)!.at;
    expect(at('a2') - at('a1')).toBeLessThan(200);
    expect(at('a3') - at('a1')).toBeGreaterThanOrEqual(390);
  });

  it('with a burst of 1, keeps one message per pair interval per recipient without holding back the others', async () => {
    const { graph, outbox, results } = await setup({ pairIntervalMs: 400, pairBurst: 1 });
    outbox.start();
    await outbox.add({ to: A, message: textMessage(A, 'a1'), key: 'a1' });
    await outbox.add({ to: A, message: textMessage(A, 'a2'), key: 'a2' });
    await outbox.add({ to: A, message: textMessage(A, 'a3'), key: 'a3' });
    await outbox.add({ to: B, message: textMessage(B, 'b1'), key: 'b1' });
    await outbox.add({ to: C, message: textMessage(C, 'c1'), key: 'c1' });
    await waitFor(() => results.length === 5, { timeoutMs: 5000 });
    const at = (text: string) => graph.received.find((r) => r.body.text?.body === text)!.at;
    expect(graph.received.map((r) => r.body.text?.body)).toEqual(['a1', 'b1', 'c1', 'a2', 'a3']);
    expect(at('b1') - at('a1')).toBeLessThan(200);
    expect(at('c1') - at('a1')).toBeLessThan(200);
    expect(at('a2') - at('a1')).toBeGreaterThanOrEqual(390);
    expect(at('a3') - at('a2')).toBeGreaterThanOrEqual(390);
  });

  it("keeps to the number's mps in any second, counted from each answer (Graph answers 130429 past it)", async () => {
    const { graph, outbox, results } = await setup({ mps: 5 });
    outbox.start();
    for (let i = 0; i < 12; i++) {
      const to = `3164000${String(i).padStart(4, '0')}`;
      await outbox.add({ to, message: textMessage(to, `n${i}`), key: `n${i}` });
    }
    await waitFor(() => results.length === 12, { timeoutMs: 10_000 });
    const at = graph.received.map((r) => r.at);
    expect(at).toHaveLength(12);
    for (let i = 5; i < at.length; i++) expect(at[i]! - at[i - 5]!, `request ${i + 1}`).toBeGreaterThanOrEqual(1000);
  });

  it('retries 500, 130429 and 131056 and sends once', async () => {
    const { graph, outbox, results, metrics } = await setup();
    graph.faults.push({ status: 500 }, { status: 400, code: 130429 }, { status: 400, code: 131056 });
    outbox.start();
    await outbox.add({ to: A, message: textMessage(A, 'hello'), key: 'k' });
    await waitFor(() => results.length === 1, { timeoutMs: 5000 });
    expect(graph.received.map((r) => r.answered)).toEqual([500, 400, 400, 200]);
    expect(graph.ok()).toHaveLength(1);
    expect(results[0]).toMatchObject({ status: 'sent', wamid: 'wamid.T1', usedFallback: false });
    expect(await outbox.get(results[0]!.id)).toMatchObject({ status: 'sent', attempts: 4, error: null });
    // 131056 waits at least the pair interval
    expect(graph.received[3]!.at - graph.received[2]!.at).toBeGreaterThanOrEqual(190);
    const sends = await metrics.registry.getSingleMetricAsString('binbridge_whatsapp_sends_total');
    expect(sends).toContain('result="retry",code="http_500"} 1');
    expect(sends).toContain('result="retry",code="130429"} 1');
    expect(sends).toContain('result="retry",code="131056"} 1');
    // nothing left to send: no fifth request can follow
    expect(await outbox.backlog()).toBe(0);
    expect(graph.received).toHaveLength(4);
  });

  it('honours Retry-After', async () => {
    const { graph, outbox, results } = await setup();
    graph.faults.push({ status: 429, headers: { 'retry-after': '1' } });
    outbox.start();
    await outbox.add({ to: A, message: textMessage(A, 'x'), key: 'k' });
    await waitFor(() => results.length === 1, { timeoutMs: 5000 });
    expect(graph.received[1]!.at - graph.received[0]!.at).toBeGreaterThanOrEqual(990);
  });

  it('retries a request that timed out', async () => {
    const { graph, db } = await setup();
    const transport = new GraphClient({ graphUrl: graph.url, apiVersion: 'v23.0', phoneNumberId: PHONE_ID, accessToken: TOKEN, timeoutMs: 200 });
    const { outbox, results } = build(db, { transport });
    graph.faults.push({ status: 0, hang: true });
    outbox.start();
    await outbox.add({ to: A, message: textMessage(A, 'x'), key: 'k' });
    await waitFor(() => results.length === 1, { timeoutMs: 5000 });
    expect(results[0]!.status).toBe('sent');
    expect(graph.received).toHaveLength(2);
  });

  it('falls back to the template once on 131047', async () => {
    const { graph, outbox, results } = await setup();
    graph.faults.push({ status: 400, code: 131047 });
    outbox.start();
    const message = buttonsMessage(A, 'Bin UT-1 is full', [{ id: 'accept:1', title: 'Accept' }]);
    const fallback = templateMessage(A, 'bin_dispatch', 'en', ['UT-1'], ['accept:1']);
    await outbox.add({ to: A, message, fallback, key: 'job-1', ref: '1' });
    await waitFor(() => results.length === 1, { timeoutMs: 5000 });
    expect(graph.received.map((r) => [r.body.type, r.answered])).toEqual([
      ['interactive', 400],
      ['template', 200],
    ]);
    expect(results[0]).toMatchObject({ status: 'sent', ref: '1', usedFallback: true });
    expect(await outbox.get(results[0]!.id)).toMatchObject({ usedFallback: true, message: { type: 'template' } });
  });

  it('fails 131047 without a fallback, and 190, at once and for good', async () => {
    const { graph, outbox, results, points } = await setup();
    graph.faults.push({ status: 400, code: 131047 }, { status: 401, code: 190 });
    outbox.start();
    await outbox.add({ to: A, message: textMessage(A, 'x'), key: 'a' });
    await outbox.add({ to: B, message: textMessage(B, 'y'), key: 'b' });
    await waitFor(() => results.length === 2);
    expect(await outbox.backlog()).toBe(0);
    expect(graph.received).toHaveLength(2);
    expect(results.map((r) => [r.status, r.error?.code])).toEqual([
      ['failed', 131047],
      ['failed', 190],
    ]);
    expect(await outbox.get(results[1]!.id)).toMatchObject({ status: 'failed', error: { code: 190, message: 'fault 190' } });
    expect(points.filter((p) => p.includes('status=rejected'))).toHaveLength(2);
  });

  it('gives up after maxAttempts retryable failures', async () => {
    const { graph, outbox, results } = await setup({ maxAttempts: 3 });
    for (let i = 0; i < 5; i++) graph.faults.push({ status: 503 });
    outbox.start();
    await outbox.add({ to: A, message: textMessage(A, 'x'), key: 'a' });
    await waitFor(() => results.length === 1, { timeoutMs: 5000 });
    expect(graph.received).toHaveLength(3);
    expect(results[0]).toMatchObject({ status: 'failed', error: { code: 0 } });
  });

  it('treats a repeated key as a no-op, and adds in a caller’s transaction or not at all', async () => {
    const { graph, db, outbox, results } = await setup();
    const uow = new SqliteUnitOfWork(db, () => null);
    const inTx = outbox.within({ client: null, afterCommit: (fn) => fn() });
    const first = await uow.tx(() => inTx.add({ to: A, message: textMessage(A, 'x'), key: 'decision-1' }));
    const again = await outbox.add({ to: A, message: textMessage(A, 'x'), key: 'decision-1' });
    expect(first.created).toBe(true);
    expect(again).toEqual({ id: first.id, created: false });
    await expect(
      uow.tx(async () => {
        await inTx.add({ to: B, message: textMessage(B, 'rolled back'), key: 'decision-2' });
        throw new Error('the decision failed');
      }),
    ).rejects.toThrow('the decision failed');
    outbox.start();
    await waitFor(() => results.length === 1);
    expect(await outbox.backlog()).toBe(0);
    expect(graph.received.map((r) => r.body.text?.body)).toEqual(['x']);
  });

  it('sends what was pending before a restart exactly once', async () => {
    const dir = tmpDir();
    const { graph, db } = await setup({}, dir);
    const transport = new GraphClient({ graphUrl: graph.url, apiVersion: 'v23.0', phoneNumberId: PHONE_ID, accessToken: TOKEN });
    const first = sqliteOutbox({ db, log: silent, sealer, transport, pairIntervalMs: 50 });
    for (const to of [A, B, C]) await first.add({ to, message: textMessage(to, `to ${to}`), key: `k-${to}` });
    db.close(); // the process ends before the sender ran

    const db2 = openDatabase(dir, { sync: 'normal' });
    cleanups.push(() => db2.close());
    const second = build(db2, { transport, pairIntervalMs: 50 });
    second.outbox.start();
    await waitFor(() => second.results.length === 3);
    await second.outbox.stop();

    const third = build(db2, { transport, pairIntervalMs: 50 });
    third.outbox.start();
    expect(await third.outbox.backlog()).toBe(0);
    expect(graph.received).toHaveLength(3);
    expect(third.results).toHaveLength(0);
  });

  it('resends an item whose request was cut off by a crash, once', async () => {
    const dir = tmpDir();
    const { graph, db } = await setup({}, dir);
    const hanging: MessageTransport = { send: () => new Promise(() => {}) };
    const crashed = sqliteOutbox({ db, log: silent, sealer, transport: hanging });
    crashed.start();
    await crashed.add({ to: A, message: textMessage(A, 'x'), key: 'k' });
    await waitFor(async () => (await crashed.list())[0]!.status === 'sending');

    const db2 = openDatabase(dir, { sync: 'normal' });
    cleanups.push(() => db2.close());
    const transport = new GraphClient({ graphUrl: graph.url, apiVersion: 'v23.0', phoneNumberId: PHONE_ID, accessToken: TOKEN });
    const after = build(db2, { transport });
    after.outbox.start();
    await waitFor(() => after.results.length === 1);
    expect(await after.outbox.backlog()).toBe(0);
    expect(graph.received).toHaveLength(1);
    expect((await after.outbox.list())[0]).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('tracks delivery statuses per message and tells listeners with the ref', async () => {
    const { outbox, results, points, metrics } = await setup();
    const statuses: StatusEvent[] = [];
    outbox.onStatus((s) => statuses.push(s));
    outbox.start();
    await outbox.add({ to: A, message: textMessage(A, 'x'), key: 'k', ref: 'job-9' });
    await waitFor(() => results.length === 1);
    const wamid = results[0]!.wamid!;
    outbox.applyStatus({ wamid, status: 'delivered', timestamp: 2000 });
    outbox.applyStatus({ wamid, status: 'read', timestamp: 3000 });
    outbox.applyStatus({ wamid, status: 'sent', timestamp: 1000 }); // late, out of order
    outbox.applyStatus({ wamid: 'wamid.unknown', status: 'read', timestamp: 3000 });
    expect(statuses.map((s) => [s.status, s.ref])).toEqual([
      ['delivered', 'job-9'],
      ['read', 'job-9'],
      ['sent', 'job-9'],
    ]);
    expect((await outbox.get(results[0]!.id))!.delivery).toBe('read');
    expect(points.filter((p) => p.includes('kind=text,status=read'))).toHaveLength(1);
    expect(await metrics.registry.getSingleMetricAsString('binbridge_whatsapp_statuses_total')).toContain('status="read"} 2');
  });

  it('sends the fallback when 131047 arrives later in a failed status', async () => {
    const { graph, outbox, results } = await setup({ pairIntervalMs: 50 });
    const statuses: StatusEvent[] = [];
    outbox.onStatus((s) => statuses.push(s));
    outbox.start();
    const message = buttonsMessage(A, 'Bin UT-1 is full', [{ id: 'accept:1', title: 'Accept' }]);
    const fallback = templateMessage(A, 'bin_dispatch', 'en', ['UT-1'], ['accept:1']);
    await outbox.add({ to: A, message, fallback, key: 'job-1', ref: '1' });
    await waitFor(() => results.length === 1);
    outbox.applyStatus({ wamid: results[0]!.wamid!, status: 'failed', timestamp: 1, errors: [{ code: 131047, title: 'Re-engagement message' }] });
    await waitFor(() => results.length === 2);
    expect(statuses[0]).toMatchObject({ status: 'failed', fallbackQueued: true });
    expect(graph.received.map((r) => r.body.type)).toEqual(['interactive', 'template']);
    expect(results[1]).toMatchObject({ status: 'sent', usedFallback: true });
  });
});

describe('Outbox in sandbox mode', () => {
  it('records messages in SQLite and never touches the network', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch').mockRejectedValue(new Error('no network in sandbox mode'));
    const db = openDatabase(tmpDir(), { sync: 'normal' });
    cleanups.push(() => db.close());
    const sandbox = new SandboxTransport(db, { sealer });
    const { outbox, results } = build(db, { transport: sandbox });
    outbox.start();
    await outbox.add({ to: A, message: textMessage(A, 'one'), key: '1' });
    await outbox.add({ to: B, message: buttonsMessage(B, 'two', [{ id: 'x', title: 'X' }]), key: '2' });
    await waitFor(() => results.length === 2);
    expect(fetchSpy).not.toHaveBeenCalled();
    const listed = sandbox.list();
    expect(listed.map((m) => [m.to, m.kind])).toEqual([
      [B, 'interactive'],
      [A, 'text'],
    ]);
    expect(listed.map((m) => m.wamid).sort()).toEqual(results.map((r) => r.wamid).sort());
    expect(sandbox.list({ to: A })).toHaveLength(1);
    expect((await outbox.list()).map((i) => i.status)).toEqual(['sent', 'sent']);
  });

  it('answers each send on a turn of the event loop of its own, as a network would', async () => {
    const db = openDatabase(tmpDir(), { sync: 'normal' });
    cleanups.push(() => db.close());
    const sandbox = new SandboxTransport(db, { sealer });
    const loop = turnCounter();
    // sixteen sends started together, as one pass of the outbox starts them
    const answeredAt = await Promise.all(Array.from({ length: 16 }, (_, i) => sandbox.send(textMessage(A, `m${i}`)).then(() => loop.turns)));
    loop.stop();
    expect(new Set(answeredAt).size).toBe(16);
    expect(sandbox.list({ limit: 100 })).toHaveLength(16);
  });
});

import { whatsappWebhookRoutes } from '../../src/http/routes/whatsapp-webhook.js';
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/storage/index.js';
import {
  GraphError,
  sqliteInbox,
  sqliteOutbox,
  SandboxTransport,
  templateMessage,
  textMessage,
  type InboundMessage,
  type MessageTransport,
  type OutboundMessage,
  type SendResult,
} from '../../src/whatsapp/index.js';
import { waitFor } from '../helpers/wait.js';
import { FIXTURES, TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';
import { telemetryBus } from '../helpers/telemetry.js';

const NUMBER = '16505551234';
const APP_SECRET = 'privacy-test-app-secret';
const sign = (raw: string) => 'sha256=' + createHmac('sha256', APP_SECRET).update(raw).digest('hex');
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name), 'utf8');

/** A wamid the way Meta makes them: base64 of a record that holds the contact's number. */
const metaWamid = (num: string) =>
  'wamid.' + Buffer.concat([Buffer.from([0x1c, 0x18, num.length]), Buffer.from(num), Buffer.from([0x15, 2, 0, 0x11, 0x18, 0x12]), Buffer.from(randomBytes(9).toString('hex').toUpperCase())]).toString('base64');

function statusEnvelope(wamid: string, status: string, ts: number) {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', statuses: [{ id: wamid, status, timestamp: String(ts), recipient_id: NUMBER }] } }] }],
  });
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('WhatsApp privacy', () => {
  it('keeps a resident’s number out of the SQLite file, the logs and the points through a full round', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-wa-privacy-'));
    const dbFile = path.join(dir, 'binbridge.db');
    const db = openDatabase(dir, { sync: 'normal' });
    cleanups.push(() => db.open && db.close());
    const logLines: string[] = [];
    const log = pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          logLines.push(chunk.toString());
          done();
        },
      }),
    );
    const { bus: events, points } = telemetryBus();

    // Graph stand-in: the first free-form message is refused as outside the window, in words that quote the number
    const graphSent: OutboundMessage[] = [];
    const wamids: string[] = [];
    let refuseFirst = true;
    const graph: MessageTransport = {
      send: async (msg) => {
        if (refuseFirst) {
          refuseFirst = false;
          throw new GraphError(400, 131047, `Re-engagement message: more than 24 hours since ${NUMBER} wrote`, undefined, `recipient +${NUMBER}`);
        }
        graphSent.push(msg);
        const wamid = metaWamid(NUMBER);
        wamids.push(wamid);
        return { wamid };
      },
    };
    const outbox = sqliteOutbox({ db, log, sealer, transport: graph, events, pairIntervalMs: 10 });
    const results: SendResult[] = [];
    outbox.onResult((r) => results.push(r));
    cleanups.push(() => outbox.stop());

    const inbox = sqliteInbox({ db, log, sealer, statuses: outbox, events, retryDelayMs: 10 });
    cleanups.push(() => inbox.stop());
    const handled: InboundMessage[] = [];
    let failOnce = true;
    inbox.onMessage((m) => {
      if (failOnce) {
        failOnce = false;
        throw new Error(`no crew with phone ${m.from}`); // logged and stored masked
      }
      handled.push(m);
    });

    const app = Fastify();
    await whatsappWebhookRoutes(app, { inbox, appSecret: APP_SECRET, verifyToken: 'v', log });
    await app.ready();
    cleanups.push(() => app.close());
    const post = async (raw: string) => {
      const r = await app.inject({ method: 'POST', url: '/webhooks/whatsapp', headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw) }, payload: raw });
      expect(r.statusCode).toBe(200);
    };

    // inbound: Meta's payloads from wa_id 16505551234
    inbox.start();
    for (const f of ['text.json', 'location.json', 'interactive_button_reply.json']) await post(fixture(f));
    await waitFor(() => handled.length === 3);
    expect(handled.map((m) => [m.from, m.type])).toEqual([
      [NUMBER, 'text'],
      [NUMBER, 'location'],
      [NUMBER, 'interactive'],
    ]);
    expect(handled[0]).toMatchObject({ name: 'Sheena Nelson', text: 'Does it come in another color?' });
    expect(await outbox.inWindow(NUMBER, handled[0]!.timestamp + 1000)).toBe(true);

    // outbound through Graph: refused with 131047, sent again as the template, then delivered and read
    outbox.start();
    await outbox.add({
      to: NUMBER,
      message: textMessage(NUMBER, 'Thanks, bin UT-0042 is reported'),
      fallback: templateMessage(NUMBER, 'report_received', 'en', ['UT-0042'], []),
      key: `reply:${handled[0]!.id}`,
      ref: handled[0]!.id,
    });
    await waitFor(() => results.length === 1);
    expect(results[0]).toMatchObject({ status: 'sent', to: NUMBER, usedFallback: true, ref: handled[0]!.id });
    expect(graphSent.map((m) => m.type)).toEqual(['template']);
    await post(statusEnvelope(wamids[0]!, 'delivered', 1_750_000_001));
    await post(statusEnvelope(wamids[0]!, 'read', 1_750_000_002));
    await waitFor(async () => (await outbox.get(results[0]!.id))?.delivery === 'read');
    const item = (await outbox.list({ to: `+${NUMBER}` }))[0]!;
    expect(item).toMatchObject({ to: NUMBER, key: `reply:${handled[0]!.id}`, wamid: wamids[0], usedFallback: true, message: { type: 'template', to: NUMBER } });
    await outbox.stop();

    // outbound in sandbox mode, on the same database
    const sandbox = new SandboxTransport(db, { sealer });
    const sandboxOutbox = sqliteOutbox({ db, log, sealer, transport: sandbox, events, pairIntervalMs: 10 });
    const sandboxResults: SendResult[] = [];
    sandboxOutbox.onResult((r) => sandboxResults.push(r));
    cleanups.push(() => sandboxOutbox.stop());
    sandboxOutbox.start();
    await sandboxOutbox.add({ to: NUMBER, message: textMessage(NUMBER, 'Collected, thank you!'), key: 'thanks-1' });
    await waitFor(() => sandboxResults.length === 1);
    expect(sandbox.list({ to: NUMBER })).toMatchObject([{ to: NUMBER, kind: 'text', message: { text: { body: 'Collected, thank you!' } } }]);
    await post(statusEnvelope(sandboxResults[0]!.wamid!, 'delivered', 1_750_000_003));
    await waitFor(async () => (await sandboxOutbox.get(sandboxResults[0]!.id))?.delivery === 'delivered');

    await sandboxOutbox.stop();
    await inbox.stop();
    await app.close();
    db.close();

    // what must not be anywhere in clear: the number, the wamids that carry it, the name and the words
    const secrets = [NUMBER, ...wamids, 'MTY1MDU1NTEyMzQ', 'Sheena Nelson', 'another color', 'Philz Coffee', 'UT-0042', 'Collected, thank you', 'HBgL'];
    const files = [dbFile, `${dbFile}-wal`, `${dbFile}-shm`].filter((f) => fs.existsSync(f));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const bytes = fs.readFileSync(f);
      for (const s of secrets) expect(bytes.includes(Buffer.from(s)), `${s} in ${path.basename(f)}`).toBe(false);
    }
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.some((l) => l.includes(sealer.pseudonym(NUMBER)))).toBe(true); // logged, by pseudonym
    for (const s of secrets) expect(logLines.filter((l) => l.includes(s)), s).toEqual([]);
    expect(points.length).toBeGreaterThan(0);
    for (const s of secrets) expect(points.filter((p) => p.includes(s)), s).toEqual([]);
  });
});

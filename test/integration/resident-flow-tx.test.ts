// The residents' flow in the decisions' transactions, on both stores: a message's conversation, report, rules'
// reaction, dispatch request and answer commit together, so a message whose handling fails leaves nothing behind
// and is handled whole when the inbox tries it again; a bin emptied thanks its reporters in one transaction.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { readBinsFile, type BinRegistry } from '../../src/registry/index.js';
import { BinMatcher, DiskPhotoStore, ResidentFlow } from '../../src/reports/index.js';
import type { BinStateStore } from '../../src/storage/index.js';
import { textMessage, type InboundMessage, type MessageTransport } from '../../src/whatsapp/index.js';
import { CITY } from '../helpers/bridge.js';
import { decisionWorks } from '../helpers/decision-works.js';
import { postgresCluster } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';

const silent = pino({ level: 'silent' });
const RESIDENT = '31620000055';
const bins = readBinsFile(CITY);
const BIN = bins[12]!;
const registry = { get: (id: string) => bins.find((b) => b.id === id), all: () => bins, version: 1 } as unknown as BinRegistry;
const matcher = new BinMatcher(bins);

describe('the resident flow in one transaction of the decisions', () => {
  const cluster = postgresCluster();

  const decisionsOn = decisionWorks(cluster);

  for (const kind of ['sqlite', 'postgres'] as const) {
    describe(`on ${kind}`, () => {
      async function setup() {
        const sent: string[] = [];
        const transport: MessageTransport = { send: async (m) => (sent.push(JSON.stringify(m)), { wamid: `wamid.F${sent.length}` }) };
        const { work, outbox } = await decisionsOn(kind, transport);
        const reacted: string[] = [];
        let failRules = true;
        const flow = new ResidentFlow({
          decisions: work,
          sealer,
          matcher: () => matcher,
          registry,
          binState: { get: () => undefined } as unknown as BinStateStore,
          inWindow: () => true,
          media: null,
          photos: new DiskPhotoStore(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-flow-'))),
          onReport: async (t, binId) => {
            // the rules' side writes in the same transaction: here, a row of the outbox it would add
            await t.outbox.add({ to: '31611111111', message: textMessage('31611111111', `rules saw ${binId}`), key: `rules:${binId}` });
            if (failRules) throw new Error('the rules could not store their state');
            reacted.push(binId);
          },
          requestDispatch: async (_t, binId) => void reacted.push(`dispatch ${binId}`),
          config: { template: { name: 'resident_update', lang: 'en' }, maxPhotoBytes: 1_000_000 },
          log: silent,
          clock: new ManualClock(1_780_000_000_000),
        });
        return { work, outbox, flow, sent, reacted, heal: () => (failRules = false) };
      }

      it('leaves no report, conversation or answer when the rules fail, and files and answers once when tried again', async () => {
        const { work, outbox, flow, sent, reacted, heal } = await setup();
        try {
          const m: InboundMessage = { id: 'wamid.IN1', from: RESIDENT, timestamp: 0, type: 'text', text: `${BIN.id} is vol` };
          await expect(flow.handle(m)).rejects.toThrow('the rules could not store their state');
          expect(await work.read.reports.list()).toEqual([]);
          expect(await work.read.conversations.get(sealer.pseudonym(RESIDENT))).toBeUndefined();
          expect(await outbox.backlog()).toBe(0);
          heal();
          await flow.handle(m);
          const [report] = await work.read.reports.list();
          expect(report).toMatchObject({ bin_id: BIN.id, reporters: 1, status: 'open' });
          expect(reacted).toEqual([BIN.id, `dispatch ${BIN.id}`]);
          await waitFor(() => sent.length === 2, { message: 'the confirmation and the rules row sent' });
          expect(sent.filter((s) => s.includes(report!.reference))).toHaveLength(1);
          expect(sent.filter((s) => s.includes('rules saw'))).toHaveLength(1);
        } finally {
          await outbox.stop();
        }
      });

      it('closes the report of an emptied bin and asks each reporter once, in one transaction', async () => {
        const { work, outbox, flow, sent, heal } = await setup();
        heal();
        try {
          await flow.handle({ id: 'wamid.IN2', from: RESIDENT, timestamp: 0, type: 'text', text: `${BIN.id} is vol` });
          await flow.handle({ id: 'wamid.IN3', from: '31620000056', timestamp: 0, type: 'text', text: `${BIN.id} is full` });
          const [report] = await work.read.reports.list();
          expect(report?.reporters).toBe(2);
          await flow.onDispatched([BIN.id]);
          expect((await work.read.reports.get(report!.id))?.status).toBe('dispatched');
          await flow.onCollected(BIN.id, 'crew-a');
          expect(await work.read.reports.get(report!.id)).toMatchObject({ status: 'closed', closed_crew: 'crew-a', closed_zone: BIN.zone });
          expect((await work.read.reports.reportersOf(report!.id)).map((r) => r.contact)).toEqual([null, null]);
          await waitFor(() => sent.filter((s) => s.includes('feedback:up')).length === 2, { message: 'both asked' });
          await flow.onCollected(BIN.id, 'crew-a');
          await waitFor(async () => (await outbox.backlog()) === 0);
          expect(sent.filter((s) => s.includes('feedback:up'))).toHaveLength(2);
        } finally {
          await outbox.stop();
        }
      });
    });
  }
});

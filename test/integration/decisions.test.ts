// The decisions' unit of work on both stores: what a transaction adds to the outbox commits with it or not at all,
// the send loop is woken only after the commit, and a rolled-back decision leaves no message behind.
import { describe, expect, it } from 'vitest';
import { textMessage, type MessageTransport } from '../../src/whatsapp/index.js';
import { decisionWorks } from '../helpers/decision-works.js';
import { postgresCluster } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

const TO = '31611112222';

/** A transport that records what reached "Meta". */
function wire(): MessageTransport & { sent: string[] } {
  const sent: string[] = [];
  let n = 0;
  return {
    sent,
    send: async (m) => {
      sent.push(m.type === 'text' ? m.text.body : m.type);
      return { wamid: `wamid.D${++n}` };
    },
  };
}

describe('DecisionWork', () => {
  const cluster = postgresCluster();

  const decisionsOn = decisionWorks(cluster);

  for (const kind of ['sqlite', 'postgres'] as const) {
    describe(`on ${kind}`, () => {
      async function setup() {
        const transport = wire();
        return { ...(await decisionsOn(kind, transport)), transport };
      }

      it('sends a message added in a transaction once it has committed', async () => {
        const { work, outbox, transport } = await setup();
        try {
          const added = await work.tx(async (t) => {
            const a = await t.outbox.add({ to: TO, message: textMessage(TO, 'committed'), key: 'k1' });
            expect(await t.outbox.unfinished([a.id])).toBe(1);
            return a;
          });
          expect(added.created).toBe(true);
          await waitFor(() => transport.sent.includes('committed'));
          expect(await work.read.outbox.unfinished([added.id])).toBe(0);
          // the same key again names the first message
          expect(await work.tx((t) => t.outbox.add({ to: TO, message: textMessage(TO, 'again'), key: 'k1' }))).toEqual({ id: added.id, created: false });
        } finally {
          await outbox.stop();
        }
      });

      it('leaves no message behind when the decision is rolled back, and runs nothing after it', async () => {
        const { work, outbox, transport } = await setup();
        let ran = false;
        try {
          await expect(
            work.tx(async (t) => {
              await t.outbox.add({ to: TO, message: textMessage(TO, 'undone'), key: 'k2' });
              t.afterCommit(() => (ran = true));
              throw new Error('the decision failed');
            }),
          ).rejects.toThrow('the decision failed');
          expect(ran).toBe(false);
          expect(await outbox.backlog()).toBe(0);
          // the key is free again: the retried decision adds its message
          expect((await work.tx((t) => t.outbox.add({ to: TO, message: textMessage(TO, 'retried'), key: 'k2' }))).created).toBe(true);
          await waitFor(() => transport.sent.includes('retried'));
          expect(transport.sent).not.toContain('undone');
        } finally {
          await outbox.stop();
        }
      });
    });
  }
});

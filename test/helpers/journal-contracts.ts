// One contract for every ReadingJournal (inline and worker on SQLite, PostgreSQL): what the broker and the rules
// rely on: a reading's promise resolves after its commit, committed groups reach the listeners in commit order after
// their readings were acknowledged, flush and settled, the backlog, bin state at the newest, the spool's refusal,
// and the rule states staged with the next commit.
import { expect, it } from 'vitest';
import { SpoolFullError, type BinStateStore, type JournalPace, type ReadingJournal, type RuleStateRow, type Spool } from '../../src/storage/index.js';
import { waitFor } from './wait.js';

export interface JournalUnderTest {
  journal: ReadingJournal;
  spool: Spool;
  state: BinStateStore;
  /** the oldest line in the spool's table */
  firstLine(): Promise<string | undefined>;
  /** a bin's bin_state row as stored (not through a store's view of it) */
  storedState(binId: string): Promise<{ ts: number | null; fill_pct: number | null } | undefined>;
  /** a bin's rule_state row as stored */
  ruleState(binId: string): Promise<{ state: string; seq: number } | undefined>;
}

/** A journal that commits groups of at most 100 readings, its spool refusing past `maxBytes`, paced as `pace` says (no delay). */
export type JournalSetup = (maxBytes?: number, pace?: JournalPace) => Promise<JournalUnderTest>;

const reading = (binId: string, ts: number, fillPct = 50) => ({ binId, ts, receivedAt: ts, fillPct });

export function journalContract(setup: JournalSetup): void {
  it('commits readings that arrive together in one group and resolves them after the commit', async () => {
    const { spool, journal, firstLine } = await setup();
    const groups: number[] = [];
    journal.onCommitted((entries) => groups.push(entries.length));
    const all = Array.from({ length: 250 }, (_, i) => journal.record({ reading: reading('A', 1000 + i), lines: [`m v=${i} ${1000 + i}`] }));
    expect(spool.stats().depth).toBe(0); // nothing is recorded before the commit runs
    expect(journal.backlog()).toMatchObject({ readings: 250, state: 'ok' });
    await Promise.all(all);
    await journal.settled();
    expect(groups).toEqual([100, 100, 50]);
    expect(spool.stats().depth).toBe(250);
    expect(await firstLine()).toBe('m v=0 1000');
    expect(journal.backlog()).toEqual({ readings: 0, oldestMs: null, state: 'ok' });
  });

  it('commits a paced group at once when it reaches the group target, without waiting out the delay', async () => {
    const { journal } = await setup(undefined, { delayMs: 600_000, groupTarget: 3 });
    const groups: string[][] = [];
    journal.onCommitted((entries) => groups.push(entries.map((e) => e.reading.binId)));
    await journal.record({ reading: reading('A', 1000), lines: [] });
    await journal.settled();
    // within the ten minutes after that commit: two wait, the third makes the target
    const acked: string[] = [];
    const first = ['B', 'C'].map((binId) => journal.record({ reading: reading(binId, 1001), lines: [] }).then(() => acked.push(binId)));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(acked).toEqual([]);
    await Promise.all([...first, journal.record({ reading: reading('D', 1001), lines: [] }).then(() => acked.push('D'))]);
    await journal.settled();
    expect(acked).toEqual(['B', 'C', 'D']);
    expect(groups).toEqual([['A'], ['B', 'C', 'D']]);
  });

  it('hands committed groups to its listeners after their readings are acknowledged, in commit order', async () => {
    const { journal } = await setup();
    const acked = new Set<number>();
    // for each group a listener sees: were all of its readings acknowledged before it ran?
    const seen: { first: number; ackedBefore: boolean }[] = [];
    journal.onCommitted((entries) => seen.push({ first: entries[0]!.reading.ts, ackedBefore: entries.every((e) => acked.has(e.reading.ts)) }));
    const all = Array.from({ length: 250 }, (_, i) => journal.record({ reading: reading('A', 1000 + i), lines: [] }).then(() => acked.add(1000 + i)));
    await Promise.all(all);
    await waitFor(() => seen.length === 3, { message: 'three groups seen' });
    expect(seen).toEqual([
      { first: 1000, ackedBefore: true },
      { first: 1100, ackedBefore: true },
      { first: 1200, ackedBefore: true },
    ]);
  });

  it('flush resolves once the listeners have seen everything it committed', async () => {
    const { journal } = await setup();
    const seen: number[] = [];
    journal.onCommitted((entries) => seen.push(...entries.map((e) => e.reading.ts)));
    void journal.record({ reading: reading('A', 1000), lines: [] });
    void journal.record({ reading: reading('A', 2000), lines: [] });
    await journal.flush();
    expect(seen).toEqual([1000, 2000]);
  });

  it('settled resolves once every committed group has been through the listeners', async () => {
    const { journal } = await setup();
    const seen: number[] = [];
    journal.onCommitted((entries) => seen.push(...entries.map((e) => e.reading.ts)));
    await Promise.all([journal.record({ reading: reading('A', 1000), lines: [] }), journal.record({ reading: reading('B', 1000), lines: [] })]);
    await journal.settled();
    expect(seen).toEqual([1000, 1000]);
  });

  it('keeps the newest reading as bin state, whatever order a backlog arrives in', async () => {
    const { state, journal, storedState } = await setup();
    await Promise.all([journal.record({ reading: reading('A', 3000, 30), lines: [] }), journal.record({ reading: reading('A', 1000, 10), lines: [] })]);
    await journal.record({ reading: reading('A', 2000, 20), lines: [] });
    expect(state.get('A')).toMatchObject({ ts: 3000, fill_pct: 30 });
    expect(await storedState('A')).toEqual({ ts: 3000, fill_pct: 30 });
  });

  it('refuses readings while the spool is full', async () => {
    const { journal } = await setup(10);
    await journal.record({ reading: reading('A', 1), lines: ['0123456789'] });
    await expect(journal.record({ reading: reading('A', 2), lines: ['x'] })).rejects.toBeInstanceOf(SpoolFullError);
  });

  it('flush commits what was received in this turn before it resolves', async () => {
    const { state, journal } = await setup();
    const p = journal.record({ reading: reading('B', 5000, 55), lines: [] });
    await journal.flush();
    expect(state.get('B')).toMatchObject({ ts: 5000, fill_pct: 55 });
    await p;
  });

  it('stores staged rule states with the next commit, never one older than what is stored', async () => {
    const { journal, ruleState } = await setup();
    const row = (seq: number): RuleStateRow => ({ binId: 'R', state: `{"n":${seq}}`, at: 1000 + seq, seq });
    journal.stageRuleStates(() => [row(2)]);
    await journal.record({ reading: reading('R', 1000), lines: [] });
    await journal.flush();
    expect(await ruleState('R')).toEqual({ state: '{"n":2}', seq: 2 });
    journal.stageRuleStates(() => [row(1)]);
    await journal.flush();
    expect(await ruleState('R')).toEqual({ state: '{"n":2}', seq: 2 });
  });
}

// Which of two readings is the newer one: judged by what the device will send next, not by its clock alone.
// A reading cannot be newer than its arrival, so a future stamp counts as of its arrival; a backlog keeps its own time.
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { evaluateReading, initialRuleState, orderTs, orderTsSql } from '../../../src/rules/index.js';
import { BIN, MIN, RULES, T0, labels } from './feed.js';

const CASES: [string, { ts: number; receivedAt?: number | null }, number][] = [
  ['a reading stamped on arrival', { ts: T0, receivedAt: T0 }, T0],
  ['a backlog reading: its own time', { ts: T0 - 60 * MIN, receivedAt: T0 }, T0 - 60 * MIN],
  ['a reading stamped 4 min 59 s ahead: its arrival', { ts: T0 + 299_000, receivedAt: T0 }, T0],
  ['a clock a few ms ahead: its arrival', { ts: T0 + 3, receivedAt: T0 }, T0],
  ['no arrival known: its own time', { ts: T0 }, T0],
  ['arrival null (a stored row without one): its own time', { ts: T0, receivedAt: null }, T0],
];

describe('orderTs', () => {
  it.each(CASES)('%s', (_what, r, key) => expect(orderTs(r)).toBe(key));

  it('orderTsSql orders a row in SQLite as orderTs orders the reading (NULL without a time)', () => {
    const db = new Database(':memory:');
    const order = db.prepare(`SELECT ${orderTsSql('r')} FROM (SELECT ? AS ts, ? AS received_at) AS r`).pluck();
    for (const [, r, key] of CASES) expect(order.get(r.ts, r.receivedAt ?? null)).toBe(key);
    expect(order.get(null, T0)).toBeNull();
    db.close();
  });

  it('puts the next real reading after a future-stamped one, and a backlog before both', () => {
    const future = { ts: T0 + 299_000, receivedAt: T0 };
    const next = { ts: T0 + 1000, receivedAt: T0 + 1000 };
    const backlog = { ts: T0 - 1000, receivedAt: T0 + 2000 };
    expect(orderTs(next)).toBeGreaterThan(orderTs(future));
    expect(orderTs(backlog)).toBeLessThan(orderTs(future));
  });
});

describe('rules after a reading stamped just inside the future limit', () => {
  const run = (readings: { ts: number; receivedAt: number; fillPct: number }[]) => {
    let state = initialRuleState();
    const events = [];
    for (const r of readings) {
      const out = evaluateReading({ binId: BIN, ...r }, state, RULES);
      state = out.state;
      events.push(...out.events);
    }
    return { state, events };
  };

  it('the next real readings still count: two at 90 % open full (debounce 2), at their own times', () => {
    const { state, events } = run([
      { ts: T0 + 299_000, receivedAt: T0, fillPct: 40 },
      { ts: T0 + MIN, receivedAt: T0 + MIN, fillPct: 90 },
      { ts: T0 + 2 * MIN, receivedAt: T0 + 2 * MIN, fillPct: 90 },
    ]);
    expect(labels(events)).toEqual(['full+full']);
    expect(events[0]!.ts).toBe(T0 + 2 * MIN);
    expect(state.lastFill).toBe(90);
  });

  it('the future-stamped reading counts as of its arrival: its events are not dated ahead', () => {
    const { events } = run([
      { ts: T0 - 20 * MIN, receivedAt: T0 - 20 * MIN, fillPct: 85 },
      { ts: T0 + 299_000, receivedAt: T0, fillPct: 85 },
    ]);
    expect(labels(events)).toEqual(['full+full']);
    expect(events[0]!.ts).toBe(T0);
  });

  it('a backlog older than the future-stamped reading\'s arrival changes nothing', () => {
    const { state, events } = run([
      { ts: T0 + 299_000, receivedAt: T0, fillPct: 10 },
      { ts: T0 - MIN, receivedAt: T0 + 1000, fillPct: 95 },
      { ts: T0 - 30_000, receivedAt: T0 + 2000, fillPct: 95 },
    ]);
    expect(events).toEqual([]);
    expect(state.lastFill).toBe(10);
  });
});

// Many rows to an INSERT: every row lands once, in order, whatever the count (64, 16, 4 and 1 rows to a statement).
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { RowBatches } from '../../../src/storage/row-batches.js';

function table() {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (seq INTEGER PRIMARY KEY, a INTEGER NOT NULL, b TEXT)');
  const prepared: string[] = [];
  const batches = new RowBatches(db, 2, (values) => {
    prepared.push(values);
    return `INSERT INTO t (a, b) VALUES ${values}`;
  });
  const rows = () => db.prepare('SELECT a, b FROM t ORDER BY seq').raw().all();
  return { db, batches, rows, prepared };
}

describe('RowBatches', () => {
  it.each([0, 1, 3, 4, 16, 63, 64, 85, 200])('%i rows: each once, in order', (n) => {
    const { batches, rows } = table();
    const values = Array.from({ length: n }, (_, i) => [i, i % 3 === 0 ? null : `r${i}`]).flat();
    batches.run(values);
    expect(rows()).toEqual(Array.from({ length: n }, (_, i) => [i, i % 3 === 0 ? null : `r${i}`]));
  });

  it('prepares each size once: 85 rows are one statement of 64, one of 16, one of 4 and one of 1', () => {
    const { batches, prepared } = table();
    batches.run(Array.from({ length: 170 }, (_, i) => i));
    batches.run(Array.from({ length: 170 }, (_, i) => i));
    expect(prepared.map((v) => v.split('), (').length)).toEqual([64, 16, 4, 1]);
  });

  it('refuses values that are no whole number of rows, writing none of them', () => {
    const { batches, rows } = table();
    expect(() => batches.run([1, 'a', 2])).toThrow(/no whole number of rows of 2/);
    expect(rows()).toEqual([]);
  });

  it('a row the table refuses fails its statement: the rows before it in that statement are not written', () => {
    const { batches, rows } = table();
    // five rows: a statement of 4 (the refused row third), then one of 1 that never runs
    expect(() => batches.run([1, 'a', 2, 'b', null, 'c', 4, 'd', 5, 'e'])).toThrow(/NOT NULL/);
    expect(rows()).toEqual([]);
  });
});

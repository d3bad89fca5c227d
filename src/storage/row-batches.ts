import type { Statement } from 'better-sqlite3';
import type { Db } from './database.js';

/** Rows per statement, largest first, ending in 1 (64 rows of 9 values: far below SQLite's 32,766 parameters). */
const SIZES = [64, 16, 4, 1] as const;

/**
 * One INSERT run for many rows at a time (`VALUES (…), (…), …`): a statement's run costs more than a row it writes
 * (better-sqlite3's call, binding and result object, SQLite's step and reset), some 0.2 µs a row of the group commit's
 * upserts. Rows go 64 to a statement, then 16, 4 and 1; each size is prepared the first time it is needed.
 */
export class RowBatches {
  private readonly statements = new Map<number, Statement>();

  /** `sql` makes the statement from its VALUES list; each row has `width` values. */
  constructor(
    private readonly db: Db,
    private readonly width: number,
    private readonly sql: (values: string) => string,
  ) {}

  /** Runs the statement for every row in `values` (`width` values a row, one row after the other), in order. */
  run(values: readonly unknown[]): void {
    const w = this.width;
    if (values.length % w !== 0) throw new Error(`RowBatches: ${values.length} values are no whole number of rows of ${w}`);
    const rows = values.length / w;
    let i = 0;
    for (const n of SIZES) {
      for (; rows - i >= n; i += n) this.statement(n).run(n === rows ? values : values.slice(i * w, (i + n) * w));
    }
  }

  private statement(rows: number): Statement {
    let stmt = this.statements.get(rows);
    if (!stmt) {
      const row = `(${new Array(this.width).fill('?').join(', ')})`;
      stmt = this.db.prepare(this.sql(new Array(rows).fill(row).join(', ')));
      this.statements.set(rows, stmt);
    }
    return stmt;
  }
}

import type { Db } from '../storage/index.js';

type OldRow = Record<string, unknown>;

export interface ClearTable {
  table: string;
  /** a column only the old, clear-text layout has */
  marker: string;
  /** `CREATE TABLE` of the new layout (indexes come after, from the caller's own DDL) */
  create: string;
  /** `INSERT INTO <table> (...) VALUES (...)` of the new layout */
  insert: string;
  /** one old row as the values of `insert` */
  convert: (row: OldRow) => unknown[];
}

/**
 * Rewrites a table that a release before sealing left with numbers and message bodies in clear, row by row,
 * into its sealed layout (ids kept), then drops the old table. A no-op once done. Freed pages are overwritten
 * only with `PRAGMA secure_delete` (set for the whole database).
 */
export function rebuildIfClear(db: Db, t: ClearTable): void {
  const has = (db.prepare(`SELECT 1 FROM pragma_table_info(?) WHERE name = ?`).pluck(true).get(t.table, t.marker) as number | undefined) === 1;
  if (!has) return;
  const old = `${t.table}__clear`;
  db.transaction(() => {
    db.exec(`ALTER TABLE ${t.table} RENAME TO ${old}`);
    // the old indexes keep their names; they would stop the new ones from being created
    for (const name of db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`).pluck(true).all(old) as string[]) {
      db.exec(`DROP INDEX "${name.replace(/"/g, '""')}"`);
    }
    db.exec(t.create);
    const insert = db.prepare(t.insert);
    const batch = db.prepare(`SELECT rowid AS rowid__, * FROM ${old} WHERE rowid > ? ORDER BY rowid LIMIT 500`);
    let last = -Infinity;
    for (;;) {
      const rows = batch.all(last) as OldRow[];
      if (rows.length === 0) break;
      for (const r of rows) insert.run(...t.convert(r));
      last = rows[rows.length - 1]!.rowid__ as number;
    }
    db.exec(`DROP TABLE ${old}`);
  })();
}

import type { Db } from './database.js';

/**
 * Migration 11: a spool row holds the points of one group commit (up to SPOOL_ROW_POINTS, newline-separated), not
 * one point. The InfluxDB writer read and deleted 5,000 rows a batch, which held the journal worker's thread
 * (and every reading's PUBACK behind it) for 5–15 ms; rows of a few dozen points make that a fraction of a
 * millisecond. Rows written before hold one point each (`points` 1).
 */
export function spoolRowsLayout(db: Db): void {
  db.exec(`
    ALTER TABLE spool ADD COLUMN points INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE spool_dead_letter ADD COLUMN points INTEGER NOT NULL DEFAULT 1;
  `);
}

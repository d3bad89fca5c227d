import type { Db } from './database.js';

/**
 * Migration 3: why each bin is on its job (its alert and the alert's cause, the forecast, or riding along) and the
 * hours to full the planner saw; and the cause of the alert a queued bin waits for. Jobs made before have none.
 */
export function dispatchReasonsLayout(db: Db): void {
  db.exec(`
    ALTER TABLE dispatch_bins ADD COLUMN reason TEXT;
    ALTER TABLE dispatch_bins ADD COLUMN cause TEXT;
    ALTER TABLE dispatch_bins ADD COLUMN hours_to_full REAL;
    ALTER TABLE dispatch_queue ADD COLUMN cause TEXT;
  `);
}

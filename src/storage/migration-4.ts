import type { Db } from './database.js';

/**
 * Migration 4: an alert records the forecast it was opened on (hours to full_pct; null for any other cause), so the
 * API, the live page and Grafana can show why a bin was sent.
 */
export function alertForecastLayout(db: Db): void {
  db.exec('ALTER TABLE alerts ADD COLUMN hours_to_full REAL');
}

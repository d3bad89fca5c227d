import type { Db } from './database.js';

/**
 * Migration 5: a notice's recipient keeps when its message was queued (the weekly cap counts a resident's service
 * notices by it) and why it was skipped, if it was (`capped`: over the cap, not sent and not tried later). The
 * messages of a notice still in the outbox are counted on every outcome (it hands the outbox the next ones), so
 * they get an index of their own, a hundred rows whatever the notice's size.
 */
export function noticeLimitsLayout(db: Db): void {
  db.exec(`
    ALTER TABLE notice_recipients ADD COLUMN queued_ms INTEGER;
    ALTER TABLE notice_recipients ADD COLUMN skipped TEXT;
    CREATE INDEX notice_recipients_week ON notice_recipients (pseudonym, queued_ms) WHERE skipped IS NULL;
    CREATE INDEX notice_recipients_in_flight ON notice_recipients (notice_id, queued_ms) WHERE queued = 1 AND skipped IS NULL AND sent_ms IS NULL AND delivery IS NULL;
  `);
}

import type { Db } from './database.js';

/**
 * Migration 7: the outbox's order and Meta's messaging limit. `priority` orders the recipients' queues when messages
 * compete (lower first; rows from before keep their order among themselves at the middle rank), and the queue's
 * index carries it so the send loop's query stays on the index. `initiated` marks a message that went outside the
 * recipient's 24-hour window (it counts toward the limit): the send loop reads the last 24 hours of them at start.
 * `waiting_for` says why a waiting message has not gone (`messaging_limit`). A notice's recipient keeps the id of
 * its outbox message, so the notice knows which of its messages are still in the outbox however long they wait.
 */
export function outboxPriorityLayout(db: Db): void {
  db.exec(`
    ALTER TABLE whatsapp_outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 3;
    ALTER TABLE whatsapp_outbox ADD COLUMN initiated INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE whatsapp_outbox ADD COLUMN waiting_for TEXT;
    DROP INDEX IF EXISTS whatsapp_outbox_queue;
    CREATE INDEX whatsapp_outbox_queue ON whatsapp_outbox (status, recipient_tag, id, priority);
    CREATE INDEX whatsapp_outbox_initiated ON whatsapp_outbox (sent_ms) WHERE initiated = 1;
    ALTER TABLE notice_recipients ADD COLUMN outbox_id INTEGER;
  `);
}

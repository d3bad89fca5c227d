import type { Db } from './database.js';

/**
 * Migration 8: each rule state carries the order it was decided in. The rules' memory of a bin is written by two
 * paths — in the journal's next group commit (most readings; in the journal worker with `spool.journal: worker`)
 * and in the rules' own transaction when an alert opens or closes — so a write may land after a newer one; the
 * upsert keeps the row with the higher `seq`.
 */
export function ruleStateSeqLayout(db: Db): void {
  db.exec(`ALTER TABLE rule_state ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;`);
}

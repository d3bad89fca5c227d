import type { Db } from './database.js';

/**
 * Migration 6: residents' satisfaction. A closed report keeps the zone of its bin and the crew whose Done closed it
 * (null when the sensors saw it emptied first), as they were then; each resident thanked keeps when the question was
 * asked, their answer (`up` | `down`), when, and after a 👎 what went wrong (their words, numbers masked).
 */
export function reportFeedbackLayout(db: Db): void {
  db.exec(`
    ALTER TABLE reports ADD COLUMN closed_zone TEXT;
    ALTER TABLE reports ADD COLUMN closed_crew TEXT;
    ALTER TABLE report_reporters ADD COLUMN asked_ms INTEGER;
    ALTER TABLE report_reporters ADD COLUMN feedback TEXT;
    ALTER TABLE report_reporters ADD COLUMN feedback_ms INTEGER;
    ALTER TABLE report_reporters ADD COLUMN feedback_reason TEXT;
  `);
}

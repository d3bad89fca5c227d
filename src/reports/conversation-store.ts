import type Database from 'better-sqlite3';
import type { Sealer } from '../privacy/index.js';

/** Where one resident's conversation stands. Sealed at rest: it holds their number and what they wrote. */
export interface Conversation {
  /** the resident's wa_id, needed to answer */
  contact: string;
  lang: string | null;
  optedOut: boolean;
  /** 'reason': a 👎 asked what went wrong; the next text says it (for the report `feedbackFor`) */
  awaiting: null | 'location' | 'choice' | 'reason';
  /** the reference of the report whose 👎 waits for its reason */
  feedbackFor?: string;
  candidates: { binId: string; address: string; distanceM: number | null }[];
  pending: { text?: string; photo?: string; lat?: number; lon?: number };
  updatedAt: number;
}

/** Residents' conversations by the resident's pseudonym. Synchronous, like the flow's other steps. */
export interface ConversationStore {
  get(pseudonym: string): Conversation | undefined;
  put(pseudonym: string, c: Conversation): void;
  /** Conversations idle since before the cutoff are forgotten (and the number with them), unless opted out; how many. */
  purgeIdle(before: number): number;
}

/** The conversations in SQLite (`resident_conversations`), each sealed whole. */
export class SqliteConversationStore implements ConversationStore {
  constructor(
    private readonly db: Database.Database,
    private readonly sealer: Sealer,
  ) {}

  get(pseudonym: string): Conversation | undefined {
    const row = this.db.prepare('SELECT state FROM resident_conversations WHERE pseudonym = ?').pluck().get(pseudonym) as Buffer | undefined;
    return row ? (JSON.parse(this.sealer.openText(row)) as Conversation) : undefined;
  }

  put(pseudonym: string, c: Conversation): void {
    this.db
      .prepare('INSERT INTO resident_conversations (pseudonym, state, updated_at) VALUES (?, ?, ?) ON CONFLICT (pseudonym) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at')
      .run(pseudonym, this.sealer.seal(JSON.stringify(c)), c.updatedAt);
  }

  purgeIdle(before: number): number {
    let n = 0;
    for (const row of this.db.prepare('SELECT pseudonym, state FROM resident_conversations WHERE updated_at < ?').all(before) as { pseudonym: string; state: Buffer }[]) {
      const c = JSON.parse(this.sealer.openText(row.state)) as Conversation;
      if (c.optedOut) {
        // the opt-out must be remembered; the number need not be
        this.put(row.pseudonym, { ...c, contact: '', pending: {}, candidates: [], awaiting: null });
      } else {
        this.db.prepare('DELETE FROM resident_conversations WHERE pseudonym = ?').run(row.pseudonym);
      }
      n++;
    }
    return n;
  }
}

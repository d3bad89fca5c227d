import type Database from 'better-sqlite3';
import type { Sealer } from '../privacy/index.js';
import type { Queryable } from '../storage/postgres/index.js';

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

/** Residents' conversations by the resident's pseudonym, in SQLite or PostgreSQL. */
export interface ConversationStore {
  get(pseudonym: string): Promise<Conversation | undefined>;
  /**
   * The conversation, held for the caller's transaction until it ends: a second message of the same resident
   * (handled by another instance at the same moment) waits for the first one's outcome and carries on from it.
   * A resident with no conversation yet is held too, so two first messages also apply in turn.
   */
  hold(pseudonym: string): Promise<Conversation | undefined>;
  put(pseudonym: string, c: Conversation): Promise<void>;
  /** Conversations idle since before the cutoff are forgotten (and the number with them), unless opted out; how many. */
  purgeIdle(before: number): Promise<number>;
}

/** What a conversation's sealed row says: a held resident with nothing to remember yet is `null`. */
function opened(sealer: Sealer, state: Buffer): Conversation | undefined {
  return (JSON.parse(sealer.openText(state)) as Conversation | null) ?? undefined;
}

/** What purgeIdle keeps of an idle conversation: the opt-out without the number; nothing otherwise. */
function idleKept(c: Conversation | undefined): Conversation | null {
  return c?.optedOut ? { ...c, contact: '', pending: {}, candidates: [], awaiting: null } : null;
}

/** The conversations in SQLite (`resident_conversations`), each sealed whole. */
export class SqliteConversationStore implements ConversationStore {
  constructor(
    private readonly db: Database.Database,
    private readonly sealer: Sealer,
  ) {}

  async get(pseudonym: string): Promise<Conversation | undefined> {
    const row = this.db.prepare('SELECT state FROM resident_conversations WHERE pseudonym = ?').pluck().get(pseudonym) as Buffer | undefined;
    return row ? opened(this.sealer, row) : undefined;
  }

  /** The one connection's transactions run one at a time: reading is holding. */
  hold(pseudonym: string): Promise<Conversation | undefined> {
    return this.get(pseudonym);
  }

  async put(pseudonym: string, c: Conversation): Promise<void> {
    this.db
      .prepare('INSERT INTO resident_conversations (pseudonym, state, updated_at) VALUES (?, ?, ?) ON CONFLICT (pseudonym) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at')
      .run(pseudonym, this.sealer.seal(JSON.stringify(c)), c.updatedAt);
  }

  async purgeIdle(before: number): Promise<number> {
    let n = 0;
    for (const row of this.db.prepare('SELECT pseudonym, state FROM resident_conversations WHERE updated_at < ?').all(before) as { pseudonym: string; state: Buffer }[]) {
      // the opt-out must be remembered; the number need not be
      const kept = idleKept(opened(this.sealer, row.state));
      if (kept) await this.put(row.pseudonym, kept);
      else this.db.prepare('DELETE FROM resident_conversations WHERE pseudonym = ?').run(row.pseudonym);
      n++;
    }
    return n;
  }
}

/**
 * The conversations in PostgreSQL: the same table, sealed the same way. `hold` takes the resident's row lock
 * (inserting an empty row first when there is none, so there is a row to lock), so each resident's messages
 * apply one after the other whichever instances received them.
 */
export class PostgresConversationStore implements ConversationStore {
  constructor(
    private readonly q: Queryable,
    private readonly sealer: Sealer,
  ) {}

  async get(pseudonym: string): Promise<Conversation | undefined> {
    const row = (await this.q.query<{ state: Buffer }>('SELECT state FROM resident_conversations WHERE pseudonym = $1', [pseudonym])).rows[0];
    return row ? opened(this.sealer, row.state) : undefined;
  }

  async hold(pseudonym: string): Promise<Conversation | undefined> {
    // idle since the epoch: an empty row left by a message that changed nothing goes at the next purge
    await this.q.query('INSERT INTO resident_conversations (pseudonym, state, updated_at) VALUES ($1, $2, 0) ON CONFLICT (pseudonym) DO NOTHING', [pseudonym, this.sealer.seal('null')]);
    const row = (await this.q.query<{ state: Buffer }>('SELECT state FROM resident_conversations WHERE pseudonym = $1 FOR UPDATE', [pseudonym])).rows[0];
    return row ? opened(this.sealer, row.state) : undefined;
  }

  async put(pseudonym: string, c: Conversation): Promise<void> {
    await this.q.query(
      'INSERT INTO resident_conversations (pseudonym, state, updated_at) VALUES ($1, $2, $3) ON CONFLICT (pseudonym) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at',
      [pseudonym, this.sealer.seal(JSON.stringify(c)), c.updatedAt],
    );
  }

  async purgeIdle(before: number): Promise<number> {
    // a conversation held by a message being handled now is not idle: it is left for the next purge
    const rows = (await this.q.query<{ pseudonym: string; state: Buffer }>('SELECT pseudonym, state FROM resident_conversations WHERE updated_at < $1 ORDER BY pseudonym FOR UPDATE SKIP LOCKED', [before])).rows;
    for (const row of rows) {
      const kept = idleKept(opened(this.sealer, row.state));
      if (kept) await this.put(row.pseudonym, kept);
      else await this.q.query('DELETE FROM resident_conversations WHERE pseudonym = $1', [row.pseudonym]);
    }
    return rows.length;
  }
}

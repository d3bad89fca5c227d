import type { Db } from '../storage/index.js';
import type { Pool, Queryable } from '../storage/postgres/index.js';
import type { Sealer } from '../privacy/index.js';

/** Meta's customer-service window: free-form messages only within 24 h of the user's last message. */
export const SERVICE_WINDOW_MS = 24 * 60 * 60 * 1000;

/** Whether a user whose last message was at `last` (null: never) may be sent a free-form message at `now`. */
export function withinWindow(last: number | null, now: number): boolean {
  return last !== null && now - last < SERVICE_WINDOW_MS;
}

/** What the outbox (and whoever chooses between a free-form message and a template) needs to know of a user. */
export interface ContactWindow {
  /** True when the user wrote within the last 24 hours, so a free-form message may be sent. */
  inWindow(waId: string, now: number): Promise<boolean>;
}

/**
 * Last inbound time per WhatsApp user (wa_id or business-scoped user id); the inbox writes, the outbox reads. Kept
 * where the inbox keeps its messages, so a user who wrote to one instance is in the window at every other.
 */
export interface Contacts extends ContactWindow {
  /** Records an inbound message; an older, redelivered one never moves the time back. */
  touch(waId: string, atMs: number): Promise<void>;
  lastInbound(waId: string): Promise<number | null>;
}

/** Contacts in SQLite (`whatsapp_contacts`), keyed by the user's pseudonym: the number itself is never stored. */
export class SqliteContacts implements Contacts {
  private readonly touchStmt;
  private readonly lastStmt;

  constructor(
    db: Db,
    private readonly sealer: Sealer,
  ) {
    this.touchStmt = db.prepare(
      `INSERT INTO whatsapp_contacts (contact_tag, last_inbound_ms) VALUES (?, ?)
       ON CONFLICT (contact_tag) DO UPDATE SET last_inbound_ms = max(last_inbound_ms, excluded.last_inbound_ms)`,
    );
    this.lastStmt = db.prepare('SELECT last_inbound_ms FROM whatsapp_contacts WHERE contact_tag = ?').pluck(true);
  }

  async touch(waId: string, atMs: number): Promise<void> {
    this.touchNow(waId, atMs);
  }

  async lastInbound(waId: string): Promise<number | null> {
    return this.lastInboundNow(waId);
  }

  async inWindow(waId: string, now: number): Promise<boolean> {
    return this.inWindowNow(waId, now);
  }

  /** `touch`, synchronously: inside the SQLite inbox's own transaction (the messages and the time commit together). */
  touchNow(waId: string, atMs: number): void {
    this.touchStmt.run(this.sealer.pseudonym(waId), Math.round(atMs));
  }

  lastInboundNow(waId: string): number | null {
    return (this.lastStmt.get(this.sealer.pseudonym(waId)) as number | undefined) ?? null;
  }

  /** `inWindow`, synchronously: for callers inside a synchronous SQLite transaction of their own (see Outbox.inWindowNow). */
  inWindowNow(waId: string, now: number): boolean {
    return withinWindow(this.lastInboundNow(waId), now);
  }
}

/**
 * Records the last inbound times of several contacts in one statement (pseudonym → ms). One row per contact, in a
 * fixed order, so two instances recording the same contacts lock their rows in the same order; an older time never
 * replaces a newer one. The PostgreSQL inbox writes it in the delivery's own commit, PostgresContacts on its own.
 */
export async function touchPostgresContacts(q: Queryable, last: ReadonlyMap<string, number>): Promise<void> {
  if (last.size === 0) return;
  const tags = [...last.keys()].sort();
  await q.query(
    `INSERT INTO whatsapp_contacts (contact_tag, last_inbound_ms) SELECT * FROM unnest($1::text[], $2::bigint[])
     ON CONFLICT (contact_tag) DO UPDATE SET last_inbound_ms = GREATEST(whatsapp_contacts.last_inbound_ms, excluded.last_inbound_ms)`,
    [tags, tags.map((t) => Math.round(last.get(t)!))],
  );
}

/**
 * Contacts in PostgreSQL (`whatsapp_contacts`, which the PostgreSQL inbox fills in its commits), shared by every
 * instance: a user who wrote to one is in the window at all of them. Each call is one statement on the pool.
 */
export class PostgresContacts implements Contacts {
  constructor(
    private readonly pool: () => Pool,
    private readonly sealer: Sealer,
  ) {}

  touch(waId: string, atMs: number): Promise<void> {
    return touchPostgresContacts(this.pool(), new Map([[this.sealer.pseudonym(waId), atMs]]));
  }

  async lastInbound(waId: string): Promise<number | null> {
    const { rows } = await this.pool().query<{ last_inbound_ms: number }>('SELECT last_inbound_ms FROM whatsapp_contacts WHERE contact_tag = $1', [this.sealer.pseudonym(waId)]);
    return rows[0]?.last_inbound_ms ?? null;
  }

  async inWindow(waId: string, now: number): Promise<boolean> {
    return withinWindow(await this.lastInbound(waId), now);
  }
}

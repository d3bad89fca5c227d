import type { Db } from '../storage/index.js';
import type { Sealer } from '../privacy/index.js';

/** Meta's customer-service window: free-form messages only within 24 h of the user's last message. */
export const SERVICE_WINDOW_MS = 24 * 60 * 60 * 1000;

/** What the outbox (and whoever chooses between a free-form message and a template) needs to know of a user. */
export interface ContactWindow {
  /** True when the user wrote within the last 24 hours, so a free-form message may be sent. */
  inWindow(waId: string, now: number): boolean;
}

/** Last inbound time per WhatsApp user (wa_id or business-scoped user id); the inbox writes, the outbox reads. */
export interface Contacts extends ContactWindow {
  /** Records an inbound message; an older, redelivered one never moves the time back. */
  touch(waId: string, atMs: number): void;
  lastInbound(waId: string): number | null;
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

  touch(waId: string, atMs: number): void {
    this.touchStmt.run(this.sealer.pseudonym(waId), Math.round(atMs));
  }

  lastInbound(waId: string): number | null {
    return (this.lastStmt.get(this.sealer.pseudonym(waId)) as number | undefined) ?? null;
  }

  inWindow(waId: string, now: number): boolean {
    const last = this.lastInbound(waId);
    return last !== null && now - last < SERVICE_WINDOW_MS;
  }
}

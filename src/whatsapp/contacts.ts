import type { Db } from '../storage/index.js';

/** Meta's customer-service window: free-form messages only within 24 h of the user's last message. */
export const SERVICE_WINDOW_MS = 24 * 60 * 60 * 1000;

/** Last inbound time per WhatsApp user (wa_id or business-scoped user id); the inbox writes, the outbox reads. */
export class Contacts {
  private readonly touchStmt;
  private readonly lastStmt;

  constructor(db: Db) {
    db.exec('CREATE TABLE IF NOT EXISTS whatsapp_contacts (wa_id TEXT PRIMARY KEY, last_inbound_ms INTEGER NOT NULL)');
    this.touchStmt = db.prepare(
      `INSERT INTO whatsapp_contacts (wa_id, last_inbound_ms) VALUES (?, ?)
       ON CONFLICT (wa_id) DO UPDATE SET last_inbound_ms = max(last_inbound_ms, excluded.last_inbound_ms)`,
    );
    this.lastStmt = db.prepare('SELECT last_inbound_ms FROM whatsapp_contacts WHERE wa_id = ?').pluck(true);
  }

  /** Records an inbound message; an older, redelivered one never moves the time back. */
  touch(waId: string, atMs: number): void {
    this.touchStmt.run(waId, Math.round(atMs));
  }

  lastInbound(waId: string): number | null {
    return (this.lastStmt.get(waId) as number | undefined) ?? null;
  }

  /** True when the user wrote within the last 24 hours, so a free-form message may be sent. */
  inWindow(waId: string, now = Date.now()): boolean {
    const last = this.lastInbound(waId);
    return last !== null && now - last < SERVICE_WINDOW_MS;
  }
}

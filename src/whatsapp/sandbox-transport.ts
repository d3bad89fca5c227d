import { randomBytes } from 'node:crypto';
import type { Db } from '../storage/index.js';
import { recipientOf, type OutboundMessage } from './messages.js';
import type { MessageTransport } from './transport.js';

export interface SandboxMessage {
  id: number;
  wamid: string;
  to: string;
  kind: string;
  message: OutboundMessage;
  createdAt: number;
}

/** `whatsapp.mode: sandbox`: records each message in SQLite for the live page and the API; no network at all. */
export class SandboxTransport implements MessageTransport {
  private readonly insertStmt;

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS whatsapp_sandbox_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT, wamid TEXT NOT NULL UNIQUE, recipient TEXT NOT NULL,
        kind TEXT NOT NULL, body TEXT NOT NULL, created_ms INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS whatsapp_sandbox_messages_recipient ON whatsapp_sandbox_messages (recipient, id);
    `);
    this.insertStmt = db.prepare('INSERT INTO whatsapp_sandbox_messages (wamid, recipient, kind, body, created_ms) VALUES (?, ?, ?, ?, ?)');
  }

  async send(msg: OutboundMessage): Promise<{ wamid: string }> {
    const wamid = `wamid.SANDBOX.${randomBytes(12).toString('hex')}`;
    this.insertStmt.run(wamid, recipientOf(msg), msg.type, JSON.stringify(msg), this.now());
    return { wamid };
  }

  /** Newest first. */
  list(opts: { limit?: number; to?: string } = {}): SandboxMessage[] {
    const limit = Math.max(1, Math.min(opts.limit ?? 100, 1000));
    const rows = (
      opts.to === undefined
        ? this.db.prepare('SELECT * FROM whatsapp_sandbox_messages ORDER BY id DESC LIMIT ?').all(limit)
        : this.db.prepare('SELECT * FROM whatsapp_sandbox_messages WHERE recipient = ? ORDER BY id DESC LIMIT ?').all(opts.to, limit)
    ) as { id: number; wamid: string; recipient: string; kind: string; body: string; created_ms: number }[];
    return rows.map((r) => ({
      id: r.id,
      wamid: r.wamid,
      to: r.recipient,
      kind: r.kind,
      message: JSON.parse(r.body) as OutboundMessage,
      createdAt: r.created_ms,
    }));
  }
}

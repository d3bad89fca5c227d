import { randomBytes } from 'node:crypto';
import { nextTurn, realClock, type Clock } from '../clock.js';
import type { Db } from '../storage/index.js';
import { recipientOf, type OutboundMessage } from './messages.js';
import type { Sealer } from '../privacy/index.js';
import type { MessageTransport } from './transport.js';

export interface SandboxMessage {
  id: number;
  wamid: string;
  to: string;
  kind: string;
  message: OutboundMessage;
  createdAt: number;
}

export interface SandboxTransportOptions {
  /** recipients are stored as pseudonyms and sealed, messages sealed */
  sealer: Sealer;
  clock?: Clock;
}

interface Row {
  id: number;
  wamid: string;
  recipient_sealed: Buffer;
  kind: string;
  body_sealed: Buffer;
  created_ms: number;
}

/** `whatsapp.mode: sandbox`: records each message in SQLite for the live page and the API; no network at all. */
export class SandboxTransport implements MessageTransport {
  private readonly insertStmt;
  private readonly sealer: Sealer;
  private readonly clock: Clock;

  constructor(
    private readonly db: Db,
    opts: SandboxTransportOptions,
  ) {
    this.sealer = opts.sealer;
    this.clock = opts.clock ?? realClock;
    this.insertStmt = db.prepare(
      'INSERT INTO whatsapp_sandbox_messages (wamid, recipient_tag, recipient_sealed, kind, body_sealed, created_ms) VALUES (?, ?, ?, ?, ?, ?)',
    );
  }

  private answered: Promise<unknown> = Promise.resolve();

  /**
   * Records the message as Meta would receive it and answers with its wamid. Like answers over the network, each
   * comes on a turn of the event loop of its own: a pass of the outbox that sends sixteen messages does not record
   * and mark all sixteen in one turn.
   */
  send(msg: OutboundMessage): Promise<{ wamid: string }> {
    const answer = this.answered.then(nextTurn).then(() => this.record(msg));
    this.answered = answer.catch(() => undefined);
    return answer;
  }

  private record(msg: OutboundMessage): { wamid: string } {
    // random: unlike Meta's, a sandbox wamid does not carry the recipient's number
    const wamid = `wamid.SANDBOX.${randomBytes(12).toString('hex')}`;
    const to = recipientOf(msg);
    this.insertStmt.run(wamid, this.sealer.pseudonym(to), this.sealer.seal(to), msg.type, this.sealer.seal(JSON.stringify(msg)), this.clock.now());
    return { wamid };
  }

  /** Newest first; `before`: only ids below it (the API's next page), opened. */
  list(opts: { limit?: number; to?: string; before?: number } = {}): SandboxMessage[] {
    const limit = Math.max(1, Math.min(opts.limit ?? 100, 5000));
    const before = opts.before ?? Number.MAX_SAFE_INTEGER;
    const rows = (
      opts.to === undefined
        ? this.db.prepare('SELECT * FROM whatsapp_sandbox_messages WHERE id < ? ORDER BY id DESC LIMIT ?').all(before, limit)
        : this.db
            .prepare('SELECT * FROM whatsapp_sandbox_messages WHERE recipient_tag = ? AND id < ? ORDER BY id DESC LIMIT ?')
            .all(this.sealer.pseudonym(opts.to.replace(/^\+/, '')), before, limit)
    ) as Row[];
    return rows.map((r) => ({
      id: r.id,
      wamid: r.wamid,
      to: this.sealer.openText(r.recipient_sealed),
      kind: r.kind,
      message: JSON.parse(this.sealer.openText(r.body_sealed)) as OutboundMessage,
      createdAt: r.created_ms,
    }));
  }
}

import { CLEAR_SUFFIX, type Db } from '../storage/index.js';
import { redactErrors, redactText } from './redact.js';
import type { Sealer } from '../privacy/index.js';
import type { StatusUpdate } from './webhook.js';

type OldRow = Record<string, unknown>;

interface ClearTable {
  table: string;
  /** `INSERT INTO <table> (...) VALUES (...)` of the sealed layout, ids included */
  insert: string;
  /** one row of the clear-text layout as the values of `insert` */
  convert: (row: OldRow, sealer: Sealer) => unknown[];
}

const sealOrNull = (sealer: Sealer, v: unknown): Buffer | null => (v === null || v === undefined ? null : sealer.seal(String(v)));

const OUTBOX_COLUMNS = `id, key_tag, key_sealed, ref_sealed, recipient_tag, recipient_sealed, kind, message_sealed, fallback_sealed, used_fallback,
  status, attempts, next_attempt_ms, last_attempt_ms, wamid_tag, wamid_sealed, error_code, error_message, delivery_status,
  delivery_ms, delivery_errors, created_ms, sent_ms`;

/** How each table of the release before sealing (numbers, wamids and bodies in clear) maps onto its sealed layout. */
const TABLES: readonly ClearTable[] = [
  {
    table: 'whatsapp_contacts',
    insert: 'INSERT INTO whatsapp_contacts (contact_tag, last_inbound_ms) VALUES (?, ?)',
    convert: (r, s) => [s.pseudonym(String(r.wa_id)), r.last_inbound_ms],
  },
  {
    table: 'whatsapp_webhook_deliveries',
    insert: 'INSERT INTO whatsapp_webhook_deliveries (id, received_ms, body_sealed) VALUES (?, ?, ?)',
    convert: (r, s) => [r.id, r.received_ms, s.seal(r.body as Buffer)],
  },
  {
    table: 'whatsapp_inbound',
    insert: `INSERT INTO whatsapp_inbound (seq, message_tag, delivery_id, sender_tag, type, timestamp_ms, body_sealed, state, attempts,
      error, received_ms, processed_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    convert: (r, s) => [
      r.seq,
      s.pseudonym(String(r.message_id)),
      r.delivery_id,
      s.pseudonym(String(r.sender)),
      r.type,
      r.timestamp_ms,
      s.seal(String(r.body)),
      r.state,
      r.attempts,
      typeof r.error === 'string' ? redactText(r.error) : null,
      r.received_ms,
      r.processed_ms,
    ],
  },
  {
    table: 'whatsapp_statuses',
    insert: `INSERT INTO whatsapp_statuses (seq, wamid_tag, status, timestamp_ms, recipient_tag, body_sealed, state, received_ms)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    convert: (r, s) => {
      const status = JSON.parse(String(r.body)) as StatusUpdate;
      const recipient = s.pseudonym(status.recipient);
      return [r.seq, s.pseudonym(String(r.wamid)), r.status, r.timestamp_ms, recipient, s.seal(JSON.stringify({ ...status, recipient })), r.state, r.received_ms];
    },
  },
  {
    table: 'whatsapp_outbox',
    insert: `INSERT INTO whatsapp_outbox (${OUTBOX_COLUMNS}) VALUES (${Array(23).fill('?').join(', ')})`,
    convert: (r, s) => [
      r.id,
      s.pseudonym(String(r.key)),
      s.seal(String(r.key)),
      sealOrNull(s, r.ref),
      s.pseudonym(String(r.recipient)),
      s.seal(String(r.recipient)),
      r.kind,
      s.seal(String(r.message)),
      sealOrNull(s, r.fallback),
      r.used_fallback,
      r.status,
      r.attempts,
      r.next_attempt_ms,
      r.last_attempt_ms,
      r.wamid === null ? null : s.pseudonym(String(r.wamid)),
      sealOrNull(s, r.wamid),
      r.error_code,
      typeof r.error_message === 'string' ? redactText(r.error_message) : null,
      r.delivery_status,
      r.delivery_ms,
      typeof r.delivery_errors === 'string' ? redactErrors(JSON.parse(r.delivery_errors) as StatusUpdate['errors']) : null,
      r.created_ms,
      r.sent_ms,
    ],
  },
  {
    table: 'whatsapp_sandbox_messages',
    insert: `INSERT INTO whatsapp_sandbox_messages (id, wamid, recipient_tag, recipient_sealed, kind, body_sealed, created_ms)
      VALUES (?, ?, ?, ?, ?, ?, ?)`,
    convert: (r, s) => [r.id, r.wamid, s.pseudonym(String(r.recipient)), s.seal(String(r.recipient)), r.kind, s.seal(String(r.body)), r.created_ms],
  },
];

/**
 * The data half of migration 1 (storage/migration-1.ts), which needs the deployment's key: rows of a release
 * before sealing, which that migration moved to `<table>__clear`, are sealed into the new tables row by row (ids
 * kept) and the clear tables dropped, one table per transaction. Runs before any WhatsApp store reads or writes
 * (createWhatsApp); a no-op once done. Freed pages are overwritten, as `PRAGMA secure_delete` is on.
 * Returns the tables it sealed.
 */
export function sealClearTables(db: Db, sealer: Sealer): string[] {
  const present = new Set(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all() as string[]);
  const sealed: string[] = [];
  for (const t of TABLES) {
    const old = `${t.table}${CLEAR_SUFFIX}`;
    if (!present.has(old)) continue;
    db.transaction(() => {
      const insert = db.prepare(t.insert);
      const batch = db.prepare(`SELECT rowid AS rowid__, * FROM ${old} WHERE rowid > ? ORDER BY rowid LIMIT 500`);
      let last = -Infinity;
      for (;;) {
        const rows = batch.all(last) as OldRow[];
        if (rows.length === 0) break;
        for (const r of rows) insert.run(...t.convert(r, sealer));
        last = rows[rows.length - 1]!.rowid__ as number;
      }
      db.exec(`DROP TABLE ${old}`);
    }).immediate();
    sealed.push(t.table);
  }
  return sealed;
}

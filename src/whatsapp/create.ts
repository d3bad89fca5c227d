import type Database from 'better-sqlite3';
import type { Clock } from '../clock.js';
import type { Emitter } from '../events.js';
import type { MessageEvents } from './message-events.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { GraphClient } from './graph-client.js';
import { Inbox, type InboxOptions } from './inbox.js';
import { SqliteInboxStore, type InboxStore } from './inbox-store.js';
import { PostgresInboxStore } from './inbox-store-postgres.js';
import { Outbox, type OutboxOptions } from './outbox.js';
import { SqliteOutboxStore, type OutboxStore } from './outbox-store.js';
import { PostgresOutboxStore } from './outbox-store-postgres.js';
import { SandboxTransport } from './sandbox-transport.js';
import { PostgresContacts, SqliteContacts, type ContactWindow } from './contacts.js';
import { sealClearTables } from './seal-clear-tables.js';
import type { Sealer } from '../privacy/index.js';
import type { Pool } from '../storage/postgres/index.js';
import type { MessageTransport } from './transport.js';

/** Where the SQLite stores live: the program's database, its Sealer, and the one `Contacts` of the program. */
interface SqliteDeps {
  db: Database.Database;
  sealer: Sealer;
  /** shared by the inbox (which records when a user last wrote) and the outbox (which may answer within 24 h); a tool or test that builds one alone gets its own */
  contacts?: SqliteContacts;
}

/** An outbox over its SQLite store. */
export function sqliteOutbox(opts: Omit<OutboxOptions, 'store' | 'contacts'> & Omit<SqliteDeps, 'contacts'> & { contacts?: ContactWindow }): Outbox {
  const { db, sealer, contacts, ...rest } = opts;
  return new Outbox({ ...rest, store: new SqliteOutboxStore(db, sealer), contacts: contacts ?? new SqliteContacts(db, sealer) });
}

/** An inbox over its SQLite store. */
export function sqliteInbox(opts: Omit<InboxOptions, 'store'> & SqliteDeps): Inbox {
  const { db, sealer, contacts, ...rest } = opts;
  return new Inbox({ ...rest, store: new SqliteInboxStore(db, sealer, contacts ?? new SqliteContacts(db, sealer)) });
}

/** The WhatsApp side as `whatsapp:` configures it: the sandbox or the Cloud API behind one outbox, and the inbox. */
export function createWhatsApp(deps: {
  config: Config['whatsapp'];
  db: Database.Database;
  sealer: Sealer;
  metrics: Metrics;
  events: Emitter<MessageEvents>;
  log: Logger;
  clock?: Clock;
  /**
   * store.url is a PostgreSQL URL: the pool, once the store's room has connected (rooms are built before they start;
   * null on SQLite). The outbox and the inbox keep their rows there, shared with the other instances; absent, in `db`.
   */
  pool?: () => Pool | null;
}): { sandbox: SandboxTransport | null; outbox: Outbox; inbox: Inbox; contacts: ContactWindow } {
  const { config: wa, db, sealer, metrics, events, log, clock, pool } = deps;
  // when each user last wrote, where the inbox records it: in the inbox's commit (SQLite's or PostgreSQL's), read by
  // the outbox to choose between a free-form message and a template
  const local = new SqliteContacts(db, sealer);
  const connected = (): Pool => {
    const p = pool?.();
    if (!p) throw new Error('the contacts were read before the PostgreSQL store connected');
    return p;
  };
  const contacts: ContactWindow = pool ? new PostgresContacts(connected, sealer) : local;
  // a data directory of the release before sealing: its rows are sealed before any store reads or writes these tables
  const sealed = sealClearTables(db, sealer);
  if (sealed.length > 0) log.info({ module: 'whatsapp', tables: sealed }, 'clear-text tables of an older release sealed');
  const sandbox = wa.mode === 'sandbox' ? new SandboxTransport(db, { sealer, clock }) : null;
  const transport: MessageTransport =
    sandbox ?? new GraphClient({ graphUrl: wa.graph_url, apiVersion: wa.api_version, phoneNumberId: wa.phone_number_id, accessToken: wa.access_token, clock });
  if (!sandbox && (!wa.phone_number_id || !wa.access_token)) {
    log.warn({ module: 'whatsapp' }, 'whatsapp.mode is cloud but phone_number_id or access_token is empty: sends will fail');
  }
  log.info({ module: 'whatsapp', mode: wa.mode }, wa.mode === 'sandbox' ? 'whatsapp sandbox: messages are recorded, not sent' : 'whatsapp cloud api');
  const store: OutboxStore = pool
    ? new PostgresOutboxStore(() => {
        const p = pool();
        if (!p) throw new Error('the outbox was used before the PostgreSQL store connected');
        return p;
      }, sealer)
    : new SqliteOutboxStore(db, sealer);
  const outbox = new Outbox({
    store,
    contacts,
    transport,
    log,
    metrics,
    events,
    mps: wa.mps,
    pairIntervalMs: wa.pair_interval_ms,
    messagingLimit: wa.messaging_limit,
    clock,
  });
  // on PostgreSQL the inbox writes the contacts' last-inbound times into its own commit there (whatsapp_contacts)
  const inboxStore = (): InboxStore => {
    const p = pool?.() ?? null;
    return p ? new PostgresInboxStore(p, sealer) : new SqliteInboxStore(db, sealer, local);
  };
  const inbox = new Inbox({ store: inboxStore, log, statuses: outbox, metrics, events, clock });
  return { sandbox, outbox, inbox, contacts };
}

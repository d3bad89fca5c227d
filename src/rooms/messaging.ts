import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { Emitter } from '../events.js';
import type { Room } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Db } from '../storage/index.js';
import type { Pool } from '../storage/postgres/index.js';
import type { Sealer } from '../privacy/index.js';
import { createWhatsApp, type ContactWindow, type Inbox, type MessageEvents, type Outbox, type SandboxTransport } from '../whatsapp/index.js';

/** WhatsApp: the sandbox or the Cloud API behind one outbox, and the inbox. Knows nothing of jobs or residents. */
export interface MessagingRoom extends Room {
  outbox: Outbox;
  inbox: Inbox;
  /** when each user last wrote (the 24-hour window), where the inbox records it: in PostgreSQL with a store.url */
  contacts: ContactWindow;
  /** null in cloud mode */
  sandbox: SandboxTransport | null;
}

/**
 * Builds the outbox and the inbox around one `Contacts` (the inbox records when a user last wrote, the outbox
 * reads it), in PostgreSQL when the store has a pool, so every instance sees the same windows. Its handlers are wired by the rooms built after it, before anything starts, so a backlog left by
 * the last run is handled by them.
 */
export function messagingRoom(deps: {
  config: Config['whatsapp'];
  db: Db;
  sealer: Sealer;
  /** the store room's pool: non-null once it started on PostgreSQL, where the inbox and the outbox then keep their rows */
  pool?: () => Pool | null;
  metrics: Metrics;
  events: Emitter<MessageEvents>;
  log: Logger;
  clock: Clock;
}): MessagingRoom {
  const { sandbox, outbox, inbox, contacts } = createWhatsApp(deps);
  // the outbox's outcomes on the bus (the live page follows them), told after the outbox has stored them
  outbox.onResult((r) => deps.events.emit('message.status', { id: r.id, stage: 'send', status: r.status, at: deps.clock.now() }));
  outbox.onStatus((s) => deps.events.emit('message.status', { id: s.id, stage: 'delivery', status: s.status, at: s.timestamp }));
  return {
    name: 'messaging',
    outbox,
    inbox,
    contacts,
    sandbox,
    start() {
      outbox.start();
      inbox.start();
    },
    // after the dispatcher, so that no job message is queued behind a stopped outbox's back
    async stop() {
      await inbox.stop();
      await outbox.stop();
    },
  };
}

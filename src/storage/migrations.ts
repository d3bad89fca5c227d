import type { Db } from './database.js';
import { firstLayout } from './migration-1.js';
import { noticesLayout } from './migration-2.js';
import { dispatchReasonsLayout } from './migration-3.js';
import { alertForecastLayout } from './migration-4.js';
import { noticeLimitsLayout } from './migration-5.js';
import { reportFeedbackLayout } from './migration-6.js';
import { outboxPriorityLayout } from './migration-7.js';
import { ruleStateSeqLayout } from './migration-8.js';
import { deviceSecretsVersionLayout } from './migration-9.js';
import { registryVersionLayout } from './migration-10.js';
import { spoolRowsLayout } from './migration-11.js';

/** One step of the schema: `up` takes a database at `version - 1` to `version`. */
export interface Migration {
  version: number;
  name: string;
  up: (db: Db) => void;
}

/**
 * Every step the schema has taken, in order. Append only: a release that changes a table adds a migration here
 * (and the store's statements with it); a migration that has shipped is never edited, since databases out there
 * already carry its number.
 */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'the layout of the release before numbered migrations', up: firstLayout },
  { version: 2, name: 'residents subscriptions and notices', up: noticesLayout },
  { version: 3, name: 'why each bin is on its job', up: dispatchReasonsLayout },
  { version: 4, name: 'alerts record the forecast they were opened on', up: alertForecastLayout },
  { version: 5, name: 'notice recipients: when queued and why skipped (quiet hours, weekly cap)', up: noticeLimitsLayout },
  { version: 6, name: "residents' satisfaction: who closed a report, and each resident's answer", up: reportFeedbackLayout },
  { version: 7, name: "the outbox's priority order and Meta's messaging limit", up: outboxPriorityLayout },
  { version: 8, name: "the order of each bin's rule state, written by the journal and by the rules", up: ruleStateSeqLayout },
  { version: 9, name: 'a counter of changes to the device secrets, for a running bridge to notice them', up: deviceSecretsVersionLayout },
  { version: 10, name: "counters of changes to the bins, zones and crews, and the zones' and crews' order", up: registryVersionLayout },
  { version: 11, name: "a spool row holds a group commit's points, not one point", up: spoolRowsLayout },
];

/** The user_version a database has once this release has opened it. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** A database written by a newer binbridge: its tables may mean something this release does not know. */
export class SchemaTooNewError extends Error {
  constructor(
    readonly found: number,
    readonly latest: number,
  ) {
    super(`the database is at schema version ${found}, newer than this binbridge knows (${latest}): run the newer release, or restore the backup taken before upgrading`);
    this.name = 'SchemaTooNewError';
  }
}

/** A migration failed; its transaction was rolled back, so the database stays at the version before it. */
export class MigrationError extends Error {
  constructor(
    readonly migration: Migration,
    readonly at: number,
    cause: unknown,
  ) {
    super(`migration ${migration.version} (${migration.name}) failed, the database stays at version ${at}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'MigrationError';
  }
}

const userVersion = (db: Db): number => db.pragma('user_version', { simple: true }) as number;

/**
 * Brings the database to the last of `migrations`, each in a transaction of its own that also sets
 * `PRAGMA user_version` (the header field is written in the same transaction, so a step is done or not at all).
 * Returns the versions applied; none when the database was current. Transactions are IMMEDIATE and re-read the
 * version: another process opening the same file (the `devices` command beside a running bridge) waits, then skips.
 */
export function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): number[] {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new RangeError(`migration ${m.version} (${m.name}) is listed as number ${i + 1}: versions run 1, 2, 3, … without gaps`);
  });
  const found = userVersion(db);
  if (found > migrations.length) throw new SchemaTooNewError(found, migrations.length);
  const applied: number[] = [];
  for (const m of migrations.slice(found)) {
    const step = db.transaction(() => {
      if (userVersion(db) >= m.version) return false;
      m.up(db);
      db.pragma(`user_version = ${m.version}`);
      return true;
    });
    try {
      if (step.immediate()) applied.push(m.version);
    } catch (err) {
      throw new MigrationError(m, userVersion(db), err);
    }
  }
  return applied;
}

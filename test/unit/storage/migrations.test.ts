import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { MigrationError, SCHEMA_VERSION, SchemaTooNewError, migrate, openDatabase, type Migration } from '../../../src/storage/index.js';

const tables = (db: Database.Database): string[] =>
  db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all() as string[];
const version = (db: Database.Database): number => db.pragma('user_version', { simple: true }) as number;

const steps: Migration[] = [
  { version: 1, name: 'a', up: (db) => db.exec('CREATE TABLE a (x INTEGER)') },
  { version: 2, name: 'b', up: (db) => db.exec('CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (2)') },
];

describe('migrate', () => {
  it('applies the steps a database lacks, in order, and sets user_version to the last', () => {
    const db = new Database(':memory:');
    expect(migrate(db, steps.slice(0, 1))).toEqual([1]);
    expect(version(db)).toBe(1);
    expect(migrate(db, steps)).toEqual([2]);
    expect(version(db)).toBe(2);
    expect(tables(db)).toEqual(['a', 'b']);
    expect(migrate(db, steps)).toEqual([]);
    expect(db.prepare('SELECT x FROM a').pluck().all()).toEqual([2]);
  });

  it('rolls a failing step back whole and says which it was; the steps before it stay', () => {
    const db = new Database(':memory:');
    const failing: Migration = {
      version: 3,
      name: 'c',
      up: (d) => {
        d.exec('CREATE TABLE c (z INTEGER); INSERT INTO a VALUES (3)');
        throw new Error('disk on fire');
      },
    };
    expect(() => migrate(db, [...steps, failing])).toThrow(new MigrationError(failing, 2, new Error('disk on fire')));
    expect(() => migrate(db, [...steps, failing])).toThrow('migration 3 (c) failed, the database stays at version 2: disk on fire');
    expect(version(db)).toBe(2);
    expect(tables(db)).toEqual(['a', 'b']);
    expect(db.prepare('SELECT x FROM a').pluck().all()).toEqual([2]);
  });

  it('refuses a database a newer release wrote, and touches nothing', () => {
    const db = new Database(':memory:');
    migrate(db, steps);
    expect(() => migrate(db, steps.slice(0, 1))).toThrow(SchemaTooNewError);
    expect(() => migrate(db, steps.slice(0, 1))).toThrow('the database is at schema version 2, newer than this binbridge knows (1)');
    expect(version(db)).toBe(2);
  });

  it('refuses a list with a gap or out of order', () => {
    const db = new Database(':memory:');
    expect(() => migrate(db, [steps[1]!])).toThrow('migration 2 (b) is listed as number 1');
    expect(version(db)).toBe(0);
  });

  it('openDatabase names the file when it cannot migrate it, and leaves it as it was', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-migrate-'));
    const file = path.join(dir, 'binbridge.db');
    const raw = new Database(file);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => openDatabase(dir)).toThrow(`${file}: the database is at schema version ${SCHEMA_VERSION + 1}, newer than this binbridge knows (${SCHEMA_VERSION})`);
    const after = new Database(file, { readonly: true });
    expect(version(after)).toBe(SCHEMA_VERSION + 1);
    expect(tables(after)).toEqual([]);
    after.close();
  });
});

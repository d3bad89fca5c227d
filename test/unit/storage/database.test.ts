// binbridge.db holds residents' sealed numbers, device secrets' records and reports: only binbridge's user reads it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/storage/index.js';

const modeOf = (file: string): number => fs.statSync(file).mode & 0o777;

describe('openDatabase', () => {
  it('makes binbridge.db and its write-ahead log readable by its owner only', () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-db-')), 'data');
    const db = openDatabase(dir);
    db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)');
    expect(modeOf(path.join(dir, 'binbridge.db'))).toBe(0o600);
    expect(modeOf(path.join(dir, 'binbridge.db-wal'))).toBe(0o600);
    expect(modeOf(dir)).toBe(0o700);
    db.close();
  });

  it('tightens the file of an older release that left it readable by everyone', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-db-'));
    openDatabase(dir).close();
    fs.chmodSync(path.join(dir, 'binbridge.db'), 0o644);
    openDatabase(dir).close();
    expect(modeOf(path.join(dir, 'binbridge.db'))).toBe(0o600);
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteDispatchStore, type Dispatch } from '../../../src/dispatch/index.js';
import { openDatabase, type Db } from '../../../src/storage/index.js';

let db: Db | undefined;
let dir: string | undefined;
afterEach(() => {
  db?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  db = dir = undefined;
});

function job(id: string, binIds: string[], status: Dispatch['status']): Omit<Dispatch, 'stops'> {
  return { id, zone: 'z', crew_id: null, status, urgent: false, bin_ids: binIds, created_at: 1, sent_at: null, accepted_at: null, done_at: null, escalated_at: null, cancelled_at: null, error: null, map_url: '' };
}

describe('SqliteDispatchStore open jobs', () => {
  it('openJobBins lists the uncollected bins of open jobs only, as inOpenJob answers bin by bin', () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'binbridge-dispatch-store-'));
    db = openDatabase(dir);
    const store = new SqliteDispatchStore(db);
    store.insert(job('J-OPEN1', ['B-1', 'B-2'], 'sent'));
    store.insert(job('J-DONE1', ['B-3'], 'done'));
    store.insert(job('J-CANC1', ['B-4'], 'cancelled'));
    store.insert(job('J-ACC01', ['B-5', 'B-1'], 'accepted'));
    store.markCollected('B-2', 5);
    expect([...store.openJobBins()].sort()).toEqual(['B-1', 'B-5']);
    for (const id of ['B-1', 'B-2', 'B-3', 'B-4', 'B-5']) expect(store.inOpenJob(id)).toBe(store.openJobBins().has(id));
  });
});

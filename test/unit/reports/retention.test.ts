import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { DiskPhotoStore, Retention, SqliteConversationStore, SqliteReportStore } from '../../../src/reports/index.js';
import { SqliteUnitOfWork, openDatabase } from '../../../src/storage/index.js';
import { Sealer, sqliteInbox } from '../../../src/whatsapp/index.js';

const DAY = 86_400_000;

describe('Retention', () => {
  it('purges reports older than retention_days with their photos, and idle conversations (an opt-out stays, without the number)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-ret-'));
    const db = openDatabase(dir);
    const sealer = new Sealer('retention-test-secret-123');
    const reports = new SqliteReportStore(db);
    const conversations = new SqliteConversationStore(db, sealer);
    const photos = new DiskPhotoStore(dir);
    const now = Date.parse('2026-11-25T12:00:00Z');
    const base = { bin_id: 'UTR-0001', method: 'code', reporter: 'p_x', text: null, lat: null, lon: null, source: 'whatsapp' };
    const old = await reports.create({ ...base, photo: await photos.save('old', Buffer.from('jpeg'), 'image/jpeg'), at: now - 181 * DAY });
    const recent = await reports.create({ ...base, photo: null, at: now - 179 * DAY });
    await reports.addReporter(old.id, 'p_x', sealer.seal('31620000009'), 'en', now - 181 * DAY);
    const conv = { lang: 'en', awaiting: null, candidates: [], pending: {}, optedOut: false };
    await conversations.put('p_idle', { ...conv, contact: '31620000009', updatedAt: now - 2 * DAY });
    await conversations.put('p_stop', { ...conv, contact: '31620000008', optedOut: true, updatedAt: now - 2 * DAY });
    await conversations.put('p_active', { ...conv, contact: '31620000007', updatedAt: now - 3_600_000 });

    const log = pino({ level: 'silent' });
    const clock = new ManualClock(now);
    const inbox = sqliteInbox({ db, log, sealer, clock });
    const r = await new Retention({ work: new SqliteUnitOfWork(db, () => ({ reports, conversations })), photos, retentionDays: 180, inbox, log, clock }).purge();
    expect(r).toEqual({ reports: 1, conversations: 2, inbox: { bodies: 0, deliveries: 0, messages: 0, statuses: 0 } });
    expect(await reports.get(old.id)).toBeUndefined();
    expect(await reports.get(recent.id)).toBeDefined();
    expect(fs.readdirSync(photos.dir)).toEqual([]);
    expect(await conversations.get('p_idle')).toBeUndefined();
    expect(await conversations.get('p_stop')).toMatchObject({ optedOut: true, contact: '' });
    expect((await conversations.get('p_active'))?.contact).toBe('31620000007');
  });

  it('purges only while this instance holds the lease: at start, when it takes the lease, then daily while it holds it', async () => {
    const db = openDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-ret-')));
    const sealer = new Sealer('retention-test-secret-123');
    const log = pino({ level: 'silent' });
    const clock = new ManualClock(Date.parse('2026-11-25T12:00:00Z'));
    let held = false;
    const listeners: ((holds: boolean) => void)[] = [];
    const lease = { holds: () => held, onChange: (fn: (holds: boolean) => void) => (listeners.push(fn), () => void listeners.splice(listeners.indexOf(fn), 1)) };
    const take = (holds: boolean) => {
      held = holds;
      for (const fn of [...listeners]) fn(holds);
    };
    const uow = new SqliteUnitOfWork(db, (d) => ({ reports: new SqliteReportStore(d), conversations: new SqliteConversationStore(d, sealer) }));
    let purges = 0;
    const work = { tx: <R>(fn: Parameters<typeof uow.tx<R>>[0]) => (purges++, uow.tx(fn)) };
    const retention = new Retention({ work, photos: new DiskPhotoStore(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-ret-'))), retentionDays: 180, inbox: sqliteInbox({ db, log, sealer, clock }), lease, log, clock });
    retention.start();
    await clock.advance(DAY);
    // another instance holds it: nothing at start, nothing a day later
    expect(purges).toBe(0);
    take(true);
    expect(purges).toBe(1);
    await clock.advance(DAY);
    expect(purges).toBe(2);
    take(false);
    await clock.advance(DAY);
    expect(purges).toBe(2);
    retention.stop();
    take(true);
    expect(purges).toBe(2);
  });
});

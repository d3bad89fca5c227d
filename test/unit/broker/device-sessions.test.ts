import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteDeviceSecrets, type DeviceSecrets } from '../../../src/broker/index.js';
import { ManualClock } from '../../../src/clock.js';
import { DeviceSessions, type DeviceSession } from '../../../src/broker/device-sessions.js';
import { migrated } from '../../helpers/db.js';

const KEY = Buffer.alloc(32, 7);

type Session = DeviceSession & { name: string; closed: boolean };

describe('DeviceSessions', () => {
  let sessions: DeviceSessions<Session> | null = null;
  afterEach(() => sessions?.stop());

  it('ends the sessions of a revoked or rotated secret, its own changes at once and another process\'s when it looks', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-sess-')), 'x.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    migrated(db);
    const secrets = new SqliteDeviceSecrets(db, KEY);
    const ended: string[] = [];
    sessions = new DeviceSessions<Session>(secrets, (s) => ended.push(s.name), pino({ level: 'silent' }), 60_000);
    sessions.start();
    const open = async (name: string, bin: string, secret: string): Promise<Session> => {
      const generation = sessions!.generation;
      const record = await secrets.match(bin, secret);
      const s: Session = { name, closed: false, close: () => undefined };
      sessions!.login(s, bin, record!, generation);
      sessions!.add(s);
      return s;
    };
    const a = await open('a', 'UTR-0001', await secrets.issue('UTR-0001'));
    const b = await open('b', 'UTR-0002', await secrets.issue('UTR-0002'));
    const c = await open('c', 'UTR-0003', await secrets.issue('UTR-0003'));
    expect(sessions.count('UTR-0001')).toBe(1);

    secrets.revoke('UTR-0001');
    expect(ended).toEqual(['a']);
    expect(sessions.current(a)).toBe(false);
    expect(sessions.current(b)).toBe(true);

    // `binbridge devices secret UTR-0002`, another process: noticed at the next look, not before
    const other = new SqliteDeviceSecrets(new Database(file), KEY);
    await other.issue('UTR-0002');
    expect(sessions.current(b)).toBe(true);
    expect(await secrets.externalChange()).toBe(true);
    expect(ended).toEqual(['a', 'b']);
    expect(sessions.current(b)).toBe(false);
    expect(sessions.current(c)).toBe(true);

    // a secret revoked while its login was being verified: the session is stale from its first reading
    const secretD = await secrets.issue('UTR-0004');
    const generation = sessions.generation;
    const record = await secrets.match('UTR-0004', secretD);
    secrets.revoke('UTR-0004');
    const d: Session = { name: 'd', closed: false, close: () => undefined };
    sessions.login(d, 'UTR-0004', record!, generation);
    expect(sessions.current(d)).toBe(false);
  });
});

describe('DeviceSessions looking at a database that is gone', () => {
  it('says so once per outage, not at every look, and once when it can look again', async () => {
    const clock = new ManualClock(0);
    const lines: { level: number; event?: string }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; event?: string }) });
    let down = true;
    const secrets = {
      generation: 0,
      onChange: () => () => {},
      externalChange: () => (down ? Promise.reject(new Error('connection refused')) : Promise.resolve(false)),
    } as unknown as DeviceSecrets;
    const watched = new DeviceSessions<Session>(secrets, () => {}, log, 1000, clock);
    watched.start();
    try {
      await clock.advance(5000);
      expect(lines.map((l) => l.event)).toEqual(['device_secrets_look_failed']);
      down = false;
      await clock.advance(3000);
      expect(lines.map((l) => l.event)).toEqual(['device_secrets_look_failed', 'device_secrets_look_ok']);
    } finally {
      watched.stop();
    }
  });
});

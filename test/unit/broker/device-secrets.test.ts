import { scrypt, type ScryptOptions } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { DeviceSecrets } from '../../../src/broker/index.js';
import { memoryDb, migrated } from '../../helpers/db.js';

describe('DeviceSecrets', () => {
  it('stores only a scrypt hash, verifies, rotates and revokes', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-sec-')), 'x.db');
    const db = migrated(new Database(file));
    const secrets = new DeviceSecrets(db);
    const s1 = await secrets.issue('UTR-0001');
    expect(s1.length).toBeGreaterThanOrEqual(32);
    const stored = db.prepare('SELECT hash FROM device_secrets').pluck().get() as string;
    expect(stored).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(stored).not.toContain(s1);
    db.close();
    expect(fs.readFileSync(file).includes(Buffer.from(s1))).toBe(false);

    const again = new DeviceSecrets(new Database(file));
    expect(await again.verify('UTR-0001', s1)).toBe(true);
    expect(await again.verify('UTR-0001', s1)).toBe(true); // the remembered path
    expect(await again.verify('UTR-0001', 'wrong')).toBe(false);
    expect(await again.verify('UTR-0002', s1)).toBe(false);
    const s2 = await again.issue('UTR-0001');
    expect(await again.verify('UTR-0001', s1)).toBe(false);
    expect(await again.verify('UTR-0001', s2)).toBe(true);
    expect(again.revoke('UTR-0001')).toBe(true);
    expect(await again.verify('UTR-0001', s2)).toBe(false);
  });
});

describe('DeviceSecrets: a refusal costs the same work whether the bin exists or not', () => {
  it('runs the key derivation once, with the same parameters, for an unknown bin and for any wrong secret', async () => {
    const calls: string[] = [];
    const kdf = (password: Buffer, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> => {
      calls.push(`N=${opts.N} r=${opts.r} p=${opts.p} keylen=${keylen} salt=${salt.length}`);
      return new Promise((resolve, reject) => scrypt(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
    };
    const secrets = new DeviceSecrets(memoryDb(), { kdf });
    const secret = await secrets.issue('UTR-0001');
    const work = async (bin: string, password: string): Promise<{ ok: boolean; calls: string[] }> => {
      calls.length = 0;
      const ok = await secrets.verify(bin, password);
      return { ok, calls: [...calls] };
    };
    const one = ['N=16384 r=8 p=1 keylen=32 salt=16'];
    expect(await work('UTR-0001', secret)).toEqual({ ok: true, calls: one });
    // the correct secret, once proven, is remembered: fast, and nothing to hide
    expect(await work('UTR-0001', secret)).toEqual({ ok: true, calls: [] });
    // a wrong secret for that bin is not answered from memory
    expect(await work('UTR-0001', 'wrong')).toEqual({ ok: false, calls: one });
    expect(await work('UTR-0002', 'wrong')).toEqual({ ok: false, calls: one });
    expect(await work('UTR-0002', secret)).toEqual({ ok: false, calls: one });
  });
});

describe('DeviceSecrets: changes', () => {
  it('tells of its own changes at once and of another connection\'s when asked; the generation moves with each', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-sec-')), 'x.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    migrated(db);
    const secrets = new DeviceSecrets(db);
    const changes: (string | null)[] = [];
    const stop = secrets.onChange((c) => changes.push(c.binId));
    await secrets.issue('UTR-0001');
    expect(secrets.revoke('UTR-0001')).toBe(true);
    expect(secrets.revoke('UTR-0001')).toBe(false); // nothing changed
    expect(changes).toEqual(['UTR-0001', 'UTR-0001']);
    expect(secrets.generation).toBe(2);
    expect(secrets.externalChange()).toBe(false); // its own writes are not news

    // another process, e.g. `binbridge devices revoke`, writes the same file
    const other = new DeviceSecrets(new Database(file));
    await other.issue('UTR-0002');
    expect(changes).toEqual(['UTR-0001', 'UTR-0001']);
    expect(secrets.externalChange()).toBe(true);
    expect(secrets.externalChange()).toBe(false);
    expect(changes).toEqual(['UTR-0001', 'UTR-0001', null]);
    expect(secrets.generation).toBe(3);
    expect(secrets.has('UTR-0002')).toBe(true);
    stop();
    await secrets.issue('UTR-0003');
    expect(changes.length).toBe(3);
  });
});

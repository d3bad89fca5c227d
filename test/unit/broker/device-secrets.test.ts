import { scrypt, type ScryptOptions } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SqliteDeviceSecrets, loadDeviceKey } from '../../../src/broker/index.js';
import { memoryDb, migrated } from '../../helpers/db.js';
import { provisionLegacy } from '../../helpers/legacy-secret.js';

const KEY = Buffer.alloc(32, 7);

/** scrypt through node:crypto, each call's parameters counted in `calls` */
function countingKdf(calls: string[]) {
  return (password: Buffer, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> => {
    calls.push(`N=${opts.N} r=${opts.r} p=${opts.p} keylen=${keylen} salt=${salt.length}`);
    return new Promise((resolve, reject) => scrypt(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
  };
}

const hashOf = (db: Database.Database, binId: string): string | undefined => db.prepare('SELECT hash FROM device_secrets WHERE bin_id = ?').pluck().get(binId) as string | undefined;

describe('DeviceSecrets', () => {
  it('stores only a keyed HMAC of the secret, verifies, rotates and revokes', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-sec-')), 'x.db');
    const db = migrated(new Database(file));
    const calls: string[] = [];
    const secrets = new SqliteDeviceSecrets(db, KEY, { kdf: countingKdf(calls) });
    const s1 = await secrets.issue('UTR-0001');
    expect(s1.length).toBeGreaterThanOrEqual(32);
    const stored = hashOf(db, 'UTR-0001')!;
    expect(stored).toMatch(/^hmac-sha256\$[A-Za-z0-9_-]{43}$/);
    expect(stored).not.toContain(s1);
    db.close();
    expect(fs.readFileSync(file).includes(Buffer.from(s1))).toBe(false);

    // a login with the record: no key derivation at all
    expect(await new SqliteDeviceSecrets(new Database(file), KEY, { kdf: countingKdf(calls) }).verify('UTR-0001', s1)).toBe(true);
    expect(calls).toEqual([]);
    // the record is worth nothing without the key (a leaked database alone)
    expect(await new SqliteDeviceSecrets(new Database(file), Buffer.alloc(32, 8)).verify('UTR-0001', s1)).toBe(false);

    const again = new SqliteDeviceSecrets(new Database(file), KEY);
    expect(await again.verify('UTR-0001', s1)).toBe(true);
    expect(await again.verify('UTR-0001', s1)).toBe(true); // the remembered path
    expect(await again.verify('UTR-0001', 'wrong')).toBe(false);
    expect(await again.verify('UTR-0002', s1)).toBe(false);
    const s2 = await again.issue('UTR-0001');
    expect(await again.verify('UTR-0001', s1)).toBe(false);
    expect(await again.verify('UTR-0001', s2)).toBe(true);
    expect(await again.revoke('UTR-0001')).toBe(true);
    expect(await again.verify('UTR-0001', s2)).toBe(false);
  });
});

describe('DeviceSecrets: a refusal costs the same work whether the bin exists or not', () => {
  it('runs the key derivation once, with the same parameters, for an unknown bin and for any wrong secret while scrypt records remain', async () => {
    const calls: string[] = [];
    const db = memoryDb();
    const secrets = new SqliteDeviceSecrets(db, KEY, { kdf: countingKdf(calls) });
    const secret = await provisionLegacy(db, 'UTR-0001');
    const fresh = await secrets.issue('UTR-0003');
    await provisionLegacy(db, 'UTR-0004'); // stays scrypt: the refusals below keep paying for it
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
    // a wrong secret for a bin with an HMAC record costs the same as for one with a scrypt record
    expect(await work('UTR-0003', 'wrong')).toEqual({ ok: false, calls: one });
    // a correct one is fast: nothing to hide
    expect(await work('UTR-0003', fresh)).toEqual({ ok: true, calls: [] });
  });

  it('refuses without any key derivation once no scrypt record is left', async () => {
    const calls: string[] = [];
    const db = memoryDb();
    const secrets = new SqliteDeviceSecrets(db, KEY, { kdf: countingKdf(calls) });
    const legacy = await provisionLegacy(db, 'UTR-0001');
    await secrets.issue('UTR-0002');
    expect(await secrets.verify('UTR-0009', 'wrong')).toBe(false);
    expect(calls).toHaveLength(1);
    expect(await secrets.verify('UTR-0001', legacy)).toBe(true); // upgraded: the last scrypt record
    calls.length = 0;
    expect(await secrets.verify('UTR-0009', 'wrong')).toBe(false);
    expect(await secrets.verify('UTR-0002', 'wrong')).toBe(false);
    expect(await secrets.verify('UTR-0001', 'wrong')).toBe(false);
    expect(calls).toEqual([]);
  });
});

describe('DeviceSecrets: scrypt records of the release before', () => {
  it('upgrades a scrypt record to an HMAC one at its first successful login, and refuses a wrong secret before and after', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-sec-')), 'x.db');
    const db = migrated(new Database(file));
    const secret = await provisionLegacy(db, 'UTR-0001');
    const before = hashOf(db, 'UTR-0001')!;
    const calls: string[] = [];
    const secrets = new SqliteDeviceSecrets(db, KEY, { kdf: countingKdf(calls) });
    const changes: (string | null)[] = [];
    secrets.onChange((c) => changes.push(c.binId));

    expect(await secrets.verify('UTR-0001', 'wrong')).toBe(false);
    expect(hashOf(db, 'UTR-0001')).toBe(before);
    const record = await secrets.match('UTR-0001', secret);
    expect(record).toMatch(/^hmac-sha256\$/);
    expect(hashOf(db, 'UTR-0001')).toBe(record);
    expect(secrets.record('UTR-0001')).toBe(record);
    // the same secret: no change that would end the device's sessions
    expect(changes).toEqual([]);
    expect(secrets.generation).toBe(0);
    db.close();
    expect(fs.readFileSync(file).includes(Buffer.from(secret))).toBe(false);

    // a fresh process: nothing remembered, and no scrypt any more
    calls.length = 0;
    const later = new SqliteDeviceSecrets(new Database(file), KEY, { kdf: countingKdf(calls) });
    expect(await later.verify('UTR-0001', secret)).toBe(true);
    expect(await later.verify('UTR-0001', 'wrong')).toBe(false);
    expect(calls).toEqual([]);
  });

  it('two logins of one device at once both succeed and leave one HMAC record', async () => {
    const db = memoryDb();
    const secret = await provisionLegacy(db, 'UTR-0001');
    const a = new SqliteDeviceSecrets(db, KEY);
    const b = new SqliteDeviceSecrets(db, KEY);
    const [ra, rb] = await Promise.all([a.match('UTR-0001', secret), b.match('UTR-0001', secret)]);
    expect(ra).toMatch(/^hmac-sha256\$/);
    expect(rb).toBe(ra);
    expect(hashOf(db, 'UTR-0001')).toBe(ra);
  });

  it('does not bring back a secret rotated while its old scrypt record was being verified', async () => {
    const db = memoryDb();
    const old = await provisionLegacy(db, 'UTR-0001');
    const secrets = new SqliteDeviceSecrets(db, KEY);
    const verifying = secrets.match('UTR-0001', old);
    const rotated = await secrets.issue('UTR-0001');
    expect(await verifying).toBeNull();
    expect(await secrets.verify('UTR-0001', old)).toBe(false);
    expect(await secrets.verify('UTR-0001', rotated)).toBe(true);
  });
});

describe('loadDeviceKey', () => {
  it('generates the key once into data_dir with mode 0600 and reads it back after', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-key-'));
    const first = loadDeviceKey(dir);
    expect(first).toMatchObject({ created: true, file: path.join(dir, 'device-secrets.key') });
    expect(fs.statSync(first.file).mode & 0o777).toBe(0o600);
    const second = loadDeviceKey(dir);
    expect(second.created).toBe(false);
    expect(second.key.equals(first.key)).toBe(true);
    fs.writeFileSync(first.file, 'short\n');
    expect(() => loadDeviceKey(dir)).toThrow(/device-secrets\.key holds no usable key/);
  });

  it('takes mqtt.device_secrets_key when set: one key for every instance, whatever their data folders hold, no file written', () => {
    const [a, b] = [fs.mkdtempSync(path.join(os.tmpdir(), 'bb-key-')), fs.mkdtempSync(path.join(os.tmpdir(), 'bb-key-'))];
    const secret = 'f'.repeat(64);
    loadDeviceKey(b); // b has a generated file of its own: the setting wins over it
    const [ka, kb] = [loadDeviceKey(a, secret), loadDeviceKey(b, secret)];
    expect(ka.key.equals(kb.key)).toBe(true);
    expect(ka).toMatchObject({ created: false, file: 'mqtt.device_secrets_key' });
    expect(fs.existsSync(path.join(a, 'device-secrets.key'))).toBe(false);
    expect(ka.key.equals(loadDeviceKey(b).key)).toBe(false);
    expect(() => loadDeviceKey(a, 'too-short')).toThrow(/mqtt\.device_secrets_key .*at least 32 characters/);
  });
});

describe('DeviceSecrets: changes', () => {
  it('tells of its own changes at once and of another connection\'s when asked; the generation moves with each', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-sec-')), 'x.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    migrated(db);
    const secrets = new SqliteDeviceSecrets(db, KEY);
    const changes: (string | null)[] = [];
    const stop = secrets.onChange((c) => changes.push(c.binId));
    await secrets.issue('UTR-0001');
    expect(await secrets.revoke('UTR-0001')).toBe(true);
    expect(await secrets.revoke('UTR-0001')).toBe(false); // nothing changed
    expect(changes).toEqual(['UTR-0001', 'UTR-0001']);
    expect(secrets.generation).toBe(2);
    expect(await secrets.externalChange()).toBe(false); // its own writes are not news

    // another process, e.g. `binbridge devices revoke`, writes the same file
    const other = new SqliteDeviceSecrets(new Database(file), KEY);
    await other.issue('UTR-0002');
    expect(changes).toEqual(['UTR-0001', 'UTR-0001']);
    expect(await secrets.externalChange()).toBe(true);
    expect(await secrets.externalChange()).toBe(false);
    expect(changes).toEqual(['UTR-0001', 'UTR-0001', null]);
    expect(secrets.generation).toBe(3);
    expect(secrets.has('UTR-0002')).toBe(true);
    stop();
    await secrets.issue('UTR-0003');
    expect(changes.length).toBe(3);
  });

  it("is not told of another connection's commits to other tables (the journal worker's readings), nor of its own after them", async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-sec-')), 'x.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    migrated(db);
    const secrets = new SqliteDeviceSecrets(db, KEY);
    await secrets.issue('UTR-0001');
    const changes: (string | null)[] = [];
    secrets.onChange((c) => changes.push(c.binId));
    // the journal worker has a connection of its own to the same file and commits readings every few ms
    const worker = new Database(file);
    worker.prepare('INSERT INTO bin_state (bin_id, fill_pct, ts, received_at) VALUES (?, ?, ?, ?)').run('UTR-0001', 50, 1, 1);
    expect(await secrets.externalChange()).toBe(false);
    await secrets.issue('UTR-0002'); // its own change, told at once
    worker.prepare('UPDATE bin_state SET fill_pct = 60').run();
    expect(await secrets.externalChange()).toBe(false);
    expect(changes).toEqual(['UTR-0002']);
    // a change of secrets by another process is still found, among the other commits
    const other = new SqliteDeviceSecrets(new Database(file), KEY);
    expect(await other.revoke('UTR-0001')).toBe(true);
    worker.prepare('UPDATE bin_state SET fill_pct = 70').run();
    expect(await secrets.externalChange()).toBe(true);
    expect(changes).toEqual(['UTR-0002', null]);
    expect(secrets.has('UTR-0001')).toBe(false);
  });
});

import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type Database from 'better-sqlite3';
import { realClock, type Clock } from '../clock.js';

const scrypt = (password: Buffer, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> =>
  new Promise((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));

// Node's default cost. Secrets are 192 random bits issued by us, never chosen by people, so the hash
// guards a leaked database against lookup, not against guessing; a higher cost would only slow
// reconnect storms and provisioning. Verification runs on libuv's thread pool.
const PARAMS = { N: 2 ** 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEYLEN = 32;

function encode(salt: Buffer, key: Buffer): string {
  return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/**
 * Per-device MQTT secrets. Only scrypt hashes are stored; a secret is shown once, when it is issued.
 * A verified secret is remembered (as a SHA-256 of it, in memory) so that reconnect storms do not
 * each pay for scrypt.
 */
export class DeviceSecrets {
  private readonly verified = new Map<string, { record: string; digest: Buffer }>();

  constructor(
    private readonly db: Database.Database,
    private readonly clock: Clock = realClock,
  ) {
    db.exec(`CREATE TABLE IF NOT EXISTS device_secrets (bin_id TEXT PRIMARY KEY, hash TEXT NOT NULL, issued_at INTEGER NOT NULL)`);
  }

  /** Creates or rotates the secret of a device; returns the new secret (the only time it exists in clear). */
  async issue(binId: string): Promise<string> {
    const secret = randomBytes(24).toString('base64url');
    const salt = randomBytes(16);
    const key = await scrypt(Buffer.from(secret), salt, KEYLEN, PARAMS);
    this.db
      .prepare('INSERT INTO device_secrets (bin_id, hash, issued_at) VALUES (?, ?, ?) ON CONFLICT (bin_id) DO UPDATE SET hash = excluded.hash, issued_at = excluded.issued_at')
      .run(binId, encode(salt, key), this.clock.now());
    this.verified.delete(binId);
    return secret;
  }

  revoke(binId: string): boolean {
    this.verified.delete(binId);
    return this.db.prepare('DELETE FROM device_secrets WHERE bin_id = ?').run(binId).changes > 0;
  }

  has(binId: string): boolean {
    return this.db.prepare('SELECT 1 FROM device_secrets WHERE bin_id = ?').get(binId) !== undefined;
  }

  list(): { bin_id: string; issued_at: number }[] {
    return this.db.prepare('SELECT bin_id, issued_at FROM device_secrets ORDER BY bin_id').all() as { bin_id: string; issued_at: number }[];
  }

  async verify(binId: string, password: Buffer | string): Promise<boolean> {
    const record = this.db.prepare('SELECT hash FROM device_secrets WHERE bin_id = ?').pluck().get(binId) as string | undefined;
    if (!record) return false;
    const pw = Buffer.isBuffer(password) ? password : Buffer.from(password);
    const digest = createHash('sha256').update(pw).digest();
    const cached = this.verified.get(binId);
    if (cached && cached.record === record) return timingSafeEqual(cached.digest, digest);
    const [scheme, n, r, p, saltB64, keyB64] = record.split('$');
    if (scheme !== 'scrypt' || !saltB64 || !keyB64) return false;
    const expected = Buffer.from(keyB64, 'base64');
    const key = await scrypt(pw, Buffer.from(saltB64, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: PARAMS.maxmem });
    const ok = timingSafeEqual(key, expected);
    if (ok) this.verified.set(binId, { record, digest });
    return ok;
  }
}

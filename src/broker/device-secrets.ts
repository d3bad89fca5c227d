import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type Database from 'better-sqlite3';
import { realClock, type Clock } from '../clock.js';

/** The key derivation; scrypt unless a test counts its calls. */
export type Kdf = (password: Buffer, salt: Buffer, keylen: number, opts: ScryptOptions) => Promise<Buffer>;

const scrypt: Kdf = (password, salt, keylen, opts) =>
  new Promise((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));

// Node's default cost. Secrets are 192 random bits issued by us, never chosen by people, so the hash
// guards a leaked database against lookup, not against guessing; a higher cost would only slow
// reconnect storms and provisioning. Verification runs on libuv's thread pool.
const PARAMS = { N: 2 ** 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEYLEN = 32;

interface Parsed {
  salt: Buffer;
  key: Buffer;
  opts: ScryptOptions;
}

function encode(salt: Buffer, key: Buffer): string {
  return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

function parse(record: string): Parsed | null {
  const [scheme, n, r, p, saltB64, keyB64] = record.split('$');
  if (scheme !== 'scrypt' || !saltB64 || !keyB64) return null;
  return { salt: Buffer.from(saltB64, 'base64'), key: Buffer.from(keyB64, 'base64'), opts: { N: Number(n), r: Number(r), p: Number(p), maxmem: PARAMS.maxmem } };
}

/** What changed: one bin's secret (issued, rotated or revoked here), or any (another process wrote the file). */
export type SecretsChange = { binId: string } | { binId: null };

/**
 * Per-device MQTT secrets. Only scrypt hashes are stored; a secret is shown once, when it is issued.
 * A verified secret is remembered (as a SHA-256 of it, in memory) so that reconnect storms do not
 * each pay for scrypt. A refusal always pays for it — for an unknown bin against a stand-in record of the
 * same cost — so that its time does not tell which bins exist.
 */
export class DeviceSecrets {
  private readonly verified = new Map<string, { record: string; digest: Buffer }>();
  private readonly standIn: Parsed = { salt: randomBytes(16), key: randomBytes(KEYLEN), opts: PARAMS };
  private readonly listeners: ((change: SecretsChange) => void)[] = [];
  private readonly kdf: Kdf;
  private readonly clock: Clock;
  private dataVersion: number;
  /** moves on every change to the secrets this process learns of; a session checks it before each reading */
  generation = 0;

  constructor(
    private readonly db: Database.Database,
    opts: { kdf?: Kdf; clock?: Clock } = {},
  ) {
    this.kdf = opts.kdf ?? scrypt;
    this.clock = opts.clock ?? realClock;
    this.dataVersion = this.readDataVersion();
  }

  /** Called on every change this process makes, and on changes by other processes that externalChange() finds. */
  onChange(listener: (change: SecretsChange) => void): () => void {
    this.listeners.push(listener);
    return () => void this.listeners.splice(this.listeners.indexOf(listener) >>> 0, 1);
  }

  /** Creates or rotates the secret of a device; returns the new secret (the only time it exists in clear). */
  async issue(binId: string): Promise<string> {
    const secret = randomBytes(24).toString('base64url');
    const salt = randomBytes(16);
    const key = await this.kdf(Buffer.from(secret), salt, KEYLEN, PARAMS);
    this.db
      .prepare('INSERT INTO device_secrets (bin_id, hash, issued_at) VALUES (?, ?, ?) ON CONFLICT (bin_id) DO UPDATE SET hash = excluded.hash, issued_at = excluded.issued_at')
      .run(binId, encode(salt, key), this.clock.now());
    this.changed({ binId });
    return secret;
  }

  revoke(binId: string): boolean {
    const gone = this.db.prepare('DELETE FROM device_secrets WHERE bin_id = ?').run(binId).changes > 0;
    if (gone) this.changed({ binId });
    return gone;
  }

  has(binId: string): boolean {
    return this.record(binId) !== undefined;
  }

  /** The stored hash of a bin's secret; a session remembers the one it logged in with, to notice a rotation. */
  record(binId: string): string | undefined {
    return this.db.prepare('SELECT hash FROM device_secrets WHERE bin_id = ?').pluck().get(binId) as string | undefined;
  }

  list(): { bin_id: string; issued_at: number }[] {
    return this.db.prepare('SELECT bin_id, issued_at FROM device_secrets ORDER BY bin_id').all() as { bin_id: string; issued_at: number }[];
  }

  /**
   * Has another process (the `devices` command) written the database since the last call? PRAGMA data_version
   * moves only for other connections' commits, and costs about 10 µs: for a timer, not for every reading.
   */
  externalChange(): boolean {
    const v = this.readDataVersion();
    if (v === this.dataVersion) return false;
    this.dataVersion = v;
    this.changed({ binId: null });
    return true;
  }

  async verify(binId: string, password: Buffer | string): Promise<boolean> {
    return (await this.match(binId, password)) !== null;
  }

  /** The record the secret matches from memory, with no key derivation; null when it must be verified. */
  matchRemembered(binId: string, password: Buffer | string): string | null {
    return this.remembered(binId, this.record(binId), password);
  }

  /** The stored record the secret matches, or null; the same key derivation runs whether or not the bin has a secret. */
  async match(binId: string, password: Buffer | string): Promise<string | null> {
    const record = this.record(binId);
    // a correct secret proven before may be answered fast: a login that succeeds has nothing to hide
    if (this.remembered(binId, record, password)) return record!;
    const pw = Buffer.isBuffer(password) ? password : Buffer.from(password);
    const parsed = record ? parse(record) : null;
    const against = parsed ?? this.standIn;
    const key = await this.kdf(pw, against.salt, against.key.length, against.opts);
    if (!parsed || !timingSafeEqual(key, against.key)) return null;
    this.verified.set(binId, { record: record!, digest: digest(pw) });
    return record!;
  }

  private remembered(binId: string, record: string | undefined, password: Buffer | string): string | null {
    const cached = this.verified.get(binId);
    if (!record || !cached || cached.record !== record) return null;
    return timingSafeEqual(cached.digest, digest(password)) ? record : null;
  }

  private changed(change: SecretsChange): void {
    // a remembered secret is checked against the current record on every use; this only frees the memory
    if (change.binId !== null) this.verified.delete(change.binId);
    this.generation++;
    for (const l of this.listeners) l(change);
  }

  private readDataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }
}

function digest(password: Buffer | string): Buffer {
  return createHash('sha256').update(password).digest();
}

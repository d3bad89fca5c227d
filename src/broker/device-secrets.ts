import { createHash, createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type Database from 'better-sqlite3';
import { realClock, type Clock } from '../clock.js';

/** The key derivation of the release before's records; scrypt unless a test counts its calls. */
export type Kdf = (password: Buffer, salt: Buffer, keylen: number, opts: ScryptOptions) => Promise<Buffer>;

const scrypt: Kdf = (password, salt, keylen, opts) =>
  new Promise((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));

// Secrets are 192 random bits issued by binbridge, never chosen by people: a guess has no better odds against a
// fast hash than against a slow one. So a record is an HMAC-SHA-256 under a key kept outside the database
// (device-key.ts), which a leaked database alone cannot test a secret against; the bin id is part of the message,
// so a record copied to another bin does not verify. One HMAC costs a few microseconds where scrypt
// (N = 2^14) cost 18 ms of a core, which made a reconnect storm of 15,000 devices take minutes.
const HMAC_SCHEME = 'hmac-sha256';
const MAC_BYTES = 32;

// The release before stored scrypt records; they verify as before and are replaced by an HMAC record at the
// device's first successful login (no migration: the column holds either).
const SCRYPT_PARAMS = { N: 2 ** 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const SCRYPT_KEYLEN = 32;

interface ScryptRecord {
  salt: Buffer;
  key: Buffer;
  opts: ScryptOptions;
}

function parseScrypt(record: string): ScryptRecord | null {
  const [scheme, n, r, p, saltB64, keyB64] = record.split('$');
  if (scheme !== 'scrypt' || !saltB64 || !keyB64) return null;
  return { salt: Buffer.from(saltB64, 'base64'), key: Buffer.from(keyB64, 'base64'), opts: { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT_PARAMS.maxmem } };
}

function parseHmac(record: string): Buffer | null {
  const [scheme, mac] = record.split('$');
  if (scheme !== HMAC_SCHEME || !mac) return null;
  const bytes = Buffer.from(mac, 'base64url');
  return bytes.length === MAC_BYTES ? bytes : null;
}

/** What changed: one bin's secret (issued, rotated or revoked here), or any (another process wrote the file). */
export type SecretsChange = { binId: string } | { binId: null };

/**
 * Per-device MQTT secrets: issued here, shown once, kept as keyed hashes; what the broker and its sessions check a
 * device's login against, and what the `devices` command provisions. Every record is held in memory, so a login
 * and a reading never wait for the database; writes go to the database and then to memory.
 */
export interface DeviceSecrets {
  /** moves on every change to the secrets this process learns of; a session checks it before each reading */
  readonly generation: number;
  /** Called on every change this process makes, and on changes by other processes that externalChange() finds. */
  onChange(listener: (change: SecretsChange) => void): () => void;
  /** Creates or rotates the secret of a device; returns the new secret (the only time it exists in clear). */
  issue(binId: string): Promise<string>;
  /** Removes a device's secret; false when it had none. Its sessions end (through onChange) once it is gone. */
  revoke(binId: string): Promise<boolean>;
  has(binId: string): boolean;
  /** The stored hash of a bin's secret; a session remembers the one it logged in with, to notice a rotation. */
  record(binId: string): string | undefined;
  list(): Promise<{ bin_id: string; issued_at: number }[]>;
  /** How many records of each kind: `scrypt` ones are upgraded at their device's next login. */
  counts(): { hmac: number; scrypt: number };
  /** Has another process (the `devices` command, another instance) changed the secrets since the last call? Tells the listeners. */
  externalChange(): Promise<boolean>;
  verify(binId: string, password: Buffer | string): Promise<boolean>;
  /** The record the secret matches from memory, with no hashing under the key; null when it must be verified. */
  matchRemembered(binId: string, password: Buffer | string): string | null;
  /** The stored record the secret matches (after an upgrade, the new one), or null; every refusal costs the same work. */
  match(binId: string, password: Buffer | string): Promise<string | null>;
}

/**
 * What both stores share: the records' checks, the memory of proven secrets and the listeners. A verified secret is
 * remembered (as a SHA-256 of it, in memory): a bin blocked after failed logins still lets a secret proven since
 * start-up in. A refusal always costs the same work — for an unknown bin against stand-in records — so that its
 * time does not tell which bins exist: one HMAC, and one scrypt while any scrypt record is left (a wrong secret for
 * such a bin costs one). A correct secret has nothing to hide and costs an HMAC.
 */
export abstract class KeyedSecrets {
  /**
   * Secrets proven since start-up: per bin, a SHA-256 of the record and the secret (a 32-character latin1 string,
   * some 80 bytes a device where a record and a Buffer took 300): it opens only the record it was proven against.
   */
  private readonly verified = new Map<string, string>();
  private readonly standIn: ScryptRecord = { salt: randomBytes(16), key: randomBytes(SCRYPT_KEYLEN), opts: SCRYPT_PARAMS };
  private readonly standInMac = randomBytes(MAC_BYTES);
  private readonly listeners: ((change: SecretsChange) => void)[] = [];
  protected readonly kdf: Kdf;
  protected readonly clock: Clock;
  /** moves on every change to the secrets this process learns of; a session checks it before each reading */
  generation = 0;

  /** `key`: the HMAC key from loadDeviceKey (data_dir), never from the database */
  constructor(
    private readonly key: Buffer,
    opts: { kdf?: Kdf; clock?: Clock },
  ) {
    this.kdf = opts.kdf ?? scrypt;
    this.clock = opts.clock ?? realClock;
  }

  abstract record(binId: string): string | undefined;
  /** are scrypt records left? (a refusal then costs a scrypt too) */
  protected abstract anyScryptLeft(): boolean;
  /**
   * Replaces `old` with `next` unless the record changed meanwhile; resolves the record stored afterwards, read
   * from the database (another process may have rotated or revoked it meanwhile).
   */
  protected abstract replace(binId: string, old: string, next: string): Promise<string | undefined>;

  /** Called on every change this process makes, and on changes by other processes that externalChange() finds. */
  onChange(listener: (change: SecretsChange) => void): () => void {
    this.listeners.push(listener);
    return () => void this.listeners.splice(this.listeners.indexOf(listener) >>> 0, 1);
  }

  has(binId: string): boolean {
    return this.record(binId) !== undefined;
  }

  async verify(binId: string, password: Buffer | string): Promise<boolean> {
    return (await this.match(binId, password)) !== null;
  }

  /** The record the secret matches from memory, with no hashing under the key; null when it must be verified. */
  matchRemembered(binId: string, password: Buffer | string): string | null {
    // after a restart nothing is remembered yet: every device's first login then costs no read of its record here
    if (!this.verified.has(binId)) return null;
    return this.remembered(binId, this.record(binId), password);
  }

  /**
   * The stored record the secret matches (after an upgrade, the new one), or null. Every refusal does the same
   * work whether or not the bin has a secret, and whatever kind its record is.
   */
  async match(binId: string, password: Buffer | string): Promise<string | null> {
    const record = this.record(binId);
    // a correct secret proven before may be answered fast: a login that succeeds has nothing to hide
    if (this.remembered(binId, record, password)) return record!;
    const pw = Buffer.isBuffer(password) ? password : Buffer.from(password);
    const mac = this.mac(binId, pw);
    const stored = record ? parseHmac(record) : null;
    if (timingSafeEqual(mac, stored ?? this.standInMac) && stored) return this.proven(binId, record!, pw);
    const legacy = record ? parseScrypt(record) : null;
    if (!legacy && !this.anyScryptLeft()) return null;
    const against = legacy ?? this.standIn;
    const key = await this.kdf(pw, against.salt, against.key.length, against.opts);
    if (!legacy || !timingSafeEqual(key, against.key)) return null;
    return this.upgrade(binId, record!, pw);
  }

  /** Replaces a verified scrypt record with the HMAC record of the same secret, unless the secret changed meanwhile. */
  private async upgrade(binId: string, old: string, pw: Buffer): Promise<string | null> {
    const next = this.hmacRecord(binId, pw);
    // not a change of secret: the device's sessions stay, and the generation does not move
    const now = await this.replace(binId, old, next);
    // another login of the same device upgraded it first (the same record: the HMAC has no salt), or the
    // secret was rotated or revoked while scrypt ran: then the old secret no longer opens anything
    return now === next ? this.proven(binId, now, pw) : null;
  }

  private proven(binId: string, record: string, pw: Buffer): string {
    this.verified.set(binId, provenDigest(record, pw).toString('latin1'));
    return record;
  }

  private mac(binId: string, pw: Buffer): Buffer {
    return createHmac('sha256', this.key).update(binId).update('\0').update(pw).digest();
  }

  /** An HMAC of a fixed text under the key: tells whether two instances have the same key, and nothing of it. */
  protected keyCheck(): string {
    return createHmac('sha256', this.key).update('binbridge device-secrets key check').digest('base64url');
  }

  protected hmacRecord(binId: string, pw: Buffer): string {
    return `${HMAC_SCHEME}$${this.mac(binId, pw).toString('base64url')}`;
  }

  /** A new secret and its record. */
  protected fresh(binId: string): { secret: string; record: string } {
    const secret = randomBytes(24).toString('base64url');
    return { secret, record: this.hmacRecord(binId, Buffer.from(secret)) };
  }

  private remembered(binId: string, record: string | undefined, password: Buffer | string): string | null {
    const cached = this.verified.get(binId);
    if (!record || cached === undefined) return null;
    return timingSafeEqual(Buffer.from(cached, 'latin1'), provenDigest(record, password)) ? record : null;
  }

  protected changed(change: SecretsChange): void {
    // a remembered secret is checked against the current record on every use; this only frees the memory
    if (change.binId !== null) this.verified.delete(change.binId);
    this.generation++;
    for (const l of this.listeners) l(change);
  }
}

/** The records' kinds, counted. */
export function countKinds(records: Iterable<string>): { hmac: number; scrypt: number } {
  let hmac = 0;
  let scrypt = 0;
  for (const r of records) {
    if (r.startsWith(`${HMAC_SCHEME}$`)) hmac++;
    else if (r.startsWith('scrypt$')) scrypt++;
  }
  return { hmac, scrypt };
}

/** DeviceSecrets in the bridge's SQLite database. Only keyed hashes are stored; a secret is shown once, when it is issued. */
export class SqliteDeviceSecrets extends KeyedSecrets implements DeviceSecrets {
  private dataVersion: number;
  /** device_secrets_version (migration 9) as this process last knew it: its own changes and those it was told of */
  private secretsVersion: number;
  private readonly readSecretsVersion: Database.Statement<[], number>;
  private readonly byBin: Database.Statement<[string], string>;
  /**
   * Every bin's record, read in one query at the first look: after a restart every device logs in within
   * seconds, and a read of the database per login cost more than its HMAC. Kept by this process's own changes;
   * read again after another process's (externalChange(), once a second), which until then is not seen here —
   * as before, the sessions of a secret revoked by another process end within a second.
   */
  private records: Map<string, string> | null = null;
  /** are scrypt records left? null: look again (after any change) */
  private scryptLeft: boolean | null = null;

  /** `key`: the HMAC key from loadDeviceKey (data_dir), never from the database */
  constructor(
    private readonly db: Database.Database,
    key: Buffer,
    opts: { kdf?: Kdf; clock?: Clock } = {},
  ) {
    super(key, opts);
    this.dataVersion = this.readDataVersion();
    this.byBin = db.prepare<[string], string>('SELECT hash FROM device_secrets WHERE bin_id = ?').pluck();
    this.readSecretsVersion = db.prepare<[], number>('SELECT coalesce((SELECT version FROM device_secrets_version WHERE id = 1), 0)').pluck();
    this.secretsVersion = this.readSecretsVersion.get()!;
  }

  /** Creates or rotates the secret of a device; returns the new secret (the only time it exists in clear). */
  async issue(binId: string): Promise<string> {
    const { secret, record } = this.fresh(binId);
    this.write(() =>
      this.db
        .prepare('INSERT INTO device_secrets (bin_id, hash, issued_at) VALUES (?, ?, ?) ON CONFLICT (bin_id) DO UPDATE SET hash = excluded.hash, issued_at = excluded.issued_at')
        .run(binId, record, this.clock.now()),
    );
    this.records?.set(binId, record);
    this.changed({ binId });
    return secret;
  }

  async revoke(binId: string): Promise<boolean> {
    const gone = this.write(() => this.db.prepare('DELETE FROM device_secrets WHERE bin_id = ?').run(binId)).changes > 0;
    this.records?.delete(binId);
    if (gone) this.changed({ binId });
    return gone;
  }

  /** The stored hash of a bin's secret; a session remembers the one it logged in with, to notice a rotation. */
  record(binId: string): string | undefined {
    return (this.records ??= this.readRecords()).get(binId);
  }

  async list(): Promise<{ bin_id: string; issued_at: number }[]> {
    return this.db.prepare('SELECT bin_id, issued_at FROM device_secrets ORDER BY bin_id').all() as { bin_id: string; issued_at: number }[];
  }

  /** How many records of each kind: `scrypt` ones are upgraded at their device's next login. */
  counts(): { hmac: number; scrypt: number } {
    const row = this.db
      .prepare(`SELECT count(*) FILTER (WHERE hash LIKE '${HMAC_SCHEME}$%') AS hmac, count(*) FILTER (WHERE hash LIKE 'scrypt$%') AS scrypt FROM device_secrets`)
      .get() as { hmac: number; scrypt: number };
    return { hmac: row.hmac, scrypt: row.scrypt };
  }

  /**
   * Has another process (the `devices` command) changed the secrets since the last call? PRAGMA data_version
   * moves only for other connections' commits, and costs about 10 µs: for a timer, not for every reading. It moves
   * for any table (the journal worker commits readings all the time), so the secrets' own counter decides.
   */
  async externalChange(): Promise<boolean> {
    const v = this.readDataVersion();
    if (v === this.dataVersion) return false;
    this.dataVersion = v;
    const sv = this.readSecretsVersion.get()!;
    if (sv === this.secretsVersion) return false;
    this.secretsVersion = sv;
    this.records = null;
    this.changed({ binId: null });
    return true;
  }

  protected async replace(binId: string, old: string, next: string): Promise<string | undefined> {
    this.write(() => this.db.prepare('UPDATE device_secrets SET hash = ? WHERE bin_id = ? AND hash = ?').run(next, binId, old));
    this.scryptLeft = null;
    // from the database, not memory: another process may have rotated or revoked it meanwhile
    const now = this.byBin.get(binId);
    if (now === undefined) this.records?.delete(binId);
    else this.records?.set(binId, now);
    return now;
  }

  /**
   * One write of this process's own, in a transaction that also moves the known counter past it: unless another
   * process's change came first (the counter was not where this process left it), which externalChange() tells then.
   */
  private write<T>(body: () => T): T {
    return this.db
      .transaction(() => {
        const before = this.readSecretsVersion.get()!;
        const result = body();
        if (before === this.secretsVersion) this.secretsVersion = this.readSecretsVersion.get()!;
        return result;
      })
      .immediate();
  }

  protected anyScryptLeft(): boolean {
    this.scryptLeft ??= this.db.prepare("SELECT EXISTS (SELECT 1 FROM device_secrets WHERE hash LIKE 'scrypt$%')").pluck().get() === 1;
    return this.scryptLeft;
  }

  protected override changed(change: SecretsChange): void {
    this.scryptLeft = null;
    super.changed(change);
  }

  private readRecords(): Map<string, string> {
    return new Map(this.db.prepare<[], [string, string]>('SELECT bin_id, hash FROM device_secrets').raw().all());
  }

  private readDataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }
}

/** What a proven secret is remembered as: bound to the record it matched (a record holds no NUL). */
function provenDigest(record: string, password: Buffer | string): Buffer {
  return createHash('sha256').update(record).update('\0').update(password).digest();
}

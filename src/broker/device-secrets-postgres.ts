import type { Clock } from '../clock.js';
import { StartError } from '../start-error.js';
import { PostgresUnitOfWork, type Pool, type PoolClient } from '../storage/postgres/index.js';
import { countKinds, KeyedSecrets, type DeviceSecrets, type Kdf } from './device-secrets.js';

/** the meta key of keyCheck(): which key the records in the database were made under */
const KEY_CHECK = 'device_key_check';

const READ_VERSION = 'SELECT coalesce((SELECT version FROM device_secrets_version WHERE id = 1), 0) AS v';
// the counter's row, locked until COMMIT: a change of another instance cannot slip between this read and the write's own
// (the row appears with the first change; a write that changes no row leaves it at 0, as a read without a row says)
const LOCK_VERSION = 'INSERT INTO device_secrets_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET version = device_secrets_version.version RETURNING version AS v';

/**
 * DeviceSecrets in PostgreSQL, shared by every instance on the database. Every record is held in memory, read at
 * start (load()) and again whenever device_secrets_version (migration 9, moved by a trigger on each change) is not
 * where this instance left it: externalChange() looks once a second (DeviceSessions' timer), so a secret issued or
 * revoked on another instance opens or stops opening this one's broker within a second and a read of every record.
 * A login and a reading never wait for the database; issue, revoke and a scrypt record's upgrade write to it first.
 */
export class PostgresDeviceSecrets extends KeyedSecrets implements DeviceSecrets {
  private records = new Map<string, string>();
  /** device_secrets_version as this instance last knew it: its own changes and those it read */
  private secretsVersion = -1;
  /** a look at the database under way: the next tick does not start another */
  private looking: Promise<boolean> | null = null;
  private work: PostgresUnitOfWork<PoolClient> | null = null;

  /** `pool`: the store room's, there once it started; `key`: the HMAC key from loadDeviceKey (data_dir) */
  constructor(
    private readonly pool: () => Pool | null,
    key: Buffer,
    opts: { kdf?: Kdf; clock?: Clock } = {},
  ) {
    super(key, opts);
  }

  /**
   * Reads every record: before the broker takes logins. Refuses an instance whose key is not the one the records
   * were made under (its data_dir has another device-secrets.key), which would refuse every device and issue
   * secrets no other instance takes; with no HMAC record yet, its key becomes the one.
   */
  async load(): Promise<void> {
    await this.externalChange();
    const check = this.keyCheck();
    const other = await this.db().query<{ value: string }>('SELECT value FROM meta WHERE key = $1', [KEY_CHECK]);
    if (other.rows[0]?.value === check) return;
    const hmac = this.counts().hmac;
    if (other.rows.length > 0 && hmac > 0) {
      throw new StartError(
        `data_dir/device-secrets.key is not the key the ${hmac} device secrets in PostgreSQL were made under: copy device-secrets.key from the data_dir of an instance already running (every instance needs the same), then start again`,
      );
    }
    await this.db().query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [KEY_CHECK, check]);
  }

  async issue(binId: string): Promise<string> {
    const { secret, record } = this.fresh(binId);
    const at = this.clock.now();
    await this.write((c) =>
      c.query('INSERT INTO device_secrets (bin_id, hash, issued_at) VALUES ($1, $2, $3) ON CONFLICT (bin_id) DO UPDATE SET hash = excluded.hash, issued_at = excluded.issued_at', [binId, record, at]),
    );
    this.records.set(binId, record);
    this.changed({ binId });
    return secret;
  }

  async revoke(binId: string): Promise<boolean> {
    const gone = ((await this.write((c) => c.query('DELETE FROM device_secrets WHERE bin_id = $1', [binId]))).rowCount ?? 0) > 0;
    const known = this.records.delete(binId);
    // gone here, or only from memory (another instance revoked it first, not yet read): its sessions end either way
    if (gone || known) this.changed({ binId });
    return gone;
  }

  record(binId: string): string | undefined {
    return this.records.get(binId);
  }

  async list(): Promise<{ bin_id: string; issued_at: number }[]> {
    const { rows } = await this.db().query<{ bin_id: string; issued_at: number }>('SELECT bin_id, issued_at FROM device_secrets ORDER BY bin_id');
    return rows;
  }

  counts(): { hmac: number; scrypt: number } {
    return countKinds(this.records.values());
  }

  /** Has the counter moved since this instance last knew it? Then every record is read again, and the listeners told. */
  externalChange(): Promise<boolean> {
    return (this.looking ??= this.look().finally(() => (this.looking = null)));
  }

  protected anyScryptLeft(): boolean {
    return this.counts().scrypt > 0;
  }

  protected async replace(binId: string, old: string, next: string): Promise<string | undefined> {
    const now = await this.write(async (c) => {
      await c.query('UPDATE device_secrets SET hash = $1 WHERE bin_id = $2 AND hash = $3', [next, binId, old]);
      const { rows } = await c.query<{ hash: string }>('SELECT hash FROM device_secrets WHERE bin_id = $1', [binId]);
      return rows[0]?.hash;
    });
    if (now === undefined) this.records.delete(binId);
    else this.records.set(binId, now);
    return now;
  }

  private async look(): Promise<boolean> {
    const pool = this.db();
    const { rows } = await pool.query<{ v: number }>(READ_VERSION);
    const v = rows[0]!.v;
    if (v === this.secretsVersion) return false;
    // the counter first, then the records: a change between the two is read now and seen again at the next look
    const all = await pool.query<[string, string]>({ text: 'SELECT bin_id, hash FROM device_secrets', rowMode: 'array' });
    this.records = new Map(all.rows);
    const first = this.secretsVersion === -1;
    this.secretsVersion = v;
    if (first) return false;
    this.changed({ binId: null });
    return true;
  }

  /**
   * One write of this instance's own, in a transaction that also moves the known counter past it: unless another
   * instance's change came first (the counter was not where this one left it), which externalChange() reads then.
   */
  private async write<T>(body: (c: PoolClient) => Promise<T>): Promise<T> {
    this.work ??= new PostgresUnitOfWork(this.db(), (c) => c);
    const { result, before, after } = await this.work.tx(async (c) => {
      const before = (await c.query<{ v: number }>(LOCK_VERSION)).rows[0]!.v;
      const result = await body(c);
      const after = (await c.query<{ v: number }>(READ_VERSION)).rows[0]!.v;
      return { result, before, after };
    });
    if (before === this.secretsVersion) this.secretsVersion = after;
    return result;
  }

  private db(): Pool {
    const pool = this.pool();
    if (!pool) throw new Error('device secrets: the PostgreSQL store has not started');
    return pool;
  }
}

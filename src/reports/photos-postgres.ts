import { Readable } from 'node:stream';
import type { Clock } from '../clock.js';
import type { Pool } from '../storage/postgres/index.js';
import { photoFileName, type PhotoStore } from './photos.js';

/**
 * The residents' report photos in PostgreSQL (`report_photos`, a table only the PostgreSQL store has), for
 * instances sharing a store: a photo a resident sent to one is served by every one. Written when downloaded, before
 * the report that names it (never inside a transaction of the decisions: the bytes need no lock), removed by the
 * retention purge with its report.
 */
export class PostgresPhotoStore implements PhotoStore {
  constructor(
    private readonly pool: () => Pool | null,
    private readonly clock: Pick<Clock, 'now'>,
  ) {}

  private q(): Pool {
    const pool = this.pool();
    if (!pool) throw new Error('a report photo was used before the PostgreSQL store connected');
    return pool;
  }

  async save(name: string, bytes: Buffer, mime: string): Promise<string> {
    const file = photoFileName(name, mime);
    await this.q().query('INSERT INTO report_photos (file, mime, bytes, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (file) DO UPDATE SET mime = excluded.mime, bytes = excluded.bytes', [
      file,
      mime,
      bytes,
      this.clock.now(),
    ]);
    return file;
  }

  async open(file: string): Promise<Readable | null> {
    const row = (await this.q().query<{ bytes: Buffer }>('SELECT bytes FROM report_photos WHERE file = $1', [file])).rows[0];
    return row ? Readable.from([row.bytes]) : null;
  }

  async remove(file: string): Promise<void> {
    await this.q().query('DELETE FROM report_photos WHERE file = $1', [file]);
  }
}

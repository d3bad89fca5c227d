import { shortCode } from '../short-code.js';
import { where } from '../storage/index.js';
import type { Queryable } from '../storage/postgres/index.js';
import { reportsListed, type FeedbackAnswer, type NewReport, type Report, type ReportFeedback, type ReportFilter, type ReportStatus, type ReportStore, type Reporter, type SatisfactionRow } from './report-store.js';

/** `where()` and `afterKey()` write SQLite's `?`; PostgreSQL numbers its parameters. */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * The reports in PostgreSQL: the same tables (`reports`, `report_reporters`) and statements as SqliteReportStore, on
 * a transaction's connection or the pool. Instances share the rows; what two of them could do at once is ordered by
 * the database: a new reference is taken by a unique insert, and `openOfBin` inside a transaction holds the bin's
 * report lock to its end, so two residents reporting one bin at two instances make one report, the second linked.
 */
export class PostgresReportStore implements ReportStore {
  constructor(private readonly q: Queryable) {}

  private async one<T>(sql: string, values: unknown[]): Promise<T | undefined> {
    return (await this.q.query(sql, values)).rows[0] as T | undefined;
  }

  private async all<T>(sql: string, values: unknown[]): Promise<T[]> {
    return (await this.q.query(sql, values)).rows as T[];
  }

  async create(r: NewReport): Promise<Report> {
    for (;;) {
      // drawn until a unique insert takes it: another instance may draw the same code at the same moment
      const reference = shortCode('R-', 4, () => false);
      const row = await this.one<Report>(
        `INSERT INTO reports (reference, bin_id, method, reporter, text, lat, lon, photo, status, source, service_code, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11, $11) ON CONFLICT (reference) DO NOTHING RETURNING *`,
        [reference, r.bin_id, r.method, r.reporter, r.text, r.lat, r.lon, r.photo, r.source, r.service_code ?? 'overflowing-bin', r.at],
      );
      if (row) return row;
    }
  }

  async addReporter(reportId: number, reporter: string, contact: Buffer | null, lang: string, at: number): Promise<boolean> {
    const added = await this.q.query('INSERT INTO report_reporters (report_id, reporter, contact, lang, added_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING', [reportId, reporter, contact, lang, at]);
    if ((added.rowCount ?? 0) === 0) return false;
    await this.q.query('UPDATE reports SET reporters = (SELECT count(*) FROM report_reporters WHERE report_id = $1), updated_at = $2 WHERE id = $1', [reportId, at]);
    return true;
  }

  reportersOf(reportId: number): Promise<Reporter[]> {
    return this.all<Reporter>('SELECT report_id, reporter, contact, lang FROM report_reporters WHERE report_id = $1', [reportId]);
  }

  async forgetContact(reportId: number, reporter: string): Promise<void> {
    await this.q.query('UPDATE report_reporters SET contact = NULL WHERE report_id = $1 AND reporter = $2', [reportId, reporter]);
  }

  async openOfBin(binId: string): Promise<Report | undefined> {
    // held to the end of the caller's transaction (on the pool: this one statement): whoever looks second waits
    // for the first one's report, and links to it
    await this.q.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`report:${binId}`]);
    return this.one<Report>(`SELECT * FROM reports WHERE bin_id = $1 AND status != 'closed' ORDER BY id LIMIT 1`, [binId]);
  }

  get(id: number): Promise<Report | undefined> {
    return this.one<Report>('SELECT * FROM reports WHERE id = $1', [id]);
  }

  byReference(reference: string): Promise<Report | undefined> {
    return this.one<Report>('SELECT * FROM reports WHERE reference = $1', [reference.toUpperCase()]);
  }

  async setStatus(id: number, status: ReportStatus, at: number): Promise<void> {
    await this.q.query(`UPDATE reports SET status = $1, updated_at = $2, closed_at = CASE WHEN $1 = 'closed' THEN $2 ELSE closed_at END WHERE id = $3`, [status, at, id]);
  }

  async close(id: number, at: number, by: { zone: string | null; crew: string | null }): Promise<void> {
    await this.q.query(`UPDATE reports SET status = 'closed', updated_at = $1, closed_at = $1, closed_zone = $2, closed_crew = $3 WHERE id = $4`, [at, by.zone, by.crew, id]);
  }

  async asked(reportId: number, reporter: string, at: number): Promise<void> {
    await this.q.query('UPDATE report_reporters SET asked_ms = $1 WHERE report_id = $2 AND reporter = $3', [at, reportId, reporter]);
  }

  async mayAnswer(reference: string, reporter: string): Promise<boolean> {
    const row = await this.one(
      'SELECT 1 FROM report_reporters rr JOIN reports r ON r.id = rr.report_id WHERE r.reference = $1 AND rr.reporter = $2 AND rr.asked_ms IS NOT NULL AND rr.feedback IS NULL',
      [reference.toUpperCase(), reporter],
    );
    return row !== undefined;
  }

  async answer(reportId: number, reporter: string, answer: FeedbackAnswer, at: number): Promise<boolean> {
    const r = await this.q.query('UPDATE report_reporters SET feedback = $1, feedback_ms = $2 WHERE report_id = $3 AND reporter = $4 AND asked_ms IS NOT NULL AND feedback IS NULL', [
      answer,
      at,
      reportId,
      reporter,
    ]);
    return (r.rowCount ?? 0) > 0;
  }

  async reason(reportId: number, reporter: string, reason: string): Promise<boolean> {
    const r = await this.q.query(`UPDATE report_reporters SET feedback_reason = $1 WHERE report_id = $2 AND reporter = $3 AND feedback = 'down' AND feedback_reason IS NULL`, [reason, reportId, reporter]);
    return (r.rowCount ?? 0) > 0;
  }

  feedbackOf(reportId: number): Promise<ReportFeedback[]> {
    return this.all<ReportFeedback>(
      'SELECT feedback AS answer, feedback_ms AS at, feedback_reason AS reason FROM report_reporters WHERE report_id = $1 AND feedback IS NOT NULL ORDER BY feedback_ms, reporter',
      [reportId],
    );
  }

  satisfaction(since?: number, until?: number): Promise<SatisfactionRow[]> {
    const w = where([
      ['r.closed_at >= ?', since],
      ['r.closed_at < ?', until],
    ]);
    const closed = w.sql ? `${w.sql} AND r.status = 'closed'` : `WHERE r.status = 'closed'`;
    return this.all<SatisfactionRow>(
      numbered(
        `SELECT r.closed_zone AS zone, r.closed_crew AS crew, count(rr.asked_ms)::int AS asked,
                count(CASE WHEN rr.feedback = 'up' THEN 1 END)::int AS up, count(CASE WHEN rr.feedback = 'down' THEN 1 END)::int AS down
         FROM reports r JOIN report_reporters rr ON rr.report_id = r.id ${closed}
         GROUP BY r.closed_zone, r.closed_crew HAVING count(rr.asked_ms) > 0 ORDER BY r.closed_zone NULLS FIRST, r.closed_crew NULLS FIRST`,
      ),
      w.args,
    );
  }

  list(f: ReportFilter = {}): Promise<Report[]> {
    const q = reportsListed(f);
    return this.all<Report>(numbered(q.sql), q.args);
  }

  async purge(before: number): Promise<{ deleted: number; photos: string[] }> {
    // their residents go with them (ON DELETE CASCADE)
    const rows = await this.all<{ photo: string | null }>('DELETE FROM reports WHERE created_at < $1 RETURNING photo', [before]);
    return { deleted: rows.length, photos: rows.flatMap((r) => (r.photo === null ? [] : [r.photo])) };
  }
}

import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { summarizeSatisfaction, type PhotoStore, type Report, type ReportStore } from '../../reports/index.js';
import { EXPORT_LIMIT, answerList, wantsCsv } from '../csv.js';
import { iso } from '../iso.js';
import { DEFAULT_LIMIT, decodeCursor, pageOf, pageQuery } from '../page.js';
import { sendProblem } from '../problem.js';
import { filter, idParams } from './bounds.js';

const REPORT_COLUMNS = ['id', 'reference', 'status', 'bin_id', 'method', 'reporter', 'reporters', 'source', 'text', 'lat', 'lon', 'photo_url', 'created_at', 'updated_at', 'closed_at'] as const;

export const reportView = (r: Report) => ({
  id: r.id,
  reference: r.reference,
  status: r.status,
  bin_id: r.bin_id,
  method: r.method,
  reporter: r.reporter,
  reporters: r.reporters,
  source: r.source,
  text: r.text,
  lat: r.lat,
  lon: r.lon,
  photo_url: r.photo ? `/api/reports/${r.reference}/photo` : null,
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
  closed_at: iso(r.closed_at),
});

/** Residents' reports for operators, under /api. */
export function reportRoutes(deps: { reports: ReportStore; photos: PhotoStore }): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const find = (id: string) => (/^\d+$/.test(id) ? deps.reports.get(Number(id)) : deps.reports.byReference(id));
    const reportsQuery = z.object({
      status: z.enum(['open', 'dispatched', 'closed']).optional(),
      bin: filter,
      since: z.iso.datetime({ offset: true }).optional(),
      ...pageQuery,
    });
    for (const url of ['/reports', '/reports.csv']) {
      r.get(
        url,
        { schema: { summary: url.endsWith('.csv') ? "Residents' reports as CSV" : "Residents' reports, newest first (Accept: text/csv for CSV)", querystring: reportsQuery } },
        async (req, reply) => {
          const q = req.query;
          const after = decodeCursor(q.cursor, z.tuple([z.number(), z.number()]));
          const since = q.since ? Date.parse(q.since) : undefined;
          // the page is read before answerList words it (the store answers asynchronously), at the size it will use
          const limit = q.limit ?? (wantsCsv(req) ? EXPORT_LIMIT : DEFAULT_LIMIT);
          const rows = await deps.reports.list({ status: q.status, bin: q.bin, since, limit: limit + 1, after });
          return answerList(req, reply, { name: 'reports', columns: REPORT_COLUMNS }, limit, () => pageOf(rows, limit, (x) => [x.created_at, x.id], reportView));
        },
      );
    }
    const satisfactionQuery = z.object({
      since: z.iso.datetime({ offset: true }).optional().describe('reports closed at or after this time'),
      until: z.iso.datetime({ offset: true }).optional().describe('reports closed before this time'),
    });
    r.get('/reports/satisfaction', { schema: { summary: "Residents' answers to the thank-you's question (👍/👎), per zone and per crew", querystring: satisfactionQuery } }, async (req) => {
      const since = req.query.since ? Date.parse(req.query.since) : undefined;
      const until = req.query.until ? Date.parse(req.query.until) : undefined;
      return { since: iso(since ?? null), until: iso(until ?? null), ...summarizeSatisfaction(await deps.reports.satisfaction(since, until)) };
    });
    r.get('/reports/:id', { schema: { params: idParams } }, async (req, reply) => {
      const report = await find(req.params.id);
      if (!report) return sendProblem(reply, 404, `no report ${req.params.id}`);
      // the residents' answers, without who gave them
      const feedback = (await deps.reports.feedbackOf(report.id)).map((f) => ({ answer: f.answer, at: iso(f.at), reason: f.reason }));
      return { ...reportView(report), closed_zone: report.closed_zone, closed_crew: report.closed_crew, feedback };
    });
    r.get('/reports/:id/photo', { schema: { params: idParams } }, async (req, reply) => {
      const report = await find(req.params.id);
      const photo = report?.photo ? await deps.photos.open(report.photo) : null;
      if (!report?.photo || !photo) return sendProblem(reply, 404, `report ${req.params.id} has no photo`);
      const type = report.photo.endsWith('.png') ? 'image/png' : report.photo.endsWith('.webp') ? 'image/webp' : 'image/jpeg';
      return reply.type(type).header('cache-control', 'private, max-age=3600').send(photo);
    });
  };
}

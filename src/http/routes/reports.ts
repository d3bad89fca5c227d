import fs from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { PhotoStore, Report, ReportStore } from '../../reports/index.js';
import { iso } from '../iso.js';
import { filter, idParams } from './bounds.js';


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
    r.get(
      '/reports',
      {
        schema: {
          querystring: z.object({
            status: z.enum(['open', 'dispatched', 'closed']).optional(),
            bin: filter,
            since: z.iso.datetime({ offset: true }).optional(),
            limit: z.coerce.number().int().min(1).max(5000).optional(),
          }),
        },
      },
      async (req) => ({
        items: deps.reports.list({ ...req.query, since: req.query.since ? Date.parse(req.query.since) : undefined }).map(reportView),
      }),
    );
    r.get('/reports/:id', { schema: { params: idParams } }, async (req, reply) => {
      const report = find(req.params.id);
      return report ? reportView(report) : reply.code(404).send({ error: 'not_found', message: `no report ${req.params.id}` });
    });
    r.get('/reports/:id/photo', { schema: { params: idParams } }, async (req, reply) => {
      const report = find(req.params.id);
      if (!report?.photo || !fs.existsSync(deps.photos.path(report.photo))) return reply.code(404).send({ error: 'not_found', message: 'no photo' });
      const type = report.photo.endsWith('.png') ? 'image/png' : report.photo.endsWith('.webp') ? 'image/webp' : 'image/jpeg';
      return reply.type(type).header('cache-control', 'private, max-age=3600').send(fs.createReadStream(deps.photos.path(report.photo)));
    });
  };
}

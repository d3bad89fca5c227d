import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BinsFileError, binSchema, parseBinsCsvYielding, parseBinsGeoJsonYielding, type Registry } from '../../registry/index.js';
import type { BinStateStore } from '../../storage/index.js';
import { iso } from '../iso.js';
import { IMPORT_BODY_LIMIT, filter, idParams, notJson } from './bounds.js';


/** The registry plus live state under /api/bins; edits and bins-file imports. */
export function binRoutes(deps: { registry: Registry; binState: BinStateStore }): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const withState = (id: string) => {
      const bin = deps.registry.get(id)!;
      const s = deps.binState.get(id);
      return {
        ...bin,
        state: s
          ? {
              ts: iso(s.ts),
              received_at: iso(s.received_at),
              fill_pct: s.fill_pct,
              distance_mm: s.distance_mm,
              battery_pct: s.battery_pct,
              temperature_c: s.temperature_c,
              tilt: s.tilt === null ? null : s.tilt === 1,
              rssi: s.rssi,
              status: s.status,
            }
          : null,
      };
    };

    r.get('/bins', { schema: { querystring: z.object({ zone: filter, kind: filter }) } }, async (req) =>
      deps.registry
        .all()
        .filter((b) => (!req.query.zone || b.zone === req.query.zone) && (!req.query.kind || b.kind === req.query.kind))
        .map((b) => withState(b.id)),
    );

    r.get('/bins/:id', { schema: { params: idParams } }, async (req, reply) => {
      if (!deps.registry.get(req.params.id)) return reply.code(404).send({ error: 'not_found', message: `no bin ${req.params.id}` });
      return withState(req.params.id);
    });

    r.put('/bins/:id', { schema: { params: idParams, body: binSchema.omit({ id: true }) } }, async (req, reply) => {
      const parsed = binSchema.safeParse({ ...req.body, id: req.params.id });
      if (!parsed.success) return reply.code(400).send({ error: 'bad_request', message: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
      deps.registry.upsert([parsed.data]);
      return withState(parsed.data.id);
    });

    // a bins file in the body: text/csv, or GeoJSON as application/json / application/geo+json
    app.addContentTypeParser(['text/csv', 'text/plain'], { parseAs: 'string', bodyLimit: IMPORT_BODY_LIMIT }, (_req, body, done) => done(null, body));
    app.addContentTypeParser('application/geo+json', { parseAs: 'string', bodyLimit: IMPORT_BODY_LIMIT }, (_req, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch (err) {
        done(notJson(err), undefined);
      }
    });
    app.post('/bins/import', { bodyLimit: IMPORT_BODY_LIMIT }, async (req, reply) => {
      try {
        // parsed and checked a few hundred rows at a time, yielding in between: a city's import never stalls readings
        const bins = typeof req.body === 'string' ? await parseBinsCsvYielding(req.body, 'request body') : await parseBinsGeoJsonYielding(req.body, 'request body');
        deps.registry.upsert(bins);
        return { imported: bins.length, total: deps.registry.size };
      } catch (err) {
        if (err instanceof BinsFileError) return reply.code(400).send({ error: 'bad_request', message: 'bins file rejected', problems: err.problems.slice(0, 50) });
        throw err;
      }
    });
  };
}

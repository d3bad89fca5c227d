import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Alert, AlertStore } from '../../alerts/index.js';
import { crewSchema, zoneSchema } from '../../config/index.js';
import type { Dispatch, Dispatcher } from '../../dispatch/index.js';
import type { ZonesAndCrews } from '../../registry/index.js';
import { ALERT_TYPES } from '../../rules/index.js';
import { answerList } from '../csv.js';
import { iso } from '../iso.js';
import { DEFAULT_LIMIT, decodeCursor, encodeCursor, knownFilter, pageOf, pageQuery, type Page } from '../page.js';
import { HttpProblem, sendProblem } from '../problem.js';
import { filter, idParams } from './bounds.js';

export const dispatchView = (d: Dispatch) => ({
  ...d,
  created_at: iso(d.created_at),
  sent_at: iso(d.sent_at),
  accepted_at: iso(d.accepted_at),
  done_at: iso(d.done_at),
  escalated_at: iso(d.escalated_at),
  cancelled_at: iso(d.cancelled_at),
});

export const alertView = (a: Alert) => ({ ...a, opened_at: iso(a.opened_at), closed_at: iso(a.closed_at) });

const ALERT_COLUMNS = ['id', 'bin_id', 'zone', 'type', 'status', 'opened_at', 'closed_at', 'value', 'message', 'cause', 'hours_to_full'] as const;
const DISPATCH_COLUMNS = ['id', 'zone', 'crew_id', 'status', 'urgent', 'bin_ids', 'created_at', 'sent_at', 'accepted_at', 'done_at', 'escalated_at', 'cancelled_at', 'error', 'map_url'] as const;
const DISPATCH_STATUSES = ['pending', 'sent', 'accepted', 'done', 'escalated', 'cancelled'] as const;

export interface OpsRouteDeps {
  alerts: AlertStore;
  dispatcher: Dispatcher;
  zonesAndCrews: ZonesAndCrews;
}

/** A short list kept in memory (zones, crews), paged by position. */
function pageOfList<T>(all: readonly T[], limit: number, cursor: string | undefined): Page<T> {
  const [from] = decodeCursor(cursor, z.tuple([z.number().int().min(0)])) ?? [0];
  return { items: all.slice(from, from + limit), next: from + limit < all.length ? encodeCursor([from + limit]) : null };
}

/** Alerts, dispatches, zones and crews under /api. */
export function opsRoutes(deps: OpsRouteDeps): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const zoneIds = () => deps.zonesAndCrews.zones().map((z) => z.id);
    const crewIds = () => deps.zonesAndCrews.crews().map((c) => c.id);

    const alertsQuery = z.object({
      status: z.enum(['open', 'closed']).optional(),
      zone: filter.describe('a zone id (GET /api/zones)'),
      type: filter.describe(`one of ${ALERT_TYPES.join(', ')}`),
      bin: filter,
      ...pageQuery,
    });
    for (const url of ['/alerts', '/alerts.csv']) {
      r.get(
        url,
        { schema: { summary: url.endsWith('.csv') ? 'Alerts as CSV' : 'Alerts, newest first (Accept: text/csv for CSV)', querystring: alertsQuery } },
        async (req, reply) => {
          const q = req.query;
          const zone = knownFilter('zone', q.zone, zoneIds());
          const type = knownFilter('type', q.type, ALERT_TYPES);
          const after = decodeCursor(q.cursor, z.tuple([z.number(), z.number()]));
          return answerList(req, reply, { name: 'alerts', columns: ALERT_COLUMNS }, q.limit, async (limit) =>
            pageOf(await deps.alerts.list({ status: q.status, zone, type, bin: q.bin, limit: limit + 1, after }), limit, (a) => [a.opened_at, a.id], alertView),
          );
        },
      );
    }

    const dispatchQuery = z.object({
      status: z.enum(DISPATCH_STATUSES).optional(),
      zone: filter.describe('a zone id (GET /api/zones)'),
      crew: filter.describe('a crew id (GET /api/crews)'),
      bin: filter,
      ...pageQuery,
    });
    for (const url of ['/dispatches', '/dispatches.csv']) {
      r.get(
        url,
        { schema: { summary: url.endsWith('.csv') ? 'Jobs as CSV' : 'Jobs (dispatches), newest first (Accept: text/csv for CSV)', querystring: dispatchQuery } },
        async (req, reply) => {
          const q = req.query;
          const zone = knownFilter('zone', q.zone, zoneIds());
          const crew = knownFilter('crew', q.crew, crewIds());
          const after = decodeCursor(q.cursor, z.tuple([z.number(), z.string()]));
          return answerList(req, reply, { name: 'jobs', columns: DISPATCH_COLUMNS }, q.limit, async (limit) =>
            pageOf(await deps.dispatcher.store.list({ status: q.status, zone, crew, bin: q.bin, limit: limit + 1, after }), limit, (d) => [d.created_at, d.id], dispatchView),
          );
        },
      );
    }
    r.get('/dispatches/:id', { schema: { params: idParams } }, async (req, reply) => {
      const d = await deps.dispatcher.store.get(req.params.id);
      return d ? dispatchView(d) : sendProblem(reply, 404, `no dispatch ${req.params.id}`);
    });
    r.post('/dispatches/:id/cancel', { schema: { params: idParams } }, async (req, reply) => {
      const d = await deps.dispatcher.cancel(req.params.id);
      return d ? dispatchView(d) : sendProblem(reply, 404, `no dispatch ${req.params.id}`);
    });

    const listQuery = z.object(pageQuery);
    r.get('/zones', { schema: { querystring: listQuery } }, async (req) => pageOfList(deps.zonesAndCrews.zones(), req.query.limit ?? DEFAULT_LIMIT, req.query.cursor));
    r.put('/zones/:id', { schema: { params: idParams, body: zoneSchema.omit({ id: true }) } }, async (req) => {
      const zone = { ...req.body, id: req.params.id };
      await deps.zonesAndCrews.putZone(zone);
      return zone;
    });
    r.delete('/zones/:id', { schema: { params: idParams } }, async (req, reply) =>
      (await deps.zonesAndCrews.deleteZone(req.params.id)) ? reply.code(204).send() : sendProblem(reply, 404, `no zone ${req.params.id}`),
    );

    r.get('/crews', { schema: { querystring: listQuery } }, async (req) => pageOfList(deps.zonesAndCrews.crews(), req.query.limit ?? DEFAULT_LIMIT, req.query.cursor));
    r.put('/crews/:id', { schema: { params: idParams, body: crewSchema.omit({ id: true }) } }, async (req) => {
      const unknown = req.body.zones.filter((z) => !deps.zonesAndCrews.zone(z));
      if (unknown.length > 0) {
        const known = zoneIds().join(', ') || '(none)';
        throw new HttpProblem(400, `unknown zone(s): ${unknown.join(', ')}; known zones: ${known}`, [
          { in: 'body', name: 'zones', detail: `unknown zone(s): ${unknown.join(', ')}; known zones: ${known}` },
        ]);
      }
      const crew = { ...req.body, id: req.params.id };
      await deps.zonesAndCrews.putCrew(crew);
      return crew;
    });
    r.delete('/crews/:id', { schema: { params: idParams } }, async (req, reply) =>
      (await deps.zonesAndCrews.deleteCrew(req.params.id)) ? reply.code(204).send() : sendProblem(reply, 404, `no crew ${req.params.id}`),
    );
  };
}

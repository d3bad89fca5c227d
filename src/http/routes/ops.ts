import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AlertStore } from '../../alerts/index.js';
import { crewSchema, zoneSchema } from '../../config/index.js';
import type { Dispatch, Dispatcher } from '../../dispatch/index.js';
import type { Directory } from '../../registry/index.js';
import { iso } from '../iso.js';
import { filter, idParams } from './bounds.js';

const notFound = (what: string) => ({ error: 'not_found', message: `no ${what}` });

export const dispatchView = (d: Dispatch) => ({
  ...d,
  created_at: iso(d.created_at),
  sent_at: iso(d.sent_at),
  accepted_at: iso(d.accepted_at),
  done_at: iso(d.done_at),
  escalated_at: iso(d.escalated_at),
  cancelled_at: iso(d.cancelled_at),
});

export interface OpsRouteDeps {
  alerts: AlertStore;
  dispatcher: Dispatcher;
  directory: Directory;
}

/** Alerts, dispatches, zones and crews under /api. */
export function opsRoutes(deps: OpsRouteDeps): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const limit = z.coerce.number().int().min(1).max(5000).optional();

    r.get(
      '/alerts',
      { schema: { querystring: z.object({ status: z.enum(['open', 'closed']).optional(), zone: filter, type: filter, bin: filter, limit }) } },
      async (req) => ({ items: deps.alerts.list(req.query).map((a) => ({ ...a, opened_at: iso(a.opened_at), closed_at: iso(a.closed_at) })) }),
    );

    const status = z.enum(['pending', 'sent', 'accepted', 'done', 'escalated', 'cancelled']).optional();
    r.get(
      '/dispatches',
      { schema: { querystring: z.object({ status, zone: filter, crew: filter, bin: filter, limit }) } },
      async (req) => ({ items: deps.dispatcher.store.list(req.query).map(dispatchView) }),
    );
    r.get('/dispatches/:id', { schema: { params: idParams } }, async (req, reply) => {
      const d = deps.dispatcher.store.get(req.params.id);
      return d ? dispatchView(d) : reply.code(404).send(notFound(`dispatch ${req.params.id}`));
    });
    r.post('/dispatches/:id/cancel', { schema: { params: idParams } }, async (req, reply) => {
      const d = deps.dispatcher.cancel(req.params.id);
      return d ? dispatchView(d) : reply.code(404).send(notFound(`dispatch ${req.params.id}`));
    });

    r.get('/zones', async () => ({ items: deps.directory.zones() }));
    r.put('/zones/:id', { schema: { params: idParams, body: zoneSchema.omit({ id: true }) } }, async (req) => {
      const zone = { ...req.body, id: req.params.id };
      deps.directory.putZone(zone);
      return zone;
    });
    r.delete('/zones/:id', { schema: { params: idParams } }, async (req, reply) =>
      deps.directory.deleteZone(req.params.id) ? reply.code(204).send() : reply.code(404).send(notFound(`zone ${req.params.id}`)),
    );

    r.get('/crews', async () => ({ items: deps.directory.crews() }));
    r.put('/crews/:id', { schema: { params: idParams, body: crewSchema.omit({ id: true }) } }, async (req, reply) => {
      const unknown = req.body.zones.filter((z) => !deps.directory.zone(z));
      if (unknown.length > 0) return reply.code(400).send({ error: 'bad_request', message: `unknown zone(s): ${unknown.join(', ')}` });
      const crew = { ...req.body, id: req.params.id };
      deps.directory.putCrew(crew);
      return crew;
    });
    r.delete('/crews/:id', { schema: { params: idParams } }, async (req, reply) =>
      deps.directory.deleteCrew(req.params.id) ? reply.code(204).send() : reply.code(404).send(notFound(`crew ${req.params.id}`)),
    );
  };
}

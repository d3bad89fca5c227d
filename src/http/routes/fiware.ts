import type { FastifyPluginAsync } from 'fastify';
import { BinsFileError, parseWasteContainers, toWasteContainers, type KnownValues, type BinRegistry, type WasteContainerState } from '../../registry/index.js';
import { fileRefused } from './bins.js';
import { IMPORT_BODY_LIMIT as BODY_LIMIT, notJson } from './bounds.js';

export interface FiwareRouteDeps {
  registry: BinRegistry;
  /** the live state of a bin (BinStateStore fits) */
  binState: { get(id: string): WasteContainerState | undefined };
  /** the zones and kinds an imported bin may name (none: any) */
  known?: () => KnownValues;
}

/** The registry as FIWARE WasteContainer entities (NGSI-LD) under /api: export and import. */
export function fiwareRoutes(deps: FiwareRouteDeps): FastifyPluginAsync {
  return async (app) => {
    app.addContentTypeParser('application/ld+json', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch (err) {
        done(notJson(err), undefined);
      }
    });

    app.get('/bins.ngsi-ld.json', async (_req, reply) => {
      const entities = toWasteContainers(deps.registry.all(), (id) => deps.binState.get(id));
      return reply.type('application/ld+json; charset=utf-8').send(JSON.stringify(entities));
    });

    app.post('/bins/import-ngsi-ld', { bodyLimit: BODY_LIMIT }, async (req) => {
      const known = deps.known?.() ?? {};
      try {
        const bins = parseWasteContainers(req.body, 'request body', known);
        await deps.registry.upsert(bins);
        return { imported: bins.length, total: deps.registry.size };
      } catch (err) {
        if (err instanceof BinsFileError) throw fileRefused(err, known);
        throw err;
      }
    });
  };
}

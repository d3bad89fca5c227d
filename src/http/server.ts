import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Registry } from '../registry/index.js';
import type { BinStateStore } from '../storage/index.js';
import { bearerAuth } from './auth.js';

export interface Readiness {
  ready: boolean;
  checks: Record<string, string>;
}

export interface HttpDeps {
  registry: Registry;
  binState: BinStateStore;
  metrics: Metrics;
  readiness: () => Readiness;
  /** refreshes gauges that are read on demand (spool depth and age) before a scrape */
  beforeScrape: () => void;
  apiToken: string;
  log: Logger;
}

/** The HTTP app as a plugin-built instance; the composition root decides where it listens. */
export async function buildHttp(deps: HttpDeps): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.log.child({ module: 'http' }, { level: 'warn' }) as FastifyBaseLogger, bodyLimit: 10 * 1024 * 1024 });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get('/healthz', async () => ({ status: 'ok' }));

  r.get('/readyz', async (_req, reply) => {
    const state = deps.readiness();
    return reply.code(state.ready ? 200 : 503).send(state);
  });

  r.get('/metrics', async (_req, reply) => {
    deps.beforeScrape();
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  await app.register(
    async (api) => {
      api.addHook('onRequest', bearerAuth(deps.apiToken));
      const a = api.withTypeProvider<ZodTypeProvider>();
      const withState = (id: string) => {
        const bin = deps.registry.get(id)!;
        const s = deps.binState.get(id);
        return {
          ...bin,
          state: s
            ? {
                ts: s.ts === null ? null : new Date(s.ts).toISOString(),
                received_at: s.received_at === null ? null : new Date(s.received_at).toISOString(),
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
      a.get('/bins', { schema: { querystring: z.object({ zone: z.string().optional(), kind: z.string().optional() }) } }, async (req) =>
        deps.registry
          .all()
          .filter((b) => (!req.query.zone || b.zone === req.query.zone) && (!req.query.kind || b.kind === req.query.kind))
          .map((b) => withState(b.id)),
      );
      a.get('/bins/:id', { schema: { params: z.object({ id: z.string() }) } }, async (req, reply) => {
        if (!deps.registry.get(req.params.id)) return reply.code(404).send({ error: 'not_found', message: `no bin ${req.params.id}` });
        return withState(req.params.id);
      });
    },
    { prefix: '/api' },
  );
  return app;
}

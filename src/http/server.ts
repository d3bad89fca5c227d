import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { bearerAuth } from './auth.js';

export interface Readiness {
  ready: boolean;
  checks: Record<string, string>;
}

export interface HttpDeps {
  /** shown in the OpenAPI document */
  version: string;
  metrics: Metrics;
  readiness: () => Readiness;
  /** refreshes gauges that are read on demand (spool depth, alerts and jobs by state) before a scrape */
  beforeScrape: () => void;
  apiToken: string;
  /** route plugins mounted under /api, behind the bearer token */
  api: FastifyPluginAsync[];
  /** route plugins mounted at the root (the WhatsApp webhook checks its own signature) */
  root: FastifyPluginAsync[];
  log: Logger;
}

/** The HTTP app; the composition root decides where it listens. */
export async function buildHttp(deps: HttpDeps): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.log.child({ module: 'http' }, { level: 'warn' }) as FastifyBaseLogger, bodyLimit: 10 * 1024 * 1024 });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, _req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) deps.log.error({ err }, 'http handler failed');
    return reply.code(status).send({ error: status >= 500 ? 'internal' : 'bad_request', message: status >= 500 ? 'internal error' : err.message });
  });
  // OpenAPI from the routes' zod schemas, browsable at /docs (served locally, no CDN)
  await app.register(swagger, {
    openapi: {
      info: { title: 'binbridge', description: 'Smart-bin telemetry bridge: registry, alerts, dispatches, reports, WhatsApp webhook, Open311', version: deps.version },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'http.api_token, for /api/*' } } },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
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

  for (const plugin of deps.root) await app.register(plugin);
  await app.register(
    async (api) => {
      api.addHook('onRequest', bearerAuth(deps.apiToken));
      for (const plugin of deps.api) await api.register(plugin);
    },
    { prefix: '/api' },
  );
  return app;
}

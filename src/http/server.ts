import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransformObject, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { adminAuth, apiAuth, type Access } from './auth.js';
import { guardConnections, openFilesLimit } from './connection-guard.js';
import { API_TAGS, documentRoutes } from './openapi.js';
import { PAGE_CSP } from './routes/live.js';
import { problemErrorHandler, problemNotFound } from './problem.js';

/** Timeouts, caps and proxy trust of the listener (the `http.*` config keys). */
export type HttpLimits = Pick<
  Config['http'],
  | 'trust_proxy'
  | 'connection_timeout_ms'
  | 'keep_alive_timeout_ms'
  | 'headers_timeout_ms'
  | 'request_timeout_ms'
  | 'connections_check_interval_ms'
  | 'max_connections'
  | 'max_connections_per_ip'
>;

/** A body (of an /api route, Open311, a page that does not exist) is at most this, unless the route says otherwise. */
export const API_BODY_LIMIT = 64 * 1024;

export interface Readiness {
  ready: boolean;
  /** each part by name: `ok`, or what is wrong with it */
  checks: Record<string, string>;
  /** the instance answering (behind a load balancer, which one) */
  instance?: string;
  /** who holds the lease for timed work: this instance or another (several instances on one PostgreSQL store) */
  lease?: { name: string; holder: string | null; this_instance: boolean };
}

export interface HttpDeps {
  /** shown in the OpenAPI document */
  version: string;
  metrics: Metrics;
  readiness: () => Readiness;
  /** refreshes gauges that are read on demand (spool depth, alerts and jobs by state) before a scrape */
  beforeScrape: () => void | Promise<void>;
  /** who may use /api/*, /metrics and /docs without the token */
  access: Access;
  /** route plugins mounted under /api, behind the bearer token */
  api: FastifyPluginAsync[];
  /** route plugins mounted at the root (the WhatsApp webhook checks its own signature) */
  root: FastifyPluginAsync[];
  limits: HttpLimits;
  log: Logger;
}

/** The HTTP app; the composition root decides where it listens. */
export async function buildHttp(deps: HttpDeps): Promise<FastifyInstance> {
  const { limits } = deps;
  // Fastify sets the socket idle timeout (server.timeout), keepAliveTimeout and requestTimeout; the header timeout
  // and how often Node checks both are Node's own server options, passed through as `http`
  const app = Fastify({
    loggerInstance: deps.log.child({ module: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
    // every body is small unless its route says otherwise (bins imports, the WhatsApp webhook): a body is read
    // before any route checks who sent it, so a big default lets anyone make the process parse megabytes
    bodyLimit: API_BODY_LIMIT,
    connectionTimeout: limits.connection_timeout_ms,
    keepAliveTimeout: limits.keep_alive_timeout_ms,
    requestTimeout: limits.request_timeout_ms,
    // X-Forwarded-For decides req.ip (and so who is "this machine") only from the proxies named here
    trustProxy: limits.trust_proxy || false,
    http: {
      headersTimeout: limits.headers_timeout_ms,
      requestTimeout: limits.request_timeout_ms,
      connectionsCheckingInterval: limits.connections_check_interval_ms,
    },
  });
  const fdLimit = openFilesLimit();
  const maxConnections = fdLimit === null ? limits.max_connections : Math.min(limits.max_connections, Math.floor(fdLimit / 2));
  if (maxConnections < limits.max_connections) {
    deps.log.warn({ module: 'http', max_connections: limits.max_connections, open_files_limit: fdLimit, used: maxConnections }, 'http.max_connections lowered to half the open-files limit');
  }
  guardConnections(app.server, { maxConnections, maxPerAddress: limits.max_connections_per_ip }, (reason) => deps.metrics.httpConnectionsRefused.inc({ reason }));
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // every error, fastify's own (no route, bad JSON, body too large, schema) included, is an RFC 9457 problem
  app.setErrorHandler(problemErrorHandler((err, req) => deps.log.error({ err, method: req.method, url: req.routeOptions.url }, 'http handler failed')));
  app.setNotFoundHandler(problemNotFound);
  // every answer: the page's policy (an API answer loaded as a page gets it too), never framed, no MIME sniffing
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: PAGE_CSP },
    frameguard: { action: 'deny' },
    // plain HTTP on the city's network: HSTS and upgrading to https are for the TLS proxy in front, if any, and a
    // browser ignores Cross-Origin-Opener-Policy from an http:// address other than localhost (with a console error)
    strictTransportSecurity: false,
    crossOriginOpenerPolicy: false,
    // Open311 answers and their links are meant for other sites
    crossOriginResourcePolicy: false,
  });
  // OpenAPI from the routes' zod schemas, browsable at /docs (served locally, no CDN)
  await app.register(swagger, {
    openapi: {
      info: { title: 'binbridge', description: 'Smart-bin telemetry bridge: registry, alerts, dispatches, reports, WhatsApp webhook, Open311', version: deps.version },
      tags: [...API_TAGS],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'http.api_token, or the token generated into <data_dir>/api.token; this machine needs none unless http.api_token is set' },
        },
      },
    },
    // each route's tag, summary and error answers (src/http/openapi.ts)
    transform: documentRoutes,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(async (docs) => {
    docs.addHook('onRequest', adminAuth(deps.access));
    await docs.register(swaggerUi, {
      routePrefix: '/docs',
      // Swagger UI's own policy (hashes of its inline scripts), never framed, and no upgrade to https on plain HTTP
      staticCSP: true,
      // Swagger UI's bundle adds <style> elements of its own at run time, which no hash can name
      transformStaticCSP: (csp) =>
        csp
          .replace(/\s*upgrade-insecure-requests;?/, '')
          .replace("frame-ancestors 'self'", "frame-ancestors 'none'")
          .replace(/style-src [^;]*;/, "style-src 'self' 'unsafe-inline';"),
    });
  });
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get('/healthz', async () => ({ status: 'ok' }));
  r.get('/readyz', async (_req, reply) => {
    const state = deps.readiness();
    return reply.code(state.ready ? 200 : 503).send(state);
  });
  r.get('/metrics', { onRequest: adminAuth(deps.access) }, async (_req, reply) => {
    await deps.beforeScrape();
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  for (const plugin of deps.root) await app.register(plugin);
  await app.register(
    async (api) => {
      api.addHook('onRequest', apiAuth(deps.access));
      api.addHook('onRoute', (route) => {
        route.bodyLimit ??= API_BODY_LIMIT;
      });
      for (const plugin of deps.api) await api.register(plugin);
    },
    { prefix: '/api' },
  );
  // the OpenAPI document is built from every route's zod schemas on first use (~100 ms of one turn): built here,
  // at start-up, the first /docs request is served from the cache like the rest
  await app.ready();
  app.swagger();
  app.swagger({ yaml: true });
  return app;
}

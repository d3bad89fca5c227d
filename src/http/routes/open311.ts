import { realClock, type Clock } from '../../clock.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  SERVICES,
  findReports,
  open311Error,
  parseForm,
  planRequestsQuery,
  postRequestSchema,
  requestsQuerySchema,
  toCreateArgs,
  toServiceRequest,
  type Open311Service,
  type Open311Source,
} from '../../open311/index.js';

export interface Open311RouteDeps {
  source: Open311Source;
  /** keys allowed to POST service requests; with none, every POST is refused */
  apiKeys: readonly string[];
  /** `agency_responsible` of every request, e.g. the city's waste department */
  agency?: string | null;
  services?: readonly Open311Service[];
  /** where the endpoint lives; the plugin mounts itself there */
  prefix?: string;
  clock?: Clock;
}

const digest = (s: string) => createHash('sha256').update(s).digest();
const ONLY_JSON = 'only the JSON format is offered: use .json instead of .xml';
/** a POST is a few fields and a description of at most 4,000 characters */
const POST_BODY_LIMIT = 64 * 1024;

/** A refused field as the caller named it: `lat: one value, not a list`. */
function describeError(err: FastifyError): string {
  if (!err.validation) return err.message;
  return err.validation.map((v) => `${v.instancePath.replace(/^\//, '').replaceAll('/', '.') || err.validationContext}: ${v.message}`).join('; ');
}

/**
 * Open311 GeoReport v2 (JSON only) over the residents' reports. GETs are public; POST needs an
 * `api_key` from the configured list (403 otherwise, as the spec says). Every error answers the
 * spec's shape, an array of `{ code, description }`. Register it at the root: it mounts itself at
 * `/open311/v2` so its not-found handler and form parser stay inside that prefix.
 */
export function open311Routes(deps: Open311RouteDeps): FastifyPluginAsync {
  const services = deps.services ?? SERVICES;
  const clock = deps.clock ?? realClock;
  const keys = deps.apiKeys.filter(Boolean).map(digest);
  const view = (r: Parameters<typeof toServiceRequest>[0]) => toServiceRequest(r, { services, agency: deps.agency ?? null });

  const isKnownKey = (given: string): boolean => {
    const d = digest(given);
    let ok = false;
    for (const k of keys) ok = timingSafeEqual(d, k) || ok; // no early exit: the time does not tell which key matched
    return ok;
  };

  const requireApiKey = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const body = req.body as Record<string, unknown> | undefined;
    const query = req.query as Record<string, unknown> | undefined;
    const given = typeof body?.api_key === 'string' ? body.api_key : typeof query?.api_key === 'string' ? query.api_key : '';
    if (!given || !isKnownKey(given)) await reply.code(403).send(open311Error(403, 'api_key missing or not valid'));
  };

  const routes: FastifyPluginAsync = async (app) => {
    // the spec's POST is form-encoded; @fastify/formbody is not installed and URLSearchParams suffices
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: POST_BODY_LIMIT }, (_req, body, done) => {
      try {
        done(null, parseForm(body as string));
      } catch (err) {
        done(err as Error, undefined); // a FormError: too many fields, a 400
      }
    });
    app.setErrorHandler((err: FastifyError, req, reply) => {
      const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
      if (status >= 500) req.log.error({ err, module: 'open311' }, 'open311 handler failed');
      return reply.code(status).send(open311Error(status, status >= 500 ? 'internal error' : describeError(err)));
    });
    app.setNotFoundHandler((req, reply) => {
      const path = req.url.split('?')[0] ?? '';
      if (/\.xml$/i.test(path)) return reply.code(400).send(open311Error(400, ONLY_JSON));
      return reply.code(404).send(open311Error(404, `no such resource: ${req.method} ${path}`));
    });

    const r = app.withTypeProvider<ZodTypeProvider>();
    const file = z.object({ file: z.string().max(100) });
    /** `R-7K3Q.json` → `R-7K3Q`; `.xml` → refused; anything else → not found */
    const stem = (name: string, reply: FastifyReply): string | undefined => {
      if (/\.json$/i.test(name)) return name.slice(0, -5);
      if (/\.xml$/i.test(name)) void reply.code(400).send(open311Error(400, ONLY_JSON));
      else void reply.code(404).send(open311Error(404, `no such resource: ${name}`));
      return undefined;
    };

    r.get('/services.json', async () => services);

    // service definitions exist only for metadata=true services; ours have none, so this answers an empty list
    r.get('/services/:file', { schema: { params: file } }, async (req, reply) => {
      const code = stem(req.params.file, reply);
      if (code === undefined) return reply;
      const service = services.find((s) => s.service_code === code);
      if (!service) return reply.code(404).send(open311Error(404, `service_code ${code} not found`));
      return { service_code: service.service_code, attributes: [] };
    });

    r.get('/requests.json', { schema: { querystring: requestsQuerySchema } }, async (req, reply) => {
      const plan = planRequestsQuery(req.query, clock.now(), services);
      if (!plan.ok) return reply.code(400).send(open311Error(400, plan.error));
      return (await findReports(deps.source, plan)).map(view);
    });

    r.get('/requests/:file', { schema: { params: file } }, async (req, reply) => {
      const ref = stem(req.params.file, reply);
      if (ref === undefined) return reply;
      const report = await deps.source.getByReference(ref);
      if (!report) return reply.code(404).send(open311Error(404, `service_request_id ${ref} not found`));
      return [view(report)];
    });

    r.post('/requests.json', { bodyLimit: POST_BODY_LIMIT, preValidation: requireApiKey, schema: { body: postRequestSchema } }, async (req, reply) => {
      const checked = toCreateArgs(req.body, services);
      if (!checked.ok) return reply.code(400).send(open311Error(400, checked.error));
      const created = await deps.source.createFromOpen311(checked.args);
      if ('error' in created) return reply.code(created.code).send(open311Error(created.code, created.error));
      return [{ service_request_id: created.reference, service_notice: null, account_id: null }];
    });
  };

  return async (app) => {
    await app.register(routes, { prefix: deps.prefix ?? '/open311/v2' });
  };
}

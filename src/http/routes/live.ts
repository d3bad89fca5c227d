import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { LiveEvents } from '../live-events.js';
import { iso } from '../iso.js';
import { idParams } from './bounds.js';

const require = createRequire(import.meta.url);

/** The page's folder: `web/` at the project root, found upward from this file (src/ under tsx, dist/src/ when built). */
export function findWebDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'web');
    if (fs.existsSync(path.join(candidate, 'index.html'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('the live page (web/index.html) was not found above ' + path.dirname(fileURLToPath(import.meta.url)));
}

const packageDir = (name: string): string => path.dirname(require.resolve(`${name}/package.json`));

/**
 * The live operations page at `/` (plain ES modules from `web/`, no build step) and the libraries it imports,
 * served from node_modules under `/vendor/` so the page works offline. Register at the root; the page's data
 * comes from /api/* with the same bearer token.
 */
export function livePageRoutes(opts: { webDir?: string } = {}): FastifyPluginAsync {
  return async (app) => {
    const common = { wildcard: false, cacheControl: true, maxAge: 0, etag: true } as const;
    await app.register(fastifyStatic, { ...common, root: opts.webDir ?? findWebDir(), prefix: '/', index: ['index.html'] });
    await app.register(fastifyStatic, { ...common, root: path.join(packageDir('leaflet'), 'dist'), prefix: '/vendor/leaflet/', decorateReply: false, maxAge: '1d' });
    await app.register(fastifyStatic, { ...common, root: path.join(packageDir('uplot'), 'dist'), prefix: '/vendor/uplot/', decorateReply: false, maxAge: '1d' });
  };
}


/** `GET /api/bins/:id/readings?hours=24`: a bin's recent readings from the live hub's in-memory window. */
export function liveApiRoutes(deps: { live: LiveEvents; isKnownBin: (id: string) => boolean }): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    r.get(
      '/bins/:id/readings',
      {
        schema: {
          params: idParams,
          querystring: z.object({ hours: z.coerce.number().positive().max(24 * 31).default(24) }),
        },
      },
      async (req, reply) => {
        if (!deps.isKnownBin(req.params.id)) return reply.code(404).send({ error: 'not_found', message: `no bin ${req.params.id}` });
        const since = deps.live.clock.now() - req.query.hours * 3_600_000;
        return {
          bin_id: req.params.id,
          // not a history store: the last readings received since the bridge started, at most `capacity` per bin
          source: 'memory',
          capacity: deps.live.capacity,
          items: deps.live.readings(req.params.id, since).map((x) => ({ ...x, ts: iso(x.ts) })),
        };
      },
    );
  };
}

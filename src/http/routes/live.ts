import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { realClock, type Clock } from '../../clock.js';
import { BUCKET_MS, HISTORY_DAYS, HISTORY_MS, type ReadingHistory } from '../../storage/index.js';
import { iso } from '../iso.js';
import { sendProblem } from '../problem.js';
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

/** The map tiles' server (web/map.js draws its tiles from it): the one origin besides the bridge the page loads from. */
export const TILE_ORIGIN = 'https://tile.openstreetmap.org';

/**
 * The page's Content-Security-Policy: exactly what it loads. Its scripts, styles and fonts (Leaflet and uPlot too,
 * from /vendor/), its API calls and event stream come from the bridge; images from the bridge, data: URLs and the
 * tile server.
 * Nothing inline, no plugins, no <base>, never framed.
 */
export const PAGE_CSP = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  // data: Leaflet's blank tile placeholder (a 1×1 GIF); a data: image runs nothing
  imgSrc: ["'self'", 'data:', TILE_ORIGIN],
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
} as const;

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
    await app.register(fastifyStatic, { ...common, root: path.join(packageDir('leaflet.markercluster'), 'dist'), prefix: '/vendor/leaflet.markercluster/', decorateReply: false, maxAge: '1d' });
  };
}


const HOUR = 3_600_000;
const MAX_HOURS = HISTORY_DAYS * 24;

/** `?hours=` (a span ending now) or `?from=`/`?to=` (ISO-8601), at most the 35 days the history keeps. */
export const readingsQuerySchema = z
  .object({
    hours: z.coerce
      .number()
      .positive()
      .max(MAX_HOURS, `at most ${MAX_HOURS} hours (the ${HISTORY_DAYS} days the history keeps)`)
      .optional()
      .describe('the span that ends at `to` (or now); 24 when neither hours nor from is given'),
    from: z.iso.datetime({ offset: true, message: 'an ISO-8601 time, e.g. 2026-12-01T14:00:00Z' }).optional().describe('start of the range (ISO-8601)'),
    to: z.iso.datetime({ offset: true, message: 'an ISO-8601 time, e.g. 2026-12-02T14:00:00Z' }).optional().describe('end of the range (ISO-8601); now by default'),
  })
  .superRefine((q, ctx) => {
    if (q.hours !== undefined && q.from !== undefined) ctx.addIssue({ code: 'custom', path: ['hours'], message: 'give hours or from, not both (hours counts back from to, or from now)' });
    if (q.from === undefined || q.to === undefined) return;
    const span = Date.parse(q.to) - Date.parse(q.from);
    if (span <= 0) ctx.addIssue({ code: 'custom', path: ['from'], message: 'from must be before to' });
    if (span > HISTORY_MS) ctx.addIssue({ code: 'custom', path: ['from'], message: `from and to at most ${HISTORY_DAYS} days apart (the history keeps ${HISTORY_DAYS} days)` });
  });

export interface LiveApiDeps {
  history: Pick<ReadingHistory, 'range'>;
  /** the registry's id for this id, ignoring case; undefined for an unknown bin */
  findBin: (id: string) => string | undefined;
  /** the city's time zone (config `timezone`), for the page's times */
  timezone: string;
  clock?: Clock;
}

/**
 * The live page's data besides /api/bins and the event stream: `GET /api/page` (the page's settings) and
 * `GET /api/bins/:id/readings` (a bin's 15-minute history, from the embedded store).
 */
export function liveApiRoutes(deps: LiveApiDeps): FastifyPluginAsync {
  const clock = deps.clock ?? realClock;
  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    r.get('/page', { schema: { summary: "The live page's settings: the city's time zone, the chart's resolution" } }, async () => ({
      timezone: deps.timezone,
      history: { bucket_minutes: BUCKET_MS / 60_000, days: HISTORY_DAYS },
    }));
    r.get(
      '/bins/:id/readings',
      {
        schema: {
          summary: "A bin's history: one point per 15 minutes (the last fill, its min and max, the lowest battery, the highest temperature)",
          params: idParams,
          querystring: readingsQuerySchema,
        },
      },
      async (req, reply) => {
        const binId = deps.findBin(req.params.id);
        if (!binId) return sendProblem(reply, 404, `no bin ${req.params.id}`);
        const q = req.query;
        // from alone: up to now, at most 35 days on (and never before from, for a from in the future)
        const fromGiven = q.from !== undefined ? Date.parse(q.from) : undefined;
        const to = q.to !== undefined ? Date.parse(q.to) : fromGiven !== undefined ? Math.max(fromGiven, Math.min(clock.now(), fromGiven + HISTORY_MS)) : clock.now();
        const from = fromGiven ?? to - (q.hours ?? 24) * HOUR;
        return {
          bin_id: binId,
          from: iso(from),
          to: iso(to),
          bucket_minutes: BUCKET_MS / 60_000,
          items: (await deps.history.range(binId, from, to)).map((p) => ({
            ts: iso(p.ts),
            bucket: iso(p.bucket),
            fill_pct: p.fill,
            fill_min_pct: p.fillMin,
            fill_max_pct: p.fillMax,
            battery_min_pct: p.batteryMin,
            temperature_max_c: p.temperatureMax,
            readings: p.readings,
          })),
          next: null,
        };
      },
    );
  };
}

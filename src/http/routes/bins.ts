import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AlertStore } from '../../alerts/index.js';
import { realClock, type Clock } from '../../clock.js';
import { BinsFileError, binRefProblems, binSchema, parseBinsCsvYielding, parseBinsGeoJsonYielding, type Bin, type ZonesAndCrews, type KnownValues, type BinRegistry } from '../../registry/index.js';
import type { BinStateStore } from '../../storage/index.js';
import { iso } from '../iso.js';
import { DEFAULT_LIMIT, decodeCursor, knownFilter, pageOf, pageQuery } from '../page.js';
import { HttpProblem, sendProblem, type ProblemError } from '../problem.js';
import { IMPORT_BODY_LIMIT, filter, idParams, notJson } from './bounds.js';

export interface BinRouteDeps {
  registry: BinRegistry;
  binState: BinStateStore;
  /** the zones a bin may name are the zones-and-crews list's (the config's, or the bins file's when the config names none) */
  zonesAndCrews: Pick<ZonesAndCrews, 'zones'>;
  /** registry.kinds of the config */
  kinds: readonly string[];
  /** a removed bin's open alerts are closed */
  alerts: Pick<AlertStore, 'closeAllOf'>;
  /** a removed bin's device secret is revoked, its MQTT sessions closed and its retained status deleted */
  revokeDevice: (binId: string) => Promise<{ revoked: boolean; disconnected: number }>;
  clearRetained: (binId: string) => Promise<void>;
  /** the readings the rules set aside as outliers: the newest one's time and how many in all */
  outliers?: (binId: string) => { lastAt: number; total: number } | null;
  clock?: Clock;
}

/** A bins file's problem ("line 3: zone: unknown zone …") as an entry of a problem's `errors`. */
function fileError(p: string): ProblemError {
  const at = p.indexOf(': ');
  return at > 0 ? { in: 'body', name: p.slice(0, at), detail: p.slice(at + 2) } : { in: 'body', name: '(body)', detail: p };
}

/** A problem's `errors` hold at most this many rows of a refused file (a whole city of bad rows is megabytes). */
const MAX_ERRORS = 1000;

/**
 * A refused bins file (or a refused bin of a PUT): its problems, with the zones and kinds a bin may name, in the
 * shape of every 400's `known` (a query's too): each field's name and its known values; a field that takes any
 * value (no zones configured) is left out.
 */
export function refused(detail: string, errors: ProblemError[], known: KnownValues): HttpProblem {
  const more = errors.length > MAX_ERRORS ? ` (the first ${MAX_ERRORS} are listed)` : '';
  const values = { ...(known.zones ? { zone: [...known.zones] } : {}), ...(known.kinds ? { kind: [...known.kinds] } : {}) };
  return new HttpProblem(400, detail + more, errors.slice(0, MAX_ERRORS), { known: values });
}

/** A bins file refused as a whole: every problem as an error, nothing imported. */
export function fileRefused(err: BinsFileError, known: KnownValues): HttpProblem {
  return refused(`bins file refused: ${err.problems.length} problem(s), nothing imported`, err.problems.map(fileError), known);
}

/** The registry plus live state under /api/bins; edits, removals and bins-file imports. Ids ignore case. */
export function binRoutes(deps: BinRouteDeps): FastifyPluginAsync {
  const clock = deps.clock ?? realClock;
  const known = (): KnownValues => ({ zones: deps.zonesAndCrews.zones().map((z) => z.id), kinds: deps.kinds });
  // the list pages by id; sorted once per change of the registry, not per request
  let sorted: { version: number; bins: Bin[] } | null = null;
  const byId = (): Bin[] => {
    if (sorted?.version !== deps.registry.version) {
      sorted = { version: deps.registry.version, bins: deps.registry.all().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
    }
    return sorted.bins;
  };
  const withState = (bin: Bin) => {
    const s = deps.binState.get(bin.id);
    const outliers = s ? deps.outliers?.(bin.id) : null;
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
            // the fill above is the newest reading as it came; a spike the next reading contradicted is counted here
            last_outlier_at: iso(outliers?.lastAt ?? null),
            outliers: outliers?.total ?? 0,
          }
        : null,
    };
  };

  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get(
      '/bins',
      {
        schema: {
          summary: 'Bins with their live state, by id',
          querystring: z.object({ zone: filter.describe('a zone id (GET /api/zones)'), kind: filter.describe('a kind of registry.kinds'), ...pageQuery }),
        },
      },
      async (req) => {
        const q = req.query;
        const k = known();
        const zone = knownFilter('zone', q.zone, k.zones ?? []);
        const kind = knownFilter('kind', q.kind, k.kinds ?? []);
        const [after] = decodeCursor(q.cursor, z.tuple([z.string()])) ?? [];
        const limit = q.limit ?? DEFAULT_LIMIT;
        const rows: Bin[] = [];
        for (const b of byId()) {
          if (after !== undefined && b.id <= after) continue;
          if ((zone && b.zone !== zone) || (kind && b.kind !== kind)) continue;
          rows.push(b);
          if (rows.length > limit) break;
        }
        return pageOf(rows, limit, (b) => [b.id], withState);
      },
    );

    r.get('/bins/:id', { schema: { summary: 'A bin with its live state (the id in any case)', params: idParams } }, async (req, reply) => {
      const bin = deps.registry.lookup(req.params.id);
      return bin ? withState(bin) : sendProblem(reply, 404, `no bin ${req.params.id}`);
    });

    r.put(
      '/bins/:id',
      { schema: { summary: 'Adds a bin, or updates the bin with this id in any case', params: idParams, body: binSchema.omit({ id: true }) } },
      async (req) => {
        const parsed = binSchema.safeParse({ ...req.body, id: req.params.id });
        const k = known();
        if (!parsed.success) {
          const errors = parsed.error.issues.map((i): ProblemError => ({ in: i.path[0] === 'id' ? 'path' : 'body', name: i.path.join('.') || '(body)', detail: i.message }));
          throw refused(`bin refused: ${errors.map((e) => `${e.name}: ${e.detail}`).join('; ')}`, errors, k);
        }
        const problems = binRefProblems(parsed.data, k);
        if (problems.length > 0) throw refused(`bin ${parsed.data.id} refused: ${problems.join('; ')}`, problems.map(fileError), k);
        const [stored] = await deps.registry.upsert([parsed.data]);
        return withState(stored!);
      },
    );

    r.delete(
      '/bins/:id',
      {
        schema: {
          summary: 'Removes a bin: its device can no longer log in, its open alerts close; its past (alerts, jobs, reports, history) stays',
          params: idParams,
        },
      },
      async (req, reply) => {
        const bin = await deps.registry.remove(req.params.id);
        if (!bin) return sendProblem(reply, 404, `no bin ${req.params.id}`);
        // after the registry: a reading arriving in between is refused as an unknown bin, not half-applied
        const device = await deps.revokeDevice(bin.id);
        await deps.clearRetained(bin.id);
        const alertsClosed = await deps.alerts.closeAllOf(bin.id, clock.now());
        deps.binState.delete(bin.id);
        req.log.info({ module: 'registry', bin_id: bin.id, alerts_closed: alertsClosed, secret_revoked: device.revoked }, 'bin removed');
        return { id: bin.id, removed: true, alerts_closed: alertsClosed, secret_revoked: device.revoked, disconnected: device.disconnected };
      },
    );

    // a bins file in the body: text/csv, or GeoJSON as application/json / application/geo+json
    app.addContentTypeParser(['text/csv', 'text/plain'], { parseAs: 'string', bodyLimit: IMPORT_BODY_LIMIT }, (_req, body, done) => done(null, body));
    app.addContentTypeParser('application/geo+json', { parseAs: 'string', bodyLimit: IMPORT_BODY_LIMIT }, (_req, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch (err) {
        done(notJson(err), undefined);
      }
    });
    app.post('/bins/import', { bodyLimit: IMPORT_BODY_LIMIT, schema: { summary: 'Imports a bins file (CSV or GeoJSON): all of it, or none of it with every bad row' } }, async (req) => {
      const k = known();
      try {
        // parsed and checked a few hundred rows at a time, yielding in between: a city's import never stalls readings
        const bins = typeof req.body === 'string' ? await parseBinsCsvYielding(req.body, 'request body', k) : await parseBinsGeoJsonYielding(req.body, 'request body', k);
        await deps.registry.upsert(bins);
        return { imported: bins.length, total: deps.registry.size };
      } catch (err) {
        if (err instanceof BinsFileError) throw fileRefused(err, k);
        throw err;
      }
    });
  };
}

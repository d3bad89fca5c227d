// The HTTP target's inputs: the routes (from the OpenAPI document and the ones it leaves out) and fast-check
// arbitraries for a request to any of them — path parameters from the ids the app knows and from anything, query
// strings from the parameters' names, headers, and bodies (schema-shaped JSON with hostile fields, bins files,
// wrong content types, broken and deeply nested JSON, and now and then a huge one).
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { ROOT } from '../bridge.js';
import { anyText, anyValue, deepJson } from '../hostile.js';
import { Rng } from '../rng.js';
import { hostileArb, validArb, type JsonSchema } from '../schema-arb.js';
import { clip } from '../stats.js';

interface Param {
  in: 'path' | 'query' | 'header';
  name: string;
  schema: JsonSchema;
}

export interface Route {
  method: string;
  path: string;
  params: Param[];
  body: JsonSchema | null;
  /** static, streaming or otherwise outside the OpenAPI document */
  extra?: 'static' | 'sse' | 'ws' | 'docs' | 'import' | 'ngsi' | 'unknown';
}

interface OpenApi {
  paths: Record<string, Record<string, { parameters?: Param[]; requestBody?: { content?: Record<string, { schema?: JsonSchema }> } }>>;
}

/** The routes of the running app: its OpenAPI document, and what the document leaves out. */
export async function loadRoutes(baseUrl: string): Promise<Route[]> {
  const doc = (await (await fetch(`${baseUrl}/docs/json`)).json()) as OpenApi;
  const routes: Route[] = [];
  for (const [p, methods] of Object.entries(doc.paths)) {
    // the event stream is in the document but never ends: it is driven as a stream, below
    if (p === '/api/events') continue;
    for (const [m, op] of Object.entries(methods)) {
      const body = op.requestBody?.content?.['application/json']?.schema ?? null;
      const route: Route = { method: m.toUpperCase(), path: p, params: op.parameters ?? [], body };
      if (p === '/api/bins/import') route.extra = 'import';
      if (p === '/api/bins/import-ngsi-ld') route.extra = 'ngsi';
      routes.push(route);
    }
  }
  const web = fs.readdirSync(path.join(ROOT, 'web')).map((f) => `/${f}`);
  for (const p of ['/', ...web, '/vendor/leaflet/leaflet.js', '/vendor/leaflet/leaflet.css', '/vendor/uplot/uPlot.iife.min.js', '/vendor/uplot/uPlot.min.css', '/vendor/leaflet/../../package.json']) {
    routes.push({ method: 'GET', path: p, params: [], body: null, extra: 'static' });
  }
  routes.push({ method: 'GET', path: '/api/events', params: [], body: null, extra: 'sse' });
  routes.push({ method: 'GET', path: '/mqtt', params: [], body: null, extra: 'ws' });
  for (const p of ['/docs', '/docs/json', '/docs/yaml', '/docs/static/index.html']) routes.push({ method: 'GET', path: p, params: [], body: null, extra: 'docs' });
  return routes;
}

export type BodyPlan =
  | { kind: 'bytes'; data: string; type: string | null }
  | { kind: 'deep'; depth: number; style: 'array' | 'object' | 'mixed'; type: string }
  | { kind: 'huge'; size: number; style: HugeStyle; type: string };

type HugeStyle = 'string' | 'array' | 'garbage' | 'csv' | 'form';

export interface RequestPlan {
  method: string;
  route: Route;
  path: string;
  query: string;
  headers: Record<string, string>;
  body: BodyPlan | null;
  auth: 'good' | 'none' | 'wrong' | 'malformed';
}

export interface HttpContext {
  apiToken: string;
  open311Key: string;
  bins: string[];
  zones: string[];
  crews: string[];
  serviceCodes: string[];
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND', 'FOO'];
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json; charset=utf-16',
  'application/json;;;',
  'text/plain',
  'text/csv',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/geo+json',
  'application/ld+json',
  'application/xml',
  'application/octet-stream',
  'image/png',
  '*/*',
  'json',
  '',
];

/** A path parameter drawn from the ids the app knows (to reach the handler) and from anything at all. */
function paramArb(route: Route, name: string, ctx: HttpContext): fc.Arbitrary<string> {
  const p = route.path;
  const known = p.includes('/zones')
    ? ctx.zones
    : p.includes('/crews')
      ? ctx.crews
      : p.includes('/bins')
        ? ctx.bins
        : p.includes('/reports')
          ? ['1', '2', '3', 'R-AAAA', 'R-7K3Q', '0', '-1', '1e3']
          : p.includes('/dispatches')
            ? ['J-AAAA', 'D-1', '1']
            : name === 'file'
              ? [...ctx.serviceCodes.map((c) => `${c}.json`), 'R-AAAA.json', 'x.xml', 'services.json', '.json', 'R-AAAA']
              : ['x'];
  return fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...known) },
    { weight: 2, arbitrary: anyText(40) },
    { weight: 1, arbitrary: fc.constantFrom('..', '.', '%', '%2e%2e', '..%2f..%2f', 'a%00b', '%C0%AF', '%zz', '%FF%FE') },
    { weight: 1, arbitrary: fc.integer({ min: 256, max: 9000 }).map((n) => 'A'.repeat(n)) },
  );
}

const RAW_OK = /^[\x21-\x7e]*$/;

/** encodeURIComponent for any string: a lone surrogate goes as the bytes Buffer makes of it (U+FFFD). */
function pct(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) out += /[A-Za-z0-9\-_.!~*'()]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** URL-encodes most of the time; now and then sends bytes raw (when Node lets them through) or double-encoded. */
function encodeArb(v: string): fc.Arbitrary<string> {
  return fc.constantFrom(0, 0, 0, 0, 1, 2).map((k) => (k === 1 && RAW_OK.test(v) ? v : k === 2 ? pct(pct(v)) : pct(v)));
}

function queryValueArb(name: string): fc.Arbitrary<string> {
  const known: Record<string, string[]> = {
    status: ['open', 'closed', 'dispatched', 'pending', 'sent', 'accepted', 'done', 'escalated', 'cancelled', 'OPEN', ''],
    limit: ['1', '10', '5000', '5001', '0', '-1', '1.5', '1e3', 'NaN', '99999999999999999999'],
    hours: ['1', '24', '744', '745', '0', '-1', '0.0001', '1e308', 'Infinity', 'abc'],
    since: ['2026-01-01T00:00:00Z', '2026-02-30T00:00:00Z', '2026-01-01T00:00:00+01:00', '2026-01-01', 'yesterday', '0'],
    start_date: ['2026-01-01T00:00:00Z', '2026-13-01T00:00:00Z', '1970-01-01T00:00:00Z', '9999-12-31T23:59:59Z', 'x'],
    end_date: ['2026-01-01T00:00:00Z', '2000-01-01T00:00:00Z', '2026-02-29T00:00:00Z', ''],
    service_code: ['overflowing-bin', 'damaged-bin', 'dumped-waste', 'nope', ''],
    service_request_id: ['R-AAAA', 'R-AAAA,R-BBBB', ','.repeat(300), ''],
    'hub.mode': ['subscribe', 'unsubscribe', ''],
    'hub.challenge': ['12345', '<script>', ''],
  };
  return fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...((Object.hasOwn(known, name) ? known[name] : undefined) ?? ['x', '1', ''])) }, { weight: 2, arbitrary: anyText(50) }, { weight: 1, arbitrary: fc.integer({ min: 1000, max: 20_000 }).map((n) => 'q'.repeat(n)) });
}

function queryArb(route: Route): fc.Arbitrary<string> {
  const names = route.params.filter((p) => p.in === 'query').map((p) => p.name);
  const pair = fc.tuple(
    names.length > 0 ? fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...names) }, { weight: 1, arbitrary: anyText(12) }) : anyText(12),
    fc.nat(),
  );
  return fc
    .array(pair, { maxLength: names.length + 2 })
    .chain((pairs) => (pairs.length === 0 ? fc.constant([] as string[]) : fc.tuple(...pairs.map(([n]) => queryValueArb(n).chain((v) => encodeArb(v).map((ev) => `${pct(n)}=${ev}`))))))
    .chain((parts) => fc.constantFrom('', '', '&', '&&', '=&', '?').map((junk) => (parts.length > 0 || junk ? `?${parts.join('&')}${junk}` : '')));
}

function headersArb(): fc.Arbitrary<Record<string, string>> {
  const value = fc.string({ unit: fc.constantFrom(...' !"#$%&\'()*+,-./0123456789:;<=>?@ABCXYZ[\\]^_`abcxyz{|}~\t'.split('')), maxLength: 60 });
  const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant({}) },
    { weight: 3, arbitrary: fc.dictionary(name, value, { maxKeys: 4 }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom<Record<string, string>>(
        { 'x-forwarded-for': '1.2.3.4, 127.0.0.1' },
        { 'transfer-encoding': 'chunked' },
        { 'content-encoding': 'gzip' },
        { 'content-encoding': 'br' },
        { accept: 'application/xml' },
        { 'accept-encoding': 'gzip, deflate, br' },
        { range: 'bytes=0-10' },
        { range: 'bytes=99999999-' },
        { 'if-none-match': '*' },
        { expect: '100-continue' },
        { connection: 'upgrade', upgrade: 'websocket' },
        { 'x-hub-signature-256': 'sha256=00' },
      ),
    },
    { weight: 1, arbitrary: fc.integer({ min: 4000, max: 20_000 }).map((n) => ({ 'x-fuzz-big': 'h'.repeat(n) })) },
    { weight: 1, arbitrary: fc.integer({ min: 50, max: 300 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, k) => [`x-many-${k}`, String(k)]))) },
  );
}

function csvArb(): fc.Arbitrary<string> {
  const cell = fc.oneof(fc.constantFrom('UTR-9001', '52.09', '5.11', 'Oudegracht 1', 'centrum', 'rest', '1100', '1200', '40', '', '"', '""', ',', 'NaN', '-1', '1e308'), anyText(20));
  const header = fc.constantFrom('id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm', 'id,lat,lon', 'x', '', 'id;lat;lon');
  return fc.tuple(header, fc.array(fc.array(cell, { maxLength: 10 }), { maxLength: 8 })).map(([h, rows]) => [h, ...rows.map((r) => r.map((c) => (c.includes(',') || c.includes('\n') ? `"${c.replaceAll('"', '""')}"` : c)).join(','))].join('\n'));
}

function geoJsonArb(): fc.Arbitrary<unknown> {
  const feature = fc.record({
    type: fc.constantFrom('Feature', 'feature', 'Point', 1),
    geometry: fc.oneof(fc.record({ type: fc.constantFrom('Point', 'LineString'), coordinates: fc.array(anyValue, { maxLength: 3 }) }), anyValue),
    properties: fc.oneof(
      fc.record({ id: fc.oneof(fc.constantFrom('UTR-9002', 'UTR-0001'), anyText(20)), zone: fc.constantFrom('centrum', 'x', ''), kind: fc.constantFrom('rest', ''), capacity_l: anyValue, depth_mm: anyValue, address: anyText(30) }),
      anyValue,
    ),
  });
  return fc.record({ type: fc.constantFrom('FeatureCollection', 'Feature', 'x'), features: fc.oneof(fc.array(feature, { maxLength: 5 }), anyValue) });
}

function ngsiArb(): fc.Arbitrary<unknown> {
  const entity = fc.record({
    id: fc.oneof(fc.constantFrom('urn:ngsi-ld:WasteContainer:UTR-9003', 'urn:ngsi-ld:WasteContainer:', 'x'), anyText(30)),
    type: fc.constantFrom('WasteContainer', 'Thing', ''),
    location: fc.oneof(fc.record({ type: fc.constant('GeoProperty'), value: fc.record({ type: fc.constant('Point'), coordinates: fc.array(anyValue, { maxLength: 3 }) }) }), anyValue),
    address: anyValue,
    refWasteContainerModel: anyValue,
    fillingLevel: anyValue,
  });
  return fc.oneof(fc.array(entity, { maxLength: 5 }), entity, anyValue);
}

function bodyArb(route: Route, method: string, ctx: HttpContext): fc.Arbitrary<BodyPlan | null> {
  const json = (v: unknown, type = 'application/json'): BodyPlan => {
    let data: string;
    try {
      data = JSON.stringify(v) ?? 'null';
    } catch {
      data = '{}';
    }
    return { kind: 'bytes', data, type };
  };
  const schema = route.body;
  const withKey = (v: unknown): unknown =>
    route.path.startsWith('/open311') && v && typeof v === 'object' && !Array.isArray(v) ? { api_key: ctx.open311Key, ...(v as object) } : v;
  const own: { weight: number; arbitrary: fc.Arbitrary<BodyPlan | null> }[] = [];
  if (schema) {
    own.push({ weight: 10, arbitrary: fc.tuple(hostileArb(schema), fc.boolean()).map(([v, key]) => json(key ? withKey(v) : v)) });
    own.push({ weight: 3, arbitrary: fc.tuple(validArb(schema), fc.boolean()).map(([v, key]) => json(key ? withKey(v) : v)) });
    own.push({
      weight: 2,
      arbitrary: fc.tuple(hostileArb(schema), fc.boolean()).map(([v, key]) => {
        const o = (key ? withKey(v) : v) as Record<string, unknown>;
        const form = new URLSearchParams();
        if (o && typeof o === 'object') for (const [k, x] of Object.entries(o)) form.append(k, typeof x === 'string' ? x : JSON.stringify(x) ?? '');
        return { kind: 'bytes', data: form.toString(), type: 'application/x-www-form-urlencoded' };
      }),
    });
  }
  if (route.extra === 'import') {
    own.push({ weight: 6, arbitrary: csvArb().map((data) => ({ kind: 'bytes', data, type: 'text/csv' }) as BodyPlan) });
    own.push({ weight: 4, arbitrary: geoJsonArb().map((v) => json(v, 'application/geo+json')) });
    own.push({ weight: 2, arbitrary: geoJsonArb().map((v) => json(v)) });
  }
  if (route.extra === 'ngsi') {
    own.push({ weight: 6, arbitrary: ngsiArb().map((v) => json(v, 'application/ld+json')) });
    own.push({ weight: 2, arbitrary: ngsiArb().map((v) => json(v)) });
  }
  const noBody = method === 'GET' || method === 'HEAD' || method === 'DELETE' || method === 'OPTIONS';
  const choices: { weight: number; arbitrary: fc.Arbitrary<BodyPlan | null> }[] = [
    ...own,
    { weight: noBody ? 30 : 0, arbitrary: fc.constant(null) },
    { weight: 2, arbitrary: fc.json({ maxDepth: 4 }).map((data) => ({ kind: 'bytes', data, type: 'application/json' }) as BodyPlan) },
    { weight: 2, arbitrary: anyValue.map((v) => json(v)) },
    {
      weight: 3,
      arbitrary: fc.tuple(fc.oneof(fc.json({ maxDepth: 3 }), anyText(200)), fc.constantFrom(...CONTENT_TYPES)).map(([data, type]) => ({ kind: 'bytes', data, type: type || null }) as BodyPlan),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.json({ maxDepth: 3 }), fc.nat()).map(([data, cut]) => ({ kind: 'bytes', data: data.slice(0, cut % Math.max(1, data.length)) + (cut % 3 ? '' : '\u0000'), type: 'application/json' }) as BodyPlan),
    },
    { weight: 1, arbitrary: fc.constant<BodyPlan>({ kind: 'bytes', data: '', type: 'application/json' }) },
    {
      weight: 1,
      arbitrary: fc
        .record({ depth: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 100, max: 5000 }) }, { weight: 1, arbitrary: fc.integer({ min: 5000, max: 200_000 }) }), style: fc.constantFrom('array' as const, 'object' as const, 'mixed' as const) })
        .map(({ depth, style }) => ({ kind: 'deep', depth, style, type: 'application/json' }) as BodyPlan),
    },
    {
      // 1 in 20 of these: a huge body
      weight: 1,
      arbitrary: fc.oneof(
        { weight: 19, arbitrary: fc.json({ maxDepth: 2 }).map((data) => ({ kind: 'bytes', data, type: 'application/json' }) as BodyPlan) },
        {
          weight: 1,
          arbitrary: fc
            .record({ size: fc.integer({ min: 512 * 1024, max: 11 * 1024 * 1024 }), style: fc.constantFrom<HugeStyle>('string', 'array', 'garbage', 'csv', 'form') })
            .map(({ size, style }) => ({ kind: 'huge', size, style, type: style === 'csv' ? 'text/csv' : style === 'form' ? 'application/x-www-form-urlencoded' : 'application/json' }) as BodyPlan),
        },
      ),
    },
  ];
  return fc.oneof(...choices.filter((c) => c.weight > 0));
}

const UNKNOWN: Route = { method: 'GET', path: '/?', params: [], body: null, extra: 'unknown' };
const unknownPath = fc.oneof(
  fc.webPath(),
  fc.constantFrom('/api', '/api/', '//api/bins', '/api/../api/bins', '/API/bins', '/api/bins/', '/api/bins/%2e%2e', '/open311/v2/', '/open311/v2/requests.xml', '/webhooks/whatsapp/', '/metrics/', '/%00', '/' + 'a/'.repeat(2000)),
);

export function requestArb(routes: Route[], ctx: HttpContext): fc.Arbitrary<RequestPlan> {
  // arbitraries are built once per route and method (building one costs more than drawing from it)
  const cache = new Map<string, fc.Arbitrary<RequestPlan>>();
  const headers = headersArb();
  return fc
    .tuple(fc.nat({ max: routes.length * 20 }), fc.nat({ max: 99 }))
    .chain(([ri, unknownRoll]) => {
      // 5 %: a path the app does not have
      if (unknownRoll < 5) return fc.constantFrom(...METHODS).chain((m) => finish(UNKNOWN, m, unknownPath));
      const route = routes[ri % routes.length]!;
      const method = fc.oneof({ weight: 9, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) });
      const names = [...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
      const pathArb =
        names.length === 0
          ? fc.constant(route.path)
          : fc.tuple(...names.map((n) => paramArb(route, n, ctx).chain(encodeArb))).map((vals) => names.reduce((acc, n, k) => acc.replace(`{${n}}`, vals[k]!), route.path));
      return method.chain((m) => finish(route, m, pathArb));
    });

  function finish(route: Route, method: string, pathArb: fc.Arbitrary<string>): fc.Arbitrary<RequestPlan> {
    const key = `${method} ${route.path} ${route.extra ?? ''}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const arb = fc.record({
      method: fc.constant(method),
      route: fc.constant(route),
      path: pathArb,
      query: queryArb(route),
      headers,
      body: bodyArb(route, method, ctx),
      auth: ctx.apiToken
        ? fc.constantFrom<RequestPlan['auth']>('good', 'good', 'good', 'good', 'good', 'good', 'none', 'none', 'wrong', 'malformed')
        : fc.constantFrom<RequestPlan['auth']>('none', 'none', 'none', 'none', 'none', 'malformed'),
    });
    cache.set(key, arb);
    return arb;
  }
}

// ---------------------------------------------------------------------------------------------------------

const HUGE_MAX = 11 * 1024 * 1024;
const HUGE_STYLES: HugeStyle[] = ['string', 'array', 'garbage', 'csv', 'form'];
const hugeCache = new Map<HugeStyle, Buffer>();

/** Builds the huge bodies once, before the bridge is watched: making 11 MB would stall this process mid-run. */
export function prepareHugeBodies(): void {
  for (const style of HUGE_STYLES) {
    if (hugeCache.has(style)) continue;
    let buf: Buffer;
    if (style === 'string') buf = Buffer.from(`{"name":"${'x'.repeat(HUGE_MAX)}"}`);
    else if (style === 'array') buf = Buffer.from(`[${'{"id":"UTR-0001","zone":"centrum"},'.repeat(Math.ceil(HUGE_MAX / 34))}1]`);
    else if (style === 'csv') buf = Buffer.from(`id,lat,lon,address,zone,kind,capacity_l,depth_mm\n${'X,1,1,a,z,k,1,1\n'.repeat(Math.ceil(HUGE_MAX / 16))}`);
    else if (style === 'form') buf = Buffer.from('a=1&'.repeat(Math.ceil(HUGE_MAX / 4)));
    else {
      // random bytes: one seeded 64 KB block, repeated
      const block = new Rng(7).bytes(64 * 1024);
      buf = Buffer.alloc(HUGE_MAX);
      for (let i = 0; i < HUGE_MAX; i += block.length) block.copy(buf, i);
    }
    hugeCache.set(style, buf);
  }
}

function hugeBody(style: HugeStyle, size: number): Buffer {
  prepareHugeBodies();
  const buf = hugeCache.get(style)!;
  if (style === 'string') return Buffer.concat([buf.subarray(0, size - 2), Buffer.from('"}')]);
  if (style === 'array') return Buffer.concat([buf.subarray(0, size - 2), Buffer.from('1]')]);
  return buf.subarray(0, size);
}

export function realize(body: BodyPlan): { data: Buffer; type: string | null } {
  if (body.kind === 'bytes') return { data: Buffer.from(body.data), type: body.type };
  if (body.kind === 'deep') return { data: Buffer.from(deepJson(body.depth, body.style)), type: body.type };
  return { data: hugeBody(body.style, body.size), type: body.type };
}

export function describe(plan: RequestPlan, body: { data: Buffer; type: string | null } | null): string {
  const b = !body
    ? ''
    : plan.body?.kind === 'huge'
      ? ` body: ${plan.body.style} ${body.data.length} B`
      : plan.body?.kind === 'deep'
        ? ` body: ${plan.body.style} nested ${plan.body.depth} deep`
        : ` body (${body.type ?? 'no type'}): ${clip(body.data.toString('utf8'), 300)}`;
  const h = Object.keys(plan.headers).length > 0 ? ` headers: ${clip(JSON.stringify(plan.headers), 200)}` : '';
  return `${plan.method} ${clip(plan.path + plan.query, 300)} auth=${plan.auth}${h}${b}`;
}


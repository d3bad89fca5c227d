// One API shape (issue 14): every list is `{ items, next }` with `limit` and a cursor; every timestamp ISO-8601;
// every error an RFC 9457 problem; bin ids case-insensitive; filters and a bin's zone and kind checked against
// the known values; DELETE /api/bins/{id}; CSV exports of alerts, jobs and reports.
import { parse as parseCsv } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, postgresCluster } from '../helpers/postgres.js';
import { CITY, cityBins, closed, connectClient, publishAcked, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { readBinsFile } from '../../src/registry/index.js';
import { waitFor } from '../helpers/wait.js';

const [BIN, OTHER] = cityBins(2) as [string, string];
const CITY_BINS = readBinsFile(CITY);
const ZONE = CITY_BINS.find((b) => b.id === BIN)!.zone;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: { in: string; name: string; detail: string }[];
  known?: Record<string, string[]>;
}

// the stores in SQLite under data_dir, and in PostgreSQL (store.url): one shape
const cluster = postgresCluster();

describe.each(['sqlite', 'postgres'] as const)('one API shape (%s)', (store) => {
  let bridge: InProcessBridge;
  const api = (p: string, init: RequestInit & { type?: string } = {}) =>
    fetch(`${bridge.httpUrl}/api${p}`, {
      ...init,
      headers: { authorization: 'Bearer t0ken', ...(init.body ? { 'content-type': init.type ?? 'application/json' } : {}), ...((init.headers as Record<string, string>) ?? {}) },
    });
  const json = async <T>(p: string, init: RequestInit & { type?: string } = {}): Promise<T> => (await (await api(p, init)).json()) as T;
  /** the answer must be a problem of this status; returns it */
  const problemOf = async (res: Response, status: number): Promise<Problem> => {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const p = (await res.json()) as Problem;
    expect(p).toMatchObject({ type: 'about:blank', status, title: expect.any(String), detail: expect.any(String) });
    return p;
  };
  const binBody = (over: Record<string, unknown> = {}) => JSON.stringify({ lat: 52.09, lon: 5.11, address: 'Teststraat 1', zone: ZONE, kind: 'paper', capacity_l: 1100, depth_mm: 1200, sensor_offset_mm: 50, ...over });

  beforeAll(async () => {
    const storeUrl: Record<string, string> = store === 'postgres' ? { BINBRIDGE_STORE_URL: await freshDatabase(cluster.server) } : {};
    bridge = await startBridge({ ...storeUrl, BINBRIDGE_HTTP_API_TOKEN: 't0ken', BINBRIDGE_DISPATCH_BATCH_WINDOW_S: '0' });
    // a crew always on shift in the bin's zone, so that a full bin makes a job and a crew message
    for (const c of bridge.zonesAndCrews.crews()) bridge.zonesAndCrews.deleteCrew(c.id);
    const crew = await api('/crews/c-api', { method: 'PUT', body: JSON.stringify({ name: 'API crew', phone: '31655555555', zones: [ZONE], shift: '00:00-24:00', lang: 'nl' }) });
    expect(crew.status).toBe(200);
    const secret = await bridge.secrets.issue(BIN);
    const c = await connectClient(bridge.mqttUrl, { clientId: BIN, username: BIN, password: secret });
    const t = Date.now() - 3_600_000;
    for (const [i, f] of [40, 95, 96].entries()) await publishAcked(c, `bins/${BIN}/telemetry`, { fill_pct: f, ts: t + i * 60_000 });
    c.end();
    await waitFor(async () => (await bridge.alerts.list({ bin: BIN, status: 'open' })).length > 0 && (await bridge.dispatcher.store.list({ bin: BIN })).length > 0, { message: 'an alert and a job' });
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it('answers every list as { items, next }, and the bins list walks page by page to every bin once', async () => {
    for (const p of ['/bins', '/alerts', '/dispatches', '/reports', '/zones', '/crews', '/whatsapp/messages']) {
      const body = await json<{ items: unknown[]; next: string | null }>(p);
      expect(Array.isArray(body.items), p).toBe(true);
      expect(body.next === null || typeof body.next === 'string', p).toBe(true);
    }
    const seen: string[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const page: { items: { id: string }[]; next: string | null } = await json(`/bins?limit=50${next ? `&cursor=${encodeURIComponent(next)}` : ''}`);
      expect(page.items.length).toBeLessThanOrEqual(50);
      seen.push(...page.items.map((b) => b.id));
      next = page.next;
      pages++;
    } while (next !== null && pages < 100);
    expect(seen.length).toBe(bridge.registry.size);
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBe(Math.ceil(bridge.registry.size / 50));
    // a default page, and the maximum
    expect((await json<{ items: unknown[] }>('/bins')).items.length).toBe(Math.min(100, bridge.registry.size));
    const tooMany = await problemOf(await api('/bins?limit=100000'), 400);
    expect(tooMany.errors).toContainEqual(expect.objectContaining({ in: 'query', name: 'limit' }));
    const bad = await problemOf(await api('/alerts?cursor=not-a-cursor'), 400);
    expect(bad.errors?.[0]).toMatchObject({ in: 'query', name: 'cursor' });
  });

  it('pages the alerts, jobs and messages with cursors, newest first, without repeats', async () => {
    const all = await json<{ items: { id: number }[] }>('/alerts?limit=1000');
    expect(all.items.length).toBeGreaterThan(0);
    const first = await json<{ items: { id: number }[]; next: string | null }>('/alerts?limit=1');
    expect(first.items).toEqual([all.items[0]]);
    if (all.items.length > 1) {
      const second = await json<{ items: { id: number }[] }>(`/alerts?limit=1&cursor=${first.next}`);
      expect(second.items).toEqual([all.items[1]]);
    } else expect(first.next).toBeNull();
    const jobs = await json<{ items: { id: string }[]; next: string | null }>('/dispatches?limit=1');
    expect(jobs.items.length).toBe(1);
  });

  it('writes every timestamp as ISO-8601, the WhatsApp messages included', async () => {
    const messages = await waitFor(async () => {
      const { items } = await json<{ items: Record<string, unknown>[] }>('/whatsapp/messages');
      return items.length > 0 ? items : undefined;
    }, { message: 'a crew message' });
    for (const m of messages) {
      expect(m.created_at).toMatch(ISO);
      expect(m).not.toHaveProperty('createdAt');
    }
    const [alert] = (await json<{ items: Record<string, unknown>[] }>('/alerts')).items;
    expect(alert!.opened_at).toMatch(ISO);
    const [job] = (await json<{ items: Record<string, unknown>[] }>('/dispatches')).items;
    expect(job!.created_at).toMatch(ISO);
    const text = JSON.stringify([messages, alert, job, await json(`/bins/${BIN}`)]);
    // no epoch milliseconds anywhere (13 digits, 2001-2286)
    expect(text).not.toMatch(/[":]\s*1\d{12}\b/);
  });

  it("answers every error as application/problem+json: no route, unknown bin, bad JSON, body too large, a schema's failures", async () => {
    const none = await problemOf(await api('/nothing-here'), 404);
    expect(none.detail).toContain('/api/nothing-here');
    await problemOf(await fetch(`${bridge.httpUrl}/no-such-page`), 404);
    expect((await problemOf(await api('/bins/NOPE-0000'), 404)).detail).toContain('NOPE-0000');
    expect((await problemOf(await api('/dispatches/nope'), 404)).detail).toContain('nope');
    const badJson = await problemOf(await api('/bins/X-1', { method: 'PUT', body: '{"lat": 5' }), 400);
    expect(badJson.detail).toMatch(/JSON/i);
    await problemOf(await api('/zones/z1', { method: 'PUT', body: JSON.stringify({ name: 'x'.repeat(100 * 1024) }) }), 413);
    const schema = await problemOf(await api('/alerts?status=sideways'), 400);
    expect(schema.errors).toEqual([expect.objectContaining({ in: 'query', name: 'status' })]);
    const body = await problemOf(await api('/bins/X-1', { method: 'PUT', body: binBody({ lat: 'north', capacity_l: -1 }) }), 400);
    expect(body.errors!.map((e) => e.name).sort()).toEqual(['capacity_l', 'lat']);
    expect(body.errors!.every((e) => e.in === 'body')).toBe(true);
  });

  it('refuses an unknown ?zone=, ?type=, ?kind= or ?crew= with the known values', async () => {
    const zones = bridge.zonesAndCrews.zones().map((z) => z.id);
    for (const p of ['/bins?zone=atlantis', '/alerts?zone=atlantis', '/dispatches?zone=atlantis']) {
      const p400 = await problemOf(await api(p), 400);
      expect(p400.detail, p).toContain('atlantis');
      for (const z of zones) expect(p400.detail, p).toContain(z);
      expect(p400.errors).toEqual([expect.objectContaining({ in: 'query', name: 'zone' })]);
      expect(p400.known, p).toEqual({ zone: zones });
    }
    const type = await problemOf(await api('/alerts?type=volcano'), 400);
    expect(type.detail).toContain('battery_low');
    expect(type.known?.type).toContain('full');
    expect((await problemOf(await api('/bins?kind=uranium'), 400)).detail).toContain('paper');
    expect((await problemOf(await api('/dispatches?crew=nobody'), 400)).detail).toContain('c-api');
    // a known value still filters
    const some = await json<{ items: { zone: string }[] }>(`/bins?zone=${ZONE}&limit=1000`);
    expect(some.items.length).toBeGreaterThan(0);
    expect(some.items.every((b) => b.zone === ZONE)).toBe(true);
  });

  it('takes bin ids in any case: GET, PUT (updates, never a second bin) and an import', async () => {
    const lower = OTHER.toLowerCase();
    const got = await api(`/bins/${lower}`);
    expect(got.status).toBe(200);
    expect(((await got.json()) as { id: string }).id).toBe(OTHER);
    const size = bridge.registry.size;
    const put = await api(`/bins/${lower}`, { method: 'PUT', body: binBody({ address: 'Kleine Letters 1' }) });
    expect(put.status).toBe(200);
    expect(((await put.json()) as { id: string }).id).toBe(OTHER);
    expect(bridge.registry.size).toBe(size);
    expect(bridge.registry.get(OTHER)!.address).toBe('Kleine Letters 1');
    const header = 'id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm';
    const imported = await api('/bins/import', { method: 'POST', type: 'text/csv', body: `${header}\n${lower},52.1,5.1,Import 2,${ZONE},rest,1100,1200,50\n` });
    expect(imported.status).toBe(200);
    expect(bridge.registry.size).toBe(size);
    expect(bridge.registry.get(OTHER)!.address).toBe('Import 2');
    const twice = await problemOf(await api('/bins/import', { method: 'POST', type: 'text/csv', body: `${header}\nNEW-1,52.1,5.1,a,${ZONE},rest,1100,1200,50\nnew-1,52.1,5.1,b,${ZONE},rest,1100,1200,50\n` }), 400);
    expect(twice.errors).toEqual([expect.objectContaining({ name: 'line 3', detail: expect.stringContaining('appears twice') })]);
    expect(bridge.registry.lookup('NEW-1')).toBeUndefined();
  });

  it('refuses a bin in an unknown zone or of an unknown kind, by PUT and by import, with the row and the known values', async () => {
    const zone = await problemOf(await api('/bins/ZZ-0001', { method: 'PUT', body: binBody({ zone: 'atlantis' }) }), 400);
    expect(zone.errors).toEqual([expect.objectContaining({ in: 'body', name: 'zone', detail: expect.stringContaining('atlantis') })]);
    // `known` has one shape for every 400: the field or parameter's name and its known values
    const kinds = (await problemOf(await api('/bins?kind=uranium'), 400)).known!.kind!;
    expect(zone.known).toEqual({ zone: bridge.zonesAndCrews.zones().map((z) => z.id), kind: kinds });
    const kind = await problemOf(await api('/bins/ZZ-0001', { method: 'PUT', body: binBody({ kind: 'uranium' }) }), 400);
    expect(kind.errors).toEqual([expect.objectContaining({ name: 'kind', detail: expect.stringMatching(/uranium.*paper/) })]);
    expect(bridge.registry.lookup('ZZ-0001')).toBeUndefined();
    const header = 'id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm';
    const csv = `${header}\nZZ-0002,52.1,5.1,a,${ZONE},rest,1100,1200,50\nZZ-0003,52.1,5.1,b,atlantis,rest,1100,1200,50\nZZ-0004,52.1,5.1,c,${ZONE},uranium,1100,1200,50\n`;
    const file = await problemOf(await api('/bins/import', { method: 'POST', type: 'text/csv', body: csv }), 400);
    expect(file.errors).toEqual([
      expect.objectContaining({ in: 'body', name: 'line 3', detail: expect.stringContaining('atlantis') }),
      expect.objectContaining({ in: 'body', name: 'line 4', detail: expect.stringContaining('uranium') }),
    ]);
    expect(file.known).toEqual(zone.known);
    expect(file.known?.kind).toContain('paper');
    // nothing of a refused file is imported
    expect(bridge.registry.lookup('ZZ-0002')).toBeUndefined();
  });

  it('exports alerts, jobs and reports as CSV, by Accept: text/csv or a .csv path', async () => {
    const viaPath = await api(`/alerts.csv?bin=${BIN}`);
    expect(viaPath.status).toBe(200);
    expect(viaPath.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = parseCsv(await viaPath.text(), { columns: true }) as Record<string, string>[];
    expect(rows.length).toBe((await bridge.alerts.list({ bin: BIN })).length);
    expect(rows[0]).toMatchObject({ bin_id: BIN, type: 'full', status: 'open' });
    expect(rows[0]!.opened_at).toMatch(ISO);
    const jobs = await api('/dispatches', { headers: { accept: 'text/csv' } });
    expect(jobs.headers.get('content-type')).toMatch(/^text\/csv/);
    const jobRows = parseCsv(await jobs.text(), { columns: true }) as Record<string, string>[];
    expect(jobRows[0]!.bin_ids!.split(';')).toContain(BIN);
    const reports = await api('/reports', { headers: { accept: 'text/csv, application/json;q=0.5' } });
    expect(reports.headers.get('content-type')).toMatch(/^text\/csv/);
    expect((await reports.text()).split('\n')[0]).toBe('id,reference,status,bin_id,method,reporter,reporters,source,text,lat,lon,photo_url,created_at,updated_at,closed_at');
    // JSON stays the default, for a browser's Accept too
    expect((await api('/alerts', { headers: { accept: 'text/html,*/*;q=0.8' } })).headers.get('content-type')).toMatch(/^application\/json/);
    await problemOf(await api('/alerts.csv?zone=atlantis'), 400);
  });

  it('DELETE /api/bins/{id} removes the bin (any case): its device is locked out, its open alerts close, its past stays', async () => {
    const openBefore = (await bridge.alerts.list({ bin: BIN, status: 'open' })).length;
    expect(openBefore).toBeGreaterThan(0);
    const jobsBefore = (await bridge.dispatcher.store.list({ bin: BIN })).length;
    const secret = await bridge.secrets.issue(BIN);
    const device = await connectClient(bridge.mqttUrl, { clientId: BIN, username: BIN, password: secret });
    const res = await api(`/bins/${BIN.toLowerCase()}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: BIN, removed: true, alerts_closed: openBefore, secret_revoked: true, disconnected: 1 });
    expect(await closed(device)).toBe(true);
    await problemOf(await api(`/bins/${BIN}`), 404);
    await problemOf(await api(`/bins/${BIN}`, { method: 'DELETE' }), 404);
    expect(bridge.registry.lookup(BIN)).toBeUndefined();
    expect(bridge.binState.get(BIN)).toBeUndefined();
    expect(await bridge.alerts.list({ bin: BIN, status: 'open' })).toEqual([]);
    expect((await bridge.alerts.list({ bin: BIN })).length).toBeGreaterThanOrEqual(openBefore);
    expect((await bridge.dispatcher.store.list({ bin: BIN })).length).toBe(jobsBefore);
    // the old secret no longer logs in
    await expect(connectClient(bridge.mqttUrl, { clientId: BIN, username: BIN, password: secret, reconnectPeriod: 0 })).rejects.toThrow();
  });

  it('documents the paging, the CSV paths and DELETE in /docs', async () => {
    const doc = (await (await fetch(`${bridge.httpUrl}/docs/json`)).json()) as { paths: Record<string, Record<string, { parameters?: { name: string }[] }>> };
    expect(doc.paths['/api/bins']!.get!.parameters!.map((p) => p.name)).toEqual(expect.arrayContaining(['zone', 'kind', 'limit', 'cursor']));
    expect(doc.paths['/api/bins/{id}']!.delete).toBeDefined();
    for (const p of ['/api/alerts.csv', '/api/dispatches.csv', '/api/reports.csv', '/api/whatsapp/messages']) expect(Object.keys(doc.paths)).toContain(p);
  });
});

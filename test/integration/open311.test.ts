import { ManualClock } from '../../src/clock.js';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open311Routes } from '../../src/http/routes/open311.js';
import type { Open311CreateArgs, Open311Source, ReportView } from '../../src/open311/index.js';

const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);
const DAY = 86_400_000;

/** An in-memory stand-in for the reports store, filtering as the contract says. */
class FakeSource implements Open311Source {
  readonly created: Open311CreateArgs[] = [];
  readonly reports: ReportView[] = [];
  constructor(private readonly bins: Set<string>) {}

  add(r: Partial<ReportView> & Pick<ReportView, 'reference' | 'status' | 'created_at'>): void {
    this.reports.push({ id: this.reports.length + 1, bin_id: null, method: 'code', lat: null, lon: null, address: null, zone: null, updated_at: r.created_at, closed_at: null, ...r });
  }
  async list(f: Parameters<Open311Source['list']>[0]): Promise<ReportView[]> {
    return this.reports
      .filter((r) => (!f.status || f.status.includes(r.status)) && (f.start === undefined || r.created_at >= f.start) && (f.end === undefined || r.created_at <= f.end))
      .filter((r) => !f.service_code || (r.service_code ?? 'overflowing-bin') === f.service_code)
      .sort((a, b) => b.created_at - a.created_at)
      .slice(0, f.limit);
  }
  async getByReference(ref: string): Promise<ReportView | undefined> {
    return this.reports.find((r) => r.reference === ref.toUpperCase());
  }
  async createFromOpen311(r: Open311CreateArgs): Promise<{ reference: string } | { error: string; code: 400 | 404 }> {
    if (r.bin_id && !this.bins.has(r.bin_id)) return { error: `no bin ${r.bin_id}`, code: 404 };
    this.created.push(r);
    const reference = `R-NEW${this.created.length}`;
    this.add({ reference, status: 'open', created_at: NOW, bin_id: r.bin_id ?? null, method: 'open311', service_code: r.service_code });
    return { reference };
  }
}

describe('Open311 GeoReport v2 routes', () => {
  let app: FastifyInstance;
  const source = new FakeSource(new Set(['UTR-0001', 'UTR-0002']));
  source.add({ reference: 'R-7K3Q', status: 'dispatched', created_at: NOW - DAY, bin_id: 'UTR-0001', lat: 52.09, lon: 5.12, address: 'Oudegracht 158' });
  source.add({ reference: 'R-AB12', status: 'closed', created_at: NOW - 10 * DAY, bin_id: 'UTR-0002', closed_at: NOW - 9 * DAY, service_code: 'damaged-bin' });
  source.add({ reference: 'R-OLD1', status: 'closed', created_at: NOW - 120 * DAY });

  beforeAll(async () => {
    app = Fastify();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    await app.register(open311Routes({ source, apiKeys: ['city-key', 'other-key'], agency: 'Afvalbeheer Utrecht', clock: new ManualClock(NOW) }));
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
  });

  const get = async (url: string) => {
    const res = await app.inject({ method: 'GET', url: `/open311/v2${url}` });
    return { status: res.statusCode, type: res.headers['content-type'], body: res.json() as unknown };
  };
  const refs = (body: unknown) => (body as { service_request_id: string }[]).map((r) => r.service_request_id);

  it('lists the services, metadata false', async () => {
    const { status, type, body } = await get('/services.json');
    expect(status).toBe(200);
    expect(type).toMatch(/^application\/json; charset=utf-8/);
    const services = body as { service_code: string; metadata: boolean; type: string; group: string; keywords: string; service_name: string }[];
    expect(services.map((s) => s.service_code)).toEqual(['overflowing-bin', 'damaged-bin', 'dumped-waste']);
    expect(services[0]).toMatchObject({ service_name: 'Overflowing or full waste bin', metadata: false, type: 'realtime', group: 'Waste' });
    expect(services.every((s) => s.metadata === false && typeof s.keywords === 'string')).toBe(true);
    expect((await get('/services/damaged-bin.json')).body).toEqual({ service_code: 'damaged-bin', attributes: [] });
    expect((await get('/services/pothole.json')).status).toBe(404);
  });

  it('lists requests of the last 90 days with the standard field names', async () => {
    const { status, body } = await get('/requests.json');
    expect(status).toBe(200);
    expect(refs(body)).toEqual(['R-7K3Q', 'R-AB12']);
    expect((body as object[])[0]).toEqual({
      service_request_id: 'R-7K3Q',
      status: 'open',
      status_notes: 'A crew has been dispatched to empty the bin.',
      service_name: 'Overflowing or full waste bin',
      service_code: 'overflowing-bin',
      description: 'Overflowing or full waste bin reported: bin UTR-0001 at Oudegracht 158',
      agency_responsible: 'Afvalbeheer Utrecht',
      service_notice: null,
      requested_datetime: '2025-05-31T12:00:00Z',
      updated_datetime: '2025-05-31T12:00:00Z',
      expected_datetime: null,
      address: 'Oudegracht 158',
      address_id: 'UTR-0001',
      zipcode: null,
      lat: 52.09,
      long: 5.12,
      media_url: null,
    });
  });

  it('filters by status, service_code, dates and service_request_id', async () => {
    expect(refs((await get('/requests.json?status=open')).body)).toEqual(['R-7K3Q']);
    expect(refs((await get('/requests.json?status=closed')).body)).toEqual(['R-AB12']);
    expect(refs((await get('/requests.json?service_code=damaged-bin')).body)).toEqual(['R-AB12']);
    expect(refs((await get('/requests.json?start_date=2025-05-25T00:00:00Z&end_date=2025-06-01T12:00:00Z')).body)).toEqual(['R-7K3Q']);
    expect(refs((await get('/requests.json?start_date=2025-01-01T00:00:00Z&end_date=2025-03-01T00:00:00Z')).body)).toEqual(['R-OLD1']);
    expect(refs((await get('/requests.json?service_request_id=R-OLD1,R-7K3Q,R-NOPE&status=open')).body)).toEqual(['R-OLD1', 'R-7K3Q']);
  });

  it('answers bad filters with the spec\'s error array', async () => {
    for (const q of ['status=pending', 'start_date=yesterday', 'start_date=2025-01-01T00:00:00Z&end_date=2025-06-01T00:00:00Z', 'service_code=pothole']) {
      const { status, body } = await get(`/requests.json?${q}`);
      expect(status, q).toBe(400);
      expect(body).toEqual([{ code: 400, description: expect.any(String) }]);
    }
  });

  it('gets one request as an array of one, 404 in the spec\'s shape', async () => {
    const one = await get('/requests/R-AB12.json');
    expect(one.status).toBe(200);
    expect(one.body).toEqual([expect.objectContaining({ service_request_id: 'R-AB12', status: 'closed', service_code: 'damaged-bin', service_name: 'Damaged waste bin', status_notes: null })]);
    const missing = await get('/requests/R-ZZZZ.json');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual([{ code: 404, description: 'service_request_id R-ZZZZ not found' }]);
    expect((await get('/nothing-here.json')).body).toEqual([{ code: 404, description: expect.stringContaining('no such resource') }]);
  });

  it('refuses the XML format with a clear message', async () => {
    for (const url of ['/services.xml', '/requests.xml', '/requests/R-AB12.xml', '/services/overflowing-bin.xml']) {
      const { status, body } = await get(url);
      expect(status, url).toBe(400);
      expect(body).toEqual([{ code: 400, description: 'only the JSON format is offered: use .json instead of .xml' }]);
    }
    const post = await app.inject({ method: 'POST', url: '/open311/v2/requests.xml', payload: { api_key: 'city-key' } });
    expect(post.statusCode).toBe(400);
  });

  describe('POST requests.json', () => {
    const post = (payload: Record<string, string> | Record<string, unknown>, form = true) =>
      app.inject({
        method: 'POST',
        url: '/open311/v2/requests.json',
        ...(form
          ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(payload as Record<string, string>).toString() }
          : { payload }),
      });

    it('creates a request from a form post with lat/long', async () => {
      const res = await post({ api_key: 'city-key', service_code: 'overflowing-bin', lat: '52.0907', long: '5.1214', description: 'Bak vol', email: 'resident@example.org' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual([{ service_request_id: 'R-NEW1', service_notice: null, account_id: null }]);
      expect(source.created.at(-1)).toEqual({ service_code: 'overflowing-bin', lat: 52.0907, lon: 5.1214, description: 'Bak vol', email: 'resident@example.org' });
      expect(refs((await get('/requests/R-NEW1.json')).body)).toEqual(['R-NEW1']);
    });

    it('creates a request from a form post with attribute[bin_id], and from JSON', async () => {
      const form = await post({ api_key: 'other-key', service_code: 'dumped-waste', 'attribute[bin_id]': 'UTR-0002' });
      expect(form.statusCode).toBe(200);
      expect(source.created.at(-1)).toEqual({ service_code: 'dumped-waste', bin_id: 'UTR-0002' });
      const json = await post({ api_key: 'city-key', service_code: 'overflowing-bin', address_string: 'Neude 1', bin_id: 'UTR-0001', lat: 52.1, long: 5.2 }, false);
      expect(json.statusCode).toBe(200);
      expect(source.created.at(-1)).toEqual({ service_code: 'overflowing-bin', bin_id: 'UTR-0001', address_string: 'Neude 1', lat: 52.1, lon: 5.2 });
      const query = await app.inject({ method: 'POST', url: '/open311/v2/requests.json?api_key=city-key', payload: { service_code: 'overflowing-bin', bin_id: 'UTR-0001' } });
      expect(query.statusCode).toBe(200);
    });

    it('refuses a missing or wrong api_key with 403', async () => {
      const before = source.created.length;
      for (const body of [{ service_code: 'overflowing-bin', bin_id: 'UTR-0001' }, { api_key: 'guess', service_code: 'overflowing-bin', bin_id: 'UTR-0001' }, { api_key: '' }]) {
        const res = await post(body);
        expect(res.statusCode).toBe(403);
        expect(res.json()).toEqual([{ code: 403, description: 'api_key missing or not valid' }]);
      }
      expect(source.created.length).toBe(before);
    });

    it('answers 400 without service_code or location, on a bad number and on broken JSON; 404 from the store', async () => {
      const cases: [Record<string, string>, number, string][] = [
        [{ api_key: 'city-key', lat: '52', long: '5' }, 400, 'service_code is required'],
        [{ api_key: 'city-key', service_code: 'overflowing-bin' }, 400, 'a location is required: lat and long, address_string, or attribute[bin_id]'],
        [{ api_key: 'city-key', service_code: 'overflowing-bin', lat: 'north', long: '5' }, 400, 'lat'],
        [{ api_key: 'city-key', service_code: 'overflowing-bin', bin_id: 'NOPE-1' }, 404, 'no bin NOPE-1'],
      ];
      for (const [body, code, text] of cases) {
        const res = await post(body);
        expect(res.statusCode, JSON.stringify(body)).toBe(code);
        expect(res.json()).toEqual([{ code, description: expect.stringContaining(text) }]);
      }
      const broken = await app.inject({ method: 'POST', url: '/open311/v2/requests.json?api_key=city-key', headers: { 'content-type': 'application/json' }, payload: '{"service_code":' });
      expect(broken.statusCode).toBe(400);
      expect(broken.json()).toEqual([{ code: 400, description: expect.any(String) }]);
    });

    it('refuses every POST when no key is configured', async () => {
      const bare = Fastify();
      bare.setValidatorCompiler(validatorCompiler);
      bare.setSerializerCompiler(serializerCompiler);
      await bare.register(open311Routes({ source, apiKeys: [] }));
      const res = await bare.inject({ method: 'POST', url: '/open311/v2/requests.json', payload: { api_key: '', service_code: 'overflowing-bin', bin_id: 'UTR-0001' } });
      expect(res.statusCode).toBe(403);
      await bare.close();
    });
  });
});

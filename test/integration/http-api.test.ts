import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cityBins, connectClient, metricValue, publishAcked, startBridge, type InProcessBridge } from '../helpers/bridge.js';

describe('HTTP API', () => {
  let bridge: InProcessBridge;
  beforeAll(async () => {
    bridge = await startBridge({ BINBRIDGE_HTTP_API_TOKEN: 'ops-token-123' });
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  const get = (p: string, token?: string) => fetch(`${bridge.httpUrl}${p}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('requires the bearer token on /api/* when one is configured, not on health and metrics', async () => {
    expect((await get('/api/bins')).status).toBe(401);
    expect((await get('/api/bins', 'wrong')).status).toBe(401);
    expect((await get('/api/bins', 'ops-token-123')).status).toBe(200);
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/metrics')).status).toBe(200);
  });

  it('lists bins with their registry fields, filters by zone, answers 404 for unknown ids', async () => {
    const all = ((await (await get('/api/bins?limit=1000', 'ops-token-123')).json()) as { items: { id: string; zone: string; lat: number; state: unknown }[] }).items;
    expect(all.length).toBe(bridge.registry.size);
    const zone = all[0]!.zone;
    const some = ((await (await get(`/api/bins?zone=${zone}`, 'ops-token-123')).json()) as { items: { zone: string }[] }).items;
    expect(some.length).toBeGreaterThan(0);
    expect(some.every((b) => b.zone === zone)).toBe(true);
    const [id] = cityBins(1);
    expect(((await (await get(`/api/bins/${id}`, 'ops-token-123')).json()) as { id: string }).id).toBe(id);
    expect((await get('/api/bins/NOPE', 'ops-token-123')).status).toBe(404);
  });

  it('serves the OpenAPI document generated from the route schemas, and its page at /docs', async () => {
    const doc = (await (await get('/docs/json')).json()) as { openapi: string; info: { version: string }; paths: Record<string, Record<string, { parameters?: { name: string }[] }>> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
    for (const p of ['/api/bins', '/api/alerts', '/api/dispatches', '/api/reports', '/webhooks/whatsapp', '/healthz']) expect(Object.keys(doc.paths)).toContain(p);
    expect(doc.paths['/api/alerts']!.get!.parameters!.map((x) => x.name)).toContain('status');
    const page = await get('/docs/');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
  });

  it('answers /metrics in the Prometheus text format, and the counters move when readings flow', async () => {
    const scrape = async () => (await get('/metrics')).text();
    const before = await scrape();
    const families = before.match(/^# TYPE \S+ (counter|gauge|histogram|summary)$/gm) ?? [];
    expect(families.length).toBeGreaterThanOrEqual(12);
    for (const line of before.split('\n').filter((l) => l && !l.startsWith('#'))) {
      // name{labels} value — the exposition format's sample line
      expect(line, line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$/);
    }
    const accepted = (text: string) => metricValue(text, 'binbridge_readings_accepted_total');
    const [id] = cityBins(1);
    const secret = await bridge.secrets.issue(id!);
    const c = await connectClient(bridge.mqttUrl, { clientId: id!, username: id!, password: secret });
    for (let i = 0; i < 5; i++) await publishAcked(c, `bins/${id}/telemetry`, { fill_pct: 10 + i, ts: Date.now() - 60_000 + i * 1000 });
    c.end();
    expect(accepted(await scrape()) - accepted(before)).toBe(5);
  });
});

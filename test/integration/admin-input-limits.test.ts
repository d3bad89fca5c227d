// The admin API bounds what it takes (issue 15, defect 9b): every string has a sane maximum length and a JSON
// body a size limit, while a bins-file import of a whole city (20,000 bins) still fits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBinsFile } from '../../src/registry/index.js';
import { CITY, startBridge, type InProcessBridge } from '../helpers/bridge.js';

const TOKEN = 'admin-token';
const [BIN] = readBinsFile(CITY);
const HUGE = 'x'.repeat(9.9 * 1024 * 1024);

describe('admin API input limits', () => {
  let bridge: InProcessBridge;
  const send = (method: string, p: string, body: string, type = 'application/json') =>
    fetch(`${bridge.httpUrl}/api${p}`, { method, body, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': type } });
  // errors are RFC 9457 problems: `detail` says what is wrong
  const answer = async (res: Response) => ({ status: res.status, message: ((await res.json()) as { detail: string }).detail });

  beforeAll(async () => {
    bridge = await startBridge({ BINBRIDGE_HTTP_API_TOKEN: TOKEN });
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  const bin = { lat: BIN!.lat, lon: BIN!.lon, address: BIN!.address, zone: BIN!.zone, kind: BIN!.kind, capacity_l: BIN!.capacity_l, depth_mm: BIN!.depth_mm };
  const crew = { name: 'Crew', phone: '31612345678', zones: [BIN!.zone], shift: '07:00-15:00' };

  it.each([
    ['zone name', 'PUT', '/zones/z-long', { name: 'n'.repeat(201) }, /name/],
    ['zone id', 'PUT', `/zones/${'z'.repeat(65)}`, { name: 'Zone' }, /id/],
    ['crew name', 'PUT', '/crews/c-long', { ...crew, name: 'n'.repeat(201) }, /name/],
    ['crew lang', 'PUT', '/crews/c-long', { ...crew, lang: 'l'.repeat(40) }, /lang/],
    ['crew zones', 'PUT', '/crews/c-long', { ...crew, zones: [BIN!.zone, 'z'.repeat(65)] }, /zones/],
    ['bin address', 'PUT', `/bins/${BIN!.id}`, { ...bin, address: 'a'.repeat(501) }, /address/],
    ['bin zone', 'PUT', `/bins/${BIN!.id}`, { ...bin, zone: 'z'.repeat(65) }, /zone/],
    ['bin kind', 'PUT', `/bins/${BIN!.id}`, { ...bin, kind: 'k'.repeat(65) }, /kind/],
    ['bin device_id', 'PUT', `/bins/${BIN!.id}`, { ...bin, device_id: 'd'.repeat(129) }, /device_id/],
  ])('refuses a %s that is too long with a 400 naming it', async (_what, method, p, body, field) => {
    const { status, message } = await answer(await send(method, p, JSON.stringify(body)));
    expect(status).toBe(400);
    expect(message).toMatch(field);
    expect(message).toMatch(/at most|too (big|long)/i);
  });

  it.each([
    ['a zone', 'PUT', '/zones/z-huge', () => JSON.stringify({ name: HUGE })],
    ['a crew', 'PUT', '/crews/c-huge', () => JSON.stringify({ ...crew, name: HUGE })],
    ['a bin', 'PUT', `/bins/${BIN!.id}`, () => JSON.stringify({ ...bin, address: HUGE })],
    ['a sandbox message', 'POST', '/sandbox/inbound', () => JSON.stringify({ from: '31612345678', text: HUGE })],
  ])('refuses a 9.9 MB body for %s before reading it all (413)', async (_what, method, p, body) => {
    const { status, message } = await answer(await send(method, p, body()));
    expect(status).toBe(413);
    expect(message).toMatch(/too large/i);
    expect((await fetch(`${bridge.httpUrl}/api/zones`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  it('refuses a bins file with an over-long address, naming the line', async () => {
    const csv = `id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm\nNEW-1,52.1,5.1,${'a'.repeat(501)},${BIN!.zone},rest,1100,1200,40\n`;
    const res = await send('POST', '/bins/import', csv, 'text/csv');
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toMatch(/address/);
  });

  it('imports a bins file of 20,000 bins', async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => `BIG-${String(i).padStart(5, '0')},${(52 + i / 1e5).toFixed(6)},${(5 + i / 1e5).toFixed(6)},Lange Nieuwstraat ${i} bis,${BIN!.zone},rest,1100,1200,40`);
    const csv = `id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm\n${rows.join('\n')}\n`;
    expect(csv.length).toBeGreaterThan(1.3 * 1024 * 1024);
    const res = await send('POST', '/bins/import', csv, 'text/csv');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { imported: number }).imported).toBe(20_000);
  });
});

// Open311 over a real bridge: what it publishes without a token (issue 15, defect 4) and what POST refuses
// (defect 9a). A resident's words, pin, name, number and photo stay with the operators; the public sees the
// service, the bin (its registry address and position), the status and the times.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBinsFile } from '../../src/registry/index.js';
import { CITY, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'ops-token';
const KEY = 'open311-city-key';
const bins = readBinsFile(CITY);
const [A, B, C] = bins as [(typeof bins)[0], (typeof bins)[0], (typeof bins)[0]];

// what residents typed or sent: none of it may be public
const PHONE = '06-48213377';
const NAME = 'Jantine van Oosterhout';
const STREET = 'Kerkdreef 118';
const PIN = { latitude: B.lat + 0.00005, longitude: B.lon + 0.00007 };
const CITY_APP = { first_name: 'Pieternella', last_name: 'Zwaneveld', email: 'p.zwaneveld@example.org', phone: '0302229911', description: `Vol. Mijn buurman Gerrit Hofstede (Tolsteegsingel 9) belt 0651234987` };

describe('Open311 over the real reports', () => {
  let bridge: InProcessBridge;
  const api = (p: string, init: RequestInit = {}) =>
    fetch(`${bridge.httpUrl}/api${p}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } });
  const post = (body: string, type = 'application/x-www-form-urlencoded') =>
    fetch(`${bridge.httpUrl}/open311/v2/requests.json`, { method: 'POST', headers: { 'content-type': type }, body });
  const form = (fields: Record<string, string>) => new URLSearchParams({ api_key: KEY, service_code: 'overflowing-bin', ...fields }).toString();

  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-open311-'));
    const config = path.join(dir, 'binbridge.yaml');
    fs.writeFileSync(config, `open311: { api_keys: ["${KEY}"] }\n`);
    bridge = await startBridge({ BINBRIDGE_CONFIG: config, BINBRIDGE_HTTP_API_TOKEN: TOKEN, BINBRIDGE_MQTT_AUTH: 'none' });
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it("publishes no resident's words, pin, name, number or photo", async () => {
    const inbound = async (body: object) => expect((await api('/sandbox/inbound', { method: 'POST', body: JSON.stringify(body) })).status).toBe(202);
    await inbound({ from: '31648213377', name: NAME, text: `${A.id} is vol! Bel me op ${PHONE}, groet ${NAME}, ${STREET}` });
    await inbound({ from: '31648213378', name: 'Buurvrouw', location: { ...PIN, name: 'Thuis', address: STREET } });
    const city = await post(form({ 'attribute[bin_id]': C.id, media_url: 'https://photos.example.org/face-of-resident.jpg', ...CITY_APP }));
    expect(city.status).toBe(200);

    // the operators see what the residents sent
    const operators = await waitFor(
      async () => {
        const items = ((await (await api('/reports')).json()) as { items: { bin_id: string; text: string | null; lat: number | null }[] }).items;
        return items.length >= 3 ? items : undefined;
      },
      { message: 'three reports' },
    );
    expect(operators.find((r) => r.bin_id === A.id)?.text).toContain(PHONE);
    expect(operators.find((r) => r.bin_id === B.id)?.lat).toBe(PIN.latitude);

    const list = await fetch(`${bridge.httpUrl}/open311/v2/requests.json`);
    expect(list.status).toBe(200);
    const body = await list.text();
    const requests = JSON.parse(body) as { service_request_id: string; address_id: string; description: string; address: string; lat: number; long: number; media_url: string | null }[];
    expect(requests.map((r) => r.address_id).sort()).toEqual([A.id, B.id, C.id].sort());
    const single = await Promise.all(requests.map(async (r) => (await fetch(`${bridge.httpUrl}/open311/v2/requests/${r.service_request_id}.json`)).text()));
    const secrets = [
      PHONE, '48213377', '31648213377', '31648213378', NAME, 'Jantine', 'Oosterhout', 'Buurvrouw', STREET, 'Kerkdreef', 'Thuis', 'vol!',
      String(PIN.latitude), String(PIN.longitude),
      ...Object.values(CITY_APP), 'Gerrit', 'Hofstede', 'Tolsteegsingel', '0651234987', 'face-of-resident', 'photos.example.org',
    ];
    for (const text of [body, ...single]) for (const s of secrets) expect(text.includes(s), `Open311 publishes "${s}"`).toBe(false);

    // what it does say: the service and the bin, from the registry
    for (const bin of [A, B, C]) {
      const r = requests.find((x) => x.address_id === bin.id)!;
      expect(r).toMatchObject({ address: bin.address, lat: bin.lat, long: bin.lon, media_url: null });
      expect(r.description).toContain(bin.id);
    }
  });

  it('refuses lat/long 0,0, hex, lists and positions with no bin near, naming the field', async () => {
    const cases: [string, string, RegExp][] = [
      ['0,0', form({ lat: '0', long: '0' }), /lat\/long 0,0 is not a location/],
      ['hex lat', form({ lat: '0x1A', long: String(A.lon) }), /lat: .*decimal/],
      ['hex long', form({ lat: String(A.lat), long: '0x5' }), /long: .*decimal/],
      ['lat[]', `${form({ long: String(A.lon) })}&lat[]=${A.lat}&lat[]=${A.lat}`, /lat: .*(one value|list)/],
      ['lat twice', `${form({ long: String(A.lon) })}&lat=${A.lat}&lat=1`, /lat: .*(one value|list)/],
      ['far from every bin', form({ lat: '52.5', long: '4.0' }), /no bin within 50 m/],
    ];
    for (const [what, body, message] of cases) {
      const res = await post(body);
      const answer = (await res.json()) as { code: number; description: string }[];
      expect.soft(res.status, what).toBe(400);
      expect.soft(answer[0]?.description, what).toMatch(message);
    }
    const json = async (payload: object) => post(JSON.stringify({ api_key: KEY, service_code: 'overflowing-bin', ...payload }), 'application/json');
    for (const [what, payload, message] of [
      ['lat list', { lat: [A.lat, A.lat], long: A.lon }, /lat: .*(one value|list)/],
      ['lat list of one', { lat: [A.lat], long: A.lon }, /lat: .*(one value|list)/],
      ['JSON 0,0', { lat: 0, long: 0 }, /lat\/long 0,0 is not a location/],
      ['description list', { bin_id: A.id, description: ['a', 'b'] }, /description/],
    ] as const) {
      const res = await json(payload);
      expect.soft(res.status, what).toBe(400);
      expect.soft(((await res.json()) as { description: string }[])[0]?.description, what).toMatch(message);
    }
    // a pin at the bin is a report of that bin
    const ok = await post(form({ lat: String(A.lat), long: String(A.lon) }));
    expect(ok.status).toBe(200);
    const [created] = (await ok.json()) as { service_request_id: string }[];
    const [one] = (await (await fetch(`${bridge.httpUrl}/open311/v2/requests/${created!.service_request_id}.json`)).json()) as { address_id: string | null }[];
    expect(one!.address_id).toBe(A.id);

    // between two bins a city's app cannot be asked which: the best-ranked one within the snap radius is taken
    const between = await post(form({ service_code: 'damaged-bin', lat: String((A.lat + B.lat) / 2), long: String((A.lon + B.lon) / 2) }));
    expect(between.status).toBe(200);
    const [ref] = (await between.json()) as { service_request_id: string }[];
    const [filed] = (await (await fetch(`${bridge.httpUrl}/open311/v2/requests/${ref!.service_request_id}.json`)).json()) as { address_id: string | null }[];
    expect([A.id, B.id]).toContain(filed!.address_id);

    // an address that fits several bins is refused with their codes
    const street = A.address.replace(/\s*\d+\w*$/, '');
    const vague = await post(form({ address_string: street }));
    expect(vague.status).toBe(400);
    expect(((await vague.json()) as { description: string }[])[0]?.description).toMatch(/several bins \(.*UTR-\d+.*\); send attribute\[bin_id\]/);
  });
});

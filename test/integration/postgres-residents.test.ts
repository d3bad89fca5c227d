// Two bridges on one PostgreSQL (store.url), residents writing to both through one Graph API: one resident's messages
// at the two instances at once all apply, one after the other, to one conversation; a report filed at one is seen at
// the other (the API, Open311) with its photo; every answer reaches the resident once.
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { image, location, startGraphEmulator, type GraphEmulator } from '../../emulator/index.js';
import { readBinsFile } from '../../src/registry/index.js';
import { CITY, cloudWhatsAppEnv, startInstances, type InProcessBridge } from '../helpers/bridge.js';
import { freshDatabase, postgresCluster } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'pg-residents-app-secret';
const ACCESS = 'pg-residents-access-token';
const TOKEN = 'admin';
const bins = readBinsFile(CITY);

describe("residents' reports on two bridges sharing one PostgreSQL", () => {
  const cluster = postgresCluster();
  let graph: GraphEmulator;
  let a: InProcessBridge;
  let b: InProcessBridge;

  beforeAll(async () => {
    // no webhook of its own: each message is posted to the instance a test chooses (Meta's load balancer)
    graph = await startGraphEmulator({ pairIntervalMs: 0, accessToken: ACCESS, appSecret: SECRET });
    const env = { BINBRIDGE_STORE_URL: await freshDatabase(cluster.server), BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_HTTP_API_TOKEN: TOKEN, ...cloudWhatsAppEnv(graph, ACCESS, SECRET) };
    [a, b] = (await startInstances(2, env)) as [InProcessBridge, InProcessBridge];
  }, 60_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await graph?.close();
  });

  /** A resident writes: the emulator builds and signs Meta's body (and opens their window); it goes to `to`. */
  async function write(to: InProcessBridge, phone: string, content: Parameters<GraphEmulator['userSends']>[1]): Promise<void> {
    const { messageId } = await graph.userSends(phone, content);
    const raw = graph.inbound.find((r) => r.id === messageId)!.raw;
    const res = await fetch(`${to.httpUrl}/webhooks/whatsapp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}` },
      body: raw,
    });
    expect(res.status).toBe(200);
  }
  const sentTo = (phone: string) => graph.sent.filter((m) => m.to === phone).map((m) => JSON.stringify(m.body));
  const api = async <T>(bridge: InProcessBridge, p: string): Promise<T> => (await (await fetch(`${bridge.httpUrl}${p}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as T;
  type ReportItem = { reference: string; bin_id: string; text: string | null; reporters: number; photo_url: string | null };

  it("applies one resident's messages at both instances at once one after the other, to one conversation", async () => {
    const phone = '31620000101';
    const words = ['kiwi', 'mango', 'papaya', 'banaan', 'citroen', 'perzik'];
    // six texts naming no bin, half to each instance, all at once: each is asked for the location, and what they
    // said adds up in the one conversation (a message applied over a stale copy would lose the one before it)
    await Promise.all(words.map((w, i) => write(i % 2 ? b : a, phone, `${w} ${w}`)));
    await waitFor(() => sentTo(phone).length >= words.length, { message: 'each message answered' });
    const target = bins[40]!;
    await write(a, phone, location(target.lat + 0.00002, target.lon));
    await waitFor(async () => (await api<{ items: ReportItem[] }>(b, `/api/reports?bin=${target.id}`)).items.length === 1, { message: 'the report, seen at the other instance' });
    const [report] = (await api<{ items: ReportItem[] }>(b, `/api/reports?bin=${target.id}`)).items;
    for (const w of words) expect(report!.text).toContain(`${w} ${w}`);
    expect(report!.reporters).toBe(1);
    // one answer per message, none twice: six requests for the location and one confirmation with the reference
    await waitFor(() => sentTo(phone).some((m) => m.includes(report!.reference)), { message: 'the confirmation' });
    expect(sentTo(phone).filter((m) => m.includes(report!.reference))).toHaveLength(1);
    expect(sentTo(phone)).toHaveLength(words.length + 1);
  }, 60_000);

  it('lists a report filed at one instance at the other, in the API and Open311, with its photo', async () => {
    const phone = '31620000102';
    const target = bins[61]!;
    await write(a, phone, image(`Full bin at ${target.address}, please empty it`));
    await waitFor(async () => (await api<{ items: ReportItem[] }>(b, `/api/reports?bin=${target.id}`)).items.length === 1, { message: 'the report at B' });
    const [report] = (await api<{ items: ReportItem[] }>(b, `/api/reports?bin=${target.id}`)).items;
    expect(report!.photo_url).toBeTruthy();
    const photo = await fetch(`${b.httpUrl}${report!.photo_url}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(photo.status).toBe(200);
    expect(photo.headers.get('content-type')).toBe('image/jpeg');
    expect((await photo.arrayBuffer()).byteLength).toBeGreaterThan(0);
    const open311 = (await (await fetch(`${b.httpUrl}/open311/v2/requests/${report!.reference}.json`)).json()) as { service_request_id: string; status: string }[];
    expect(open311).toMatchObject([{ service_request_id: report!.reference, status: 'open' }]);
  }, 60_000);

  it('links the second resident reporting a bin at the other instance at the same moment to the first report', async () => {
    const target = bins[77]!;
    await Promise.all([write(a, '31620000103', `${target.id} is vol`), write(b, '31620000104', `${target.id} is full`)]);
    await waitFor(async () => (await api<{ items: ReportItem[] }>(a, `/api/reports?bin=${target.id}`)).items[0]?.reporters === 2, { message: 'both residents on one report' });
    const items = (await api<{ items: ReportItem[] }>(a, `/api/reports?bin=${target.id}`)).items;
    expect(items).toHaveLength(1);
    await waitFor(() => sentTo('31620000103').length === 1 && sentTo('31620000104').length === 1, { message: 'both answered' });
    for (const phone of ['31620000103', '31620000104']) expect(sentTo(phone)[0]).toContain(items[0]!.reference);
  }, 60_000);
});

// Two bridges on one PostgreSQL (store.url): a device provisioned through one logs in at the other, a device revoked
// at one is refused by the other and its session there ends, and a bin added at one is known at the other — each
// within the look every instance takes once a second.
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cityBins, connectClient, publishAcked, startInstances, type InProcessBridge } from '../helpers/bridge.js';
import { cli } from '../helpers/cli.js';
import { freshDatabase, postgresCluster } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'ops-token-pg';
const [A1, A2, A3] = cityBins(3) as [string, string, string];
/** what the tests allow for "within a second": the look, a read of every record and a loaded machine */
const BOUND_MS = 5000;

describe('two bridges on one PostgreSQL share device secrets, bins, zones and crews', () => {
  const cluster = postgresCluster();
  let url: string;
  let a: InProcessBridge;
  let b: InProcessBridge;
  const env = (): Record<string, string> => ({ BINBRIDGE_STORE_URL: url, BINBRIDGE_HTTP_API_TOKEN: TOKEN });
  const api = (bridge: InProcessBridge, method: string, p: string, body?: unknown) =>
    fetch(`${bridge.httpUrl}${p}`, { method, headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const login = (bridge: InProcessBridge, bin: string, password: string): Promise<MqttClient> =>
    connectClient(bridge.mqttUrl, { clientId: bin, username: bin, password, reconnectPeriod: 0 });
  const refused = (p: Promise<MqttClient>): Promise<boolean> =>
    p.then(
      (c) => {
        c.end(true);
        return false;
      },
      (err: { code?: number }) => err.code === 4,
    );

  beforeAll(async () => {
    url = await freshDatabase(cluster.server);
    // every instance needs the same device key (data_dir/device-secrets.key): the records are HMACs under it
    [a, b] = (await startInstances(2, env())) as [InProcessBridge, InProcessBridge];
  }, 90_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  it('a device provisioned through A (the devices command) logs in at B; revoked at A, B ends its session and refuses it', async () => {
    const r = await cli(['devices', 'secret', A1], { ...env(), BINBRIDGE_DATA_DIR: a.dataDir });
    expect(r.code).toBe(0);
    const [, secret] = r.stdout.trim().split(' ') as [string, string];
    const t0 = Date.now();
    // B's memory, not a login per poll: failed logins would get the address blocked (mqtt.auth_failures_per_min)
    await waitFor(() => b.secrets.has(A1), { timeoutMs: BOUND_MS, message: 'B knows the secret' });
    console.log(`provisioned at A: B knew the secret ${Date.now() - t0} ms after the command exited`);
    const device = await login(b, A1, secret);
    await publishAcked(device, `bins/${A1}/telemetry`, { fill_pct: 10 });
    const closed = new Promise<number>((resolve) => device.once('close', () => resolve(Date.now())));

    const t1 = Date.now();
    const res = await api(a, 'DELETE', `/api/devices/${A1}/secret`);
    expect(res.status).toBe(200);
    const closedAt = await Promise.race([closed, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the session at B is still open')), BOUND_MS))]);
    console.log(`revoked at A: B ended the session ${closedAt - t1} ms later`);
    expect(await refused(login(b, A1, secret))).toBe(true);
    expect(await refused(login(a, A1, secret))).toBe(true);
  }, 60_000);

  it('a secret rotated at B stops the old one at A, and the new one opens both', async () => {
    const old = await a.secrets.issue(A2);
    const atA = await login(a, A2, old);
    await waitFor(() => b.secrets.has(A2), { timeoutMs: BOUND_MS, message: 'B knows the secret' });
    const closed = new Promise<void>((resolve) => atA.once('close', () => resolve()));
    const fresh = await b.secrets.issue(A2);
    await closed;
    expect(await refused(login(a, A2, old))).toBe(true);
    const again = await login(a, A2, fresh);
    await publishAcked(again, `bins/${A2}/telemetry`, { fill_pct: 20 });
    again.end(true);
  }, 30_000);

  it('a bin added at A is known at B (its API and its broker); removed at A, B forgets it', async () => {
    const id = 'PG-NEW-1';
    const put = await api(a, 'PUT', `/api/bins/${id}`, { lat: 52.09, lon: 5.12, address: 'Nieuwe Gracht 1', zone: ((await (await api(a, 'GET', `/api/bins/${A3}`)).json()) as { zone: string }).zone, kind: 'rest', capacity_l: 240, depth_mm: 1000 });
    expect(put.status).toBe(200);
    const t0 = Date.now();
    await waitFor(async () => (await api(b, 'GET', `/api/bins/${id}`)).status === 200, { timeoutMs: BOUND_MS, message: 'B knows the new bin' });
    console.log(`added at A: B knew the bin ${Date.now() - t0} ms later`);
    expect(await (await api(b, 'GET', `/api/bins/${id}`)).json()).toMatchObject({ id, address: 'Nieuwe Gracht 1' });
    // B's broker takes the new bin's device (its secret issued at B) and its readings
    const device = await login(b, id, await b.secrets.issue(id));
    await publishAcked(device, `bins/${id}/telemetry`, { fill_pct: 30 });
    await waitFor(() => b.binState.get(id)?.fill_pct === 30, { message: 'B applies the reading' });
    device.end(true);

    expect((await api(a, 'DELETE', `/api/bins/${id}`)).status).toBe(200);
    await waitFor(async () => (await api(b, 'GET', `/api/bins/${id}`)).status === 404, { timeoutMs: BOUND_MS, message: 'B forgets the bin' });
    // its secret went with it, at both
    await waitFor(() => !b.secrets.has(id), { timeoutMs: BOUND_MS, message: 'B forgets its secret' });
  }, 30_000);

  it('a zone and a crew put at B are listed at A', async () => {
    expect((await api(b, 'PUT', '/api/zones/pg-zone', { name: 'PG zone' })).status).toBe(200);
    await waitFor(async () => ((await (await api(a, 'GET', '/api/zones')).json()) as { items: { id: string }[] }).items.some((z) => z.id === 'pg-zone'), {
      timeoutMs: BOUND_MS,
      message: 'A lists the zone',
    });
    const crew = { name: 'PG crew', phone: '31600000077', zones: ['pg-zone'], shift: '06:00-22:00', lang: 'nl' };
    expect((await api(b, 'PUT', '/api/crews/pg-crew', crew)).status).toBe(200);
    await waitFor(async () => ((await (await api(a, 'GET', '/api/crews')).json()) as { items: { id: string }[] }).items.some((c) => c.id === 'pg-crew'), {
      timeoutMs: BOUND_MS,
      message: 'A lists the crew',
    });
    expect(a.zonesAndCrews.crews().find((c) => c.id === 'pg-crew')).toMatchObject({ ...crew, id: 'pg-crew' });
  }, 30_000);
});

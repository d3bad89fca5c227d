// The whole loop through real parts: MQTT readings -> rules -> one job -> the Graph API emulator -> the crew
// answers through the signed webhook -> job done -> emptying readings close the alert. Then the faults.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGraphEmulator, templateButton, type GraphEmulator, type SentMessage } from '../../emulator/index.js';
import { cityBinRows, connectClient, publishAcked, quiescent, spawnBridge, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { freshDatabase, postgresCluster } from '../helpers/postgres.js';
import { freePort } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

const CREW = '31611111111';
const OTHER_CREW = '31622222222';
const SUP = '31699999999';
const APP_SECRET = 'test-app-secret';
const TOKEN = 'test-access-token';
const PHONE_ID = '106540352242922';

const bins = cityBinRows();
const ZONE = bins[0]!.zone;
const inZone = bins.filter((b) => b.zone === ZONE);
const otherZones = [...new Set(bins.map((b) => b.zone))].filter((z) => z !== ZONE);

function configFile(extra = ''): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-dispatch-'));
  const file = path.join(dir, 'binbridge.yaml');
  fs.writeFileSync(
    file,
    `zones:
${[ZONE, ...otherZones].map((z) => `  - { id: ${z}, name: ${z} }`).join('\n')}
crews:
  - { id: crew-a, name: Crew A, phone: "${CREW}", zones: [${ZONE}], shift: "00:00-24:00", lang: en }
  - { id: crew-b, name: Crew B, phone: "${OTHER_CREW}", zones: [${otherZones.join(', ')}], shift: "00:00-24:00", lang: en }
dispatch: { batch_window_s: 0, escalate_after_s: 3600, supervisor_phone: "${SUP}" }
rules: { full_pct: 80, clear_pct: 30, debounce: 2 }
${extra}`,
  );
  return file;
}

const cloudEnv = (graphUrl: string): Record<string, string> => ({
  BINBRIDGE_MQTT_AUTH: 'none',
  BINBRIDGE_WHATSAPP_MODE: 'cloud',
  BINBRIDGE_WHATSAPP_GRAPH_URL: graphUrl,
  BINBRIDGE_WHATSAPP_PHONE_NUMBER_ID: PHONE_ID,
  BINBRIDGE_WHATSAPP_ACCESS_TOKEN: TOKEN,
  BINBRIDGE_WHATSAPP_APP_SECRET: APP_SECRET,
  BINBRIDGE_WHATSAPP_VERIFY_TOKEN: 'verify',
  BINBRIDGE_WHATSAPP_PAIR_INTERVAL_MS: '300',
});

async function emulatorFor(httpPort: number, opts: { pairIntervalMs?: number } = {}): Promise<GraphEmulator> {
  return startGraphEmulator({
    accessToken: TOKEN,
    appSecret: APP_SECRET,
    phoneNumberId: PHONE_ID,
    webhookUrl: `http://127.0.0.1:${httpPort}/webhooks/whatsapp`,
    pairIntervalMs: opts.pairIntervalMs ?? 250,
    statusDelaysMs: { sent: 20, delivered: 40, read: null },
  });
}

/** one device publishing fill levels, a minute apart in reading time */
function device(client: MqttClient, binId: string) {
  let ts = Date.now() - 3 * 3_600_000;
  return (fill: number, extra: Record<string, unknown> = {}) => {
    ts += 60_000;
    return publishAcked(client, `bins/${binId}/telemetry`, { fill_pct: fill, battery_pct: 90, temperature_c: 12, ts: new Date(ts).toISOString(), ...extra });
  };
}

const toCrew = (g: GraphEmulator, phone = CREW): SentMessage[] => g.sent.filter((m) => m.to === phone);
const jobsOf = async (bridge: InProcessBridge, binId: string) =>
  ((await (await fetch(`${bridge.httpUrl}/api/dispatches?bin=${binId}`)).json()) as { items: { id: string; status: string; bin_ids: string[]; error: string | null }[] }).items;
const alertsOf = async (bridge: InProcessBridge, binId: string) =>
  ((await (await fetch(`${bridge.httpUrl}/api/alerts?bin=${binId}`)).json()) as { items: { type: string; status: string }[] }).items;

// the decisions in SQLite under data_dir, and in PostgreSQL (store.url): the same path, the same answers
const cluster = postgresCluster();

describe.each(['sqlite', 'postgres'] as const)('dispatch through the real path (%s)', (store) => {
  let graph: GraphEmulator;
  let bridge: InProcessBridge;
  let client: MqttClient;

  beforeAll(async () => {
    const httpPort = await freePort();
    graph = await emulatorFor(httpPort);
    const storeUrl: Record<string, string> = store === 'postgres' ? { BINBRIDGE_STORE_URL: await freshDatabase(cluster.server) } : {};
    bridge = await startBridge({ ...cloudEnv(graph.url), ...storeUrl, BINBRIDGE_HTTP_PORT: String(httpPort), BINBRIDGE_CONFIG: configFile() });
    client = await connectClient(bridge.mqttUrl, { clientId: 'dispatch-test' });
  });
  afterAll(async () => {
    client?.end(true);
    await bridge?.stop();
    await graph?.close();
  });
  afterEach(() => graph.reset());

  it('sends exactly one message to the right crew, follows Accept and Done, and closes the alert when emptied', async () => {
    const bin = inZone[0]!;
    const pub = device(client, bin.id);
    for (const f of [20, 40, 60, 85]) await pub(f);
    // the rules and the dispatcher have seen a reading once it is acknowledged: one over the line is not yet full (debounce 2)
    expect(await jobsOf(bridge, bin.id)).toHaveLength(0);
    expect(toCrew(graph)).toHaveLength(0);
    await pub(90);
    const first = await graph.waitForMessage((m) => m.to === CREW, 10_000);
    const body = JSON.stringify(first.body);
    expect(body).toContain(bin.id);
    expect(body).toContain(bin.address);
    // the crew never wrote: outside the 24-hour window, so the approved template
    expect(first.type).toBe('template');
    for (const f of [92, 95, 96]) await pub(f);
    await quiescent(bridge);
    expect(toCrew(graph)).toHaveLength(1);
    expect(toCrew(graph, OTHER_CREW)).toHaveLength(0);

    const [job] = await jobsOf(bridge, bin.id);
    expect(job).toMatchObject({ status: 'sent', bin_ids: [bin.id] });
    const accept = await graph.userSends(CREW, templateButton(`accept:${job!.id}`, 'Accept'));
    expect(accept.status).toBe(200);
    await waitFor(async () => (await jobsOf(bridge, bin.id))[0]!.status === 'accepted', { message: 'accepted' });
    // now inside the window: the confirmation comes as a reply button
    const reply = await graph.waitForMessage((m) => m.to === CREW && m.type === 'interactive');
    expect(JSON.stringify(reply.body)).toContain(`done:${job!.id}`);
    await graph.userSends(CREW, { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: `done:${job!.id}`, title: 'Done' } } });
    await waitFor(async () => (await jobsOf(bridge, bin.id))[0]!.status === 'done', { message: 'done' });

    expect((await alertsOf(bridge, bin.id)).filter((a) => a.status === 'open').map((a) => a.type)).toEqual(['full']);
    await pub(4);
    await pub(3);
    await waitFor(async () => (await alertsOf(bridge, bin.id)).every((a) => a.status === 'closed'), { message: 'alerts closed' });
  });

  it('retries 5xx, 130429 and 131056 and delivers once', async () => {
    graph.injectFaults([{ status: 500 }, { status: 400, code: 130429 }, { status: 400, code: 131056 }, { status: 503, retryAfterS: 1 }]);
    const bin = inZone[1]!;
    const pub = device(client, bin.id);
    await pub(90);
    await pub(91);
    const m = await graph.waitForMessage((x) => x.to === CREW && JSON.stringify(x.body).includes(bin.id), 20_000);
    expect(m).toBeDefined();
    // the four injected refusals came first (the emulator may add its own pair-limit refusals for quick retries)
    expect(graph.refused.slice(0, 4).map((r) => r.httpStatus)).toEqual([500, 400, 400, 503]);
    await quiescent(bridge);
    expect(toCrew(graph).filter((x) => JSON.stringify(x.body).includes(bin.id))).toHaveLength(1);
    await waitFor(async () => (await jobsOf(bridge, bin.id))[0]?.status === 'sent', { message: 'job sent' });
  });

  it('falls back to the template when the free-form message is refused with 131047', async () => {
    // the crew wrote to us (the bridge thinks the window is open), but Meta says it is closed
    await graph.userSends(CREW, 'hello');
    await waitFor(() => bridge.outbox.inWindow(CREW, Date.now()), { message: 'window open at the bridge' });
    graph.closeWindow(CREW);
    const bin = inZone[2]!;
    const pub = device(client, bin.id);
    await pub(90);
    await pub(91);
    const m = await graph.waitForMessage((x) => x.to === CREW && x.type === 'template' && JSON.stringify(x.body).includes(bin.id), 15_000);
    expect(m.type).toBe('template');
    expect(graph.refused.some((r) => r.error?.code === 131047)).toBe(true);
  });

  it('refuses forged and altered webhooks with 401 and changes nothing; applies a redelivered one once', async () => {
    const bin = inZone[3]!;
    const pub = device(client, bin.id);
    await pub(90);
    await pub(91);
    await graph.waitForMessage((x) => x.to === CREW && JSON.stringify(x.body).includes(bin.id));
    // the job is `sent` once the bridge has recorded Graph's answer, a moment after the message reached Graph
    await waitFor(async () => (await jobsOf(bridge, bin.id))[0]?.status === 'sent', { message: 'the job sent' });
    const [job] = await jobsOf(bridge, bin.id);
    const url = `${bridge.httpUrl}/webhooks/whatsapp`;
    const forged = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '1', phone_number_id: PHONE_ID }, messages: [{ from: CREW, id: 'wamid.FORGED', timestamp: '1', type: 'button', button: { payload: `accept:${job!.id}`, text: 'Accept' } }] } }] }] });
    for (const sig of ['sha256=' + '0'.repeat(64), undefined]) {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(sig ? { 'x-hub-signature-256': sig } : {}) }, body: forged });
      expect(r.status).toBe(401);
    }
    // refused before the inbox: nothing waits to be handled
    expect((await bridge.inbox.backlog()).pending).toBe(0);
    expect((await jobsOf(bridge, bin.id))[0]!.status).toBe('sent');

    const { messageId } = await graph.userSends(CREW, templateButton(`accept:${job!.id}`, 'Accept'));
    await graph.redeliver(messageId);
    await graph.redeliver(messageId);
    await waitFor(async () => (await jobsOf(bridge, bin.id))[0]!.status === 'accepted', { message: 'accepted' });
    await quiescent(bridge);
    const confirmations = toCrew(graph).filter((m) => JSON.stringify(m.body).includes(`Job ${job!.id} accepted`));
    expect(confirmations).toHaveLength(1);
  });

  it('accepts every Meta fixture byte for byte', async () => {
    const dir = path.resolve('test/fixtures/whatsapp');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    const { signatureOf } = await import('../../emulator/index.js');
    for (const f of files) {
      const raw = fs.readFileSync(path.join(dir, f));
      const r = await fetch(`${bridge.httpUrl}/webhooks/whatsapp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signatureOf(raw, APP_SECRET) }, body: raw });
      expect(r.status, f).toBe(200);
    }
  });
});

describe('a crash between deciding and sending', () => {
  it('sends the message exactly once after a kill -9 and a restart', async () => {
    const httpPort = await freePort();
    const graph = await emulatorFor(httpPort);
    const env = { ...cloudEnv(graph.url), BINBRIDGE_CONFIG: configFile() };
    let bridge = await spawnBridge(env, { httpPort, mqttPort: await freePort(), dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'bb-k9-')) });
    try {
      // Meta is down: the decision is made and stored, the message waits in the outbox
      graph.injectFaults(Array.from({ length: 50 }, () => ({ status: 503, retryAfterS: 3 })));
      const client = await connectClient(`mqtt://127.0.0.1:${bridge.mqttPort}`, { clientId: 'k9' });
      const bin = inZone[4]!;
      const pub = device(client, bin.id);
      await pub(90);
      await pub(91);
      await waitFor(() => graph.refused.length > 0, { timeoutMs: 10_000, message: 'first attempt refused' });
      client.end(true);
      await bridge.kill9();
      graph.reset();
      bridge = await spawnBridge(env, bridge);
      await graph.waitForMessage((m) => m.to === CREW && JSON.stringify(m.body).includes(bin.id), 15_000);
      // the restarted outbox has nothing left to send (a repeat would have gone before it fell idle)
      await waitFor(
        async () => ((await (await fetch(`http://127.0.0.1:${bridge.httpPort}/api/whatsapp/messages`)).json()) as { items: { status: string }[] }).items.every((m) => m.status === 'sent' || m.status === 'failed'),
        { timeoutMs: 15_000, message: 'outbox idle after the restart' },
      );
      expect(toCrew(graph).filter((m) => JSON.stringify(m.body).includes(bin.id))).toHaveLength(1);
    } finally {
      await bridge.kill9();
      await graph.close();
    }
  });
});

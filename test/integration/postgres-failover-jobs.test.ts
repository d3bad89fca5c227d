// Two binbridge processes on one PostgreSQL, WhatsApp through the Graph API emulator behind a forwarding "load
// balancer" for Meta's webhook: bins go full at both, the lease holder makes and sends the jobs, then it is killed
// with -9. The survivor takes the lease, makes the jobs of bins that go full afterwards, applies a crew's Accept of a
// job the dead one sent, and escalates the one nobody accepted: every job's crew message is sent exactly once, none
// is lost, and every answer once.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { startGraphEmulator, templateButton, type GraphEmulator, type SentMessage } from '../../emulator/index.js';
import { cityBinRows } from '../helpers/bridge.js';
import { connectDevice } from '../helpers/devices.js';
import { dataFolder, spawnInstance, type Instance } from '../helpers/instance.js';
import { freshDatabase, postgresCluster } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

const CREW_A = '31611111111';
const CREW_B = '31622222222';
const SUP = '31699999999';
const APP_SECRET = 'failover-jobs-app-secret';
const TOKEN = 'failover-jobs-access-token';
const PHONE_ID = '106540352242922';
const ESCALATE_AFTER_S = 25;

const bins = cityBinRows();const ZONE_A = bins[0]!.zone;
const ZONE_B = bins.find((b) => b.zone !== ZONE_A)!.zone;
const inA = bins.filter((b) => b.zone === ZONE_A).map((b) => b.id);
const inB = bins.filter((b) => b.zone === ZONE_B).map((b) => b.id);
// full before the kill (made and sent by the holder), and after it (by the survivor)
const BEFORE = [inA[0]!, inA[1]!, inB[0]!, inB[1]!];
const AFTER = [inA[2]!, inB[2]!];

function configFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-failover-jobs-'));
  const file = path.join(dir, 'binbridge.yaml');
  const zones = [...new Set(bins.map((b) => b.zone))];
  fs.writeFileSync(
    file,
    `zones:
${zones.map((z) => `  - { id: ${z}, name: ${z} }`).join('\n')}
crews:
  - { id: crew-a, name: Crew A, phone: "${CREW_A}", zones: [${ZONE_A}], shift: "00:00-24:00", lang: en }
  - { id: crew-b, name: Crew B, phone: "${CREW_B}", zones: [${zones.filter((z) => z !== ZONE_A).join(', ')}], shift: "00:00-24:00", lang: en }
dispatch: { rounds: [], batch_window_s: 0, escalate_after_s: ${ESCALATE_AFTER_S}, supervisor_phone: "${SUP}" }
rules: { full_pct: 80, clear_pct: 30, debounce: 2 }
`,
  );
  return file;
}

/** Meta's side of a load balancer: each webhook delivery goes to the first instance that takes the connection. */
async function webhookBalancer(): Promise<{ url: string; targets: number[]; close(): Promise<void> }> {
  const targets: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const tryFrom = (i: number): void => {
        if (i >= targets.length) {
          res.writeHead(503).end();
          return;
        }
        const out = http.request({ host: '127.0.0.1', port: targets[i], path: req.url, method: req.method, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        // a dead instance refuses the connection: the next one gets the delivery
        out.on('error', () => tryFrom(i + 1));
        out.end(body);
      };
      tryFrom(0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/whatsapp`,
    targets,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** One device per bin, knowing both brokers (a reconnect goes to the other); `fill` publishes QoS 1 and resolves on the PUBACK. */
function device(bin: string, ports: readonly number[], first: number): { fill(pct: number): Promise<void>; client: MqttClient } {
  const client = connectDevice(bin, ports, first);
  let ts = Date.now() - 3 * 3_600_000;
  const fill = async (pct: number): Promise<void> => {
    ts += 60_000;
    const payload = JSON.stringify({ fill_pct: pct, ts });
    // a publish the connection dropped before MQTT.js stored it is sent again
    for (;;) {
      const err = await new Promise<Error | undefined>((resolve) => client.publish(`bins/${bin}/telemetry`, payload, { qos: 1 }, (e) => resolve(e ?? undefined)));
      if (!err) return;
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    }
  };
  return { fill, client };
}

interface JobRow {
  id: string;
  zone: string;
  status: string;
  bins: string[];
}

const mentions = (m: SentMessage, text: string): boolean => JSON.stringify(m.body).includes(text);
/** the job's message to its crew: the one with its Accept button */
const jobMessages = (graph: GraphEmulator, job: string): SentMessage[] => graph.sent.filter((m) => m.to !== SUP && mentions(m, `accept:${job}`));

describe('two instances on PostgreSQL, the lease holder killed with -9 while it has jobs out', () => {
  const cluster = postgresCluster();
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('goes on at the survivor: new jobs, the dead one\'s jobs accepted and escalated there, every crew message once', async () => {
    const url = await freshDatabase(cluster.server);
    const balancer = await webhookBalancer();
    cleanups.push(() => balancer.close());
    const graph = await startGraphEmulator({
      accessToken: TOKEN,
      appSecret: APP_SECRET,
      phoneNumberId: PHONE_ID,
      webhookUrl: balancer.url,
      pairIntervalMs: 0,
      statusDelaysMs: { sent: 20, delivered: 40, read: null },
    });
    cleanups.push(() => graph.close());
    const env = {
      BINBRIDGE_STORE_URL: url,
      BINBRIDGE_CONFIG: configFile(),
      BINBRIDGE_MQTT_AUTH: 'none',
      BINBRIDGE_WHATSAPP_MODE: 'cloud',
      BINBRIDGE_WHATSAPP_GRAPH_URL: graph.url,
      BINBRIDGE_WHATSAPP_PHONE_NUMBER_ID: PHONE_ID,
      BINBRIDGE_WHATSAPP_ACCESS_TOKEN: TOKEN,
      BINBRIDGE_WHATSAPP_APP_SECRET: APP_SECRET,
      BINBRIDGE_WHATSAPP_VERIFY_TOKEN: 'verify',
      BINBRIDGE_WHATSAPP_PAIR_INTERVAL_MS: '0',
    };
    const instances: Instance[] = [];
    cleanups.push(async () => {
      for (const i of instances) await i.kill9();
    });
    const started = await Promise.allSettled([spawnInstance('a', env, dataFolder()), spawnInstance('b', env, dataFolder())]);
    for (const s of started) if (s.status === 'fulfilled') instances.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    const states = await Promise.all(instances.map((i) => i.readyz()));
    const holderIndex = states.findIndex((s) => s.body.lease.this_instance);
    expect(holderIndex).toBeGreaterThanOrEqual(0);
    const [holder, survivor] = [instances[holderIndex]!, instances[1 - holderIndex]!];
    // Meta's deliveries reach the holder while it lives, then the survivor
    balancer.targets.push(holder.httpPort, survivor.httpPort);

    const ports = instances.map((i) => i.mqttPort);
    const devices = new Map([...BEFORE, ...AFTER].map((bin, i) => [bin, device(bin, ports, i % 2)]));
    cleanups.push(() => {
      for (const d of devices.values()) d.client.end(true);
    });

    const db = new pg.Client({ connectionString: url });
    await db.connect();
    cleanups.push(() => db.end());
    const jobs = async (): Promise<JobRow[]> =>
      (
        await db.query<JobRow>(
          `SELECT d.id, d.zone, d.status, array_agg(b.bin_id ORDER BY b.bin_id) AS bins
           FROM dispatches d JOIN dispatch_bins b ON b.dispatch_id = d.id GROUP BY d.id ORDER BY d.id`,
        )
      ).rows;
    const unsent = async (): Promise<number> => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM whatsapp_outbox WHERE status NOT IN ('sent', 'failed')`)).rows[0]!.n;

    // before the kill: four bins full, at both instances; the holder makes the jobs and they are sent
    await Promise.all(BEFORE.map(async (bin) => {
      const d = devices.get(bin)!;
      for (const pct of [20, 90, 95]) await d.fill(pct);
    }));
    const sentBefore = await waitFor(
      async () => {
        const all = await jobs();
        const covered = new Set(all.flatMap((j) => j.bins));
        if (!BEFORE.every((b) => covered.has(b))) return null;
        // the job is `sent` once the outbox's result is recorded
        return all.every((j) => j.status === 'sent' && jobMessages(graph, j.id).length > 0) && (await unsent()) === 0 ? all : null;
      },
      { timeoutMs: 30_000, message: 'every full bin in a job, each job\'s crew message sent' },
    );
    const jobA = sentBefore.find((j) => j.zone === ZONE_A)!;
    const jobB = sentBefore.find((j) => j.zone === ZONE_B)!;

    await holder.kill9();
    const killedAt = performance.now();

    // the crew accepts the dead instance's job: Meta's delivery reaches the survivor
    expect((await graph.userSends(CREW_A, templateButton(`accept:${jobA.id}`, 'Accept'))).status).toBe(200);
    // two more bins go full; their devices that were at the dead instance carry on at the survivor
    await Promise.all(AFTER.map(async (bin) => {
      const d = devices.get(bin)!;
      for (const pct of [20, 90, 95]) await d.fill(pct);
    }));

    const takeover = await waitFor(
      async () => ((await survivor.readyz()).body.lease.this_instance ? performance.now() - killedAt : null),
      { timeoutMs: 20_000, intervalMs: 50, message: 'the survivor holds the lease' },
    );
    expect(takeover).toBeLessThan(15_000);
    await waitFor(async () => (await jobs()).find((j) => j.id === jobA.id)?.status === 'accepted', { message: 'the dead instance\'s job accepted at the survivor' });
    const after = await waitFor(
      async () => {
        const all = await jobs();
        const fresh = all.filter((j) => !sentBefore.some((b) => b.id === j.id));
        const covered = new Set(fresh.flatMap((j) => j.bins));
        return AFTER.every((b) => covered.has(b)) && fresh.every((j) => jobMessages(graph, j.id).length > 0) ? fresh : null;
      },
      { timeoutMs: 30_000, message: 'the bins full after the kill in jobs of the survivor, their crew messages sent' },
    );
    expect(after.flatMap((j) => j.bins).sort()).toEqual([...AFTER].sort());
    // nobody accepted the other zone's job: the survivor escalates it
    await waitFor(() => graph.sent.some((m) => m.to === SUP && mentions(m, jobB.id)), { timeoutMs: (ESCALATE_AFTER_S + 20) * 1000, message: `${jobB.id} escalated to the supervisor` });
    await waitFor(async () => (await unsent()) === 0, { message: 'the outbox empty' });

    // every job's crew message once, the acceptance answered once, the escalation once, no bin in two jobs
    const all = await jobs();
    expect(all).toHaveLength(sentBefore.length + after.length);
    for (const j of all) expect(jobMessages(graph, j.id), `${j.id}'s crew message`).toHaveLength(1);
    // the answer to Accept: a Done button alone (the job's own message has both)
    expect(graph.sent.filter((m) => m.to === CREW_A && mentions(m, `done:${jobA.id}`) && !mentions(m, `accept:${jobA.id}`))).toHaveLength(1);
    expect(graph.sent.filter((m) => m.to === SUP && mentions(m, jobB.id))).toHaveLength(1);
    expect(all.find((j) => j.id === jobB.id)?.status).toBe('escalated');
    const binsInJobs = all.flatMap((j) => j.bins);
    expect(new Set(binsInJobs).size).toBe(binsInJobs.length);
    console.log(`failover with jobs: the survivor held the lease ${(takeover / 1000).toFixed(1)} s after kill -9; ${all.length} jobs, ${graph.sent.length} messages sent, each once`);
  }, 150_000);
});

import fs from 'node:fs';
import mqtt from 'mqtt';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  mosquittoPub,
  startInfluxd,
  startMosquitto,
  startPostgres,
  startVictoriaMetrics,
  type Influxd,
  type Mosquitto,
  type Postgres,
  type Victoria,
} from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

describe('influxd helper', () => {
  let influx: Influxd;
  beforeAll(async () => {
    influx = await startInfluxd();
  });
  afterAll(async () => {
    const dir = influx?.dir;
    await influx?.destroy();
    if (dir) expect(fs.existsSync(dir)).toBe(false);
  });

  it('stores a point written over /write and keeps it across a restart on the same port', async () => {
    const ts = Date.now() - 60_000;
    const res = await fetch(`${influx.url}/write?db=binbridge&precision=ms`, {
      method: 'POST',
      body: `bin_reading,bin_id=UTR-0001,zone=centrum,kind=rest fill_pct=73.5,battery_pct=88i ${ts}`,
    });
    expect(res.status).toBe(204);
    const countQuery = 'SELECT count(fill_pct) FROM bin_reading';
    expect(await influx.count(countQuery)).toBe(1);
    expect(await influx.count('SELECT count(fill_pct) FROM bin_reading WHERE bin_id = \'nope\'')).toBe(0);

    const port = influx.port;
    await influx.stop();
    await expect(fetch(`${influx.url}/ping`)).rejects.toThrow();
    await influx.start();
    expect(influx.port).toBe(port);
    expect(await influx.count(countQuery)).toBe(1);
    const body = await influx.query('SELECT fill_pct FROM bin_reading', 'binbridge', { epoch: 'ms' });
    expect(body.results[0].series[0].values).toEqual([[ts, 73.5]]);
  });

  it('reports InfluxQL errors', async () => {
    await expect(influx.query('SELECT * FROM x', 'no_such_db')).rejects.toThrow(/database not found/);
  });
});

describe('victoria-metrics helper', () => {
  let vm: Victoria;
  beforeAll(async () => {
    vm = await startVictoriaMetrics();
  });
  afterAll(async () => {
    await vm?.destroy();
  });

  it('accepts the v2 write API and exports the sample as m_f', async () => {
    const ts = Date.now() - 3_600_000;
    const res = await fetch(`${vm.url}/api/v2/write?org=x&bucket=y&precision=ms`, {
      method: 'POST',
      body: `m,t=a f=1 ${ts}\n`,
    });
    expect(res.status).toBe(204);
    const series = await waitFor(async () => {
      const found = await vm.exportSeries('m_f');
      return found.length > 0 ? found : undefined;
    }, { timeoutMs: 10_000, message: 'm_f exported' });
    expect(series).toEqual([{ metric: { __name__: 'm_f', t: 'a' }, values: [1], timestamps: [ts] }]);
    expect(await vm.countSamples('m_f')).toBe(1);
    expect(await vm.countSamples('absent_metric')).toBe(0);
  });
});

describe('mosquitto helper', () => {
  let broker: Mosquitto;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.destroy();
  });

  it('carries a message from mosquitto_pub to an MQTT.js subscriber', async () => {
    const client = await mqtt.connectAsync(broker.url, { clientId: 'servers-test-sub', reconnectPeriod: 0 });
    try {
      const received = new Promise<{ topic: string; payload: string }>((resolve) => {
        client.on('message', (topic, payload) => resolve({ topic, payload: payload.toString() }));
      });
      await client.subscribeAsync('bins/+/telemetry', { qos: 1 });
      const pub = await mosquittoPub(
        ['-h', '127.0.0.1', '-p', String(broker.port), '-q', '1', '-t', 'bins/UTR-0001/telemetry', '-l'],
        '{"fill_pct": 42}\n',
      );
      expect(pub).toEqual({ code: 0, stderr: '' });
      expect(await received).toEqual({ topic: 'bins/UTR-0001/telemetry', payload: '{"fill_pct": 42}' });
    } finally {
      await client.endAsync();
    }
  });

  it('reports a refused connection through the exit code', async () => {
    const pub = await mosquittoPub(['-h', '127.0.0.1', '-p', '1', '-t', 'x', '-m', 'y']);
    expect(pub.code).not.toBe(0);
    expect(pub.stderr).toMatch(/refused|Error/i);
  });
});

describe('mosquitto helper with persistence', () => {
  let broker: Mosquitto;
  beforeAll(async () => {
    broker = await startMosquitto({ persistence: true });
  });
  afterAll(async () => {
    await broker?.destroy();
  });

  it('keeps QoS 1 messages queued for a persistent session across a restart', async () => {
    const options = { clientId: 'servers-test-durable', clean: false, reconnectPeriod: 0 } as const;
    const first = await mqtt.connectAsync(broker.url, options);
    await first.subscribeAsync('bins/+/telemetry', { qos: 1 });
    await first.endAsync();

    const pub = await mosquittoPub(
      ['-h', '127.0.0.1', '-p', String(broker.port), '-q', '1', '-t', 'bins/UTR-0002/telemetry', '-m', 'queued'],
    );
    expect(pub.code).toBe(0);

    await broker.stop();
    await broker.start();

    const received: string[] = [];
    const second = mqtt.connect(broker.url, options);
    try {
      second.on('message', (_topic, payload) => received.push(payload.toString()));
      await waitFor(() => received.length > 0, { timeoutMs: 10_000, message: 'queued message delivered' });
      expect(received).toEqual(['queued']);
    } finally {
      await second.endAsync();
    }
  });
});

describe('postgres helper', () => {
  let postgres: Postgres;
  beforeAll(async () => {
    postgres = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await postgres?.destroy();
  });

  it('keeps a committed row across a restart on the same port, with a client that stays connected', async () => {
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    client.on('error', () => {}); // the restart below ends this session
    await client.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
    await client.query("INSERT INTO t VALUES (1, 'kept')");
    // a fast shutdown does not wait for connected clients
    await postgres.stop();
    await postgres.start();
    const again = new pg.Client({ connectionString: postgres.url });
    await again.connect();
    try {
      const { rows } = await again.query('SELECT v FROM t WHERE id = 1');
      expect(rows).toEqual([{ v: 'kept' }]);
    } finally {
      await again.end();
      await client.end().catch(() => {});
    }
  }, 60_000);

  it('listens on loopback only', async () => {
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ listen_addresses: string }>('SHOW listen_addresses');
      expect(rows[0]!.listen_addresses).toBe('127.0.0.1');
    } finally {
      await client.end();
    }
  });
});

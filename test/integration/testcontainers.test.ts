// The same write scenario against InfluxDB 2.x in a container, where a container runtime is reachable.
// Everywhere else (this project's CI has no Docker engine) the suite is skipped with one line saying why.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenericContainer, Wait, getContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';
import { cityBins, connectClient, publishAcked, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { waitFor } from '../helpers/wait.js';

async function runtimeProblem(): Promise<string | null> {
  try {
    await getContainerRuntimeClient();
    return null;
  } catch (err) {
    return (err as Error).message.split('\n')[0] ?? 'no container runtime';
  }
}

const problem = await runtimeProblem();
if (problem) console.log(`testcontainers suite skipped: no container runtime reachable (${problem})`);

describe.skipIf(problem !== null)('InfluxDB 2.x in a container (testcontainers)', () => {
  const TOKEN = 'binbridge-test-token';
  let influx: StartedTestContainer;
  let bridge: InProcessBridge;
  let url: string;

  beforeAll(async () => {
    influx = await new GenericContainer('influxdb:2.7')
      .withEnvironment({
        DOCKER_INFLUXDB_INIT_MODE: 'setup',
        DOCKER_INFLUXDB_INIT_USERNAME: 'binbridge',
        DOCKER_INFLUXDB_INIT_PASSWORD: 'binbridge-pass',
        DOCKER_INFLUXDB_INIT_ORG: 'city',
        DOCKER_INFLUXDB_INIT_BUCKET: 'binbridge',
        DOCKER_INFLUXDB_INIT_ADMIN_TOKEN: TOKEN,
      })
      .withExposedPorts(8086)
      .withWaitStrategy(Wait.forHttp('/health', 8086))
      .start();
    url = `http://${influx.getHost()}:${influx.getMappedPort(8086)}`;
    bridge = await startBridge({ BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_INFLUX_URL: url, BINBRIDGE_INFLUX_API: 'v2', BINBRIDGE_INFLUX_ORG: 'city', BINBRIDGE_INFLUX_BUCKET: 'binbridge', BINBRIDGE_INFLUX_TOKEN: TOKEN });
  }, 180_000);
  afterAll(async () => {
    await bridge?.stop();
    await influx?.stop();
  });

  it('stores every reading through the v2 write API', async () => {
    const [bin] = cityBins(1);
    const base = Date.now() - 3_600_000;
    const c = await connectClient(bridge.mqttUrl, { clientId: 'tc' });
    await Promise.all(Array.from({ length: 300 }, (_, i) => publishAcked(c, `bins/${bin}/telemetry`, { fill_pct: i % 100, ts: base + i * 1000 })));
    c.end();
    const flux = `from(bucket:"binbridge") |> range(start: -2h) |> filter(fn: (r) => r._measurement == "bin_reading" and r._field == "fill_pct") |> count()`;
    const stored = async (): Promise<number> => {
      const res = await fetch(`${url}/api/v2/query?org=city`, {
        method: 'POST',
        headers: { authorization: `Token ${TOKEN}`, 'content-type': 'application/vnd.flux', accept: 'application/csv' },
        body: flux,
      });
      // annotated CSV: header row with _value, then one row per table
      const [header, row] = (await res.text()).trim().split(/\r?\n/);
      const col = header!.split(',').indexOf('_value');
      return row ? Number(row.split(',')[col]) : 0;
    };
    await waitFor(async () => (await stored()) === 300, { timeoutMs: 20_000, message: '300 readings in InfluxDB 2.x' });
    expect(await stored()).toBe(300);
  });
});

// Every InfluxQL query of every Grafana dashboard (panels, annotations, template variables) runs against a real
// influxd that the bridge filled with a simulated day, with Grafana's macros and variables substituted, and
// returns rows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillSimulatedDay, SIMULATED_BINS, SIMULATED_DAY } from '../helpers/simulated-day.js';
import { startInfluxd, type Influxd } from '../helpers/servers.js';
import { dashboardFiles, queriesOf, type DashboardQuery } from '../unit/grafana/grafana-files.js';

const RANGE = '24h';
const INTERVAL_MS = 5 * 60_000;

/** What Grafana's InfluxDB datasource does to a query before sending it (for a 24-hour range, one bin chosen). */
function substitute(query: string, bin: string): string {
  const to = Date.now();
  const from = to - 24 * 3_600_000;
  const out = query
    .replaceAll('$timeFilter', `time > now() - ${RANGE}`)
    .replace(/\$(__interval_ms\b|\{__interval_ms\})/g, String(INTERVAL_MS))
    .replace(/\$(__interval\b|\{__interval\})/g, `${INTERVAL_MS / 60_000}m`)
    .replace(/\$(__from\b|\{__from(:[a-z]+)?\})/g, String(from))
    .replace(/\$(__to\b|\{__to(:[a-z]+)?\})/g, String(to))
    .replace(/\$(bin\b|\{bin(:[a-z]+)?\})/g, bin);
  // a "$" left before a name would be an unknown variable (the "$" of a regex anchor is fine)
  const left = /\$\{?[A-Za-z_]\w*/.exec(out);
  if (left) throw new Error(`unsubstituted "${left[0]}" in ${out}`);
  return out;
}

const queries: DashboardQuery[] = dashboardFiles().flatMap(queriesOf);

describe('Grafana dashboards on a simulated day', () => {
  let influx: Influxd;

  beforeAll(async () => {
    influx = await startInfluxd();
    await fillSimulatedDay(influx.url);
  }, 240_000);
  afterAll(async () => {
    await influx?.destroy();
  });

  it('holds the simulated day: every bin, and the events the dashboards count', async () => {
    const bins = await influx.query('SHOW TAG VALUES FROM "bin_state" WITH KEY = "bin_id"');
    expect(bins.results[0].series[0].values).toHaveLength(SIMULATED_BINS.length);
    const events = await influx.query(`SELECT count("message") FROM "bin_event" WHERE time > now() - ${RANGE} GROUP BY "type"`);
    const types = (events.results[0].series as { tags: { type: string } }[]).map((s) => s.tags.type);
    expect(types).toEqual(expect.arrayContaining(['full', 'collected', 'fire', 'battery_low', 'offline', 'report', 'sensor_suspect']));
  });

  it.each(queries.map((q) => [`${q.dashboard} › ${q.source} › ${q.refId}`, q] as const))('%s returns rows', async (_name, q) => {
    const influxql = substitute(q.query, SIMULATED_DAY.fullBin);
    const where = `${q.dashboard}, ${q.source}, query ${q.refId}:\n  ${influxql}\n`;
    let body: { results: { series?: { values: unknown[][] }[] }[] };
    try {
      body = await influx.query(influxql, 'binbridge');
    } catch (err) {
      throw new Error(`${where}failed: ${(err as Error).message}`);
    }
    const rows = (body.results[0]?.series ?? []).reduce((n, s) => n + s.values.length, 0);
    expect(rows, `${where}returned no rows`).toBeGreaterThan(0);
  });
});

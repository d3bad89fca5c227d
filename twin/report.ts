// `--report FILE.html`: one self-contained page (uPlot inlined, no network) with what a city would look at
// before buying: lifts and overflow hours per day for each strategy, and a few bins' true and sensed fill with
// their alerts and lifts over time.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { TwinResult } from './twin.js';
import { SLOT_MS } from './run.js';

const require = createRequire(import.meta.url);
const DAY = 86_400_000;

const inline = (text: string): string => text.replace(/<\/(script|style)/gi, '<\\/$1');

/** Values per slot: `value` where an event fell in the slot, else null (drawn as points). */
function marks(events: readonly number[], startMs: number, slots: number, value: (i: number) => number): (number | null)[] {
  const out: (number | null)[] = new Array<number | null>(slots).fill(null);
  for (const at of events) {
    const i = Math.min(slots - 1, Math.max(0, Math.floor((at - startMs) / SLOT_MS)));
    out[i] = value(i);
  }
  return out;
}

export function reportData(result: TwinResult): unknown {
  const { city, scorecard, runs } = result;
  const days = scorecard.days;
  const slots = days * 96;
  const dayX = Array.from({ length: days }, (_, d) => (city.startMs + d * DAY) / 1000);
  const slotX = Array.from({ length: slots }, (_, i) => (city.startMs + i * SLOT_MS) / 1000);
  const main = runs.find((r) => r.strategy === 'binbridge') ?? runs[0]!;
  const traces = main.traces.map((t) => {
    const bin = city.bins.find((b) => b.id === t.binId)!;
    const series: { label: string; values: (number | null)[]; points?: boolean }[] = [
      { label: `true fill (${main.strategy})`, values: t.truth },
      { label: `sensed fill (${main.strategy})`, values: t.sensed },
    ];
    for (const r of runs.filter((x) => x !== main)) {
      const other = r.traces.find((x) => x.binId === t.binId);
      if (other) series.push({ label: `true fill (${r.strategy})`, values: other.truth });
    }
    for (const r of runs) {
      const tr = r.traces.find((x) => x.binId === t.binId);
      if (tr) series.push({ label: `lift (${r.strategy})`, values: marks(tr.lifts, city.startMs, slots, () => (r === main ? 0 : -5)), points: true });
    }
    const types = [...new Set(t.alerts.map((a) => a.type))];
    types.forEach((type, k) =>
      series.push({ label: `alert: ${type}`, values: marks(t.alerts.filter((a) => a.type === type).map((a) => a.at), city.startMs, slots, () => 110 + 5 * k), points: true }),
    );
    const faults = result.faults.filter((f) => f.binId === t.binId).map((f) => `${f.kind} from ${new Date(f.startMs).toISOString().slice(0, 16)}Z`);
    return { title: `${bin.id} · ${bin.kind} · ${bin.zone}${bin.address ? ` · ${bin.address}` : ''}${faults.length ? ` · injected: ${faults.join(', ')}` : ''}`, series };
  });
  return {
    scorecard,
    daily: {
      x: dayX,
      lifts: runs.map((r) => ({ label: r.strategy, values: r.perDay.lifts })),
      overflow: runs.map((r) => ({ label: r.strategy, values: r.perDay.overflowHours.map((h) => Math.round(h * 10) / 10) })),
    },
    slotX,
    traces,
  };
}

export function renderReport(result: TwinResult): string {
  const js = fs.readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const css = fs.readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  const data = JSON.stringify(reportData(result));
  const { scorecard } = result;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>binbridge city twin: ${scorecard.bins} bins, ${scorecard.days} days, seed ${scorecard.seed}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${inline(css)}
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222;max-width:1100px}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:2rem}table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}.note{color:#666;font-size:.9em}
</style></head><body>
<h1>binbridge city twin: ${scorecard.bins} bins, ${scorecard.days} days, seed ${scorecard.seed}</h1>
<p class="note">binbridge's decisions against a fixed collection schedule on the same simulated city, seed and crews (npm run twin).</p>
<div id="table"></div>
<h2>Lifts per day</h2><div id="lifts"></div>
<h2>Overflow bin-hours per day (true fill at or above 100 %)</h2><div id="overflow"></div>
<h2>A few bins over time</h2><div id="traces"></div>
<script>${inline(js)}</script>
<script>
const D = ${inline(data)};
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
const W = Math.min(1080, document.body.clientWidth);
const rows = [['lifts','lifts'],['lifts per bin-week','lifts_per_bin_week'],['mean fill at lift %','mean_fill_at_lift_pct'],['overflow bin-hours','overflow_bin_hours'],['bins overflowed','bins_overflowed'],['truck km','truck_km'],['jobs','jobs'],['messages','messages'],['false alerts','false_alerts'],['false alerts / 1000 bin-days','false_alerts_per_1000_bin_days']];
const strategies = Object.keys(D.scorecard.strategies);
const cell = (v) => '<td>' + (v === null || v === undefined ? '–' : v) + '</td>';
let html = '<table><tr><th></th>' + strategies.map((s) => '<th>' + s + '</th>').join('') + '</tr>';
for (const [label, key] of rows) html += '<tr><td>' + label + '</td>' + strategies.map((s) => cell(D.scorecard.strategies[s][key])).join('') + '</tr>';
html += '<tr><td>alerts</td>' + strategies.map((s) => cell(Object.entries(D.scorecard.strategies[s].alerts).map(([k, v]) => k + ' ' + v).join(', '))).join('') + '</tr></table>';
html += '<h2>Injected faults</h2><table><tr><th>fault</th><th>injected</th><th>detected</th><th>median delay (min)</th></tr>';
for (const [k, f] of Object.entries(D.scorecard.faults)) html += '<tr><td>' + k + '</td>' + cell(f.injected) + cell(f.detected) + cell(f.median_delay_min) + '</tr>';
document.getElementById('table').innerHTML = html + '</table>';
function chart(el, x, series, opts = {}) {
  const s = [{}].concat(series.map((v, i) => ({
    label: v.label, stroke: COLORS[i % COLORS.length], width: v.points ? 0 : 1.5, spanGaps: false,
    points: v.points ? { show: true, size: 7, fill: COLORS[i % COLORS.length] } : { show: x.length < 60 },
    paths: v.points ? () => null : undefined,
  })));
  new uPlot({ width: W, height: opts.height || 260, title: opts.title, series: s, scales: opts.scales || {}, axes: [{}, { label: opts.y || '' }] }, [x].concat(series.map((v) => v.values)), el);
}
chart(document.getElementById('lifts'), D.daily.x, D.daily.lifts, { y: 'lifts' });
chart(document.getElementById('overflow'), D.daily.x, D.daily.overflow, { y: 'bin-hours' });
for (const t of D.traces) {
  const div = document.createElement('div');
  document.getElementById('traces').appendChild(div);
  chart(div, D.slotX, t.series, { title: t.title, y: 'fill %', height: 300, scales: { y: { range: [-10, 130] } } });
}
</script></body></html>
`;
}

export function writeReport(file: string, result: TwinResult): void {
  fs.writeFileSync(file, renderReport(result));
}

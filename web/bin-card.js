// The selected bin's card over the map: details, open alerts, and its history (uPlot): one point per 15 minutes
// from the bridge's embedded history (GET /api/bins/:id/readings), extended live as readings arrive, dated in the
// city's time zone (GET /api/page).
import uPlot from '/vendor/uplot/uPlot.esm.js';
import { api, readingAt } from './api.js';
import { ago, cityTime, h } from './dom.js';
import { classify, COLOURS } from './map.js';
import { plural } from './plural.js';

const ALERT_NAMES = { full: 'Full', fire: 'Fire', tilt: 'Tilted', battery_low: 'Low battery', offline: 'Offline', sensor_suspect: 'Sensor suspect' };

/** An open alert's tag: its name, and what it was opened on (a forecast's hours to full, or the cause). */
function alertLabel(type, why) {
  const name = ALERT_NAMES[type] ?? type;
  if (why?.hours_to_full !== null && why?.hours_to_full !== undefined) return `${name} · forecast: full in ~${Math.round(why.hours_to_full * 10) / 10} h`;
  return why?.cause ? `${name} · ${why.cause.replace(/_/g, ' ')}` : name;
}
const HOURS = 24;
const QUARTER_MS = 15 * 60_000;

export class BinCard {
  constructor(el, { onClose }) {
    this.el = el;
    this.onClose = onClose;
    this.binId = null;
    /** one point per quarter of an hour: { bucket, ts, fill, min, max, battery, readings } */
    this.points = [];
    this.range = null;
    this.timezone = undefined;
    this.chart = null;
  }

  /** The city's time zone (config `timezone`): the chart's axis and its range are dated in it. */
  setTimezone(timezone) {
    try {
      new Intl.DateTimeFormat('en-GB', { timeZone: timezone });
      this.timezone = timezone;
    } catch {
      this.timezone = undefined; // an unknown zone: the browser's own, and the label says which
    }
    if (this.chart) this.drawChart();
  }

  async show(bin) {
    const same = this.binId === bin.id;
    this.binId = bin.id;
    this.el.hidden = false;
    this.render(bin);
    if (same && this.chart) return;
    this.points = [];
    this.range = null;
    this.drawChart();
    try {
      const res = await api(`/bins/${encodeURIComponent(bin.id)}/readings?hours=${HOURS}`);
      if (this.binId !== bin.id) return;
      const live = this.points;
      this.points = res.items.map((r) => ({
        bucket: Date.parse(r.bucket),
        ts: Date.parse(r.ts),
        fill: r.fill_pct,
        min: r.fill_min_pct,
        max: r.fill_max_pct,
        battery: r.battery_min_pct,
        readings: r.readings,
      }));
      this.range = { from: Date.parse(res.from), to: Date.parse(res.to) };
      // live readings that came while the history was on its way, unless the answer has them already
      for (const p of live) if (p.ts > this.range.to) this.merge(p);
      this.updateChart();
    } catch (err) {
      this.el.querySelector('.chart-note').textContent = `Chart unavailable: ${err.message}`;
    }
  }

  hide() {
    this.binId = null;
    this.el.hidden = true;
    this.chart?.destroy();
    this.chart = null;
  }

  /** A live reading of the shown bin: the details, and its quarter of the chart. */
  onReading(bin, r) {
    if (bin.id !== this.binId) return;
    this.render(bin);
    // where the bridge's history puts it: at the earlier of its stamp and its arrival
    const ts = readingAt(r);
    const bucket = Math.floor(ts / QUARTER_MS) * QUARTER_MS;
    this.merge({ bucket, ts, fill: r.fill_pct, min: r.fill_pct, max: r.fill_pct, battery: r.battery_pct, readings: 1 });
    if (this.range && ts > this.range.to) this.range = { from: ts - HOURS * 3_600_000, to: ts };
    if (this.range) this.points = this.points.filter((p) => p.ts >= this.range.from);
    this.updateChart();
  }

  /** A reading or quarter into its quarter, as the bridge merges them: the last fill, the span, the lowest battery. */
  merge(p) {
    const q = this.points.find((x) => x.bucket === p.bucket);
    if (!q) {
      this.points.push(p);
      this.points.sort((a, b) => a.bucket - b.bucket);
      return;
    }
    if (p.ts > q.ts || (p.ts === q.ts && p.fill > q.fill)) Object.assign(q, { ts: p.ts, fill: p.fill });
    q.min = Math.min(q.min, p.min);
    q.max = Math.max(q.max, p.max);
    if (p.battery !== null && p.battery !== undefined) q.battery = q.battery === null || q.battery === undefined ? p.battery : Math.min(q.battery, p.battery);
    q.readings += p.readings;
  }

  refresh(bin) {
    if (bin.id === this.binId) this.render(bin);
  }

  render(bin) {
    const s = bin.state;
    const c = classify(bin);
    const details = this.el.querySelector('.bin-details');
    const fill = s?.fill_pct;
    details.replaceChildren(
      ...[
      h(
        'div',
        { class: 'bin-head' },
        h('span', { class: 'swatch', style: { background: COLOURS[c.level], outline: c.offline ? '2px solid #000' : 'none' } }),
        h('strong', { class: 'bin-id' }, bin.id),
        h('span', { class: 'muted' }, ` ${bin.address}`),
        h('button', { class: 'icon close', title: 'Close', 'aria-label': 'Close', onclick: () => this.onClose() }, '×'),
      ),
      h(
        'dl',
        { class: 'facts' },
        fact('Fill', fill === null || fill === undefined ? 'no data' : `${Math.round(fill)} %`, 'fill'),
        fact('Battery', s?.battery_pct === null || s?.battery_pct === undefined ? '—' : `${Math.round(s.battery_pct)} %`),
        fact('Temp.', s?.temperature_c === null || s?.temperature_c === undefined ? '—' : `${s.temperature_c.toFixed(1)} °C`),
        fact('Device', s?.status ?? '—'),
        fact('Last reading', s?.ts ? `${cityTime(s.ts, this.timezone)} · ${ago(s.ts)}` : '—'),
        fact('Zone · kind', `${bin.zone} · ${bin.kind} · ${bin.capacity_l} l`),
      ),
      bin.alerts.size > 0 ? h('div', { class: 'alert-tags' }, [...bin.alerts].map((a) => h('span', { class: `tag tag-${a}` }, alertLabel(a, bin.alertWhy?.get(a))))) : null,
      ].filter(Boolean),
    );
  }

  drawChart() {
    const holder = this.el.querySelector('.bin-chart');
    this.chart?.destroy();
    holder.replaceChildren();
    const width = Math.max(240, holder.clientWidth || 340);
    const tz = this.timezone;
    this.chart = new uPlot(
      {
        width,
        height: 130,
        ...(tz ? { tzDate: (t) => uPlot.tzDate(new Date(t * 1000), tz) } : {}),
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        // the x axis is the range the label names, however few points there are in it
        scales: { x: { time: true, range: (_u, min, max) => (this.range ? [this.range.from / 1000, this.range.to / 1000] : [min, max]) }, y: { range: [0, 100] } },
        axes: [
          { stroke: '#5b6673', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#dde1e6' } },
          { stroke: '#5b6673', size: 46, values: (_u, vals) => vals.map((v) => `${v}%`), grid: { stroke: '#eef0f3' }, ticks: { stroke: '#dde1e6' } },
        ],
        series: [
          {},
          { label: 'Fill %', stroke: '#d64545', width: 2, points: { size: 4 } },
          { label: 'max', class: 'band-edge', stroke: 'rgba(214,69,69,0.25)', width: 1, points: { show: false } },
          { label: 'min', class: 'band-edge', stroke: 'rgba(214,69,69,0.25)', width: 1, points: { show: false } },
          { label: 'Battery %', stroke: '#1565c0', width: 1.5, dash: [5, 4], points: { show: false } },
        ],
        // the quarter's lowest to highest fill, shaded: a collection inside a quarter shows as a tall band
        bands: [{ series: [2, 3], fill: 'rgba(214,69,69,0.12)' }],
      },
      [[], [], [], [], []],
      holder,
    );
    this.updateChart();
  }

  updateChart() {
    if (!this.chart) return;
    const p = this.points;
    this.chart.setData([p.map((x) => x.ts / 1000), p.map((x) => x.fill), p.map((x) => x.max), p.map((x) => x.min), p.map((x) => x.battery)]);
    this.el.querySelector('.chart-range').textContent = this.range ? rangeLabel(this.range, this.timezone) : '';
    const n = p.reduce((sum, x) => sum + x.readings, 0);
    this.el.querySelector('.chart-note').textContent =
      n === 0
        ? `No readings in the last ${HOURS} h.`
        : `${plural(n, 'reading')} · one point per 15 min: the last fill, its min–max shaded, the lowest battery`;
  }
}

/** "last 24 h · 1 Dec 14:00 – 2 Dec 14:00 (Europe/Amsterdam)" */
function rangeLabel({ from, to }, timezone) {
  const zone = timezone ?? `${Intl.DateTimeFormat().resolvedOptions().timeZone}, this browser`;
  return `last ${HOURS} h · ${cityTime(from, timezone)} – ${cityTime(to, timezone)} (${zone})`;
}

function fact(name, value, cls) {
  return [h('dt', {}, name), h('dd', cls ? { class: cls } : {}, value)];
}

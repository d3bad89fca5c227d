// The selected bin's card over the map: details, open alerts, and its recent fill (uPlot) from the bridge's
// in-memory window of readings (GET /api/bins/:id/readings), extended live as readings arrive.
import uPlot from '/vendor/uplot/uPlot.esm.js';
import { api, readingAt } from './api.js';
import { ago, clock, h } from './dom.js';
import { classify, COLOURS } from './map.js';

const ALERT_NAMES = { full: 'Full', fire: 'Fire', tilt: 'Tilted', battery_low: 'Low battery', offline: 'Offline', sensor_suspect: 'Sensor suspect' };

export class BinCard {
  constructor(el, { onClose }) {
    this.el = el;
    this.onClose = onClose;
    this.binId = null;
    this.points = [];
    this.chart = null;
  }

  async show(bin) {
    const same = this.binId === bin.id;
    this.binId = bin.id;
    this.el.hidden = false;
    this.render(bin);
    if (same && this.chart) return;
    this.points = [];
    this.drawChart();
    try {
      const res = await api(`/bins/${encodeURIComponent(bin.id)}/readings?hours=24`);
      if (this.binId !== bin.id) return;
      const live = this.points;
      this.points = res.items.map((r) => ({ ts: Date.parse(r.ts), fill: r.fill_pct, battery: r.battery_pct }));
      for (const p of live) if (!this.points.some((q) => q.ts === p.ts)) this.points.push(p);
      this.points.sort((a, b) => a.ts - b.ts);
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

  /** A live reading of the shown bin: the details and one more point. */
  onReading(bin, r) {
    if (bin.id !== this.binId) return;
    this.render(bin);
    // where the bridge's window charts it (GET /api/bins/:id/readings): a reading stamped ahead at its arrival
    const ts = readingAt(r);
    if (!this.points.some((p) => p.ts === ts)) {
      this.points.push({ ts, fill: r.fill_pct, battery: r.battery_pct });
      this.points.sort((a, b) => a.ts - b.ts);
      if (this.points.length > 288) this.points.shift();
      this.updateChart();
    }
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
        fact('Last reading', s?.ts ? `${clock(s.ts)} · ${ago(s.ts)}` : '—'),
        fact('Zone · kind', `${bin.zone} · ${bin.kind} · ${bin.capacity_l} l`),
      ),
      bin.alerts.size > 0 ? h('div', { class: 'alert-tags' }, [...bin.alerts].map((a) => h('span', { class: `tag tag-${a}` }, ALERT_NAMES[a] ?? a))) : null,
      ].filter(Boolean),
    );
  }

  drawChart() {
    const holder = this.el.querySelector('.bin-chart');
    this.chart?.destroy();
    holder.replaceChildren();
    const width = Math.max(240, holder.clientWidth || 340);
    this.chart = new uPlot(
      {
        width,
        height: 130,
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: [0, 100] } },
        axes: [
          { stroke: '#5b6673', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#dde1e6' } },
          { stroke: '#5b6673', size: 46, values: (_u, vals) => vals.map((v) => `${v}%`), grid: { stroke: '#eef0f3' }, ticks: { stroke: '#dde1e6' } },
        ],
        series: [
          {},
          { label: 'Fill %', stroke: '#d64545', width: 2, fill: 'rgba(214,69,69,0.12)', points: { size: 4 } },
          { label: 'Battery %', stroke: '#1565c0', width: 1.5, dash: [5, 4], points: { show: false } },
        ],
      },
      [[], [], []],
      holder,
    );
    this.updateChart();
  }

  updateChart() {
    if (!this.chart) return;
    const p = this.points;
    this.chart.setData([p.map((x) => x.ts / 1000), p.map((x) => x.fill), p.map((x) => x.battery)]);
    const note = this.el.querySelector('.chart-note');
    note.textContent =
      p.length === 0
        ? 'No readings since the bridge started (the chart keeps the last readings in memory).'
        : `${p.length} reading${p.length === 1 ? '' : 's'} · last 24 h in the bridge's memory window`;
  }
}

function fact(name, value, cls) {
  return [h('dt', {}, name), h('dd', cls ? { class: cls } : {}, value)];
}

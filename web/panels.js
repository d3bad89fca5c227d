/* global confirm */
// The dispatch board (jobs by status) and the residents' reports feed.
import { api } from './api.js';
import { ago, h, icon } from './dom.js';

const JOB_COLUMNS = [
  { status: 'escalated', title: 'Escalated', open: true },
  { status: 'pending', title: 'Pending', open: true },
  { status: 'sent', title: 'Sent to crew', open: true },
  { status: 'accepted', title: 'Accepted', open: true },
  { status: 'done', title: 'Done', open: false, max: 6 },
  { status: 'cancelled', title: 'Cancelled', open: false, max: 3 },
];

export class DispatchBoard {
  constructor(el, { onBin, crewName, onError }) {
    this.el = el;
    this.jobs = new Map();
    this.onBin = onBin;
    this.crewName = crewName;
    this.onError = onError;
    this.fresh = new Set();
  }

  setAll(items) {
    this.jobs = new Map(items.map((j) => [j.id, j]));
    this.render();
  }

  upsert(job) {
    const before = this.jobs.get(job.id);
    this.jobs.set(job.id, { ...before, ...job });
    if (!before || before.status !== job.status) this.fresh.add(job.id);
    this.render();
  }

  get openCount() {
    return [...this.jobs.values()].filter((j) => JOB_COLUMNS.some((c) => c.open && c.status === j.status)).length;
  }

  render() {
    const jobs = [...this.jobs.values()].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
    const sections = JOB_COLUMNS.map((col) => {
      const all = jobs.filter((j) => j.status === col.status);
      if (all.length === 0) return null;
      const shown = col.max ? all.slice(0, col.max) : all;
      return h(
        'section',
        { class: `lane lane-${col.status}`, dataset: { status: col.status } },
        h('h3', {}, col.title, h('span', { class: 'count' }, String(all.length))),
        shown.map((j) => this.card(j)),
      );
    });
    const lanes = sections.filter(Boolean);
    this.el.replaceChildren(...(lanes.length ? lanes : [h('p', { class: 'empty' }, 'No jobs yet. Full bins, fires and residents\' reports create them.')]));
    this.fresh.clear();
  }

  card(j) {
    const open = JOB_COLUMNS.some((c) => c.open && c.status === j.status);
    const when = j.done_at ?? j.accepted_at ?? j.sent_at ?? j.created_at;
    return h(
      'article',
      { class: `job${j.urgent ? ' urgent' : ''}${this.fresh.has(j.id) ? ' flash' : ''}`, dataset: { job: j.id } },
      h(
        'div',
        { class: 'job-head' },
        j.urgent ? h('span', { class: 'flame', title: 'urgent (fire)' }, icon('flame', 13)) : null,
        h('strong', {}, j.id),
        h('span', { class: 'muted' }, ` ${j.zone}`),
        h('span', { class: 'when', title: when }, ago(when)),
      ),
      h('div', { class: 'job-crew muted' }, j.crew_id ? this.crewName(j.crew_id) : 'no crew on shift', j.error ? h('span', { class: 'err', title: j.error }, ' ⚠') : null),
      h(
        'div',
        { class: 'chips' },
        j.bin_ids.slice(0, 8).map((id) => h('button', { class: 'chip', onclick: () => this.onBin(id) }, id)),
        j.bin_ids.length > 8 ? h('span', { class: 'muted' }, ` +${j.bin_ids.length - 8}`) : null,
      ),
      open
        ? h(
            'div',
            { class: 'job-actions' },
            j.map_url ? h('a', { href: j.map_url, target: '_blank', rel: 'noopener noreferrer' }, 'route') : null,
            h(
              'button',
              {
                class: 'link danger',
                onclick: async () => {
                  if (!confirm(`Cancel job ${j.id}?`)) return;
                  try {
                    this.upsert(await api(`/dispatches/${encodeURIComponent(j.id)}/cancel`, { method: 'POST' }));
                  } catch (err) {
                    this.onError(err);
                  }
                },
              },
              'cancel',
            ),
          )
        : null,
    );
  }
}

const METHODS = { code: 'bin code', pin: 'location pin', address: 'address', fuzzy: 'address', choice: 'chosen from list', photo: 'photo' };

export class ReportsFeed {
  constructor(el, { onBin }) {
    this.el = el;
    this.reports = new Map();
    this.onBin = onBin;
    this.fresh = new Set();
  }

  setAll(items) {
    this.reports = new Map(items.map((r) => [r.id, r]));
    this.render();
  }

  upsert(r) {
    this.reports.set(r.id, r);
    this.fresh.add(r.id);
    this.render();
  }

  get openCount() {
    return [...this.reports.values()].filter((r) => r.status !== 'closed').length;
  }

  render() {
    const items = [...this.reports.values()].sort((a, b) => Date.parse(b.updated_at) - Date.parse(a.updated_at)).slice(0, 60);
    this.el.replaceChildren(
      ...(items.length === 0
        ? [h('li', { class: 'empty' }, 'No reports yet. Residents report a bin on WhatsApp: try the resident phone below.')]
        : items.map((r) =>
            h(
              'li',
              { class: `report status-${r.status}${this.fresh.has(r.id) ? ' flash' : ''}`, dataset: { report: r.reference, bin: r.bin_id ?? '' } },
              h(
                'div',
                { class: 'report-head' },
                h('strong', {}, r.reference),
                h('span', { class: `badge badge-${r.status}` }, r.status),
                r.bin_id ? h('button', { class: 'chip', onclick: () => this.onBin(r.bin_id) }, r.bin_id) : h('span', { class: 'muted' }, 'no bin'),
                h('span', { class: 'when', title: r.created_at }, ago(r.updated_at)),
              ),
              r.text ? h('div', { class: 'report-text' }, `“${r.text.length > 140 ? r.text.slice(0, 137) + '…' : r.text}”`) : null,
              h(
                'div',
                { class: 'muted small' },
                `${r.source} · ${METHODS[r.method] ?? r.method}${r.reporters > 1 ? ` · ${r.reporters} residents` : ''}`,
                r.photo_url ? ' · photo' : '',
              ),
            ),
          )),
    );
    this.fresh.clear();
  }
}

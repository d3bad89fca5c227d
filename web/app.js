/* global document, window, URLSearchParams, setInterval, setTimeout, clearTimeout */
// binbridge live operations page: map, bin card, dispatch board, reports feed and WhatsApp sandbox, kept live
// by Server-Sent Events from /api/events. Plain ES modules, no build step; Leaflet and uPlot come from /vendor/.
import { api, apiAll, events, readingAt, setToken, Unauthorized } from './api.js';
import { BinCard } from './bin-card.js';
import { batched, h } from './dom.js';
import { BinMap, classify } from './map.js';
import { DispatchBoard, ReportsFeed } from './panels.js';
import { Sandbox } from './phones.js';
import { noun } from './plural.js';

const $ = (sel) => document.querySelector(sel);

/** id -> registry bin + `state` (latest reading, device status) + `alerts` (open alert types) + `alertWhy` (type -> cause, hours_to_full) */
const bins = new Map();
let crews = [];

const map = new BinMap($('#map'), {
  onSelect: (id) => select(id),
  onMapClick: (latlng) => sandbox?.mapClick(latlng) ?? false,
});
const card = new BinCard($('#bin-card'), { onClose: () => select(null) });
const board = new DispatchBoard($('#board'), { onBin: (id) => select(id, true), crewName: (id) => crews.find((c) => c.id === id)?.name ?? id, onError: toast });
const feed = new ReportsFeed($('#feed'), { onBin: (id) => select(id, true) });
let sandbox = null;

// ---- header: counts that double as map filters
const FILTERS = [
  { key: 'full', label: 'Full' },
  { key: 'offline', label: 'Offline' },
  { key: 'battery', label: 'Low battery' },
  { key: 'fire', label: 'Fire' },
  { key: 'suspect', label: 'Suspect' },
];
const active = new Set();
const chips = new Map();
/** A count in the header with its noun, which follows the number: "1 open report", "2 open reports". */
function stat(one, many) {
  const n = h('b', {}, '0');
  const word = h('span', {}, ` ${many}`);
  return {
    el: h('span', { class: 'stat' }, n, word),
    set(count) {
      n.textContent = String(count);
      word.textContent = ` ${noun(count, one, many)}`;
    },
  };
}
const totals = { bins: stat('bin', 'bins'), reporting: stat('reporting', 'reporting'), jobs: stat('open job', 'open jobs'), reports: stat('open report', 'open reports') };
$('#counts').replaceChildren(
  h('span', { class: 'stats' }, totals.bins.el, totals.reporting.el),
  h('span', { class: 'sep' }),
  h(
    'span',
    { class: 'filters' },
    FILTERS.map((f) => {
      const n = h('b', {}, '0');
      const chip = h('button', { type: 'button', class: `filter filter-${f.key}`, 'aria-pressed': 'false', dataset: { filter: f.key }, title: `show only: ${f.label.toLowerCase()}`, onclick: () => toggleFilter(f.key) }, n, ` ${f.label}`);
      chips.set(f.key, { chip, n });
      return chip;
    }),
  ),
  h('span', { class: 'sep' }),
  h('span', { class: 'stats' }, totals.jobs.el, totals.reports.el),
);

function toggleFilter(key) {
  if (active.has(key)) active.delete(key);
  else active.add(key);
  for (const [k, { chip }] of chips) chip.setAttribute('aria-pressed', String(active.has(k)));
  map.setFilters(active);
  $('#filter-note').hidden = active.size === 0;
}
$('#filter-clear').addEventListener('click', () => {
  for (const k of [...active]) toggleFilter(k);
});

const updateCounts = batched(() => {
  const n = { full: 0, offline: 0, battery: 0, fire: 0, suspect: 0 };
  let reporting = 0;
  for (const b of bins.values()) {
    const c = classify(b);
    if (b.state?.fill_pct !== null && b.state?.fill_pct !== undefined) reporting++;
    for (const k of Object.keys(n)) if (c[k]) n[k]++;
  }
  totals.bins.set(bins.size);
  totals.reporting.set(reporting);
  for (const [k, { n: el }] of chips) el.textContent = String(n[k]);
  totals.jobs.set(board.openCount);
  totals.reports.set(feed.openCount);
});

// ---- selection
function select(id, pan = false) {
  map.select(id, { pan });
  if (!id) return card.hide();
  const bin = bins.get(id);
  if (!bin) return;
  void card.show(bin);
  const el = $('#bin-card');
  map.reveal(id, [el.offsetWidth + 10, el.offsetHeight + 58]);
}

/** The crew of the most recently made job that has one: the crew phone shows it. */
function newestCrew(jobs) {
  let newest = null;
  for (const j of jobs) if (j.crew_id && (!newest || Date.parse(j.created_at) > Date.parse(newest.created_at))) newest = j;
  return newest?.crew_id ?? null;
}

// a link to a bin (/#bin=UTR-0007) opens its card, its cluster spread out
function selectFromHash() {
  const wanted = new URLSearchParams(window.location.hash.slice(1)).get('bin')?.toUpperCase();
  const id = wanted && [...bins.keys()].find((k) => k.toUpperCase() === wanted);
  if (id) select(id, true);
}
window.addEventListener('hashchange', selectFromHash);

// ---- status line and errors
function setLive(state) {
  const el = $('#conn');
  el.dataset.state = state;
  el.textContent = state === 'live' ? 'live' : state === 'connecting' ? 'connecting…' : 'reconnecting…';
}

let toastTimer = null;
function toast(err) {
  const el = $('#toast');
  el.textContent = err instanceof Error ? err.message : String(err);
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 5000);
}

function askToken() {
  const dialog = $('#token-dialog');
  dialog.hidden = false;
  $('#token-input').focus();
}
$('#token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  setToken($('#token-input').value.trim());
  $('#token-dialog').hidden = true;
  void start();
});

// ---- data
async function loadBins() {
  // every bin and every open alert, page by page
  const [list, alerts] = await Promise.all([apiAll('/bins'), apiAll('/alerts?status=open')]);
  const open = new Map();
  const why = new Map();
  for (const a of alerts) {
    if (!open.has(a.bin_id)) open.set(a.bin_id, new Set());
    open.get(a.bin_id).add(a.type);
    if (!why.has(a.bin_id)) why.set(a.bin_id, new Map());
    why.get(a.bin_id).set(a.type, { cause: a.cause, hours_to_full: a.hours_to_full });
  }
  bins.clear();
  for (const b of list) bins.set(b.id, { ...b, alerts: open.get(b.id) ?? new Set(), alertWhy: why.get(b.id) ?? new Map() });
  map.setBins([...bins.values()]);
  if (map.selected && bins.has(map.selected)) card.refresh(bins.get(map.selected));
  updateCounts();
}

/** The page's settings: the city's time zone, in which the chart is dated. */
async function loadSettings() {
  const settings = await api('/page');
  card.setTimezone(settings.timezone);
}

async function loadPanels() {
  const [jobs, reports, crewList, sb] = await Promise.all([api('/dispatches?limit=200'), api('/reports?limit=60'), api('/crews'), api('/sandbox')]);
  crews = crewList.items;
  board.setAll(jobs.items);
  feed.setAll(reports.items);
  if (sb.enabled) {
    $('#sandbox-panel').hidden = false;
    sandbox ??= new Sandbox($('#phones'), {
      onArm: (phone) => {
        map.setArmed(Boolean(phone));
        const banner = $('#armed');
        banner.hidden = !phone;
        if (phone) $('#armed-who').textContent = phone.name;
      },
      onError: toast,
    });
    sandbox.setCrews(crews);
    sandbox.followCrew(newestCrew(jobs.items));
    sandbox.setMessages((await api('/whatsapp/messages?limit=500')).items);
  } else {
    $('#sandbox-panel').hidden = true;
  }
  updateCounts();
}
$('#armed-cancel').addEventListener('click', () => sandbox?.armed && sandbox.arm(sandbox.armed));

// ---- live events
const handlers = {
  reading(r) {
    const bin = bins.get(r.bin_id);
    if (!bin) return;
    const s = (bin.state ??= {});
    if (s.ts && readingAt(s) > readingAt(r)) return;
    Object.assign(s, { ts: r.ts, received_at: r.received_at, fill_pct: r.fill_pct, status: r.status ?? s.status });
    if (r.battery_pct !== null) s.battery_pct = r.battery_pct;
    if (r.temperature_c !== null) s.temperature_c = r.temperature_c;
    map.restyle(bin.id);
    card.onReading(bin, r);
    updateCounts();
  },
  alert(e) {
    const bin = bins.get(e.bin_id);
    if (!bin) return;
    for (const t of e.closes ?? []) {
      bin.alerts.delete(t);
      bin.alertWhy.delete(t);
    }
    if (e.opens) {
      bin.alerts.add(e.opens);
      bin.alertWhy.set(e.opens, { cause: e.cause, hours_to_full: e.hours_to_full });
    }
    map.restyle(bin.id);
    card.refresh(bin);
    updateCounts();
  },
  dispatch(job) {
    const crewBefore = board.jobs.get(job.id)?.crew_id;
    board.upsert(job);
    if (job.crew_id && job.crew_id !== crewBefore) sandbox?.followCrew(job.crew_id);
    updateCounts();
  },
  report(r) {
    feed.upsert(r);
    updateCounts();
  },
  message(m) {
    sandbox?.addMessage(m);
  },
};

let source = null;
let started = false;
async function start() {
  source?.close();
  setLive('connecting');
  try {
    await Promise.all([loadBins(), loadPanels(), loadSettings()]);
    selectFromHash();
  } catch (err) {
    if (err instanceof Unauthorized) return askToken();
    toast(err);
  }
  let opened = false;
  source = events(handlers, {
    onOpen: () => {
      setLive('live');
      // after a reconnect, catch up on what was missed
      if (opened) void Promise.all([loadBins(), loadPanels()]).catch(toast);
      opened = true;
    },
    onError: () => setLive('reconnecting'),
  });
  if (!started) {
    started = true;
    // device online/offline changes have no event: a slow refresh keeps the map honest
    setInterval(() => void loadBins().catch(() => undefined), 60_000);
    setInterval(() => board.render(), 30_000);
  }
}

void start();

/* global document, setInterval */
// The Notices panel: compose a notice (kind, title, text per language, zones from a list), count its recipients
// with a dry run before it can be sent, and follow each notice's delivery funnel; cancel one still going out.
// Its own module, started by its <section id="notices-panel">; it polls /api/notices while the page is open.
import { api, apiAll, Unauthorized } from './api.js';
import { ago, h } from './dom.js';

const LANGS = [
  { code: 'en', label: 'English' },
  { code: 'nl', label: 'Nederlands' },
];
const FUNNEL = ['targeted', 'sent', 'delivered', 'read', 'failed', 'replied', 'unsubscribed', 'capped'];
const POLL_MS = 3000;

export class NoticesPanel {
  constructor(el) {
    this.el = el;
    this.checked = null; // the draft a dry run counted; any edit asks for a new count
    this.kind = h('select', { name: 'kind', 'aria-label': 'kind', onchange: () => this.edited() }, h('option', { value: 'service' }, 'Service'), h('option', { value: 'emergency' }, 'Emergency'));
    this.title = h('input', { name: 'title', maxlength: 60, placeholder: 'Title', 'aria-label': 'title', required: true, oninput: () => this.edited() });
    this.texts = LANGS.map((l) => ({ ...l, input: h('textarea', { name: `text-${l.code}`, rows: 2, placeholder: `Text (${l.label})`, 'aria-label': `text ${l.label}`, oninput: () => this.edited() }) }));
    this.zones = h('fieldset', { class: 'zones' }, h('legend', {}, 'Zones'));
    this.count = h('output', { class: 'count muted', 'aria-live': 'polite' }, 'Count the recipients before sending.');
    this.dry = h('button', { type: 'button', class: 'dry-run', onclick: () => void this.dryRun() }, 'Count recipients');
    this.send = h('button', { type: 'submit', class: 'notice-send', disabled: true }, 'Send');
    this.error = h('div', { class: 'error', role: 'alert', hidden: true });
    this.form = h(
      'form',
      {
        class: 'compose',
        onsubmit: (e) => {
          e.preventDefault();
          void this.submit();
        },
      },
      h('div', { class: 'n-row' }, this.kind, this.title),
      this.texts.map((t) => t.input),
      this.zones,
      h('div', { class: 'n-row n-actions' }, this.dry, this.count, this.send),
      this.error,
    );
    this.list = h('ol', { class: 'notices-list' });
    this.box = h('details', { class: 'compose-box' }, h('summary', {}, 'New notice'), this.form);
    el.replaceChildren(
      h('h2', { id: 'notices-title' }, 'Notices ', h('span', { class: 'muted small' }, 'to residents subscribed by chat')),
      h('div', { class: 'notices-body' }, this.box, this.list),
    );
  }

  async start() {
    try {
      const zones = await apiAll('/zones');
      this.zones.append(
        ...zones.map((z) => h('label', {}, h('input', { type: 'checkbox', name: 'zone', value: z.id, onchange: () => this.edited() }), ` ${z.name}`)),
      );
      await this.refresh();
    } catch (err) {
      if (!(err instanceof Unauthorized)) this.fail(err);
    }
    setInterval(() => void this.refresh().catch(() => undefined), POLL_MS);
  }

  draft() {
    const text = Object.fromEntries(this.texts.map((t) => [t.code, t.input.value.trim()]).filter(([, v]) => v));
    const zones = [...this.zones.querySelectorAll('input[name=zone]:checked')].map((i) => i.value);
    return { kind: this.kind.value, title: this.title.value.trim(), text, target: zones.length ? { zones } : { all: true } };
  }

  edited() {
    this.checked = null;
    this.send.disabled = true;
    this.count.textContent = 'Count the recipients before sending.';
  }

  async dryRun() {
    this.error.hidden = true;
    const d = this.draft();
    try {
      const r = await api('/notices?dry_run=true', { method: 'POST', body: JSON.stringify(d) });
      this.checked = JSON.stringify(d);
      const where = 'zones' in d.target ? d.target.zones.join(', ') : 'the whole city';
      this.count.textContent = `${r.targeted} ${r.targeted === 1 ? 'resident' : 'residents'} in ${where}`;
      this.count.dataset.targeted = String(r.targeted);
      this.send.disabled = r.targeted === 0;
    } catch (err) {
      this.fail(err);
    }
  }

  async submit() {
    const d = this.draft();
    if (this.checked !== JSON.stringify(d)) return this.edited();
    this.send.disabled = true;
    try {
      await api('/notices', { method: 'POST', body: JSON.stringify(d) });
      this.form.reset();
      this.edited();
      // sent: the composer folds away, the notice's funnel shows
      this.box.open = false;
      await this.refresh();
    } catch (err) {
      this.fail(err);
    }
  }

  fail(err) {
    this.error.textContent = err.message;
    this.error.hidden = false;
  }

  async refresh() {
    const { items } = await api('/notices?limit=20');
    this.list.replaceChildren(...items.map((n) => this.item(n)));
  }

  item(n) {
    const f = n.figures;
    const max = Math.max(1, f.targeted);
    const time = (at) => new Date(at).toLocaleString([], { weekday: 'short', hour: '2-digit', minute: '2-digit' });
    // a notice that cannot reach everyone yet (Meta's messaging limit) says how many wait and when it expects to finish
    const waiting = n.status === 'sending' && n.waiting > 0 && n.expected_done_at ? `sending: ${n.waiting} waiting, done about ${time(n.expected_done_at)}` : n.status;
    const status = n.resumes_at ? `paused for quiet hours until ${new Date(n.resumes_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}` : waiting;
    const cancel =
      n.status === 'scheduled' || n.status === 'sending'
        ? h('button', { type: 'button', class: 'link cancel', onclick: () => void this.cancel(n.id) }, 'cancel')
        : null;
    return h(
      'li',
      { class: `notice kind-${n.kind} status-${n.status}`, dataset: { notice: String(n.id) } },
      h('div', { class: 'head' }, h('strong', {}, n.title), ' ', h('span', { class: `badge ${n.kind}` }, n.kind), ' ', h('span', { class: 'status muted small' }, status), ' ', h('time', { class: 'muted small' }, ago(n.created_at)), cancel),
      h(
        'dl',
        { class: 'funnel' },
        FUNNEL.map((k) => [
          h('dt', {}, k),
          h('dd', { dataset: { figure: k } }, h('span', { class: 'bar', style: { width: `${Math.round(((f[k] ?? 0) / max) * 100)}%` } }), h('b', {}, String(f[k] ?? 0))),
        ]),
        h('dt', {}, 'response rate'),
        h('dd', { dataset: { figure: 'response_rate' } }, h('b', {}, `${Math.round(f.response_rate * 100)} %`)),
      ),
    );
  }

  async cancel(id) {
    try {
      await api(`/notices/${id}/cancel`, { method: 'POST' });
      await this.refresh();
    } catch (err) {
      this.fail(err);
    }
  }
}

const el = document.querySelector('#notices-panel');
if (el) void new NoticesPanel(el).start();

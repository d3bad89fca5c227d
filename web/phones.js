/* global localStorage */
// The WhatsApp sandbox: a crew phone and a resident phone. Each shows what binbridge sent to its number (the
// sandbox records instead of sending) and lets the operator answer: type, tap a reply button, pick a list row,
// or share a location by clicking the map. Answers go to POST /api/sandbox/inbound, as if Meta delivered them.
import { api } from './api.js';
import { clock, h, icon, linkified } from './dom.js';
import { plural } from './plural.js';

export const DEMO_RESIDENT = '31600000042';

// how the default templates read (the approved wording lives at Meta); others are shown by their parameters
const TEMPLATES = {
  bin_dispatch: (p) => `Job ${p[0]}: ${/^\d+$/.test(p[1] ?? '') ? plural(Number(p[1]), 'bin') : `${p[1]} bin(s)`} to empty in ${p[2]}\n${p[3]}\nRoute: ${p[4]}`,
  bin_report_update: (p) => `${p[1] ?? ''}\n(report ${p[0]})`,
  bin_notice: (p) => `${p[0] ?? ''}: ${p[1] ?? ''}`,
};

const QUICK_TITLES = { accept: 'Accept', done: 'Done' };

class Phone {
  constructor(sandbox, { role, title }) {
    this.sandbox = sandbox;
    this.role = role;
    this.number = '';
    this.name = title;
    this.chat = h('div', { class: 'chat', role: 'log', 'aria-live': 'polite' });
    this.input = h('input', { type: 'text', class: 'compose-text', placeholder: 'Type a message…', 'aria-label': `message as the ${role}` });
    this.locBtn = h('button', { type: 'button', class: 'icon loc', title: 'Share a location: click the map', 'aria-label': 'share location', onclick: () => this.sandbox.arm(this) }, icon('pin', 18));
    this.form = h(
      'form',
      {
        class: 'compose',
        onsubmit: (e) => {
          e.preventDefault();
          const text = this.input.value.trim();
          if (!text) return;
          this.input.value = '';
          void this.send({ text }, text);
        },
      },
      this.locBtn,
      this.input,
      h('button', { type: 'submit', class: 'send', 'aria-label': 'send' }, 'Send'),
    );
    this.head = h('div', { class: 'phone-head' });
    this.el = h('div', { class: `phone phone-${role}`, dataset: { role } }, this.head, this.chat, this.form);
  }

  setNumber(number, name) {
    this.number = number;
    this.name = name;
    this.input.placeholder = `Message as ${name}…`;
    this.render();
  }

  get storageKey() {
    return `binbridge.sandbox.sent.${this.number}`;
  }

  sent() {
    try {
      return JSON.parse(localStorage.getItem(this.storageKey) ?? '[]');
    } catch {
      return [];
    }
  }

  remember(text) {
    const list = [...this.sent(), { ts: Date.now(), text }].slice(-60);
    localStorage.setItem(this.storageKey, JSON.stringify(list));
  }

  async send(body, shown) {
    if (!this.number) return;
    try {
      await api('/sandbox/inbound', { method: 'POST', body: JSON.stringify({ from: this.number, name: this.name, ...body }) });
      this.remember(shown);
      this.render();
    } catch (err) {
      this.sandbox.onError(err);
    }
  }

  shareLocation(latlng) {
    const latitude = Math.round(latlng.lat * 1e6) / 1e6;
    const longitude = Math.round(latlng.lng * 1e6) / 1e6;
    void this.send({ location: { latitude, longitude } }, `Location ${latitude.toFixed(5)}, ${longitude.toFixed(5)}`);
  }

  render() {
    const received = this.sandbox.messages.filter((m) => m.to === this.number).map((m) => ({ ts: Date.parse(m.created_at), el: this.bubble(m) }));
    const mine = this.sent().map((s) => ({
      ts: s.ts,
      el: h('div', { class: 'bubble out' }, h('div', { class: 'text' }, s.text.startsWith('Location ') ? [icon('pin', 12), ` ${s.text}`] : s.text), h('time', {}, clock(s.ts))),
    }));
    const all = [...received, ...mine].sort((a, b) => a.ts - b.ts);
    this.chat.replaceChildren(...(all.length ? all.map((x) => x.el) : [h('p', { class: 'empty' }, this.role === 'crew' ? 'No messages to this crew yet.' : 'Nothing yet. Report a bin, e.g. “UTR-0007 is vol”.')]));
    this.chat.scrollTop = this.chat.scrollHeight;
    this.locBtn.classList.toggle('on', this.sandbox.armed === this);
  }

  /** One message binbridge sent to this number, with its buttons and lists tappable. */
  bubble(m) {
    const msg = m.message;
    const parts = [];
    const ctx = { context_id: m.wamid };
    if (msg.type === 'text') parts.push(h('div', { class: 'text' }, linkified(msg.text.body)));
    else if (msg.type === 'interactive') {
      const i = msg.interactive;
      if (i.header?.text) parts.push(h('div', { class: 'header' }, i.header.text));
      parts.push(h('div', { class: 'text' }, linkified(i.body.text)));
      if (i.footer?.text) parts.push(h('div', { class: 'footer' }, i.footer.text));
      if (i.type === 'button') {
        parts.push(
          h(
            'div',
            { class: 'replies' },
            i.action.buttons.map((b) =>
              h('button', { type: 'button', class: 'reply', dataset: { reply: b.reply.id }, onclick: () => this.send({ button_reply: { id: b.reply.id, title: b.reply.title }, ...ctx }, `↩ ${b.reply.title}`) }, b.reply.title),
            ),
          ),
        );
      } else if (i.type === 'list') {
        const rows = h(
          'div',
          { class: 'list-rows', hidden: true },
          i.action.sections.map((s) => [
            s.title ? h('div', { class: 'section' }, s.title) : null,
            s.rows.map((r) =>
              h(
                'button',
                { type: 'button', class: 'row', dataset: { row: r.id }, onclick: () => this.send({ list_reply: { id: r.id, title: r.title }, ...ctx }, `☰ ${r.title}`) },
                h('strong', {}, r.title),
                r.description ? h('span', {}, r.description) : null,
              ),
            ),
          ]),
        );
        parts.push(h('button', { type: 'button', class: 'reply list-open', onclick: () => (rows.hidden = !rows.hidden) }, `☰ ${i.action.button}`), rows);
      } else if (i.type === 'location_request_message') {
        parts.push(h('div', { class: 'replies' }, h('button', { type: 'button', class: 'reply', onclick: () => this.sandbox.arm(this) }, icon('pin'), ' Send location')));
      }
    } else if (msg.type === 'template') {
      const t = msg.template;
      const params = (t.components.find((c) => c.type === 'body')?.parameters ?? []).map((p) => p.text ?? p.payload ?? '');
      const text = TEMPLATES[t.name]?.(params) ?? params.join('\n');
      parts.push(h('div', { class: 'header' }, `template ${t.name} (${t.language.code})`), h('div', { class: 'text' }, linkified(text)));
      const quick = t.components.filter((c) => c.type === 'button');
      if (quick.length) {
        parts.push(
          h(
            'div',
            { class: 'replies' },
            quick.map((c) => {
              const payload = c.parameters[0]?.payload ?? '';
              const title = QUICK_TITLES[payload.split(':')[0]] ?? payload;
              return h('button', { type: 'button', class: 'reply', dataset: { reply: payload }, onclick: () => this.send({ button: { payload, text: title }, ...ctx }, `↩ ${title}`) }, title);
            }),
          ),
        );
      }
    } else parts.push(h('div', { class: 'text muted' }, `(${m.kind} message)`));
    return h('div', { class: `bubble in kind-${m.kind}`, dataset: { wamid: m.wamid } }, parts, h('time', {}, clock(Date.parse(m.created_at))));
  }
}

export class Sandbox {
  constructor(el, { onArm, onError }) {
    this.el = el;
    this.onArm = onArm;
    this.onError = onError;
    this.messages = [];
    this.armed = null;
    this.crews = [];
    this.crew = new Phone(this, { role: 'crew', title: 'Crew' });
    this.resident = new Phone(this, { role: 'resident', title: 'Resident' });
    this.crewSelect = h('select', { 'aria-label': 'crew', onchange: () => this.pickCrew(this.crewSelect.value) });
    this.crew.head.replaceChildren(h('span', { class: 'who' }, 'Crew phone'), this.crewSelect);
    this.residentInput = h('input', {
      type: 'tel',
      value: localStorage.getItem('binbridge.sandbox.resident') ?? DEMO_RESIDENT,
      'aria-label': 'resident number',
      onchange: () => this.pickResident(this.residentInput.value),
    });
    this.resident.head.replaceChildren(h('span', { class: 'who' }, 'Resident phone'), this.residentInput);
    el.replaceChildren(this.crew.el, this.resident.el);
    this.pickResident(this.residentInput.value);
  }

  setCrews(crews) {
    this.crews = crews;
    const current = this.crewSelect.value || localStorage.getItem('binbridge.sandbox.crew') || crews[0]?.id || '';
    this.crewSelect.replaceChildren(...crews.map((c) => h('option', { value: c.id, selected: c.id === current }, `${c.name} · +${c.phone}`)));
    if (crews.length) this.pickCrew(crews.some((c) => c.id === current) ? current : crews[0].id);
  }

  /**
   * A job went to this crew: the crew phone shows it, so the operator sees the message the crew got (at night the
   * night crew's, not the first crew of the list). A crew picked by hand stays until the next job goes elsewhere.
   */
  followCrew(id) {
    if (!id || id === this.crewSelect.value) return;
    this.pickCrew(id);
  }

  pickCrew(id) {
    const crew = this.crews.find((c) => c.id === id);
    if (!crew) return;
    localStorage.setItem('binbridge.sandbox.crew', id);
    this.crewSelect.value = id;
    this.crew.setNumber(crew.phone, crew.name);
  }

  pickResident(value) {
    const number = value.replace(/[^\d]/g, '');
    if (!/^\d{6,20}$/.test(number)) return this.onError(new Error('a resident number is 6 to 20 digits'));
    localStorage.setItem('binbridge.sandbox.resident', number);
    this.resident.setNumber(number, `Resident +${number}`);
  }

  setMessages(items) {
    this.messages = [...items].sort((a, b) => a.id - b.id);
    this.render();
  }

  addMessage(m) {
    if (this.messages.some((x) => x.id === m.id)) return;
    this.messages.push(m);
    if (this.messages.length > 1000) this.messages.shift();
    if (m.to === this.crew.number) this.crew.render();
    if (m.to === this.resident.number) this.resident.render();
  }

  render() {
    this.crew.render();
    this.resident.render();
  }

  /** Arms (or disarms) "share location" for a phone: the next map click is sent as its location. */
  arm(phone) {
    this.armed = this.armed === phone ? null : phone;
    this.onArm(this.armed);
    this.render();
  }

  /** A map click while armed: shared, and the click is taken. */
  mapClick(latlng) {
    if (!this.armed) return false;
    const phone = this.armed;
    this.armed = null;
    this.onArm(null);
    phone.shareLocation(latlng);
    return true;
  }
}

/* global document, Node, requestAnimationFrame */
// Tiny DOM helpers: elements are built with textContent only (never innerHTML), so no message can inject markup.

/** h('div', { class: 'x', onclick: fn, dataset: { bin: 'A' } }, 'text', child, [more]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Text with its http(s) links made clickable. */
export function linkified(text) {
  const parts = [];
  const re = /https?:\/\/[^\s<>"]+/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    parts.push(h('a', { href: m[0], target: '_blank', rel: 'noopener noreferrer' }, m[0].length > 48 ? m[0].slice(0, 45) + '…' : m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

export function ago(ts, now = Date.now()) {
  if (ts === null || ts === undefined) return '—';
  const s = Math.max(0, Math.round((now - new Date(ts).getTime()) / 1000));
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function clock(ts) {
  const d = new Date(ts);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** "1 Dec 14:00" in the given time zone (the city's), whatever the browser's. */
export function cityTime(ts, timeZone) {
  const fmt = new Intl.DateTimeFormat('en-GB', { timeZone, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const part = Object.fromEntries(fmt.formatToParts(new Date(ts)).map((x) => [x.type, x.value]));
  return `${part.day} ${part.month} ${part.hour}:${part.minute}`;
}

export function dateTime(ts) {
  if (ts === null || ts === undefined) return '—';
  return new Date(ts).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** Runs fn at most once per animation frame, however often it is asked. */
export function batched(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      fn();
    });
  };
}

const ICONS = {
  // a map pin and a flame, drawn here: emoji fonts are not everywhere (headless browsers, kiosks)
  pin: 'M12 2a7 7 0 0 0-7 7c0 5.2 7 13 7 13s7-7.8 7-13a7 7 0 0 0-7-7zm0 9.5A2.5 2.5 0 1 1 12 6.5a2.5 2.5 0 0 1 0 5z',
  flame: 'M13.5 1.5s1 3.2-1.6 6.2C9.6 10.3 7 12.3 7 16a5 5 0 0 0 10 0c0-2.3-1.2-3.9-1.2-3.9s-.3 2-1.9 2.6c0 0 1.6-4.4-.4-8.2-.6-1.2-1.2-2.9 0-5z',
};

/** A small inline SVG icon ('pin' or 'flame'), coloured by currentColor. */
export function icon(name, size = 14) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', `icon-${name}`);
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', ICONS[name]);
  path.setAttribute('fill', 'currentColor');
  svg.append(path);
  return svg;
}

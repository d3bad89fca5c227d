/* global window, localStorage, fetch, EventSource, URL, URLSearchParams, console */
// The page's access to /api: the bearer token comes from #token= (the address binbridge prints at start; a fragment
// never reaches a server or a log) or ?token=, and is then remembered in localStorage.

const KEY = 'binbridge.token';

export function token() {
  const url = new URL(window.location.href);
  const fragment = new URLSearchParams(url.hash.slice(1));
  const fromUrl = fragment.get('token') ?? url.searchParams.get('token');
  if (fromUrl !== null) {
    localStorage.setItem(KEY, fromUrl);
    // keep the address bar clean: the token stays in localStorage
    url.searchParams.delete('token');
    fragment.delete('token');
    const rest = fragment.toString();
    window.history.replaceState(null, '', url.pathname + url.search + (rest ? `#${rest}` : ''));
  }
  return localStorage.getItem(KEY) ?? '';
}

export function setToken(value) {
  localStorage.setItem(KEY, value);
}

export class Unauthorized extends Error {}

/**
 * When a reading (a bin's `state` or a `reading` event) counts for "which is newest", as the bridge orders them:
 * its own time, never later than its arrival, so a reading stamped ahead by a fast clock does not hide the next one.
 */
export function readingAt(r) {
  const ts = Date.parse(r.ts);
  return r.received_at ? Math.min(ts, Date.parse(r.received_at)) : ts;
}

export async function api(path, init = {}) {
  const t = token();
  const headers = { accept: 'application/json', ...(t ? { authorization: `Bearer ${t}` } : {}), ...(init.body ? { 'content-type': 'application/json' } : {}) };
  const res = await fetch(`/api${path}`, { ...init, headers: { ...headers, ...(init.headers ?? {}) } });
  if (res.status === 401) throw new Unauthorized('token required');
  const body = res.status === 204 ? null : await res.json().catch(() => null);
  // errors are RFC 9457 problems: `detail` says what went wrong
  if (!res.ok) throw new Error(body?.detail ?? body?.title ?? `${res.status} ${res.statusText}`);
  return body;
}

/** Every item of a list (`{ items, next }`), following `next` page by page. */
export async function apiAll(path) {
  const items = [];
  let next = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api(`${path}${sep}limit=1000${next ? `&cursor=${encodeURIComponent(next)}` : ''}`);
    items.push(...page.items);
    next = page.next;
  } while (next);
  return items;
}

/** Server-Sent Events from /api/events; EventSource cannot send headers, so the token goes in the query. */
export function events(handlers, { onOpen, onError } = {}) {
  const t = token();
  const source = new EventSource(`/api/events${t ? `?token=${encodeURIComponent(t)}` : ''}`);
  for (const [type, fn] of Object.entries(handlers)) {
    source.addEventListener(type, (e) => {
      try {
        fn(JSON.parse(e.data));
      } catch (err) {
        console.error(`live event ${type} failed`, err);
      }
    });
  }
  source.addEventListener('open', () => onOpen?.());
  source.addEventListener('error', () => onError?.(source.readyState));
  return source;
}

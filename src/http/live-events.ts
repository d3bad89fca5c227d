import { realClock, type Clock, type Timer } from '../clock.js';
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppliedEvent } from '../alerts/index.js';
import type { Report } from '../reports/index.js';
import { orderTs } from '../rules/index.js';
import type { LatestReading } from '../storage/index.js';
import type { SandboxMessage } from '../whatsapp/index.js';
import { sandboxMessageView } from './routes/messages.js';
import { reportView } from './routes/reports.js';
import { iso } from './iso.js';
import { refuse, type Access } from './auth.js';

export type LiveEventType = 'reading' | 'alert' | 'dispatch' | 'report' | 'message';

export interface LiveEventsOptions {
  /** at most one `reading` event per bin in this time; the newest one in between is sent when it ends */
  readingThrottleMs?: number;
  /** how often the report and sandbox watchers look for news */
  pollMs?: number;
  /** the device's online/offline status, sent with each `reading` */
  statusOf?: (binId: string) => string | null;
  clock?: Clock;
}

type Listener = (type: LiveEventType, data: unknown, id: number) => void;


/**
 * The live page's event hub: modules publish, the SSE route (`GET /api/events`) streams to each open page.
 * (The chart's history is not kept here: `GET /api/bins/:id/readings` reads the embedded history in SQLite.)
 */
export class LiveEvents {
  private readonly listeners = new Set<Listener>();
  private readonly throttle = new Map<string, { lastSent: number; lastAt: number; pending: LatestReading | null }>();
  private readonly timers: Timer[] = [];
  /** the open streams' ends, registered by the SSE route so that close() can end them */
  readonly enders = new Set<() => void>();
  private readonly throttleMs: number;
  private readonly pollMs: number;
  readonly clock: Clock;
  private flushTimer: Timer | null = null;
  private seq = 0;
  private closed = false;

  constructor(private readonly opts: LiveEventsOptions = {}) {
    this.throttleMs = opts.readingThrottleMs ?? 1000;
    this.pollMs = opts.pollMs ?? 1000;
    this.clock = opts.clock ?? realClock;
  }

  /** Sends an event to every open page. */
  publish(type: LiveEventType, data: unknown): void {
    if (this.closed) return;
    const id = ++this.seq;
    for (const l of this.listeners) {
      try {
        l(type, data, id);
      } catch {
        // a broken stream is dropped by its own route; the others go on
      }
    }
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /** Committed readings (the journal): published at most once per bin per throttle time. */
  onReadings(readings: readonly LatestReading[]): void {
    const now = this.clock.now();
    for (const r of readings) {
      const t = this.throttle.get(r.binId) ?? { lastSent: -Infinity, lastAt: -Infinity, pending: null };
      this.throttle.set(r.binId, t);
      const at = orderTs(r);
      if (at < t.lastAt || (t.pending && at < orderTs(t.pending))) continue; // a backlog: the map shows the newest state
      if (now - t.lastSent >= this.throttleMs) {
        t.pending = null;
        this.sendReading(r, t, now);
      } else {
        t.pending = r;
        this.scheduleFlush();
      }
    }
  }

  /** Rule events (the rules engine): each one as an `alert` event. */
  onAlerts(events: readonly AppliedEvent[]): void {
    for (const e of events) {
      this.publish('alert', {
        bin_id: e.binId,
        zone: e.zone,
        type: e.type,
        ts: iso(e.ts),
        value: e.value ?? null,
        message: e.message,
        opens: e.opens ?? null,
        closes: e.closes ?? [],
        opened: e.opened,
        cause: e.cause ?? null,
        urgent: e.urgent ?? false,
      });
    }
  }

  /** Watches the newest reports (any channel: WhatsApp, Open311) and publishes new and changed ones as `report` events. */
  watchReports(newest: () => Report[]): { poke: () => void } {
    return this.watchRows(newest, (r) => String(r.id), (r) => `${r.status}|${r.updated_at}|${r.reporters}`, (r) => this.publish('report', reportView(r)));
  }

  /** Watches the sandbox's recorded messages (newest first, with ids) and publishes new ones. */
  watchSandbox(list: (limit: number) => SandboxMessage[]): { poke: () => void } {
    let lastId: number | null = null; // null: not primed yet (what is already there is not news)
    const check = (): void => {
      const newest = list(1)[0];
      if (lastId === null || !newest || newest.id <= lastId) {
        lastId = newest?.id ?? 0;
        return;
      }
      const since = lastId;
      const fresh = list(Math.min(200, newest.id - since)).filter((m) => m.id > since);
      lastId = newest.id;
      for (const m of fresh.reverse()) this.publish('message', sandboxMessageView(m));
    };
    return { poke: this.poll(check) };
  }

  /** Stops the timers and ends every open stream (the route's preClose calls it). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) t.clear();
    this.timers.length = 0;
    this.flushTimer?.clear();
    this.flushTimer = null;
    for (const l of [...this.listeners]) this.listeners.delete(l);
    for (const end of this.enders) end();
    this.enders.clear();
  }

  private sendReading(r: LatestReading, t: { lastSent: number; lastAt: number }, now: number): void {
    t.lastSent = now;
    t.lastAt = orderTs(r);
    this.publish('reading', {
      bin_id: r.binId,
      ts: iso(r.ts),
      received_at: iso(r.receivedAt),
      fill_pct: r.fillPct,
      battery_pct: r.batteryPct ?? null,
      temperature_c: r.temperatureC ?? null,
      status: this.opts.statusOf?.(r.binId) ?? 'online',
    });
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.closed) return;
    this.flushTimer = this.clock.setTimeout(() => {
      this.flushTimer = null;
      const now = this.clock.now();
      let waiting = false;
      for (const t of this.throttle.values()) {
        if (!t.pending) continue;
        if (now - t.lastSent >= this.throttleMs) {
          const r = t.pending;
          t.pending = null;
          this.sendReading(r, t, now);
        } else waiting = true;
      }
      if (waiting) this.scheduleFlush();
    }, Math.max(50, Math.floor(this.throttleMs / 4)));
    this.flushTimer.unref();
  }

  /** Rows newest first; each new row, or one whose signature changed, is published (oldest first). */
  private watchRows<T>(newest: () => T[], key: (row: T) => string, sig: (row: T) => string, send: (row: T) => void): { poke: () => void } {
    const seen = new Map<string, string>();
    let primed = false;
    const check = (): void => {
      for (const row of newest().reverse()) {
        const k = key(row);
        const v = sig(row);
        if (seen.get(k) === v) continue;
        seen.delete(k); // re-inserted last: the map stays in the order of the latest change
        seen.set(k, v);
        if (primed) send(row);
      }
      primed = true;
      if (seen.size > 2000) for (const k of [...seen.keys()].slice(0, seen.size - 1000)) seen.delete(k);
    };
    return { poke: this.poll(check) };
  }

  /** Runs `check` every pollMs while pages are open; the returned poke runs it soon (after a handler, say). */
  private poll(check: () => void): () => void {
    const run = (): void => {
      if (this.closed) return;
      try {
        check();
      } catch {
        // the store may be closing; the next round tries again
      }
    };
    run(); // primes what is already there, so only news is published
    const timer = this.clock
      .setInterval(() => {
        if (this.listeners.size > 0) run();
      }, this.pollMs)
      .unref();
    this.timers.push(timer);
    // a burst of pokes (a backlog of inbound messages) runs one check, not one each
    let soon = false;
    return () => {
      if (soon) return;
      soon = true;
      setImmediate(() => {
        soon = false;
        run();
      });
    };
  }
}

export interface LiveEventsRouteOptions {
  /** the same rule as /api/* (the token may also come as ?token=) */
  access: Access;
  /** a comment line this often keeps proxies from closing an idle stream */
  heartbeatMs?: number;
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

/**
 * `GET /api/events`: Server-Sent Events for the live page. Mounted at the root (not inside /api's bearer hook)
 * because EventSource cannot set headers: the token is accepted as `Authorization: Bearer` or `?token=`.
 */
export function liveEventsRoute(live: LiveEvents, opts: LiveEventsRouteOptions): FastifyPluginAsync {
  const eventsQuery = z.object({ token: z.string().optional().describe('the API token, for clients that cannot send Authorization (EventSource)') });
  const queryToken = (query: unknown): string => {
    const t = (query as { token?: unknown } | undefined)?.token;
    return typeof t === 'string' ? t : '';
  };
  return async (app) => {
    app.addHook('preClose', async () => live.close());
    // the query is a zod schema (it documents ?token= in /docs), whatever the app around this plugin compiles
    app.setValidatorCompiler(validatorCompiler);
    app.get('/api/events', { schema: { querystring: eventsQuery } }, (req, reply) => {
      if (!opts.access.allowsApi(req, queryToken(req.query))) return refuse(reply);
      // HEAD (Fastify answers it with this handler): the headers, and done. Node never flushes a HEAD answer that
      // is written to without end, so a stream here would hang the client and keep a subscriber and its heartbeat
      if (req.method === 'HEAD') return reply.code(200).headers(SSE_HEADERS).send();
      reply.hijack();
      const res: ServerResponse = reply.raw;
      // a long-lived stream: its heartbeat and the closing of the page end it, not http.connection_timeout_ms
      req.raw.socket.setTimeout(0);
      res.writeHead(200, SSE_HEADERS);
      res.write('retry: 2000\n: binbridge live events\n\n');
      let done = false;
      const end = (): void => {
        if (done) return;
        done = true;
        unsubscribe();
        heartbeat.clear();
        live.enders.delete(end);
        if (!res.writableEnded) res.end();
      };
      const unsubscribe = live.subscribe((type, data, id) => {
        if (done) return;
        // a page that does not read (a stalled tab) is dropped rather than buffered without end
        if (res.writableLength > 4 * 1024 * 1024) {
          res.destroy();
          end();
          return;
        }
        res.write(`id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
      });
      const heartbeat = live.clock.setInterval(() => res.write(': ping\n\n'), opts.heartbeatMs ?? 15_000).unref();
      live.enders.add(end);
      req.raw.on('close', end);
      res.on('error', end);
    });
  };
}

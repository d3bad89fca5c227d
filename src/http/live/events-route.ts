import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { realClock, type Clock } from '../../clock.js';
import { refuse, type Access } from '../auth.js';
import type { LiveHub } from './hub.js';

export interface LiveEventsRouteOptions {
  /** the same rule as /api/* (the token may also come as ?token=) */
  access: Access;
  /** a comment line this often keeps proxies from closing an idle stream */
  heartbeatMs?: number;
  clock?: Clock;
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

// a page that does not read (a stalled tab) is dropped rather than buffered without end
const MAX_BUFFERED = 4 * 1024 * 1024;

/**
 * `GET /api/events`: Server-Sent Events for the live page, one hub subscriber per open page. Mounted at the root
 * (not inside /api's bearer hook) because EventSource cannot set headers: the one bearer check (`Access`) takes
 * the token as `Authorization: Bearer` or `?token=`.
 */
export function liveEventsRoute(hub: LiveHub, opts: LiveEventsRouteOptions): FastifyPluginAsync {
  const clock = opts.clock ?? realClock;
  const eventsQuery = z.object({ token: z.string().optional().describe('the API token, for clients that cannot send Authorization (EventSource)') });
  const queryToken = (query: unknown): string => {
    const t = (query as { token?: unknown } | undefined)?.token;
    return typeof t === 'string' ? t : '';
  };
  return async (app) => {
    app.addHook('preClose', async () => hub.close());
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
      let unsubscribe = (): void => undefined;
      const end = (): void => {
        if (done) return;
        done = true;
        unsubscribe();
        heartbeat.clear();
        if (!res.writableEnded) res.end();
      };
      const heartbeat = clock.setInterval(() => res.write(': ping\n\n'), opts.heartbeatMs ?? 15_000).unref();
      unsubscribe = hub.subscribe((type, data, id) => {
        if (done) return;
        if (res.writableLength > MAX_BUFFERED) {
          res.destroy();
          end();
          return;
        }
        res.write(`id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
      }, () => end());
      req.raw.on('close', end);
      res.on('error', end);
    });
  };
}

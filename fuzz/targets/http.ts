// The HTTP target: every route of the app, read from its OpenAPI document (/docs/json) plus the few that have no
// schema there (the live page's files, SSE, the WebSocket path, the docs themselves) and made-up ones. fast-check
// draws the path parameters, query strings, headers and bodies (schema-shaped JSON with hostile fields, other
// JSON, wrong content types, broken JSON, deep nesting, and now and then a huge body), with and without the
// bearer token. Oracles: no 5xx (except /readyz's 503), no answer after 30 s is a hang, and a /api route never
// answers 2xx without the token when one is configured.
import http from 'node:http';
import fc from 'fast-check';
import { HOST } from '../bridge.js';
import { deriveSeed } from '../rng.js';
import { clip } from '../stats.js';
import { describe, realize, requestArb, type HttpContext, type RequestPlan, type Route } from './http-requests.js';
import type { NetworkTarget } from './network.js';
import { guardSocket } from './wa.js';

export { loadRoutes, prepareHugeBodies, type HttpContext, type Route } from './http-requests.js';

interface Answer {
  status: number | null;
  error: string | null;
  body: string;
  ms: number;
  /** sent on a keep-alive socket that had carried an earlier request */
  reused?: boolean;
}

/** An Authorization header that is not quite `Bearer <token>` (some variants are still acceptable: carriesToken). */
function malformedAuth(plan: RequestPlan, ctx: HttpContext): string {
  return ['Bearer', `bearer ${ctx.apiToken}`, `Basic ${ctx.apiToken}`, `Bearer  ${ctx.apiToken}`, `Bearer ${ctx.apiToken} x`, 'Bearer ' + 't'.repeat(5000)][plan.path.length % 6]!;
}

/**
 * Sends one request. A keep-alive socket the server closed after the previous request (a 400 for a malformed one
 * closes it) fails the next with ECONNRESET: that request is sent again on a fresh connection, as Node's docs advise.
 */
export async function send(agent: http.Agent, port: number, plan: RequestPlan, body: { data: Buffer; type: string | null } | null, ctx: HttpContext): Promise<Answer> {
  const first = await sendOnce(agent, port, plan, body, ctx);
  if (!first.reused || first.status !== null || (first.error !== 'ECONNRESET' && first.error !== 'EPIPE')) return first;
  return sendOnce(undefined, port, plan, body, ctx);
}

function sendOnce(agent: http.Agent | undefined, port: number, plan: RequestPlan, body: { data: Buffer; type: string | null } | null, ctx: HttpContext): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const headers: Record<string, string> = { ...plan.headers };
    if (plan.auth === 'good') headers.authorization = `Bearer ${ctx.apiToken}`;
    else if (plan.auth === 'wrong') headers.authorization = 'Bearer not-the-token';
    else if (plan.auth === 'malformed') headers.authorization = malformedAuth(plan, ctx);
    if (body) {
      if (body.type !== null) headers['content-type'] = body.type;
      if (headers['transfer-encoding'] === undefined) headers['content-length'] = String(body.data.length);
    }
    let done = false;
    let req: http.ClientRequest | undefined;
    const finish = (a: Omit<Answer, 'ms'>): void => {
      if (done) return;
      done = true;
      resolve({ ...a, ms: performance.now() - t0, reused: req?.reusedSocket ?? false });
    };
    try {
      req = http.request({ host: HOST, port, method: plan.method, path: plan.path + plan.query, headers, agent: agent ?? false, timeout: 30_000 });
      guardSocket(req);
    } catch (err) {
      finish({ status: null, error: `client:${(err as NodeJS.ErrnoException).code ?? 'invalid'}`, body: '' });
      return;
    }
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if ((res.headers['content-type'] ?? '').includes('text/event-stream')) {
        req.destroy();
        return finish({ status, error: null, body: '' });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => {
        size += d.length;
        if (size <= 2 * 1024 * 1024) chunks.push(d);
      });
      res.on('end', () => finish({ status, error: null, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => finish({ status, error: null, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => {
      req.destroy();
      finish({ status: null, error: 'timeout', body: '' });
    });
    req.on('error', (err: NodeJS.ErrnoException) => finish({ status: null, error: err.code ?? err.message.slice(0, 40), body: '' }));
    if (body) req.end(body.data);
    else req.end();
  });
}

/** The route template a concrete path belongs to (for the auth oracle). */
/** Whether the request carried the token in a form a server may accept (RFC 7235: the scheme is case-insensitive). */
function carriesToken(plan: RequestPlan, ctx: HttpContext): boolean {
  if (plan.auth === 'good') return true;
  if (plan.auth !== 'malformed') return false;
  const h = malformedAuth(plan, ctx);
  return new RegExp(`^bearer +${ctx.apiToken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} *$`, 'i').test(h);
}

function isApiRoute(plan: RequestPlan): boolean {
  return plan.route.extra !== 'unknown' && plan.route.path.startsWith('/api/');
}

export async function fuzzHttp(t: NetworkTarget, ctx: HttpContext, routes: Route[]): Promise<void> {
  const stats = t.stats;
  const arb = requestArb(routes, ctx);
  // a few source addresses: a per-address connection cap sees several clients, as in real life
  const agents = [1, 2, 3, 4].map((k) => new http.Agent({ keepAlive: true, maxSockets: Math.ceil(t.concurrency / 4) + 1, localAddress: `127.0.3.${k}` }));
  let next = t.first;
  const worker = async (w: number): Promise<void> => {
    while (next < t.budget && Date.now() < t.deadline && t.bridge.alive) {
      const i = next++;
      const seed = deriveSeed(t.seed, 'http', t.phase, i);
      const [plan] = fc.sample(arb, { seed, numRuns: 1 });
      const body = plan!.body ? realize(plan!.body) : null;
      stats.inputs++;
      const summary = describe(plan!, body);
      stats.remember(clip(summary, 300));
      if (plan!.body) stats.answer(`body:${plan!.body.kind}`);
      const a = await send(agents[w % agents.length]!, t.bridge.httpPort, plan!, body, ctx);
      stats.detail(() => `${describe(plan!, null)}\nbody (${body?.type ?? 'none'}, ${body?.data.length ?? 0} B): ${body ? clip(body.data.toString('utf8'), 20_000) : ''}\nanswer: ${a.status ?? a.error} ${clip(a.body, 2000)} (${a.ms.toFixed(0)} ms)`);
      const at = `npm run fuzz -- --seed ${t.seed} --replay http:${t.phase}:${i}`;
      if (a.status === null) {
        stats.answer(`error:${a.error}`);
        if (a.error === 'timeout' && plan!.body?.kind !== 'huge') {
          stats.find({ check: 'http_hang', phase: t.phase, message: `no answer within 30 s`, input: summary, at });
        }
        continue;
      }
      stats.answer(`status:${a.status}`);
      if (a.status >= 400 && a.status < 500) stats.refusals++;
      if (a.status >= 500 && !(a.status === 503 && plan!.path === '/readyz')) {
        stats.find({ check: 'http_5xx', phase: t.phase, message: `${a.status} for ${plan!.method} ${plan!.route.path}: ${clip(a.body, 300)}`, input: summary, at });
      }
      if (ctx.apiToken && !carriesToken(plan!, ctx) && isApiRoute(plan!) && a.status >= 200 && a.status < 300) {
        stats.find({ check: 'http_auth_bypass', phase: t.phase, message: `${a.status} without the bearer token for ${plan!.method} ${plan!.route.path}`, input: summary, at });
      }
      if (plan!.path === '/metrics' && plan!.method === 'GET' && a.status === 200) t.observeMetrics(a.body);
      if (plan!.method === 'PUT' && plan!.route.path === '/api/bins/{id}' && a.status === 200) {
        try {
          t.knownBins.add(decodeURIComponent(plan!.path.slice('/api/bins/'.length)).trim());
        } catch {
          /* an id that does not decode cannot have been registered */
        }
      }
    }
  };
  stats.begin();
  try {
    await Promise.all(Array.from({ length: t.concurrency }, (_, w) => worker(w)));
  } finally {
    stats.end();
    for (const a of agents) a.destroy();
  }
}

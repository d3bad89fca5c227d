import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Notices, NoticeView } from '../../notices/index.js';
import type { Clock } from '../../clock.js';
import { toCsv } from '../csv.js';
import { iso } from '../iso.js';
import { DEFAULT_LIMIT, decodeCursor, pageOf, pageQuery } from '../page.js';
import { sendProblem } from '../problem.js';

/** Meta's limits: a template body (ours is `{{1}}: {{2}}`) holds 1024 characters; a title is kept to a header's 60. */
const TEMPLATE_BODY_MAX = 1024;
const TITLE_MAX = 60;

const noticeBody = z.strictObject({
  kind: z.enum(['service', 'emergency']),
  title: z.string().trim().min(1, 'a title').max(TITLE_MAX, `a title of at most ${TITLE_MAX} characters`),
  text: z.record(z.string().regex(/^[a-z]{2}$/, 'a two-letter language code'), z.string().trim()),
  target: z.union([
    z.strictObject({ zones: z.array(z.string().min(1)).min(1, 'at least one zone') }),
    z.strictObject({ near: z.strictObject({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180), radius_m: z.number().positive().max(100_000) }) }),
    z.strictObject({ all: z.literal(true) }),
  ]),
  send_at: z.iso.datetime({ offset: true }).optional(),
});

const view = (n: NoticeView) => ({
  id: n.id,
  kind: n.kind,
  title: n.title,
  text: n.text,
  target: n.target,
  status: n.status,
  send_at: iso(n.sendAt),
  created_at: iso(n.createdAt),
  started_at: iso(n.startedAt),
  finished_at: iso(n.finishedAt),
  cancelled_at: iso(n.cancelledAt),
  targeted: n.targeted,
  figures: n.figures,
  // a service notice waiting through quiet hours goes on then
  resumes_at: iso(n.resumesAt),
  // recipients not reached yet, and when the last should be (Meta's messaging limit and the send rate; an estimate)
  waiting: n.waiting,
  expected_done_at: iso(n.expectedDoneAt),
});


/** Operators' notices and residents' subscriptions (counts and consent records, never numbers), under /api. */
export function noticeRoutes(deps: { notices: Notices; clock: Clock }): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const bad = (reply: FastifyReply, message: string) => sendProblem(reply, 400, message);
    r.post('/notices', { schema: { body: noticeBody, querystring: z.object({ dry_run: z.enum(['true', 'false']).optional() }) } }, async (req, reply) => {
      const b = req.body;
      const texts = Object.entries(b.text).filter(([, v]) => v !== '');
      if (texts.length === 0) return bad(reply, 'text: no text in any language (give at least "en")');
      for (const [lang, v] of texts) {
        const len = Array.from(`${b.title}: ${v}`).length;
        if (len > TEMPLATE_BODY_MAX) return bad(reply, `text.${lang}: title, ": " and text make ${len} characters, over Meta's limit of ${TEMPLATE_BODY_MAX} for a template body`);
      }
      const unknown = deps.notices.unknownZones(b.target);
      if (unknown.length) return bad(reply, `target.zones: unknown zone ${unknown.map((z) => JSON.stringify(z)).join(', ')}`);
      const sendAt = b.send_at === undefined ? undefined : Date.parse(b.send_at);
      if (sendAt !== undefined && sendAt < deps.clock.now()) return bad(reply, `send_at: ${b.send_at} is in the past`);
      const input = { kind: b.kind, title: b.title, text: Object.fromEntries(texts), target: b.target, ...(sendAt === undefined ? {} : { sendAt }) };
      if (req.query.dry_run === 'true') return { dry_run: true, targeted: (await deps.notices.audience(b.target)).length };
      const n = await deps.notices.create(input);
      return reply.code(201).send({ id: n.id, status: n.status, targeted: n.targeted });
    });
    r.get('/notices', { schema: { querystring: z.object(pageQuery) } }, async (req) => {
      const after = decodeCursor(req.query.cursor, z.tuple([z.number().int()]));
      const limit = req.query.limit ?? DEFAULT_LIMIT;
      return pageOf(await deps.notices.list(limit + 1, after?.[0]), limit, (n) => [n.id], view);
    });
    r.get('/notices/:id', { schema: { params: z.object({ id: z.coerce.number().int().positive() }) } }, async (req, reply) => {
      const n = await deps.notices.view(req.params.id);
      return n ? view(n) : sendProblem(reply, 404, `no notice ${req.params.id}`);
    });
    r.post('/notices/:id/cancel', { schema: { params: z.object({ id: z.coerce.number().int().positive() }) } }, async (req, reply) => {
      const before = await deps.notices.get(req.params.id);
      if (!before) return sendProblem(reply, 404, `no notice ${req.params.id}`);
      if (before.status === 'sent' || before.status === 'cancelled') return sendProblem(reply, 409, `notice ${before.id} is already ${before.status}`);
      await deps.notices.cancel(before.id);
      return view((await deps.notices.view(before.id))!);
    });
    r.get('/subscriptions', async () => {
      const rows = await deps.notices.counts();
      const total = rows.reduce((a, r) => a + r.subscribers, 0);
      // one row per zone and language: short, one page
      return { total, items: rows, next: null };
    });
    r.get('/subscriptions/consent.csv', async (_req, reply) => {
      const columns = ['pseudonym', 'zone', 'lang', 'consent_version', 'consent_text', 'inbound_message', 'subscribed_at', 'ended_at', 'end_reason'];
      const rows = (await deps.notices.consents()).map((c) => ({
        pseudonym: c.pseudonym,
        zone: c.zone,
        lang: c.lang,
        consent_version: c.consentVersion,
        consent_text: c.consentText,
        inbound_message: c.inbound,
        subscribed_at: iso(c.createdAt),
        ended_at: iso(c.endedAt),
        end_reason: c.endReason,
      }));
      return reply.type('text/csv; charset=utf-8').send(toCsv(columns, rows));
    });
  };
}

import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { validatorCompiler, serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { sendProblem } from '../problem.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import { InvalidWebhookBody, verifySignature, type Inbox } from '../../whatsapp/index.js';

export interface WebhookRouteOptions {
  inbox: Pick<Inbox, 'accept'>;
  appSecret: string;
  verifyToken: string;
  log: Logger;
  metrics?: Pick<Metrics, 'webhookRequests'>;
}

const handshakeQuery = z.object({
  'hub.mode': z.string().optional(),
  'hub.verify_token': z.string().optional(),
  'hub.challenge': z.string().optional(),
});

function sameSecret(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s).digest();
  return a.length > 0 && timingSafeEqual(h(a), h(b));
}

/**
 * `GET /webhooks/whatsapp` (Meta's subscription handshake) and `POST /webhooks/whatsapp` (messages and statuses).
 * `app.register(whatsappWebhookRoutes, opts)` or a direct call: the routes live in a scope of their own either way,
 * so the raw-body JSON parser never reaches other routes.
 */
export async function whatsappWebhookRoutes(app: FastifyInstance, opts: WebhookRouteOptions): Promise<void> {
  await app.register((scope: FastifyInstance) => webhookScope(scope, opts));
}

async function webhookScope(app: FastifyInstance, opts: WebhookRouteOptions): Promise<void> {
  const log = opts.log.child({ module: 'whatsapp.webhook' });
  const count = (outcome: string) => opts.metrics?.webhookRequests.inc({ outcome });
  let warnedNoSecret = false;

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // The signature covers the exact bytes Meta sent, so the body is kept as a Buffer and parsed after the check.
  const keepRaw = (_req: unknown, body: Buffer, done: (err: null, body: Buffer) => void) => done(null, body);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, keepRaw);
  app.addContentTypeParser('*', { parseAs: 'buffer' }, keepRaw);
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get('/webhooks/whatsapp', { schema: { querystring: handshakeQuery } }, async (req, reply) => {
    const q = req.query;
    if (q['hub.mode'] === 'subscribe' && sameSecret(opts.verifyToken, q['hub.verify_token'] ?? '') && q['hub.challenge'] !== undefined) {
      count('handshake');
      log.info({ event: 'webhook_verified' }, 'webhook subscription verified');
      return reply.code(200).type('text/plain').send(q['hub.challenge']);
    }
    count('handshake_refused');
    log.warn({ event: 'webhook_handshake_refused', mode: q['hub.mode'] }, 'webhook handshake refused');
    return sendProblem(reply, 403, 'hub.verify_token does not match whatsapp.verify_token');
  });

  r.post('/webhooks/whatsapp', { bodyLimit: 3 * 1024 * 1024 }, async (req, reply) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!opts.appSecret) {
      if (!warnedNoSecret) {
        warnedNoSecret = true;
        log.error({ event: 'webhook_no_app_secret' }, 'whatsapp.app_secret is not set: every webhook POST is refused');
      }
      count('no_secret');
      return sendProblem(reply, 401, 'webhook signature cannot be checked (whatsapp.app_secret is not set)');
    }
    const header = req.headers['x-hub-signature-256'];
    if (!verifySignature(raw, Array.isArray(header) ? header[0] : header, opts.appSecret)) {
      count('bad_signature');
      log.warn({ event: 'webhook_bad_signature', signed: header !== undefined, bytes: raw.length }, 'webhook signature refused');
      return sendProblem(reply, 401, 'bad or missing X-Hub-Signature-256');
    }
    try {
      const res = await opts.inbox.accept(raw);
      count('accepted');
      log.debug({ event: 'webhook_accepted', ...res }, 'webhook accepted');
      return reply.code(200).send({ ok: true });
    } catch (err) {
      if (err instanceof InvalidWebhookBody) {
        count('bad_body');
        return sendProblem(reply, 400, err.message);
      }
      // the store could not record it (the database is down, the disk failed): not stored, so never a 200; 503 says
      // "later", and Meta redelivers with backoff for up to 7 days
      count('error');
      log.error({ event: 'webhook_store_failed', err }, 'could not store a webhook delivery; Meta will redeliver');
      return sendProblem(reply, 503, 'could not store the delivery now; Meta redelivers it');
    }
  });
}

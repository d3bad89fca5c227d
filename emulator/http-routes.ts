import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { z } from 'zod';
import type { GraphEmulator, GraphReply } from './graph-emulator.js';
import { faultListSchema } from './faults.js';
import { graphError } from './graph-errors.js';

const VERSION = /^v\d+\.\d+$/;

const inboundSchema = z.object({
  from: z.string().regex(/^\+?\d{5,20}$/),
  message: z.union([z.string(), z.object({ type: z.string() }).loose()]),
  name: z.string().optional(),
  id: z.string().optional(),
  contextId: z.string().optional(),
  userId: z.string().optional(),
  username: z.string().optional(),
  hidePhone: z.boolean().optional(),
});

interface GraphRequest {
  Params: { version: string; id: string };
  Querystring: { access_token?: string; hash?: string };
}

function send(reply: FastifyReply, r: GraphReply): FastifyReply | void {
  if (r.kind === 'reset') {
    reply.hijack();
    reply.raw.socket?.destroy();
    return;
  }
  if (r.kind === 'bytes') return reply.code(r.status).header('content-type', r.mimeType).send(r.body);
  return reply.code(r.status).headers(r.headers ?? {}).send(r.body);
}

function unknownPath(path: string): GraphReply {
  const err = graphError(2500, { message: `Unknown path components: ${path}`, details: `Unknown path components: ${path}` });
  return { kind: 'json', status: 400, body: err.body };
}

function badRequest(message: string): GraphReply {
  const err = graphError(100, { message: `(#100) ${message}`, details: message });
  return { kind: 'json', status: 400, body: err.body };
}

/** The Graph API routes plus `/__emulator/*` controls and `/__media/*` downloads; the app only, no listen. */
export function buildGraphApp(emulator: GraphEmulator, logger: boolean | Record<string, unknown>): FastifyInstance {
  const app = Fastify({ logger, bodyLimit: 1024 * 1024 });

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    // a body that is not JSON, or a media type the Graph API does not take
    if (err.statusCode !== undefined && err.statusCode < 500) return send(reply, badRequest(`The request body could not be parsed: ${err.message}`));
    reply.log.error({ err }, 'emulator_error');
    const e = graphError(1, { message: 'An unknown error occurred', details: err.message });
    return send(reply, { kind: 'json', status: 500, body: e.body });
  });
  app.setNotFoundHandler((req, reply) => send(reply, unknownPath(req.url.split('?')[0]!)));

  app.post<GraphRequest>('/:version/:id/messages', async (req, reply) => {
    if (!VERSION.test(req.params.version)) return send(reply, unknownPath(req.url));
    return send(reply, await emulator.handleSend(req.params.id, req.headers.authorization, req.query.access_token, req.body));
  });
  app.get<GraphRequest>('/:version/:id', async (req, reply) => {
    if (!VERSION.test(req.params.version)) return send(reply, unknownPath(req.url));
    return send(reply, emulator.handleGetObject(req.params.id, req.headers.authorization, req.query.access_token));
  });
  app.get<GraphRequest>('/__media/:id', async (req, reply) => send(reply, emulator.handleMediaDownload(req.params.id, req.headers.authorization, req.query.hash)));

  app.post('/__emulator/faults', async (req, reply) => {
    const parsed = faultListSchema.safeParse(req.body);
    if (!parsed.success) return reply.code(400).send({ error: z.prettifyError(parsed.error) });
    return { queued: emulator.injectFaults(parsed.data) };
  });
  app.post('/__emulator/inbound', async (req, reply) => {
    const parsed = inboundSchema.safeParse(req.body);
    if (!parsed.success) return reply.code(400).send({ error: z.prettifyError(parsed.error) });
    const { from, message, name, ...opts } = parsed.data;
    return emulator.userSends(from, message as Parameters<GraphEmulator['userSends']>[1], name, opts);
  });
  app.post('/__emulator/redeliver', async (req, reply) => {
    const parsed = z.object({ messageId: z.string() }).safeParse(req.body);
    if (!parsed.success) return reply.code(400).send({ error: z.prettifyError(parsed.error) });
    try {
      return await emulator.redeliver(parsed.data.messageId);
    } catch (err) {
      return reply.code(404).send({ error: (err as Error).message });
    }
  });
  app.post('/__emulator/reset', async () => {
    emulator.reset();
    return { ok: true };
  });
  app.get('/__emulator/messages', async () => ({ sent: emulator.sent, refused: emulator.refused }));
  app.get('/__emulator/statuses', async () => ({ delivered: emulator.statusesDelivered, attempts: emulator.webhookAttempts }));
  app.get('/__emulator/inbound', async () => ({ inbound: emulator.inbound.map(({ raw: _raw, ...rest }) => rest) }));

  return app;
}

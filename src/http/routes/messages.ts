import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { OutboxItem, SandboxMessage } from '../../whatsapp/index.js';
import { iso } from '../iso.js';
import { DEFAULT_LIMIT, decodeCursor, pageOf, pageQuery } from '../page.js';

/** A message the sandbox recorded, as the API and the live page's event show it. */
export const sandboxMessageView = (m: SandboxMessage) => ({ id: m.id, wamid: m.wamid, to: m.to, kind: m.kind, message: m.message, created_at: iso(m.createdAt) });

/** A message of the outbox (cloud mode) as the API shows it. */
export const outboxItemView = (m: OutboxItem) => ({
  id: m.id,
  key: m.key,
  ref: m.ref,
  to: m.to,
  kind: m.kind,
  status: m.status,
  attempts: m.attempts,
  used_fallback: m.usedFallback,
  wamid: m.wamid,
  error: m.error,
  delivery: m.delivery,
  created_at: iso(m.createdAt),
  sent_at: iso(m.sentAt),
  // lower goes first when messages compete; a waiting message says what holds it (`messaging_limit`)
  priority: m.priority,
  waiting_for: m.waitingFor,
  initiated: m.initiated,
  message: m.message,
});

export interface MessageRouteDeps {
  /** whatsapp.mode sandbox: the recorded messages; null in cloud mode */
  sandbox: { list(opts: { limit: number; before?: number }): SandboxMessage[] } | null;
  outbox: { list(opts: { limit: number; before?: number }): Promise<OutboxItem[]> };
}

/** `GET /api/whatsapp/messages`: what binbridge sent, newest first (the sandbox's record, or the outbox). */
export function messageRoutes(deps: MessageRouteDeps): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    r.get(
      '/whatsapp/messages',
      { schema: { summary: "WhatsApp messages binbridge sent, newest first (sandbox mode: the sandbox's record; cloud mode: the outbox)", querystring: z.object(pageQuery) } },
      async (req) => {
        const limit = req.query.limit ?? DEFAULT_LIMIT;
        const [before] = decodeCursor(req.query.cursor, z.tuple([z.number().int()])) ?? [];
        const opts = { limit: limit + 1, ...(before === undefined ? {} : { before }) };
        return deps.sandbox
          ? pageOf(deps.sandbox.list(opts), limit, (m) => [m.id], sandboxMessageView)
          : pageOf(await deps.outbox.list(opts), limit, (m) => [m.id], outboxItemView);
      },
    );
  };
}

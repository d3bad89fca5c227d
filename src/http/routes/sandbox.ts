import { realClock, type Clock } from '../../clock.js';
import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AcceptResult } from '../../whatsapp/index.js';
import { sendProblem } from '../problem.js';
import { inboundEnvelope, webhookSeconds } from '../../whatsapp/envelope.js';

const reply = z.object({ id: z.string().min(1).max(256), title: z.string().min(1).max(72) });

export const sandboxInboundSchema = z
  .object({
    /** the sender's number, digits (a leading + is dropped) */
    from: z
      .string()
      .max(32)
      .transform((s) => s.replace(/^\+/, ''))
      .pipe(z.string().regex(/^\d{6,20}$/, 'from must be a phone number, digits only')),
    name: z.string().max(60).optional(),
    text: z.string().min(1).max(4096).optional(),
    button_reply: reply.optional(),
    list_reply: reply.optional(),
    /** a template's quick reply (Meta sends these as type "button") */
    button: z.object({ payload: z.string().min(1).max(256), text: z.string().min(1).max(72) }).optional(),
    location: z
      .object({ latitude: z.number().min(-90).max(90), longitude: z.number().min(-180).max(180), name: z.string().max(200).optional(), address: z.string().max(400).optional() })
      .optional(),
    /** the id of the message this one answers (WhatsApp's "context") */
    context_id: z.string().max(256).optional(),
  })
  .refine((b) => [b.text, b.button_reply, b.list_reply, b.button, b.location].filter((x) => x !== undefined).length === 1, {
    message: 'exactly one of text, button_reply, list_reply, button, location',
  });

export type SandboxInbound = z.infer<typeof sandboxInboundSchema>;

/** The Meta webhook envelope the sandbox's operator action stands for: one message from `from`. */
export function sandboxEnvelope(b: SandboxInbound, nowMs: number, id = `wamid.SANDBOX.IN.${randomBytes(12).toString('hex')}`): object {
  const content = b.text !== undefined
    ? { type: 'text', text: { body: b.text } }
    : b.button_reply
      ? { type: 'interactive', interactive: { type: 'button_reply', button_reply: b.button_reply } }
      : b.list_reply
        ? { type: 'interactive', interactive: { type: 'list_reply', list_reply: b.list_reply } }
        : b.button
          ? { type: 'button', button: b.button }
          : { type: 'location', location: b.location };
  const message = { from: b.from, id, timestamp: webhookSeconds(nowMs), ...(b.context_id ? { context: { id: b.context_id } } : {}), ...content };
  return inboundEnvelope(SANDBOX_BUSINESS, message, b.name ?? 'Sandbox');
}

/** The business a simulated phone writes to. */
const SANDBOX_BUSINESS = { wabaId: 'sandbox', phoneNumberId: 'sandbox', displayPhoneNumber: 'sandbox' };

export interface SandboxRouteDeps {
  /** the inbox, only in whatsapp.mode sandbox; null: the routes answer 404 */
  inbox: { accept(rawBody: Buffer): Promise<AcceptResult> } | null;
  clock?: Clock;
}

/**
 * The WhatsApp sandbox's phones, under /api (bearer token): `POST /sandbox/inbound` hands a message "from" a
 * number to the inbox as if Meta had delivered it (no signature: an authenticated operator action); only in
 * whatsapp.mode sandbox, 404 otherwise. `GET /sandbox` tells the page whether the sandbox is on (`enabled`).
 */
export function sandboxRoutes(deps: SandboxRouteDeps): FastifyPluginAsync {
  const clock = deps.clock ?? realClock;
  const off = 'the WhatsApp sandbox is off (whatsapp.mode is not sandbox)';
  return async (app) => {
    const inbox = deps.inbox;
    if (!inbox) {
      // no body validation first: off is off, whatever is sent
      app.get('/sandbox', async () => ({ enabled: false }));
      app.post('/sandbox/inbound', async (_req, res) => sendProblem(res, 404, off));
      return;
    }
    const r = app.withTypeProvider<ZodTypeProvider>();
    r.get('/sandbox', async () => ({ enabled: true }));
    r.post('/sandbox/inbound', { schema: { body: sandboxInboundSchema } }, async (req, res) => {
      const id = `wamid.SANDBOX.IN.${randomBytes(12).toString('hex')}`;
      const result = await inbox.accept(Buffer.from(JSON.stringify(sandboxEnvelope(req.body, clock.now(), id))));
      return res.code(202).send({ id, ...result });
    });
  };
}

import { randomBytes } from 'node:crypto';
import { statusEnvelope, webhookError, type BusinessIdentity, type StatusName, type StatusObject, type WebhookError } from './envelopes.js';
import { CUSTOMER_SERVICE_WINDOW_MS } from './limits.js';
import type { DeliveredStatus, SentMessage } from './types.js';
import type { WebhookSender } from './webhook-sender.js';

export interface StatusNotifierDeps {
  sender: WebhookSender;
  business: BusinessIdentity;
  now: () => number;
  serialise: (v: unknown) => string;
  delays: { sent: number; delivered: number; read: number | null };
  /** digits of numbers whose messages fail with 131026 */
  unreachable: ReadonlySet<string>;
  /** the BSUID of a user, when known */
  bsuidOf: (key: string) => string | undefined;
  /** the latest raw status body of a message, for redelivery */
  remember: (wamid: string, raw: string) => void;
  onDelivered: (d: DeliveredStatus) => void;
}

/** The status webhooks Meta sends after accepting a message: sent → delivered → read, or failed. */
export class StatusNotifier {
  private readonly conversations = new Map<string, { id: string; expiresAt: number }>();

  constructor(private readonly deps: StatusNotifierDeps) {}

  clear(): void {
    this.conversations.clear();
  }

  /**
   * Posts each status at its offset from acceptance, after the previous one was answered or given up
   * (so a receiver sees them in order). `category`: `service` for free-form, else the template's.
   */
  schedule(m: SentMessage, key: string, category: string, isBsuid: boolean, fails?: WebhookError): void {
    const { sender, delays } = this.deps;
    if (!sender.configured) return;
    const failure = fails ?? (this.deps.unreachable.has(key) ? webhookError(131026, 'Message undeliverable', 'Message Undeliverable.') : undefined);
    const steps: [StatusName, number][] = failure
      ? [['failed', delays.sent]]
      : [['sent', delays.sent], ['delivered', delays.delivered], ...(delays.read === null ? [] : ([['read', delays.read]] as [StatusName, number][]))];
    const signal = sender.signal;
    const chain = async (): Promise<void> => {
      const start = Date.now();
      for (const [status, offset] of steps) {
        await sender.sleep(offset - (Date.now() - start), signal);
        if (signal.aborted) return;
        const s = this.statusObject(m, key, status, category, isBsuid, failure);
        const raw = this.deps.serialise(statusEnvelope(this.deps.business, s));
        this.deps.remember(m.wamid, raw);
        if ((await sender.deliver(raw, 'status', m.wamid, signal)) === 200) {
          this.deps.onDelivered({ wamid: m.wamid, status, recipientId: key, timestamp: Number(s.timestamp), ...(s.errors ? { errors: s.errors } : {}) });
        }
      }
    };
    void sender.track(chain());
  }

  private conversationFor(key: string, at: number): { id: string; expiresAt: number } {
    let c = this.conversations.get(key);
    if (!c || c.expiresAt <= at) {
      c = { id: randomBytes(16).toString('hex'), expiresAt: at + CUSTOMER_SERVICE_WINDOW_MS };
      this.conversations.set(key, c);
    }
    return c;
  }

  private statusObject(m: SentMessage, key: string, status: StatusName, category: string, isBsuid: boolean, failure: WebhookError | undefined): StatusObject {
    const base: StatusObject = { id: m.wamid, status, timestamp: String(Math.floor(this.deps.now() / 1000)), recipient_id: key };
    const bsuid = isBsuid ? m.to : this.deps.bsuidOf(key);
    if (bsuid !== undefined) Object.assign(base, { recipient_user_id: bsuid });
    if (status === 'failed') return { ...base, errors: [failure ?? webhookError(131026, 'Message undeliverable', 'Message Undeliverable.')] };
    if (status === 'read') return base;
    const conversation = this.conversationFor(key, m.at);
    // service replies, and utility templates inside the window, are free under per-message pricing
    const free = m.insideWindow && (category === 'service' || category === 'utility');
    return {
      ...base,
      conversation: {
        id: conversation.id,
        ...(status === 'sent' ? { expiration_timestamp: String(Math.floor(conversation.expiresAt / 1000)) } : {}),
        origin: { type: category },
      },
      pricing: { billable: !free, pricing_model: 'PMP', type: free ? 'free_customer_service' : 'regular', category },
    };
  }
}

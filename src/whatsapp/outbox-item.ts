import type { OutboundMessage } from './messages.js';
import type { DeliveryStatus, StatusUpdate } from './webhook.js';

/**
 * The order in which messages compete for the send rate and Meta's messaging limit, first to last. The outbox only
 * compares the numbers (lower goes first; equal ranks keep their order of arrival); its callers pick the rank.
 */
export const SEND_PRIORITY = { fireDispatch: 0, emergencyNotice: 1, crewJob: 2, reportReply: 3, serviceNotice: 4 } as const;
/** the rank of a message enqueued without one (and of the rows from before priorities) */
export const DEFAULT_PRIORITY = SEND_PRIORITY.reportReply;

export interface OutboxEntry {
  to: string;
  message: OutboundMessage;
  /** a template to send instead when the free-form message is refused with 131047 (outside the 24 h window) */
  fallback?: OutboundMessage;
  /** idempotency key: enqueueing the same key again is a no-op (stored as a pseudonym and sealed) */
  key: string;
  /** opaque to the outbox (stored sealed); handed back in results and statuses */
  ref?: string;
  /** lower goes first when messages compete (SEND_PRIORITY); default DEFAULT_PRIORITY */
  priority?: number;
}

export type OutboxStatus = 'pending' | 'sending' | 'sent' | 'failed';

export interface OutboxItem {
  id: number;
  key: string;
  ref: string | null;
  to: string;
  kind: string;
  status: OutboxStatus;
  attempts: number;
  usedFallback: boolean;
  wamid: string | null;
  error: { code: number; message: string } | null;
  delivery: DeliveryStatus | null;
  createdAt: number;
  sentAt: number | null;
  message: OutboundMessage;
  priority: number;
  /** why a waiting message has not gone yet: `messaging_limit` (no room for another user in Meta's 24 hours) */
  waitingFor: string | null;
  /** it went outside the recipient's 24-hour window (it counted toward the messaging limit) */
  initiated: boolean;
}

export interface SendResult {
  id: number;
  ref?: string;
  key: string;
  to: string;
  status: 'sent' | 'failed';
  wamid?: string;
  error?: { code: number; message: string };
  usedFallback: boolean;
}

export interface StatusEvent {
  id: number;
  ref?: string;
  key: string;
  to: string;
  wamid: string;
  status: DeliveryStatus;
  timestamp: number;
  errors?: StatusUpdate['errors'];
  /** the message failed with 131047 after it was accepted, and its fallback template is now queued */
  fallbackQueued: boolean;
}

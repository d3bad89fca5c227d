import type { OutboundMessage } from './messages.js';
import type { DeliveryStatus, StatusUpdate } from './webhook.js';

export interface OutboxEntry {
  to: string;
  message: OutboundMessage;
  /** a template to send instead when the free-form message is refused with 131047 (outside the 24 h window) */
  fallback?: OutboundMessage;
  /** idempotency key: enqueueing the same key again is a no-op (stored as a pseudonym and sealed) */
  key: string;
  /** opaque to the outbox (stored sealed); handed back in results and statuses */
  ref?: string;
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

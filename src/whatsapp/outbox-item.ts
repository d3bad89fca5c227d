import type { OutboundMessage } from './messages.js';
import type { DeliveryStatus, StatusUpdate } from './webhook.js';

export interface OutboxEntry {
  to: string;
  message: OutboundMessage;
  /** a template to send instead when the free-form message is refused with 131047 (outside the 24 h window) */
  fallback?: OutboundMessage;
  /** idempotency key: enqueueing the same key again is a no-op */
  key: string;
  /** opaque to the outbox; handed back in results and statuses */
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

/** A row of `whatsapp_outbox`. */
export interface Row {
  id: number;
  key: string;
  ref: string | null;
  recipient: string;
  kind: string;
  message: string;
  fallback: string | null;
  used_fallback: number;
  status: OutboxStatus;
  attempts: number;
  next_attempt_ms: number;
  wamid: string | null;
  error_code: number | null;
  error_message: string | null;
  delivery_status: DeliveryStatus | null;
  created_ms: number;
  sent_ms: number | null;
}

export function toItem(r: Row): OutboxItem {
  return {
    id: r.id,
    key: r.key,
    ref: r.ref,
    to: r.recipient,
    kind: r.kind,
    status: r.status,
    attempts: r.attempts,
    usedFallback: !!r.used_fallback,
    wamid: r.wamid,
    error: r.error_code === null && r.error_message === null ? null : { code: r.error_code ?? 0, message: r.error_message ?? '' },
    delivery: r.delivery_status,
    createdAt: r.created_ms,
    sentAt: r.sent_ms,
    message: JSON.parse(r.used_fallback && r.fallback ? r.fallback : r.message) as OutboundMessage,
  };
}
